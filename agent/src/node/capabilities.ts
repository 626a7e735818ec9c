// What this node's kernel and hardware can do, published on the Node object so that users
// (kubectl get nodes -L ringtap.dev/tc-mirror ...) and the operator see it. Built from the
// kernel's own configuration (/proc/config.gz) where it exists, else from what /proc, /sys
// and /dev show; each capability says why it is missing.
import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { release } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { CAPABILITY_LABELS, IPA_VERSION_LABEL } from '../../../crds/src/index.js';

const execFileP = promisify(execFile);

export interface Capability { available: boolean; reason?: string }
export interface NodeCapabilities {
  kernel: string;
  tpacketV3: Capability;
  fanout: Capability;
  pppKernelBridge: Capability;
  tcMirror: Capability;
  vxlan: Capability;
  gre: Capability;
  erspan: Capability;
  /** sources: where this node can read the IPA monitor stream (device, fifo, file; netdev with TPACKET_V3). */
  ipa: Capability & { version?: string; devices?: string[]; sources?: ('device' | 'fifo' | 'file' | 'netdev')[] };
  hardwareTimestamps: Capability & { clocks?: string[] };
}

export interface ProbeInput {
  kernelRelease: string;
  /** Lines of the kernel config (CONFIG_X=y|m), or undefined when the kernel does not expose it. */
  config?: string;
  /** First column of /proc/net/protocols. */
  protocols: string[];
  devPpp: boolean;
  /** Names under /dev that look like IPA monitor devices. */
  ipaDevices: string[];
  ipaVersion?: string;
  /** Kinds of the IPA sources found (probeIPA). */
  ipaSources?: ('device' | 'fifo' | 'file')[];
  /** PTP hardware clocks (/sys/class/ptp): NICs that timestamp in hardware register one. */
  ptpClocks?: string[];
  /** Whether a gretap and an erspan device could be created (probeTunnels): null, or why not. */
  tunnels?: { gretap: string | null; erspan: string | null };
}

function kernelAtLeast(rel: string, major: number, minor: number): boolean {
  const m = /^(\d+)\.(\d+)/.exec(rel);
  if (!m) return false;
  return Number(m[1]) > major || (Number(m[1]) === major && Number(m[2]) >= minor);
}

/**
 * A tunnel capability: what creating a device showed, where that was tried; else the kernel
 * configuration. A kernel that lacks the option by its configuration is reported as such.
 */
function tunnel(byConfig: Capability, created: string | null | undefined, kind: string): Capability {
  if (created === undefined || (!byConfig.available && !byConfig.reason?.startsWith('cannot tell'))) return byConfig;
  return created === null ? { available: true } : { available: false, reason: `cannot create a ${kind} device: ${created}` };
}

