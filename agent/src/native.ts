// Typed facade over the native ring engine (agent/native). The addon does all packet work on
// its own threads; this module only configures it, reads counters and relays events.
import { EventEmitter } from 'node:events';
import { loadAddon, type NativeError, type NativeErrorCode } from '../../lib/native/addon.js';

import { LiveStream } from './server/live-stream.js';

export { LINKTYPE_ETHERNET, MAX_SNAPLEN } from '../../lib/pcapng/format.js';
export { compileFilter } from '../../lib/native/filter.js';
export { isNativeError, NativeErrorCode, type NativeError } from '../../lib/native/addon.js';

export type CaptureFormat = 'pcapng' | 'pcap';

export type FanoutMode = 'hash' | 'cpu' | 'lb';

/**
 * PACKET_FANOUT: several TPACKET_V3 rings on one interface, each with its own reader thread,
 * in one kernel fanout group (id chosen by the kernel, unique in the namespace). All feed the
 * same writer; the file has one IDB for the interface. Each worker has a full ring of
 * `ring.blockCount x ring.blockSize`. Records from different workers interleave per block, so
 * timestamps in a file are ordered per worker (per flow with 'hash'), not globally.
 */
export interface FanoutOptions {
  /** Rings (and reader threads) per interface, 1..64. Default 1 (no fanout group). */
  workers?: number;
  /** 'hash' (flow hash, with PACKET_FANOUT_FLAG_DEFRAG; a flow stays on one worker), 'cpu' or 'lb' (round-robin). Default 'hash'. */
  mode?: FanoutMode;
}

export interface InterfaceSpec {
  /** Interface name inside its namespace, e.g. "eth0". */
  name: string;
  /** Network namespace path (/proc/PID/ns/net or /run/netns/NAME); omitted = the agent's own. */
  netns?: string;
  /** Free text for the pcapng if_description, e.g. "node=n1 pod=ns/name uid=...". */
  description?: string;
  /** 'hardware' fails with ERR_RINGTAP_HWTSTAMP_UNSUPPORTED where the device cannot. */
  timestamps?: 'software' | 'hardware';
  /** Overrides the capture's `fanout` for this interface. */
  fanout?: FanoutOptions;
}

export interface RingOptions {
  /** Bytes per ring block; a multiple of the page size, larger than the snap length. Default 1 MiB. */
  blockSize?: number;
  /** Blocks per ring. Default 64. */
  blockCount?: number;
  /** TPACKET_V3 frame size hint (only used for tp_frame_nr). Default 2048. */
  frameSize?: number;
  /** A partly filled block is handed over after this long. Default 50 ms. */
  retireTimeoutMs?: number;
}

export interface OutputOptions {
  directory: string;
  /** Files are named <prefix>-<sequence, 6 digits>.pcapng|.pcap. Default "capture". */
  prefix?: string;
  /** First sequence number, so a restarted agent resumes in a new segment. Default 0. */
  startSequence?: number;
  /** Rotate before a file would exceed this many bytes (record boundaries). */
  rotateBytes?: number;
  /** Rotate a file that holds packets after this many seconds. */
  rotateSeconds?: number;
  /** Keep at most this many files (the oldest is deleted). */
  maxFiles?: number;
  /** If the first file exists, cut its torn tail and append (pcapng: as a new section). */
  append?: boolean;
  /**
   * Write whole 4 KiB blocks with O_DIRECT from an aligned staging buffer (the tail buffered,
   * so files always end at a record). Default true; filesystems without O_DIRECT fall back.
   */
  directIo?: boolean;
}

export interface CaptureLimits {
  /** Packets after the filter. */
  packets?: number;
  /** Captured bytes (caplen sum) after the filter. */
  bytes?: number;
  durationSeconds?: number;
}

