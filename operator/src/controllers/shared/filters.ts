// Filter validation off the hot path. A reconcile runs on every pod or NodeTask change, and
// libpcap's optimizer is superlinear in the filter text (a 4 KiB filter of `port N`
// alternatives compiles for tens of seconds), so a tenant's filter is never compiled on the
// operator's thread: each text goes to FilterCompiler (lib/native/filter-compiler.ts), a child
// process killed at a deadline, once per text and snap length, and its verdict is kept. Until it
// is known the reconcile ends (FILTER_PENDING), and the verdict wakes it: a tenant's thousand
// captures with slow filters wait without costing a reconcile each while they wait.
//
// A program the kernel would refuse is refused here, at validation: the kernel takes at most
// BPF_MAXINSNS (4096) classic BPF instructions (include/uapi/linux/bpf_common.h), and a longer
// filter compiles fine in libpcap but fails in SO_ATTACH_FILTER on the node, leaving a capture
// that looks Ready and captures nothing.
import type { CompileOutcome } from '../../../../lib/native/filter-compiler.js';

export const BPF_MAXINSNS = 4096;
/** Distinct filter texts kept; beyond this the oldest verdict is forgotten (and recompiled if asked again). */
export const FILTER_CACHE_SIZE = 1024;
/** A reconcile whose filter is being compiled is woken by the verdict; this is only the backstop. */
export const FILTER_PENDING_RECHECK_MS = 30_000;

/** The verdict is not known yet: the filter is being compiled. */
export const FILTER_PENDING = Symbol('filter pending');

/** Who waits for a verdict: `wake` is called once when it is known; one call per `id`. */
export interface FilterWaiter { id: string; wake: () => void }

/**
 * Validates a BPF filter: libpcap's message (or ours) when it is refused, undefined when valid,
 * FILTER_PENDING while it compiles (then `waiter` is woken when the verdict is known). `tenant`
 * (the namespace) picks the compile queue.
 */
export type FilterValidator = (filter: string, snapLength: number, tenant: string, waiter: FilterWaiter) => string | undefined | typeof FILTER_PENDING;

type Compile = (text: string, snapLength: number, tenant: string) => Promise<CompileOutcome>;

/** A FilterValidator over `compile` (libpcap in FilterCompiler), caching each verdict by text and snap length. */
export function cachedFilterValidator(compile: Compile, deadlineMs: number): FilterValidator {
  const verdicts = new Map<string, string | undefined>();
  // Each filter being compiled, with whoever waits for it (by id: a reconcile that runs again
  // while it waits does not wait twice).
  const pending = new Map<string, Map<string, () => void>>();
  const remember = (key: string, verdict: string | undefined): void => {
    verdicts.set(key, verdict);
    if (verdicts.size > FILTER_CACHE_SIZE) verdicts.delete(verdicts.keys().next().value!);
  };
  const verdictOf = (o: CompileOutcome): string | undefined => {
    if ('timedOut' in o) return `libpcap did not finish compiling the filter within ${deadlineMs / 1000} s; use a shorter or simpler filter (fewer alternatives, or net ranges instead of host lists)`;
    if ('error' in o) return o.error;
    if (o.instructions > BPF_MAXINSNS) return `the filter compiles to ${o.instructions} BPF instructions; the kernel takes at most ${BPF_MAXINSNS}`;
    return undefined;
  };
  return (filter, snapLength, tenant, waiter) => {
    // libpcap takes a C string: it would compile only up to a NUL.
    if (filter.includes('\0')) return 'the filter contains a NUL character';
    const key = `${snapLength}\0${filter}`;
    if (verdicts.has(key)) {
      const v = verdicts.get(key);
      verdicts.delete(key); // most recently used last
      verdicts.set(key, v);
      return v;
    }
    const waiting = pending.get(key);
    if (waiting) {
      waiting.set(waiter.id, waiter.wake);
      return FILTER_PENDING;
    }
    pending.set(key, new Map([[waiter.id, waiter.wake]]));
    void compile(filter, snapLength, tenant)
      .then((o) => remember(key, verdictOf(o)))
      // A failure of the compiler itself is not the tenant's: no verdict is kept; the woken reconcile asks again.
      .catch(() => undefined)
      .finally(() => {
        const woken = pending.get(key);
        pending.delete(key);
        for (const wake of woken?.values() ?? []) wake();
      });
    return FILTER_PENDING;
  };
}