/** Pure: the capabilities that follow from what was probed. */
export function capabilitiesFrom(p: ProbeInput): NodeCapabilities {
  const cfg = new Map<string, string>();
  for (const line of p.config?.split('\n') ?? []) {
    const m = /^(CONFIG_[A-Z0-9_]+)=(.*)$/.exec(line);
    if (m) cfg.set(m[1]!, m[2]!);
  }
  const known = p.config !== undefined;
  const has = (k: string) => cfg.get(k) === 'y' || cfg.get(k) === 'm';
  const need = (keys: string[], what: string): Capability => {
    if (!known) return { available: false, reason: `cannot tell: the kernel exposes no configuration (/proc/config.gz) to check ${keys.join(', ')}` };
    const missing = keys.filter((k) => !has(k));
    return missing.length ? { available: false, reason: `kernel lacks ${what} (${missing.join(', ')})` } : { available: true };
  };
  const packet = p.protocols.includes('PACKET');
  const v3 = packet && kernelAtLeast(p.kernelRelease, 3, 2);
  const ppp = need(['CONFIG_PPP', 'CONFIG_PPPOE', 'CONFIG_PPPOL2TP'], 'PPP');
  const pppKernelBridge: Capability = !ppp.available ? ppp
    : !p.devPpp ? { available: false, reason: 'kernel lacks PPP: /dev/ppp is missing' }
      : !kernelAtLeast(p.kernelRelease, 5, 11) ? { available: false, reason: `kernel ${p.kernelRelease} predates PPPIOCBRIDGECHAN (5.11)` }
        : { available: true };
  const tc = known ? need(['CONFIG_NET_SCH_INGRESS', 'CONFIG_NET_ACT_MIRRED', 'CONFIG_NET_CLS_BPF'], 'tc clsact mirroring') : { available: false, reason: 'cannot tell: no kernel configuration' };
  const ipaFound = p.ipaDevices.length > 0 || p.ipaVersion !== undefined;
  return {
    kernel: p.kernelRelease,
    tpacketV3: v3 ? { available: true } : { available: false, reason: packet ? `kernel ${p.kernelRelease} predates TPACKET_V3 (3.2)` : 'kernel lacks AF_PACKET' },
    fanout: v3 ? { available: true } : { available: false, reason: 'needs AF_PACKET with TPACKET_V3' },
    pppKernelBridge,
    tcMirror: tc,
    vxlan: need(['CONFIG_VXLAN'], 'VXLAN'),
    gre: tunnel(need(['CONFIG_NET_IPGRE'], 'GRE'), p.tunnels?.gretap, 'gretap'),
    erspan: tunnel(need(['CONFIG_NET_IPGRE'], 'GRE/ERSPAN'), p.tunnels?.erspan, 'erspan'),
    ipa: ipaFound
      ? { available: true, ...(p.ipaVersion ? { version: p.ipaVersion } : {}), devices: p.ipaDevices, sources: [...(p.ipaSources ?? []), ...(v3 ? ['netdev' as const] : [])] }
      : { available: false, reason: 'no Qualcomm IPA hardware (no ipa platform device, no /dev/qcom_ipa*_monitor or /dev/ipa_adpl)' },
    hardwareTimestamps: p.ptpClocks?.length
      ? { available: true, clocks: p.ptpClocks }
      : { available: false, reason: 'no network device with a PTP hardware clock (/sys/class/ptp is empty): only software timestamps' },
  };
}

/** Probes this machine. */
export async function probeCapabilities(): Promise<NodeCapabilities> {
  let config: string | undefined;
  if (existsSync('/proc/config.gz')) {
    config = (await execFileP('zcat', ['/proc/config.gz'], { maxBuffer: 64 << 20 })).stdout;
  } else if (existsSync(`/boot/config-${release()}`)) {
    config = readFileSync(`/boot/config-${release()}`, 'utf8');
  }
  const protocols = readFileSync('/proc/net/protocols', 'utf8').split('\n').slice(1).map((l) => l.split(/\s+/)[0] ?? '').filter(Boolean);
  const ipa = probeIPA();
  const ipaDevices = ipa.devices;
  const ipaVersion = ipa.version;
  const ipaSources = ipa.sources;
  const ptpClocks = existsSync('/sys/class/ptp') ? readdirSync('/sys/class/ptp') : [];
  const tunnels = await probeTunnels();
  return capabilitiesFrom({ kernelRelease: release(), config, protocols, devPpp: existsSync('/dev/ppp'), ipaDevices, ipaSources, ptpClocks, tunnels, ...(ipaVersion ? { ipaVersion } : {}) });
}

/**
 * Whether this kernel makes gretap and erspan devices: each is created in a throwaway network
 * namespace (unshare -n; the namespace and the device go with the process), which also loads
 * ip_gre where it is a module. A configuration can say "m" for a module the node cannot load.
 */