export interface CaptureOptions {
  interfaces?: InterfaceSpec[];
  /** BPF filter text (tcpdump syntax); empty = everything. */
  filter?: string;
  /** Default 262144. */
  snaplen?: number;
  /** Default pcapng. */
  format?: CaptureFormat;
  ring?: RingOptions;
  /** Omit to capture for live streams only. */
  output?: OutputOptions;
  limits?: CaptureLimits;
  /** User-space buffer between ring readers and the file writer. Default 128 MiB. */
  spillBytes?: number;
  /** Default fanout for every interface (one worker when omitted). */
  fanout?: FanoutOptions;
}

export type StopReason = 'packet-limit' | 'byte-limit' | 'duration' | 'disk-full' | 'error' | 'stopped' | 'closed';

export type CaptureEvent =
  | { type: 'interface-removed'; interfaceName: string; interfaceId: number; reason: 'gone' | 'removed' }
  | { type: 'limit-reached'; reason: 'packet-limit' | 'byte-limit' | 'duration' }
  | { type: 'file-rotated'; path: string; previousPath: string }
  | { type: 'error'; code: string; message: string; path?: string }
  | { type: 'stopped'; reason: StopReason };

export interface InterfaceStats {
  id: number;
  name: string;
  netns?: string;
  state: 'active' | 'gone' | 'removed' | 'stopped';
  /** Packets seen in the ring (after the filter) and their wire bytes. */
  packets: number;
  bytes: number;
  /** PACKET_STATISTICS, accumulated: kernelPackets includes kernelDrops. */
  kernelPackets: number;
  kernelDrops: number;
  freezes: number;
  /** Dropped because the spill buffer was full (the writer fell behind). */
  spillDrops: number;
  /** Present with more than one worker: the kernel's fanout group id and the mode. */
  fanout?: { group: number; mode: FanoutMode };
  /** Packets seen per worker ring (one entry without fanout); they sum to `packets`. */
  workerPackets: number[];
}

export interface CaptureStats {
  state: 'created' | 'running' | 'stopping' | 'stopped' | 'closed';
  stopReason?: StopReason;
  interfaces: InterfaceStats[];
  packets: number;
  bytes: number;
  kernelPackets: number;
  kernelDrops: number;
  freezes: number;
  spillDrops: number;
  packetsWritten: number;
  bytesWritten: number;
  files: number;
  currentFile?: string;
  streamDrops: number;
  eventsDropped: number;
}

export interface StreamOptions {
  /** Bytes queued for this consumer before whole packets are dropped. Default 8 MiB. */
  maxBytes?: number;
}

export interface RepairResult {
  format: CaptureFormat;
  validBytes: number;
  removedBytes: number;
  packets: number;
}

export interface TransmitOptions {
  interface: string;
  netns?: string;
  /** Whole Ethernet frames, sent round-robin. */
  frames: Buffer[];
  count: number;
  /** Packets per second; omitted or 0 = as fast as possible. */
  ratePps?: number;
  /** PACKET_QDISC_BYPASS. Default true. */
  qdiscBypass?: boolean;
  ringFrames?: number;
}

export interface TransmitResult {
  sent: number;
  seconds: number;
}

type RawEvent = { type: string; streamId?: number } & Record<string, unknown>;

interface NativeCapture {
  start(): void;
  addInterface(spec: InterfaceSpec): number;
  removeInterface(id: number): void;
  stop(): void;
  stats(): CaptureStats;
  openStream(opts: StreamOptions): number;
  readStream(id: number): Buffer | null | undefined;
  closeStream(id: number): void;
  close(): void;
}

interface NativeLinkMonitor {
  links(): LinkInfo[];
  stats(): LinkMonitorStats;
  close(): void;
}

interface NativeAddon {
  libpcapVersion(): string;
  repairCaptureFile(path: string, truncate: boolean): RepairResult;
  transmit(opts: TransmitOptions): Promise<TransmitResult>;
  Capture: new (options: CaptureOptions, onEvent: (e: RawEvent) => void) => NativeCapture;
  LinkMonitor: new (options: LinkMonitorOptions, onEvent: (e: LinkEvent | LinkMonitorError) => void) => NativeLinkMonitor;
  PppRelay: new (options: PppRelayOptions) => NativePppRelay;
  PppKernelBridge: new (options: PppRelayOptions) => NativePppKernelBridge;
  pppKernelError(op: string, errno: number): { code: NativeErrorCode; message: string };
}

