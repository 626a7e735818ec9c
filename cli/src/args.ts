// Command-line parsing for kubectl-ringtap: pure functions, so every message a user can see
// for bad input is unit-tested. Each error names the flag it is about.
import { parseArgs } from 'node:util';
import { DNS_SUBDOMAIN_PATTERN, DURATION_PATTERN, LABEL_VALUE_PATTERN } from '../../crds/src/schema.js';
import { MAX_SNAP_LENGTH } from '../../crds/src/defaults.js';
import { PLURALS } from '../../crds/src/index.js';

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

export const DEFAULT_DURATION = '5m';

export interface GlobalFlags {
  kubeconfig?: string;
  context?: string;
  namespace?: string;
  allNamespaces?: boolean;
  /** Impersonate this user (kubectl --as). */
  as?: string;
}

/** What fetch, stream and list are about: a PacketCapture (the default) or an IPAMonitor. */
export type TargetKind = 'PacketCapture' | 'IPAMonitor';

export type Command =
  | { command: 'help'; topic?: string }
  | { command: 'capture'; name: string; selector?: Record<string, string>; pods?: string[]; filter?: string; duration?: string; maxPackets?: number; snapLength?: number }
  | { command: 'status'; name: string; watch: boolean }
  | { command: 'fetch'; kind: TargetKind; name: string; output?: string; node?: string }
  | { command: 'stream'; kind: TargetKind; name: string; fromStart: boolean; node?: string }
  | { command: 'list'; kind: TargetKind; name?: string };

export type ParsedCli = Command & { global: GlobalFlags };

export const USAGE = `kubectl ringtap: packet captures in Kubernetes

Usage:
  kubectl ringtap capture NAME (--selector k=v[,k2=v2] | --pod NAME ...) [--filter EXPR]
                               [--duration D] [--max-packets N] [--snap-length N]
  kubectl ringtap status NAME [--watch]
  kubectl ringtap list [-A]                  captures with their packets and files
  kubectl ringtap list [TYPE/]NAME           one capture's files, per node
  kubectl ringtap fetch [TYPE/]NAME [-o FILE|-] [--node NODE]
  kubectl ringtap stream NAME [--from-start] [--node NODE]
                            (a live merged pcapng on stdout; --from-start replays what was
                             captured so far first)
  TYPE is packetcapture (the default) or ipamonitor (cluster-scoped; fetch and list only).

Global flags (as kubectl takes them):
  --kubeconfig PATH         default: $KUBECONFIG, then ~/.kube/config
  --context NAME            a context of the kubeconfig; default: its current context
  -n, --namespace NS        the capture's namespace; default: the context's namespace, else "default"
  -A, --all-namespaces      list: every namespace
  --as USER                 impersonate USER (needs the impersonate permission)

Downloads and streams go through the API server (data.ringtap.dev), with whatever credential
your kubeconfig has. Without --duration, --max-packets (or both), a capture runs for ${DEFAULT_DURATION}.
Examples:
  kubectl ringtap capture web --selector app=web --filter 'tcp port 80' --duration 1m
  kubectl ringtap status web --watch
  kubectl ringtap fetch web -o web.pcapng && tshark -r web.pcapng
  kubectl ringtap stream web | wireshark -k -i -
  kubectl get --raw /apis/data.ringtap.dev/v1alpha1/namespaces/NS/packetcaptures/web/pcap > web.pcapng
`;

const COMMAND_FLAGS: Record<string, string[]> = {
  capture: ['selector', 'pod', 'filter', 'duration', 'max-packets', 'snap-length'],
  status: ['watch'],
  fetch: ['output', 'node'],
  stream: ['from-start', 'node'],
  list: ['all-namespaces'],
  help: [],
};
const GLOBAL_FLAGS = ['kubeconfig', 'context', 'namespace', 'as', 'help'];

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

/** "NAME", "packetcapture/NAME" (also pc, pcap, packetcaptures) or "ipamonitor/NAME" (ipam, ipamonitors). */
export function parseTarget(arg: string): { kind: TargetKind; name: string } {
  const slash = arg.indexOf('/');
  if (slash < 0) return { kind: 'PacketCapture', name: validName(arg) };
  const type = arg.slice(0, slash).toLowerCase().replace(/\.ringtap\.dev$/, '');
  const name = validName(arg.slice(slash + 1));
  if (['packetcapture', PLURALS.PacketCapture, 'pcap', 'pc'].includes(type)) return { kind: 'PacketCapture', name };
  if (['ipamonitor', PLURALS.IPAMonitor, 'ipam'].includes(type)) return { kind: 'IPAMonitor', name };
  throw new UsageError(`"${arg}": TYPE must be packetcapture or ipamonitor, not "${type}"`);
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
        context: { type: 'string' },
        namespace: { type: 'string', short: 'n' },
        'all-namespaces': { type: 'boolean', short: 'A' },
        as: { type: 'string' },
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
        node: { type: 'string' },
      },
    }));
  } catch (err) {
    throw new UsageError((err as Error).message.replace(/^.*?: /, '').replace(/\. To specify a positional argument.*$/s, ''));
  }
  const global: GlobalFlags = {};
  if (values.kubeconfig !== undefined) global.kubeconfig = values.kubeconfig as string;
  if (values.context !== undefined) {
    if (!values.context) throw new UsageError('--context: expected a context name');
    global.context = values.context as string;
  }
  if (values.namespace !== undefined) global.namespace = validName(values.namespace as string, '--namespace');
  if (values.as !== undefined) {
    if (!(values.as as string).trim()) throw new UsageError('--as: expected a user name');
    global.as = values.as as string;
  }

  const [command, ...rest] = positionals;
  if (values.help || command === undefined || command === 'help') return { command: 'help', ...(rest[0] ? { topic: rest[0] } : {}), global };
  if (!(command in COMMAND_FLAGS)) throw new UsageError(`unknown command "${command}": expected capture, status, list, fetch or stream`);
  const allowed = new Set([...COMMAND_FLAGS[command]!, ...GLOBAL_FLAGS]);
  for (const k of Object.keys(values)) if (values[k] !== undefined && !allowed.has(k)) throw new UsageError(`--${k} is not a flag of "${command}"`);
  if (rest.length > 1) throw new UsageError(`${command}: one NAME expected, got ${rest.map((r) => `"${r}"`).join(' ')}`);
  if (command === 'list') {
    if (values['all-namespaces']) {
      if (rest.length) throw new UsageError('list: -A lists every capture; it takes no NAME');
      global.allNamespaces = true;
    }
    return rest[0] === undefined ? { command: 'list', kind: 'PacketCapture', global } : { command: 'list', ...parseTarget(rest[0]), global };
  }
  if (rest.length === 0) throw new UsageError(`${command}: the capture NAME is missing`);
  const node = values.node === undefined ? undefined : validName(values.node as string, '--node');

  if (command === 'fetch') {
    const output = values.output as string | undefined;
    if (output === '') throw new UsageError('-o/--output: expected a file name or - for stdout');
    return { command: 'fetch', ...parseTarget(rest[0]!), ...(output !== undefined ? { output } : {}), ...(node ? { node } : {}), global };
  }
  if (command === 'stream') {
    const t = parseTarget(rest[0]!);
    if (t.kind !== 'PacketCapture') throw new UsageError(`stream: an ${t.kind} has no live stream; use fetch for its files`);
    return { command: 'stream', ...t, fromStart: values['from-start'] === true, ...(node ? { node } : {}), global };
  }
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
    default:
      return { command: 'status', name, watch: values.watch === true, global };
  }
}
