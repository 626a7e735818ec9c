// Command-line parsing for kubectl-ringtap: pure functions, so every message a user can see
// for bad input is unit-tested. Each error names the flag it is about.
import { parseArgs } from 'node:util';
import { DNS_SUBDOMAIN_PATTERN, DURATION_PATTERN, LABEL_VALUE_PATTERN } from '../../crds/src/schema.js';
import { MAX_SNAP_LENGTH } from '../../crds/src/defaults.js';

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export const DEFAULT_DURATION = '5m';
export const DEFAULT_AGENT_NAMESPACE = 'ringtap-system';

export interface GlobalFlags {
  kubeconfig?: string;
  namespace?: string;
  agentNamespace: string;
}

export type Command =
  | { command: 'help'; topic?: string }
  | { command: 'capture'; name: string; selector?: Record<string, string>; pods?: string[]; filter?: string; duration?: string; maxPackets?: number; snapLength?: number }
  | { command: 'status'; name: string; watch: boolean }
  | { command: 'fetch'; name: string; output?: string }
  | { command: 'stream'; name: string; fromStart: boolean };

export type ParsedCli = Command & { global: GlobalFlags };

export const USAGE = `kubectl ringtap: packet captures in Kubernetes

Usage:
  kubectl ringtap capture NAME (--selector k=v[,k2=v2] | --pod NAME ...) [--filter EXPR]
                               [--duration D] [--max-packets N] [--snap-length N]
  kubectl ringtap status NAME [--watch]
  kubectl ringtap fetch NAME [-o FILE|-]
  kubectl ringtap stream NAME [--from-start]  (a live merged pcapng on stdout; --from-start replays
                                          what was captured so far first)

Global flags:
  --kubeconfig PATH         default: $KUBECONFIG, then ~/.kube/config
  -n, --namespace NS        the capture's namespace; default: the context's namespace, else "default"
  --agent-namespace NS      where the ringtap agents run; default ${DEFAULT_AGENT_NAMESPACE}

Without --duration, --max-packets (or both), a capture runs for ${DEFAULT_DURATION}.
Examples:
  kubectl ringtap capture web --selector app=web --filter 'tcp port 80' --duration 1m
  kubectl ringtap status web --watch
  kubectl ringtap fetch web -o web.pcapng && tshark -r web.pcapng
  kubectl ringtap stream web | wireshark -k -i -
`;

const COMMAND_FLAGS: Record<string, string[]> = {
  capture: ['selector', 'pod', 'filter', 'duration', 'max-packets', 'snap-length'],
  status: ['watch'],
  fetch: ['output'],
  stream: ['from-start'],
  help: [],
};

const LABEL_NAME = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const DNS_SUBDOMAIN = new RegExp(DNS_SUBDOMAIN_PATTERN);

export function validLabelKey(k: string): boolean {
  const slash = k.lastIndexOf('/');
  const prefix = slash >= 0 ? k.slice(0, slash) : undefined;
  const name = slash >= 0 ? k.slice(slash + 1) : k;
  if (prefix !== undefined && (prefix.length > 253 || !DNS_SUBDOMAIN.test(prefix))) return false;
  return name.length <= 63 && LABEL_NAME.test(name);
}

/** "k=v,k2=v2" to matchLabels. */
export function parseSelector(s: string): Record<string, string> {
  const out: Record<string, string> = {};
  const parts = s.split(',').map((p) => p.trim());
  if (parts.length === 0 || parts.some((p) => p === '')) throw new UsageError(`--selector "${s}": expected k=v[,k2=v2] (an empty term is not allowed)`);
  for (const p of parts) {
    const m = /^([^=!]+?)\s*==?\s*(.*)$/.exec(p);
    if (!m) throw new UsageError(`--selector "${s}": "${p}" is not key=value (expected k=v[,k2=v2]; set-based selectors are not supported)`);
    const [, key, value] = m as unknown as [string, string, string];
    if (!validLabelKey(key)) throw new UsageError(`--selector "${s}": "${key}" is not a valid label key`);
    if (value.length > 63 || !new RegExp(LABEL_VALUE_PATTERN).test(value)) throw new UsageError(`--selector "${s}": "${value}" is not a valid label value for ${key}`);
    if (key in out && out[key] !== value) throw new UsageError(`--selector "${s}": ${key} is given twice with different values`);
    out[key] = value;
  }
  return out;
}

/** Go-style duration (as the CRD takes it) to milliseconds; throws UsageError naming --duration. */
export function parseDuration(s: string, flag = '--duration'): number {
  if (s.length > 32 || !new RegExp(DURATION_PATTERN).test(s)) {
    throw new UsageError(`${flag} "${s}": expected a duration such as 30s, 5m or 1h30m (units ns, us, ms, s, m, h)`);
  }
  const unit: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let ms = 0;
  for (const m of s.matchAll(/([0-9]+(?:\.[0-9]+)?)(ns|us|µs|ms|s|m|h)/g)) ms += Number(m[1]) * unit[m[2]!]!;
  if (ms <= 0) throw new UsageError(`${flag} "${s}": must be longer than zero`);
  return ms;
}