function native(): NativeAddon {
  return loadAddon<NativeAddon>();
}

export function libpcapVersion(): string {
  return native().libpcapVersion();
}

/** Scans a pcapng/pcap file and (by default) truncates it to its last whole record. */
export function repairCaptureFile(path: string, opts: { truncate?: boolean } = {}): RepairResult {
  return native().repairCaptureFile(path, opts.truncate ?? true);
}

/** Sends frames through a TX_RING on an interface (in a namespace); resolves when all left. */
export function transmit(opts: TransmitOptions): Promise<TransmitResult> {
  return native().transmit(opts);
}

interface RingCaptureEvents {
  event: [CaptureEvent];
  stopped: [StopReason];
  /** The last open live stream has ended. */
  'streams-ended': [];
}

/**
 * One capture: a set of interfaces (each its own TPACKET_V3 ring and reader thread), one
 * filter, one file series and any number of live streams. Lifetime is explicit: call close().
 */
export class RingCapture extends EventEmitter<RingCaptureEvents> {
  private readonly handle: NativeCapture;
  private readonly streams = new Map<number, LiveStream>();
  private stopReason: StopReason | undefined;
  private readonly stoppedPromise: Promise<StopReason>;
  private resolveStopped!: (r: StopReason) => void;
  private closed = false;

  constructor(options: CaptureOptions) {
    super();
    this.stoppedPromise = new Promise((resolve) => (this.resolveStopped = resolve));
    this.handle = new (native().Capture)(options, (e) => this.onNativeEvent(e));
  }

  /** Opens every initial interface (synchronously: errors are thrown here) and starts capturing. */
  start(): void {
    this.handle.start();
  }

  /** Adds an interface to the running capture; it gets a new IDB. Returns its interface id. */
  addInterface(spec: InterfaceSpec): number {
    return this.handle.addInterface(spec);
  }

  /** Drains and closes one interface; its "interface-removed" event follows. */
  removeInterface(id: number): void {
    this.handle.removeInterface(id);
  }

  /** Stops gracefully (rings drained, files closed with statistics) and resolves with the reason. */
  stop(): Promise<StopReason> {
    if (!this.stopReason && !this.closed) this.handle.stop();
    return this.stoppedPromise;
  }

  /** Resolves once the capture has stopped, for whatever reason. */
  get stopped(): Promise<StopReason> {
    return this.stoppedPromise;
  }

  stats(): CaptureStats {
    return this.handle.stats();
  }

  /** Live streams open on this capture. */
  get openStreams(): number {
    return this.streams.size;
  }

  /** A live byte stream: file header and IDBs first, then packets as they are captured. */
  openStream(opts: StreamOptions = {}): LiveStream {
    const id = this.handle.openStream(opts);
    const s = new LiveStream(this.handle, id, (sid) => {
      this.streams.delete(sid);
      if (this.streams.size === 0) this.emit('streams-ended');
    });
    this.streams.set(id, s);
    return s;
  }

  /** Stops every thread and closes every fd now. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const s of [...this.streams.values()]) s.destroy();
    this.handle.close();
    if (!this.stopReason) {
      this.stopReason = 'closed';
      this.resolveStopped('closed');
    }
  }

  private onNativeEvent(raw: RawEvent): void {
    // Runs on the JS thread via the addon's thread-safe function; must never throw into it.
    try {
      if (raw.type === 'stream-data') {
        this.streams.get(raw.streamId ?? -1)?.notify();
        return;
      }
      const e = raw as unknown as CaptureEvent;
      if (e.type === 'stopped' && !this.stopReason) {
        this.stopReason = e.reason;
        this.resolveStopped(e.reason);
        for (const s of this.streams.values()) s.notify();
      }
      this.emit('event', e);
      if (e.type === 'stopped') this.emit('stopped', e.reason);
    } catch (err) {
      process.nextTick(() => {
        throw err;
      });
    }
  }
}

// --- link monitor ---------------------------------------------------------------------------

export interface LinkMonitorOptions {
  /** Network namespace path (/proc/PID/ns/net or /run/netns/NAME); omitted = the agent's own. */
  netns?: string;
}

