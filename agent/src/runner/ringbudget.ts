// The node's budget for packet rings. Every AF_PACKET RX ring is kernel memory, allocated and
// zeroed in full when the ring is set up (net/packet/af_packet.c: packet_set_ring ->
// alloc_pg_vec), whether or not a packet ever lands in it, and not charged to the agent's
// memory cgroup. Without a bound, a tenant who creates many captures takes the node's memory.
//
// One budget per agent, shared by every capture on the node, counted per ring (a capture has
// one ring per interface it watches):
//   - every ring gets at least the floor (a few small blocks: an idle capture costs little);
//   - above the floor, rings share an eighth of the budget, the elastic part: a new ring takes
//     at most half of what is left of it, and no more than the most a ring may have. A capture
//     alone on its node gets a large ring, many captures get rings near the floor, and the
//     rings together never hold more than the elastic part plus one floor each;
//   - a ring whose floor no longer fits in the budget is refused (RingBudgetExhausted).
// Sizes are powers of two, so that the blocks divide them.

export const KiB = 1024;
export const MiB = 1024 * KiB;

/** The smallest ring: two 128 KiB blocks (one filling while the reader walks the other). */
export const RING_FLOOR_BYTES = 256 * KiB;
/** Blocks of rings below 8 MiB: each holds a 64 KiB GSO packet whole. */
const SMALL_BLOCK = 128 * KiB;
/** Blocks of larger rings, as the engine's default. */
const LARGE_BLOCK = 1 * MiB;

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

/**
 * The size of a new ring, given what the open rings hold: `used` bytes in all, of which
 * `elasticUsed` above their floors. Undefined when not even the floor fits. Pure.
 */
export function ringShare(o: RingBudgetOptions, used: number, elasticUsed: number): number | undefined {
  if (used + RING_FLOOR_BYTES > o.budgetBytes) return undefined;
  const elasticLeft = Math.max(0, elastic(o) - elasticUsed);
  const share = Math.max(RING_FLOOR_BYTES, Math.min(pow2floor(o.maxRingBytes), pow2floor(RING_FLOOR_BYTES + elasticLeft / 2)));
  // The floor fits; what is above it must fit too, else the ring gets the floor.
  return used + share <= o.budgetBytes ? share : RING_FLOOR_BYTES;
}

function elastic(o: RingBudgetOptions): number {
  return Math.floor(o.budgetBytes / 8);
}

/**
 * Block size and count of a ring of about `bytes` (a power of two, at least the floor). The
 * engine wants the whole snap length plus 256 bytes of headers in one block (else TPACKET_V3
 * would truncate silently), so a large snap length makes larger blocks, and a ring of at least
 * two of them: its size (blockSize x blockCount) may then exceed `bytes`, and that size is what
 * the budget must hold.
 */
export function ringGeometry(bytes: number, snaplen = 0): RingGeometry {
  const fit = 2 ** Math.ceil(Math.log2(Math.max(4096, snaplen + 256)));
  const blockSize = Math.max(bytes >= 8 * MiB ? LARGE_BLOCK : SMALL_BLOCK, fit);
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

  /** The size a new ring would get now; undefined when not even the floor fits. */
  share(): number | undefined {
    return ringShare(this.options, this.used, this.elasticUsed);
  }

  /** Takes `count` rings of `bytes` each, all or none. */
  reserve(bytes: number, count = 1): boolean {
    if (count <= 0) return true;
    if (this.used + bytes * count > this.options.budgetBytes) return false;
    this.used += bytes * count;
    this.elasticUsed += (bytes - RING_FLOOR_BYTES) * count;
    this.rings += count;
    return true;
  }

  release(bytes: number, count = 1): void {
    if (count <= 0) return;
    this.used -= bytes * count;
    this.elasticUsed -= (bytes - RING_FLOOR_BYTES) * count;
    this.rings -= count;
  }

  stats(): { rings: number; usedBytes: number; budgetBytes: number } {
    return { rings: this.rings, usedBytes: this.used, budgetBytes: this.options.budgetBytes };
  }
}