function positiveInt(flag: string, s: string, max?: number): number {
  if (!/^[0-9]+$/.test(s)) throw new UsageError(`--${flag} "${s}": expected a positive whole number`);
  const n = Number(s);
  if (!Number.isSafeInteger(n) || n < 1) throw new UsageError(`--${flag} "${s}": expected a positive whole number`);
  if (max !== undefined && n > max) throw new UsageError(`--${flag} ${n}: at most ${max}`);
  return n;
}

export function validName(name: string, what = 'NAME'): string {
  if (name.length > 253 || !DNS_SUBDOMAIN.test(name)) {
    throw new UsageError(`${what} "${name}": must be a lowercase DNS name (letters, digits, '-' and '.'), at most 253 characters`);
  }
  return name;
}

/** Parses kubectl-ringtap's arguments (without "node" and the script path). */
export function parseCli(argv: string[]): ParsedCli {
  let values: Record<string, string | boolean | string[] | undefined>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        kubeconfig: { type: 'string' },
        namespace: { type: 'string', short: 'n' },
        'agent-namespace': { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        selector: { type: 'string', short: 'l' },
        pod: { type: 'string', multiple: true },
        filter: { type: 'string' },
        duration: { type: 'string' },
        'max-packets': { type: 'string' },
        'snap-length': { type: 'string' },
        watch: { type: 'boolean', short: 'w' },
        'from-start': { type: 'boolean' },
        output: { type: 'string', short: 'o' },
      },
    }));
  } catch (err) {
    throw new UsageError((err as Error).message.replace(/^.*?: /, '').replace(/\. To specify a positional argument.*$/s, ''));
  }
  const global: GlobalFlags = { agentNamespace: (values['agent-namespace'] as string | undefined) ?? DEFAULT_AGENT_NAMESPACE };
  if (values.kubeconfig !== undefined) global.kubeconfig = values.kubeconfig as string;
  if (values.namespace !== undefined) global.namespace = validName(values.namespace as string, '--namespace');
  if (values['agent-namespace'] !== undefined) validName(global.agentNamespace, '--agent-namespace');

  const [command, ...rest] = positionals;
  if (values.help || command === undefined || command === 'help') return { command: 'help', ...(rest[0] ? { topic: rest[0] } : {}), global };
  if (!(command in COMMAND_FLAGS)) throw new UsageError(`unknown command "${command}": expected capture, status, fetch or stream`);
  const allowed = new Set([...COMMAND_FLAGS[command]!, 'kubeconfig', 'namespace', 'agent-namespace', 'help']);
  for (const k of Object.keys(values)) if (values[k] !== undefined && !allowed.has(k)) throw new UsageError(`--${k} is not a flag of "${command}"`);
  if (rest.length === 0) throw new UsageError(`${command}: the capture NAME is missing`);
  if (rest.length > 1) throw new UsageError(`${command}: one NAME expected, got ${rest.map((r) => `"${r}"`).join(' ')}`);
  const name = validName(rest[0]!);

  switch (command) {
    case 'capture': {
      const c: Command = { command: 'capture', name };
      if (values.selector !== undefined) c.selector = parseSelector(values.selector as string);
      const pods = ((values.pod as string[] | undefined) ?? []).flatMap((p) => p.split(',')).map((p) => p.trim());
      for (const p of pods) validName(p, '--pod');
      if (pods.length) c.pods = [...new Set(pods)];
      if (!c.selector && !c.pods) throw new UsageError('capture: choose the pods with --selector k=v[,k2=v2] or --pod NAME (or both)');
      if (values.filter !== undefined) {
        const f = (values.filter as string).trim();
        if (f.length > 4096) throw new UsageError('--filter: at most 4096 characters');
        if (f) c.filter = f;
      }
      if (values.duration !== undefined) {
        parseDuration(values.duration as string);
        c.duration = values.duration as string;
      }
      if (values['max-packets'] !== undefined) c.maxPackets = positiveInt('max-packets', values['max-packets'] as string);
      if (values['snap-length'] !== undefined) c.snapLength = positiveInt('snap-length', values['snap-length'] as string, MAX_SNAP_LENGTH);
      return { ...c, global };
    }
    case 'status':
      return { command: 'status', name, watch: values.watch === true, global };
    case 'fetch': {
      const output = values.output as string | undefined;
      if (output === '') throw new UsageError('-o/--output: expected a file name or - for stdout');
      return { command: 'fetch', name, ...(output !== undefined ? { output } : {}), global };
    }
    default:
      return { command: 'stream', name, fromStart: values['from-start'] === true, global };
  }
}