/** A link as the monitor last saw it (RTM_NEWLINK). */
export interface LinkInfo {
  ifindex: number;
  name: string;
  mtu: number;
  /** IFF_UP: administratively up. */
  up: boolean;
  /** IFF_RUNNING: operationally up (carrier). */
  running: boolean;
}

/**
 * One change, with the link's state after it (for 'delete': its last known state).
 * - add / delete: an ifindex appeared / disappeared (moving a link to another namespace is
 *   a delete here and an add there);
 * - up / down: `up && running` became true / false (a veth whose peer is down is not up);
 * - rename: `name` changed, `previousName` is the old one;
 * - mtu: `mtu` changed, `previousMtu` is the old one.
 * One netlink message with several changes gives rename, then mtu, then up/down.
 */
export interface LinkEvent extends LinkInfo {
  type: 'add' | 'delete' | 'up' | 'down' | 'rename' | 'mtu';
  previousName?: string;
  previousMtu?: number;
}

interface LinkMonitorError {
  type: 'error';
  code: NativeErrorCode;
  message: string;
}

export interface LinkMonitorStats {
  /** The netlink socket overflowed (notifications lost); each was followed by a re-dump. */
  overruns: number;
  /** Dumps after the initial one; a re-dump reports the differences as events. */
  resyncs: number;
  /** Events dropped because JavaScript fell 4096 events behind; links() stays exact. */
  eventsDropped: number;
}

interface LinkMonitorEvents {
  link: [LinkEvent];
  error: [NativeError];
}

/**
 * rtnetlink link monitor for one network namespace: a NETLINK_ROUTE socket bound to
 * RTMGRP_LINK (opened in the namespace on a helper thread; the JS thread never changes
 * namespace) and one native thread that parses RTM_NEWLINK/RTM_DELLINK.
 *
 * The constructor subscribes, then dumps every link (RTM_GETLINK) before it returns, so
 * `links()` is the complete current table at once and 'link' events report every change
 * after that (no 'add' events for links that existed already). Events are diffs against that
 * table, so netlink noise (statistics, operstate steps) yields none. `links()` is the
 * thread's current view and may be ahead of events still on their way: treat it as the level,
 * events as hints (if `stats().eventsDropped` or `overruns` grow, reconcile with `links()`).
 *
 * The monitor never keeps the process alive. 'error' (code ERR_RINGTAP_NETLINK) means its
 * thread ended; close() it and open a new one. Note that an open monitor holds a reference
 * on its namespace: close it when the pod is gone. Lifetime is explicit: close().
 * Throws ERR_RINGTAP_NETNS for a namespace that cannot be opened.
 */
export class LinkMonitor extends EventEmitter<LinkMonitorEvents> {
  private readonly handle: NativeLinkMonitor;
  private closed = false;

  constructor(options: LinkMonitorOptions = {}, onEvent?: (e: LinkEvent) => void) {
    super();
    if (onEvent) this.on('link', onEvent);
    this.handle = new (native().LinkMonitor)(options, (e) => this.onNativeEvent(e));
  }

  /** Every link in the namespace now, by ifindex. */
  links(): LinkInfo[] {
    return this.handle.links();
  }

  stats(): LinkMonitorStats {
    return this.handle.stats();
  }