export async function probeTunnels(): Promise<{ gretap: string | null; erspan: string | null }> {
  const attempt = async (args: string[]): Promise<string | null> => {
    try {
      await execFileP('unshare', ['--net', '--', 'ip', 'link', 'add', 'rtprobe', ...args], { timeout: 10_000 });
      return null;
    } catch (err) {
      const e = err as { stderr?: string; message: string };
      return (e.stderr || e.message).trim().split('\n')[0]!;
    }
  };
  const [gretap, erspan] = await Promise.all([
    attempt(['type', 'gretap', 'remote', '192.0.2.1']),
    attempt(['type', 'erspan', 'remote', '192.0.2.1', 'seq', 'key', '1', 'erspan_ver', '1']),
  ]);
  return { gretap, erspan };
}

/**
 * Where IPA hardware shows itself. Simulated nodes (hack/cluster) point these elsewhere:
 *   RINGTAP_IPA_DEV_DIR    the directory of the monitor character devices; default /dev
 *   RINGTAP_IPA_SYSFS_DIR  the platform devices directory with the ipa device; default /sys/bus/platform/devices
 *   RINGTAP_IPA_SOURCE     a configured stream source (a FIFO or a recorded file) used instead of a device
 */
export function ipaPaths(env: NodeJS.ProcessEnv = process.env): { devDir: string; sysfsDir: string; source?: string } {
  return {
    devDir: env.RINGTAP_IPA_DEV_DIR || '/dev',
    sysfsDir: env.RINGTAP_IPA_SYSFS_DIR || '/sys/bus/platform/devices',
    ...(env.RINGTAP_IPA_SOURCE ? { source: env.RINGTAP_IPA_SOURCE } : {}),
  };
}

/** The IPA monitor devices (qcom_ipa<N>_monitor, ipa_adpl; plus a configured source) and the ipa platform device's version. */
export function probeIPA(env: NodeJS.ProcessEnv = process.env): { devices: string[]; version?: string; sources: ('device' | 'fifo' | 'file')[] } {
  const p = ipaPaths(env);
  const devices = existsSync(p.devDir)
    ? readdirSync(p.devDir).filter((d) => /^qcom_ipa\d+_monitor$/.test(d) || d === 'ipa_adpl').sort().map((d) => join(p.devDir, d))
    : [];
  const sources = new Set<'device' | 'fifo' | 'file'>(devices.length ? ['device'] : []);
  if (p.source && existsSync(p.source)) {
    devices.push(p.source);
    const st = statSync(p.source);
    sources.add(st.isFIFO() ? 'fifo' : st.isCharacterDevice() ? 'device' : 'file');
  }
  let version: string | undefined;
  if (existsSync(p.sysfsDir)) {
    for (const d of readdirSync(p.sysfsDir).filter((x) => /(^|\.)ipa$/.test(x))) {
      try { version = readFileSync(join(p.sysfsDir, d, 'version'), 'utf8').trim(); } catch { /* no version attribute */ }
    }
  }
  return { devices, ...(version ? { version } : {}), sources: [...sources] };
}

/**
 * Node labels, one per capability ("true"/"false"), for kubectl -L and node selectors. null
 * removes a label in the agent's merge patch (an IPA version the node no longer shows).
 */
export function capabilityLabels(c: NodeCapabilities): Record<string, string | null> {
  const b = (x: Capability) => String(x.available);
  return {
    [CAPABILITY_LABELS.tpacketV3]: b(c.tpacketV3),
    [CAPABILITY_LABELS.pppKernelBridge]: b(c.pppKernelBridge),
    [CAPABILITY_LABELS.tcMirror]: b(c.tcMirror),
    [CAPABILITY_LABELS.vxlan]: b(c.vxlan),
    [CAPABILITY_LABELS.gre]: b(c.gre),
    [CAPABILITY_LABELS.ipa]: b(c.ipa),
    [CAPABILITY_LABELS.hardwareTimestamps]: b(c.hardwareTimestamps),
    // The IPA version (a label value: "4.9", "5.0"), for node selectors per hardware generation.
    [IPA_VERSION_LABEL]: c.ipa.version && /^[0-9][0-9.]{0,15}$/.test(c.ipa.version) ? c.ipa.version : null,
  };
}
