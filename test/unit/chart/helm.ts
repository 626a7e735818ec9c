// The helm that hack/build-helm.sh builds (same pinned version), and rendering the chart with it.
import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { parseAllDocuments } from 'yaml';

const execFileP = promisify(execFile);

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const chartDir = join(repoRoot, 'charts/ringtap');

/** $RINGTAP_HELM, else the binary hack/build-helm.sh builds for its pinned version. */
export function helmPath(): string {
  if (process.env.RINGTAP_HELM) return process.env.RINGTAP_HELM;
  const script = readFileSync(join(repoRoot, 'hack/build-helm.sh'), 'utf8');
  const version = process.env.RINGTAP_HELM_VERSION ?? /RINGTAP_HELM_VERSION:-(v[0-9.]+)/.exec(script)?.[1];
  const cache = process.env.RINGTAP_CACHE ?? join(homedir(), '.cache/ringtap');
  const path = join(cache, 'bin', `helm-${version}`, 'helm');
  if (!existsSync(path)) throw new Error(`helm not found at ${path}: run bash hack/build-helm.sh`);
  return path;
}

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string> };
  [k: string]: unknown;
}

export interface HelmResult { code: number; stdout: string; stderr: string }

export async function helm(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<HelmResult> {
  try {
    const { stdout, stderr } = await execFileP(helmPath(), args, { env, maxBuffer: 64 << 20 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string; message: string };
    return { code: typeof e.code === 'number' ? e.code : 1, stdout: e.stdout ?? '', stderr: e.stderr ?? e.message };
  }
}

/** `--set`-style values as helm arguments; values are passed as JSON so types survive. */
export function setArgs(values: Record<string, unknown>): string[] {
  return Object.entries(values).flatMap(([k, v]) => ['--set-json', `${k}=${JSON.stringify(v)}`]);
}

export function parseObjects(text: string): K8sObject[] {
  return parseAllDocuments(text).map((d) => {
    if (d.errors.length > 0) throw new Error(`rendered YAML does not parse: ${d.errors[0]!.message}`);
    return d.toJS() as K8sObject | null;
  }).filter((o): o is K8sObject => o !== null);
}

/** Renders the chart (helm template) and parses every object; throws with helm's message. */
export async function render(values: Record<string, unknown> = {}, opts: { release?: string; namespace?: string; extra?: string[] } = {}): Promise<K8sObject[]> {
  const r = await helm(['template', opts.release ?? 'ringtap', chartDir, '--namespace', opts.namespace ?? 'ringtap-system', ...setArgs(values), ...(opts.extra ?? [])]);
  if (r.code !== 0) throw new Error(r.stderr.trim());
  return parseObjects(r.stdout);
}

export function find(objects: K8sObject[], kind: string, name: string): K8sObject {
  const o = objects.find((x) => x.kind === kind && x.metadata.name === name);
  if (!o) throw new Error(`no ${kind} ${name} in ${objects.map((x) => `${x.kind}/${x.metadata.name}`).join(', ')}`);
  return o;
}