  /** Stops the thread, closes the socket and eventfd, releases the callback. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.handle.close();
  }

  private onNativeEvent(e: LinkEvent | LinkMonitorError): void {
    try {
      if (this.closed) return;
      if (e.type === 'error') {
        const err = new Error(e.message) as NativeError;
        err.code = e.code;
        this.emit('error', err);
        return;
      }
      this.emit('link', e);
    } catch (err) {
      process.nextTick(() => {
        throw err;
      });
    }
  }
}

// --- userspace PPP relay (PPPBridge userspace mode) ------------------------------------------

/** A PPPoE session on an Ethernet interface: frames of `sessionId` from `peerMac` only (BPF). */
export interface PppoeEndpoint {
  type: 'pppoe';
  interface: string;
  /** Network namespace path (/proc/PID/ns/net, /run/netns/NAME); default: the agent's. */
  netns?: string;
  /** 1..65534; used both ways (received from and sent to the peer). */
  sessionId: number;
  peerMac: string;
  /** Source MAC of frames sent to the peer; default: the interface's MAC. */
  localMac?: string;
}

/** An L2TPv2 session over UDP/IPv4: a socket bound to local and connected to the peer. */
export interface L2tpEndpoint {
  type: 'l2tp';
  netns?: string;
  localAddress: string;
  localPort: number;
  peerAddress: string;
  peerPort: number;
  /** Our tunnel/session ids: received data messages must carry them. */
  tunnelId: number;
  sessionId: number;
  /** The peer's ids: sent data messages carry them. */
  peerTunnelId: number;
  peerSessionId: number;
}

export type PppRelayEndpoint = PppoeEndpoint | L2tpEndpoint;

export interface PppRelayOptions {
  a: PppRelayEndpoint;
  b: PppRelayEndpoint;
  /**
   * The bridge's MTU: the largest PPP information field (without the 2-byte protocol) relayed;
   * bigger frames are counted as sendError. 0 or omitted: the links' own MTUs only. Userspace
   * relay only (the kernel bridge has no such limit).
   */
  mtu?: number;
}

export interface PppRelayDropStats {
  /** Too short for the headers, or no PPP protocol field. */
  short: number;
  /** PPPoE ver/type != 0x11 or code != 0; L2TP version != 2. */
  badVersion: number;
  /** Not our tunnel/session (PPPoE: other sessions are already dropped by the kernel filter, uncounted). */
  badSession: number;
  /** PPPoE LENGTH beyond the frame; L2TP Length beyond the datagram or inside the header. */
  badLength: number;
  /** L2TP control messages (T=1): never relayed. */
  control: number;
  /** The send on the other endpoint failed (e.g. above its MTU). */
  sendError: number;
  /** Dropped by the kernel before the relay read them (receive queue full: the relay fell behind). */
  rxOverflow: number;
}

export interface PppRelayDirectionStats {
  /** Frames forwarded. */
  frames: number;
  /** PPP bytes forwarded (protocol + payload, without FF 03 or encapsulation). */
  bytes: number;
  drops: PppRelayDropStats;
}

export interface PppRelayStats {
  /** The relay thread is running (false after close()). */
  running: boolean;
  /** Received on endpoint a, sent on endpoint b. */
  aToB: PppRelayDirectionStats;
  bToA: PppRelayDirectionStats;
}

interface NativePppRelay {
  stats(): PppRelayStats;
  setMtu(mtu: number): void;
  close(): void;
}

/**
 * Userspace PPP relay between two endpoints (PPPoE <-> L2TPv2, PPPoE <-> PPPoE, L2TP <-> L2TP).
 * One native thread forwards every PPP frame (LCP, auth, NCPs, data) untouched, re-encapsulated;
 * malformed frames and L2TP control messages are dropped and counted. Both sockets are open and
 * the thread is running when the constructor returns. Throws ERR_RINGTAP_INVALID_ARGUMENT,
 * ERR_RINGTAP_NETNS, ERR_RINGTAP_NO_SUCH_INTERFACE, ERR_RINGTAP_SOCKET. Lifetime is explicit:
 * close() (an environment cleanup hook also closes it at exit).
 */
export class PppRelay {
  private readonly handle: NativePppRelay;
  private closed = false;

  constructor(options: PppRelayOptions) {
    this.handle = new (native().PppRelay)(options);
  }

  stats(): PppRelayStats {
    return this.handle.stats();
  }

