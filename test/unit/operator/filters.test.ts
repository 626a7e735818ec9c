// Filter validation: once per text, bounded by the kernel's instruction limit, with libpcap
// itself as the compiler (the addon the operator loads).
import { describe, expect, test } from '@jest/globals';
import { compileFilter } from '../../../lib/native/filter.js';
import { isNativeError, NativeErrorCode } from '../../../lib/native/addon.js';
import { BPF_MAXINSNS, cachedFilterValidator, FILTER_CACHE_SIZE } from '../../../operator/src/controllers/shared/filters.js';
import { FILTER_MAX_LENGTH } from '../../../crds/src/index.js';

const libpcap = (text: string, snaplen: number) => compileFilter(text, { snaplen });
const bad = (e: unknown): e is Error => isNativeError(e, NativeErrorCode.badFilter);

describe('cachedFilterValidator with libpcap', () => {
  test('a valid filter passes; a syntax error is libpcap\'s message', () => {
    const v = cachedFilterValidator(libpcap, bad);
    expect(v('udp port 53', 262144)).toBeUndefined();
    expect(v('udp port banana', 262144)).toMatch(/banana/);
  });

  test('a filter within the schema\'s length that compiles past the kernel\'s 4096 instructions is refused', () => {
    // Each MPLS label shifts every later offset, so libpcap's optimizer cannot share the tests.
    const term = (i: number) => `(mpls ${i} and tcp port ${i})`;
    let text = term(1);
    for (let i = 2; `${text} or ${term(i)}`.length <= FILTER_MAX_LENGTH; i++) text += ` or ${term(i)}`;
    const n = libpcap(text, 262144).instructions.length;
    expect(n).toBeGreaterThan(BPF_MAXINSNS);
    expect(cachedFilterValidator(libpcap, bad)(text, 262144)).toBe(`the filter compiles to ${n} BPF instructions; the kernel takes at most ${BPF_MAXINSNS}`);
  });

  test('a NUL is refused before libpcap, which would read only up to it', () => {
    expect(cachedFilterValidator(libpcap, bad)('tcp\0 or garbage ((', 262144)).toBe('the filter contains a NUL character');
  });
});

describe('the cache', () => {
  test('each text is compiled once per snap length, however often it is asked', () => {
    let compiles = 0;
    const v = cachedFilterValidator((t) => { compiles++; return { instructions: t.split(' ') }; }, bad);
    for (let i = 0; i < 1000; i++) v('host 10.0.0.1', 65535);
    v('host 10.0.0.1', 128);
    expect(compiles).toBe(2);
  });

  test('it holds a bounded number of texts, forgetting the least recently used', () => {
    let compiles = 0;
    const v = cachedFilterValidator(() => { compiles++; return { instructions: [] }; }, bad);
    v('keep', 1);
    for (let i = 0; i < FILTER_CACHE_SIZE + 10; i++) {
      v(`f${i}`, 1);
      if (i % 100 === 0) v('keep', 1);
    }
    const before = compiles;
    v('keep', 1);
    expect(compiles).toBe(before);
    v('f0', 1);
    expect(compiles).toBe(before + 1);
  });

  test('an error that is not a bad filter is not cached as a verdict', () => {
    let calls = 0;
    const v = cachedFilterValidator(() => { calls++; throw new Error('addon missing'); }, bad);
    expect(() => v('tcp', 1)).toThrow('addon missing');
    expect(() => v('tcp', 1)).toThrow('addon missing');
    expect(calls).toBe(2);
  });
});
