// The node's budget for packet rings. Every AF_PACKET RX ring is kernel memory, allocated and
// zeroed in full when the ring is set up (net/packet/af_packet.c: packet_set_ring ->
// alloc_pg_vec), whether or not a packet ever lands in it, and not charged to the agent's
// memory cgroup. Without a bound, a tenant who creates many captures takes the node's memory.
//
// One budget per agent, shared by every capture on the node, counted per ring (a capture has
// one ring per interface it watches). Rings are sized in packets, not bytes: a packet takes
// its snap length (at most a frame of the usual 1500-byte MTU) plus the ring's headers, so a
// capture of the first 128 bytes of each packet holds as many packets as a full-size capture
// in about a seventh of the memory (ringScale).
//   - every ring gets at least its floor (room for ~160 packets: 256 KiB at full size, 64 KiB
//     at a snap length of 128; an idle capture costs little);
//   - above the floors, rings share an eighth of the budget, the elastic part: a new ring takes
//     at most half of what is left of it, scaled by its packet size, and no more than the most a
//     ring may have. A capture alone on its node gets a large ring, many captures get rings near
//     their floor, and the rings together never hold more than the elastic part plus one floor
//     each; captures of short snap lengths together take no more than their scale of it;
//   - a ring whose floor no longer fits in the budget is refused (RingBudgetExhausted).
// Sizes are powers of two, so that the blocks divide them.

export const KiB = 1024;
export const MiB = 1024 * KiB;

/** The floor of a full-size ring (snap length of a whole frame or more): ~160 frames of 1514 bytes. */
export const RING_FLOOR_BYTES = 256 * KiB;
/** The smallest ring of all: four one-page blocks. */
export const MIN_RING_BYTES = 16 * KiB;
/** Blocks of rings below 8 MiB at most: each holds a 64 KiB GSO packet whole. */
const SMALL_BLOCK = 128 * KiB;
/** Blocks of larger rings, as the engine's default. */
const LARGE_BLOCK = 1 * MiB;
/**
 * What a packet takes in a TPACKET_V3 block besides its captured bytes: the tpacket3_hdr and
 * sockaddr_ll (68 bytes), the MAC header placed so that the network header is 16-byte aligned,
 * and the 16-byte alignment of the next frame (net/packet/af_packet.c, tpacket_rcv).
 */
export const FRAME_OVERHEAD = 96;
/** An Ethernet frame at the usual MTU: what a snap length above it captures of most packets. */
const FULL_FRAME = 1514;

/** Bytes one packet takes in a ring at most, at this snap length, on a link of the usual MTU. */
export function frameBytes(snaplen: number): number {
  return FRAME_OVERHEAD + Math.min(Math.max(1, snaplen), FULL_FRAME);
}

/** The share of a full-size ring's bytes that holds as many packets at this snap length (0 < scale <= 1). */
export function ringScale(snaplen: number): number {
  return frameBytes(snaplen) / frameBytes(FULL_FRAME);
}

export interface RingBudgetOptions {
  /** Bytes all rings on the node may hold together. */
  budgetBytes: number;
  /** The most one ring may have (the engine's default is 64 MiB). */
  maxRingBytes: number;
}

export const DEFAULT_RING_BUDGET: RingBudgetOptions = { budgetBytes: 256 * MiB, maxRingBytes: 64 * MiB };

export interface RingGeometry { blockSize: number; blockCount: number }

/** The largest power of two not above n (0 below 1). */
function pow2floor(n: number): number {
  return n < 1 ? 0 : 2 ** Math.floor(Math.log2(n));
}

/** The smallest power of two not below n. */
function pow2ceil(n: number): number {
  return 2 ** Math.ceil(Math.log2(Math.max(1, n)));
}

/**
 * The smallest block that holds a whole packet of this snap length: the engine wants the snap
 * length plus 256 bytes of headers in one block (else TPACKET_V3 would truncate silently).
 */
function blockFit(snaplen: number): number {
  return pow2ceil(Math.max(4096, snaplen + 256));
}

/**
 * The floor of a ring at this snap length: as many packets as a full-size floor, and at least
 * two blocks that each hold a whole packet (a 262144-byte snap length makes 512 KiB blocks, so
 * a floor of 1 MiB). Pure.
 */
export function ringFloor(snaplen: number): number {
  return Math.max(MIN_RING_BYTES, pow2ceil(RING_FLOOR_BYTES * ringScale(snaplen)), 2 * blockFit(snaplen));
}

/**
 * The size of a new ring for a capture of this snap length, given what the open rings hold:
 * `used` bytes in all, of which `elasticUsed` above their floors. Undefined when not even its
 * floor fits. Pure.
 */
export function ringShare(o: RingBudgetOptions, used: number, elasticUsed: number, snaplen: number): number | undefined {
  const floor = ringFloor(snaplen);
  if (used + floor > o.budgetBytes) return undefined;
  // The elastic part as this capture sees it: in packets, so a short snap length sees less.
  const elasticLeft = Math.max(0, elastic(o) * ringScale(snaplen) - elasticUsed);
  const share = Math.max(floor, Math.min(pow2floor(o.maxRingBytes), pow2floor(floor + elasticLeft / 2)));
  // The floor fits; what is above it must fit too, else the ring gets the floor.
  return used + share <= o.budgetBytes ? share : floor;
}