  /** Changes the MTU (see PppRelayOptions.mtu) while the relay runs. */
  setMtu(mtu: number): void {
    this.handle.setMtu(mtu);
  }

  /** Stops and joins the thread, closes both sockets and the eventfd. Idempotent; stats() still works. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.handle.close();
  }
}

// --- kernel PPP bridge (PPPBridge kernel mode) --------------------------------------------------

interface NativePppKernelBridge {
  channels(): PppKernelChannels;
  stats(): PppKernelStats;
  close(): void;
}

/**
 * The kernel's counters of one L2TP session (PPPIOCGL2TPSTATS). tx: frames the session sent to
 * its peer (from the bridge); rx: frames it received from its peer (into the bridge). Bytes are
 * whole L2TP data messages: the L2TP header, then the PPP frame with its FF 03 address/control
 * when the frame has one.
 */
export interface PppKernelSessionStats {
  type: 'l2tp';
  txPackets: number;
  txBytes: number;
  txErrors: number;
  rxPackets: number;
  rxBytes: number;
  rxSeqDiscards: number;
  rxOosPackets: number;
  rxErrors: number;
}

/**
 * A PPPoE session's counters, kept by the bridge's eBPF socket filter on the session's
 * interface (the kernel keeps none). tx: session data frames sent to the peer's MAC; rx: those
 * received from it. Bytes are whole PPPoE session packets: the 6-byte PPPoE header plus its
 * length field's worth (no Ethernet header, no padding).
 */
export interface PppKernelPppoeStats {
  type: 'pppoe';
  txPackets: number;
  txBytes: number;
  rxPackets: number;
  rxBytes: number;
}

/** Per endpoint: its session's counters, or null (a PPPoE counter the kernel refused: `unavailable` says why). */
export interface PppKernelStats {
  a: PppKernelSessionStats | PppKernelPppoeStats | null;
  b: PppKernelSessionStats | PppKernelPppoeStats | null;
  unavailable?: { a?: string; b?: string };
}

export interface PppKernelChannels {
  /** The PPP channel indexes (PPPIOCGCHAN) of endpoints a and b, in their network namespace. */
  a: number;
  b: number;
  bridged: boolean;
}

/**
 * Bridges two PPP sessions in the kernel (Linux >= 5.11): PPPoE session socket and/or L2TPv2
 * tunnel + session (genl l2tp, PPPoL2TP socket), PPPIOCGCHAN on both, /dev/ppp PPPIOCATTCHAN,
 * one PPPIOCBRIDGECHAN. Synchronous; the addon starts no thread. Both endpoints must share one
 * network namespace. Throws ERR_RINGTAP_KERNEL_LACKS_PPP (EAFNOSUPPORT, no /dev/ppp, no genl
 * l2tp), ERR_RINGTAP_PPP_BRIDGE_UNSUPPORTED (ENOTTY), ERR_RINGTAP_PPP_CHANNEL_BUSY (EALREADY),
 * ERR_RINGTAP_PPP_NO_SUCH_CHANNEL (ENXIO), ERR_RINGTAP_NO_SUCH_INTERFACE, ERR_RINGTAP_SOCKET,
 * ERR_RINGTAP_NETLINK. close() unbridges (PPPIOCUNBRIDGECHAN), closes the sockets and deletes the
 * L2TP tunnel; an environment cleanup hook does the same at exit.
 */
export class PppKernelBridge {
  private readonly handle: NativePppKernelBridge;
  private closed = false;

  constructor(options: PppRelayOptions) {
    this.handle = new (native().PppKernelBridge)(options);
  }

  channels(): PppKernelChannels {
    return this.handle.channels();
  }

  /** The sessions' counters now (null: a PPPoE session whose counter could not be set up). */
  stats(): PppKernelStats {
    return this.handle.stats();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.handle.close();
  }
}

/** The stable code and message the kernel bridge gives an errno from one of its steps. */
export function pppKernelError(op: string, errno: number): { code: NativeErrorCode; message: string } {
  return native().pppKernelError(op, errno);
}
