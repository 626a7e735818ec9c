// Filter validation off the hot path. libpcap compiles synchronously on the operator's one
// thread, and a reconcile runs on every pod or NodeTask change: a few captures with a long
// host-list filter would keep it busy and delay everyone else's. So each filter text is
// compiled once (per snap length) and its verdict kept; the schema bounds the text's length,
// which bounds one compile.
//
// A program the kernel would refuse is refused here, at validation: the kernel takes at most
// BPF_MAXINSNS (4096) classic BPF instructions (include/uapi/linux/bpf_common.h), and a longer
// filter compiles fine in libpcap but fails in SO_ATTACH_FILTER on the node, leaving a capture
// that looks Ready and captures nothing.
import type { FilterValidator } from './parent.js';

export const BPF_MAXINSNS = 4096;
/** Distinct filter texts kept; beyond this the oldest verdict is forgotten (and recompiled if asked again). */
export const FILTER_CACHE_SIZE = 1024;

type Compile = (text: string, snapLength: number) => { instructions: readonly unknown[] };

/** A FilterValidator over `compile` (libpcap), caching each verdict by text and snap length. */
export function cachedFilterValidator(compile: Compile, isBadFilter: (err: unknown) => err is Error): FilterValidator {
  const verdicts = new Map<string, string | undefined>();
  const validate = (filter: string, snapLength: number): string | undefined => {
    const key = `${snapLength}\0${filter}`;
    if (verdicts.has(key)) {
      const v = verdicts.get(key);
      verdicts.delete(key); // most recently used last
      verdicts.set(key, v);
      return v;
    }
    const verdict = check(filter, snapLength);
    verdicts.set(key, verdict);
    if (verdicts.size > FILTER_CACHE_SIZE) verdicts.delete(verdicts.keys().next().value!);
    return verdict;
  };
  const check = (filter: string, snapLength: number): string | undefined => {
    if (filter.includes('\0')) return 'the filter contains a NUL character';
    let n: number;
    try {
      n = compile(filter, snapLength).instructions.length;
    } catch (err) {
      if (isBadFilter(err)) return err.message;
      throw err;
    }
    if (n > BPF_MAXINSNS) return `the filter compiles to ${n} BPF instructions; the kernel takes at most ${BPF_MAXINSNS}`;
    return undefined;
  };
  return validate;
}