function elastic(o: RingBudgetOptions): number {
  return Math.floor(o.budgetBytes / 8);
}

/**
 * Block size and count of a ring of `bytes` (a power of two, at least the floor for this snap
 * length): blocks that each hold a whole packet of the snap length, at least four of them
 * where that leaves each a whole packet (one filling, one being walked, and room for a burst
 * in between), up to 128 KiB below 8 MiB and 1 MiB above. Below its floor a ring gets two
 * blocks that fit the snap length, and its size (blockSize x blockCount) may then exceed
 * `bytes`: that size is what the budget must hold.
 */
export function ringGeometry(bytes: number, snaplen: number): RingGeometry {
  const fit = blockFit(snaplen);
  const blockSize = Math.max(fit, Math.min(bytes >= 8 * MiB ? LARGE_BLOCK : SMALL_BLOCK, pow2floor(bytes / 4)));
  return { blockSize, blockCount: Math.max(2, Math.floor(bytes / blockSize)) };
}

/** Checks the options; the error names the setting. */
export function checkRingBudget(o: RingBudgetOptions): RingBudgetOptions {
  if (!Number.isSafeInteger(o.budgetBytes) || o.budgetBytes < RING_FLOOR_BYTES) {
    throw new Error(`RINGTAP_RING_BUDGET must be at least ${RING_FLOOR_BYTES / KiB}Ki (one ring's floor), got ${o.budgetBytes}`);
  }
  if (!Number.isSafeInteger(o.maxRingBytes) || o.maxRingBytes < RING_FLOOR_BYTES || o.maxRingBytes > 1024 * MiB) {
    throw new Error(`RINGTAP_RING_MAX must be between ${RING_FLOOR_BYTES / KiB}Ki and 1Gi, got ${o.maxRingBytes}`);
  }
  return o;
}

/** A Kubernetes-style quantity of bytes: 512Mi, 1Gi, 262144, 64M. */
export function parseBytes(name: string, s: string): number {
  const m = /^\s*(\d+)\s*(Ki|Mi|Gi|K|M|G)?\s*$/.exec(s);
  if (!m) throw new Error(`${name} must be a byte count such as 256Mi or 1Gi, got '${s}'`);
  const unit = { Ki: KiB, Mi: MiB, Gi: 1024 * MiB, K: 1e3, M: 1e6, G: 1e9, '': 1 }[m[2] ?? '']!;
  return Number(m[1]) * unit;
}

/** The options from the agent's environment (RINGTAP_RING_BUDGET, RINGTAP_RING_MAX). */
export function ringBudgetFromEnv(env: NodeJS.ProcessEnv): RingBudgetOptions {
  return checkRingBudget({
    budgetBytes: env.RINGTAP_RING_BUDGET ? parseBytes('RINGTAP_RING_BUDGET', env.RINGTAP_RING_BUDGET) : DEFAULT_RING_BUDGET.budgetBytes,
    maxRingBytes: env.RINGTAP_RING_MAX ? parseBytes('RINGTAP_RING_MAX', env.RINGTAP_RING_MAX) : DEFAULT_RING_BUDGET.maxRingBytes,
  });
}

/** Bytes as a short quantity for messages: 256Ki, 16Mi. */
export function formatBytes(n: number): string {
  if (n >= 1024 * MiB && n % (1024 * MiB) === 0) return `${n / (1024 * MiB)}Gi`;
  if (n >= MiB && n % MiB === 0) return `${n / MiB}Mi`;
  if (n % KiB === 0) return `${n / KiB}Ki`;
  return `${n}`;
}

/** The node's rings: what they hold, and the size a new one gets. */
export class RingBudget {
  private used = 0;
  private elasticUsed = 0;
  private rings = 0;

  constructor(readonly options: RingBudgetOptions = DEFAULT_RING_BUDGET) {
    checkRingBudget(options);
  }

  /** The size a new ring for a capture of this snap length would get now; undefined when not even its floor fits. */
  share(snaplen: number): number | undefined {
    return ringShare(this.options, this.used, this.elasticUsed, snaplen);
  }

  /** Takes `count` rings of `bytes` each, whose floor is `floor`, all or none. */
  reserve(bytes: number, floor: number, count = 1): boolean {
    if (count <= 0) return true;
    if (this.used + bytes * count > this.options.budgetBytes) return false;
    this.used += bytes * count;
    this.elasticUsed += Math.max(0, bytes - floor) * count;
    this.rings += count;
    return true;
  }

  /** Gives back `count` rings that `reserve` took with the same `bytes` and `floor`. */
  release(bytes: number, floor: number, count = 1): void {
    if (count <= 0) return;
    this.used -= bytes * count;
    this.elasticUsed -= Math.max(0, bytes - floor) * count;
    this.rings -= count;
  }

  stats(): { rings: number; usedBytes: number; budgetBytes: number } {
    return { rings: this.rings, usedBytes: this.used, budgetBytes: this.options.budgetBytes };
  }
}
