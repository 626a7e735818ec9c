// kubectl-ringtap's argument parsing, its error messages and status rendering. fetch and stream
// are tested end to end against the real API server and agents (test/e2e/cli.test.ts).
import { describe, expect, it } from '@jest/globals';
import { Writable } from 'node:stream';
import { parseCli, parseDuration, parseSelector, USAGE, UsageError } from '../../../cli/src/args.js';
import { KubeConfig } from '@kubernetes/client-node';
import { buildCapture, createCapture, describeCapture } from '../../../cli/src/capture.js';
import { main } from '../../../cli/src/main.js';
import { renderPlain, renderTTY, statusView } from '../../../cli/src/status.js';
import type { PacketCapture } from '../../../crds/src/packetcapture.js';

function sink(isTTY = false): Writable & { text: () => string; isTTY: boolean } {
  const chunks: Buffer[] = [];
  const w = new Writable({
    write(c: Buffer, _e, cb) {
      chunks.push(Buffer.from(c));
      cb();
    },
  }) as Writable & { text: () => string; isTTY: boolean };
  w.text = () => Buffer.concat(chunks).toString('utf8');
  w.isTTY = isTTY;
  return w;
}

const usageError = (argv: string[]) => {
  try {
    parseCli(argv);
  } catch (e) {
    expect(e).toBeInstanceOf(UsageError);
    return (e as Error).message;
  }
  throw new Error(`no error for ${argv.join(' ')}`);
};

describe('argument parsing', () => {
  it('parses capture with selector, pods, filter and limits, and the global flags', () => {
    const c = parseCli(['capture', 'web', '-n', 'shop', '--selector', 'app=web,tier=front', '--pod', 'a', '--pod', 'b,c', '--filter', 'tcp port 80', '--duration', '1m30s', '--max-packets', '1000', '--snap-length', '128', '--context', 'prod', '--as', 'jane', '--kubeconfig', '/k']);
    expect(c).toEqual({
      command: 'capture', name: 'web', selector: { app: 'web', tier: 'front' }, pods: ['a', 'b', 'c'], filter: 'tcp port 80', duration: '1m30s', maxPackets: 1000, snapLength: 128,
      global: { namespace: 'shop', context: 'prod', as: 'jane', kubeconfig: '/k' },
    });
  });

  it('leaves the capture namespace to the kubeconfig; fetch, stream and list take TYPE/NAME', () => {
    expect(parseCli(['status', 'x', '--watch'])).toEqual({ command: 'status', name: 'x', watch: true, global: {} });
    expect(parseCli(['fetch', 'x', '-o', '-'])).toMatchObject({ command: 'fetch', kind: 'PacketCapture', output: '-' });
    expect(parseCli(['fetch', 'ipamonitor/m1', '--node', 'n1'])).toMatchObject({ command: 'fetch', kind: 'IPAMonitor', name: 'm1', node: 'n1' });
    expect(parseCli(['stream', 'pcap/x', '--from-start'])).toMatchObject({ command: 'stream', kind: 'PacketCapture', name: 'x', fromStart: true });
    expect(parseCli(['list', '-A'])).toEqual({ command: 'list', kind: 'PacketCapture', global: { allNamespaces: true } });
    expect(parseCli(['list', 'web', '-n', 'shop'])).toEqual({ command: 'list', kind: 'PacketCapture', name: 'web', global: { namespace: 'shop' } });
    expect(parseCli([])).toMatchObject({ command: 'help' });
    expect(parseCli(['--help'])).toMatchObject({ command: 'help' });
  });

  it.each([
    [['capture', 'x', '--selector', 'app'], /--selector "app": "app" is not key=value/],
    [['capture', 'x', '--selector', 'app=web,'], /--selector "app=web,": expected k=v\[,k2=v2\]/],
    [['capture', 'x', '--selector', 'app in (a,b)'], /--selector .* not key=value/],
    [['capture', 'x', '--selector', 'bad key=v'], /"bad key" is not a valid label key/],
    [['capture', 'x', '--selector', 'app=-x'], /"-x" is not a valid label value for app/],
    [['capture', 'x', '--pod', 'a', '--duration', '5 minutes'], /--duration "5 minutes": expected a duration such as 30s/],
    [['capture', 'x', '--pod', 'a', '--duration', '10'], /--duration "10"/],
    [['capture', 'x', '--pod', 'a', '--max-packets', '0'], /--max-packets "0": expected a positive whole number/],
    [['capture', 'x', '--pod', 'a', '--max-packets', '1e3'], /--max-packets "1e3"/],
    [['capture', 'x', '--pod', 'a', '--snap-length', '300000'], /--snap-length 300000: at most 262144/],
    [['capture', 'x', '--pod', 'Bad_Pod'], /--pod "Bad_Pod": must be a lowercase DNS name/],
    [['capture', 'x'], /choose the pods with --selector k=v\[,k2=v2\] or --pod NAME/],
    [['capture', 'Web', '--pod', 'a'], /NAME "Web": must be a lowercase DNS name/],
    [['capture', '--pod', 'a'], /capture: the capture NAME is missing/],
    [['status', 'a', 'b'], /one NAME expected/],
    [['status', 'a', '--filter', 'x'], /--filter is not a flag of "status"/],
    [['fetch', 'a', '--bogus'], /Unknown option '--bogus'/],
    [['frobnicate', 'a'], /unknown command "frobnicate"/],
    [['stream', 'ipamonitor/m'], /stream: an IPAMonitor has no live stream/],
    [['fetch', 'pods/m'], /TYPE must be packetcapture or ipamonitor, not "pods"/],
    [['list', 'web', '-A'], /-A lists every capture; it takes no NAME/],
    [['fetch', 'web', '-A'], /--all-namespaces is not a flag of "fetch"/],
    [['fetch', 'web', '--node', 'N_1'], /--node "N_1"/],
    [['status', 'a', '--agent-namespace', 'x'], /Unknown option '--agent-namespace'/],
    [['status', 'a', '-n', 'Not_A_Namespace'], /--namespace "Not_A_Namespace"/],
  ])('rejects %j naming the flag', (argv, re) => {
    expect(usageError(argv)).toMatch(re);
  });

  it('parses durations and selectors like the API does', () => {
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('1.5s')).toBe(1500);
    expect(parseDuration('250ms')).toBe(250);
    expect(() => parseDuration('0s')).toThrow(/longer than zero/);
    expect(parseSelector('app.kubernetes.io/name=web, tier==front,empty=')).toEqual({ 'app.kubernetes.io/name': 'web', tier: 'front', empty: '' });
  });
});

