// The network-device source of the IPA monitor stream (IPAMonitor spec.source.netdev): the
// stream arrives as frames on a network device, the interface Alex Elder's "Port mirroring,
// v2 (RFC)" (netdev, January 2022) preferred for it. Each frame holds one or more whole status
// elements with their replicas, after a 14-byte Ethernet header with EtherType 0x88B5 (IEEE
// 802 "Local Experimental Ethertype 1": no upstream device exists, so no number was ever
// assigned). The frames are read through the ring engine, the same TPACKET_V3 rings as
// PacketCapture (agent/native), with a kernel filter on the EtherType, so whatever else the
// device carries (IPv6 neighbour discovery the kernel sends out of it) never reaches us.
//
// The engine hands over a live pcap byte stream (its writer thread encodes each ring block);
// PcapFrames splits it into frames; the frames of one engine chunk, their Ethernet headers
// removed, go to the walker as one chunk (frames hold whole elements, so the concatenation walks
// exactly like the frames one by one, with one hand-over per ring block instead of per frame).
import { RingCapture, type CaptureStats } from '../../native.js';

export const IPA_MONITOR_ETHERTYPE = 0x88b5;
export const ETHERNET_HEADER = 14;

export interface NetdevOptions {
  interface: string;
  /** Network namespace path; omitted = the agent's own (the node's). */
  netns?: string;
  /** Largest frame, default 65535. */
  snaplen?: number;
}

/** Splits a pcap byte stream (any chunking) into frames; the global header is checked once. */
export class PcapFrames {
  private held: Buffer = Buffer.alloc(0);
  private header = false;
  private le = true;

  /** The frames completed by this chunk (views into the chunk or a copy of held bytes). */
  push(chunk: Buffer): Buffer[] {
    const b = this.held.length ? Buffer.concat([this.held, chunk]) : chunk;
    let off = 0;
    if (!this.header) {
      if (b.length < 24) {
        this.held = Buffer.from(b);
        return [];
      }
      const magic = b.readUInt32LE(0);
      if (magic === 0xa1b23c4d || magic === 0xa1b2c3d4) this.le = true;
      else if (magic === 0x4d3cb2a1 || magic === 0xd4c3b2a1) this.le = false;
      else throw new Error(`not a pcap stream (magic 0x${magic.toString(16)})`);
      this.header = true;
      off = 24;
    }
    const out: Buffer[] = [];
    while (off + 16 <= b.length) {
      const caplen = this.le ? b.readUInt32LE(off + 8) : b.readUInt32BE(off + 8);
      if (off + 16 + caplen > b.length) break;
      out.push(b.subarray(off + 16, off + 16 + caplen));
      off += 16 + caplen;
    }
    this.held = off < b.length ? Buffer.from(b.subarray(off)) : Buffer.alloc(0);
    return out;
  }
}

/** An open network-device source: its chunks (one per frame, Ethernet header removed), its statistics, and how to let go of it. */
export interface NetdevSource {
  chunks: AsyncIterable<Buffer>;
  stats(): CaptureStats;
  close(): void;
}

/** Opens the device's ring (throws the engine's error, e.g. ERR_RINGTAP_NO_SUCH_INTERFACE) and starts reading. */
export function openNetdev(o: NetdevOptions): NetdevSource {
  const snaplen = o.snaplen ?? 65535;
  const cap = new RingCapture({
    interfaces: [{ name: o.interface, ...(o.netns ? { netns: o.netns } : {}), description: 'ipa monitor stream' }],
    filter: `ether proto 0x${IPA_MONITOR_ETHERTYPE.toString(16)}`,
    snaplen,
    format: 'pcap',
    // 16 x 1 MiB blocks; a partly filled block is handed over within 10 ms (a quiet stream still flows).
    ring: { blockSize: 1 << 20, blockCount: 16, retireTimeoutMs: 10 },
    spillBytes: 64 << 20,
  });
  try {
    cap.start();
  } catch (err) {
    cap.close();
    throw err;
  }
  const stream = cap.openStream({ maxBytes: 32 << 20 });
  async function* frames(): AsyncGenerator<Buffer> {
    const parser = new PcapFrames();
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      const parts: Buffer[] = [];
      for (const f of parser.push(chunk)) {
        // A frame too short for a header, or of another EtherType (the filter already keeps them out), carries nothing.
        if (f.length > ETHERNET_HEADER && f.readUInt16BE(12) === IPA_MONITOR_ETHERTYPE) parts.push(f.subarray(ETHERNET_HEADER));
      }
      if (parts.length) yield parts.length === 1 ? parts[0]! : Buffer.concat(parts);
    }
  }
  return {
    chunks: frames(),
    stats: () => cap.stats(),
    close: () => {
      stream.destroy();
      cap.close();
    },
  };
}