describe('main', () => {
  it('prints usage for --help and a usage error with exit code 2', async () => {
    const out = sink();
    const err = sink();
    expect(await main(['--help'], { stdout: out, stderr: err })).toBe(0);
    expect(out.text()).toBe(USAGE);
    expect(await main(['capture', 'x', '--duration', 'soon', '--pod', 'a'], { stdout: out, stderr: err })).toBe(2);
    expect(err.text()).toMatch(/^error: --duration "soon": expected a duration/);
    expect(err.text()).toMatch(/Run "kubectl ringtap --help" for usage/);
  });
});

describe('capture objects', () => {
  it('defaults to a 5m duration when no limit is given, and says so', () => {
    const { capture, defaultedDuration } = buildCapture({ namespace: 'ns', name: 'web', selector: { app: 'web' } });
    expect(defaultedDuration).toBe(true);
    expect(capture).toEqual({
      apiVersion: 'ringtap.dev/v1alpha1', kind: 'PacketCapture', metadata: { name: 'web', namespace: 'ns' },
      spec: { targets: { pods: { selector: { matchLabels: { app: 'web' } } } }, limits: { duration: '5m' } },
    });
    expect(describeCapture(capture.toJSON() as PacketCapture, true)).toMatch(/duration 5m \(the default: no --duration or --max-packets given\)/);
  });

  it('keeps the limits given', () => {
    const { capture, defaultedDuration } = buildCapture({ namespace: 'ns', name: 'web', pods: ['a'], maxPackets: 10, filter: 'udp', snapLength: 96 });
    expect(defaultedDuration).toBe(false);
    expect(capture.spec).toEqual({ targets: { pods: { names: ['a'] } }, filter: 'udp', snapLength: 96, limits: { maxPackets: 10 } });
  });

  it('is validated against the CRD schema before it is sent, naming the bad field', async () => {
    await expect(createCapture({ kubeConfig: new KubeConfig(), namespace: 'ns', name: 'web', pods: ['a'], snapLength: 10_000_000 }))
      .rejects.toThrow(/^invalid PacketCapture ns\/web: data\/spec\/snapLength must be <= 262144$/);
  });
});

const CAPTURE: PacketCapture = {
  apiVersion: 'ringtap.dev/v1alpha1', kind: 'PacketCapture', metadata: { name: 'web', namespace: 'shop' },
  spec: { targets: { pods: { selector: { matchLabels: { app: 'web' } } } }, limits: { maxPackets: 100 } },
  status: {
    phase: 'Running', startTime: '2024-01-01T00:00:00Z',
    totals: { packets: 30, bytes: 3000, drops: 1 },
    nodes: [
      { node: 'n1', phase: 'Running', packets: 20, bytes: 2000, drops: 1 },
      { node: 'n2', phase: 'Running', packets: 10, bytes: 1000, drops: 0 },
    ],
  },
};

describe('status rendering', () => {
  it('computes rates between polls and plain lines off a terminal', () => {
    const first = statusView(CAPTURE, 1000);
    const later = structuredClone(CAPTURE);
    later.status!.nodes![0]!.packets = 40;
    const { view } = statusView(later, 3000, first.sample);
    expect(view.rows.map((r) => r.rate)).toEqual([10, 0]);
    expect(view.progress).toBeCloseTo(0.3);
    const text = renderPlain(view);
    expect(text).toContain('node=n1 phase=Running packets=40 bytes=2000 drops=1 rate=10.0');
    expect(text).toContain('total packets=30 bytes=3000 drops=1 rate=10.0');
  });

  it('draws bars relative to --max-packets on a terminal', () => {
    const text = renderTTY(statusView(CAPTURE, 0).view);
    expect(text).toMatch(/n1 +Running +20 .*\[####\.+\] +20%/);
    expect(text).toMatch(/TOTAL .*\[######\.+\] +30%/);
    expect(text).toContain('stops after 100 packets');
  });
});

// ---- fetch and stream against a stand-in API server ---------------------------------------------------
