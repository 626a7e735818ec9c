// Filter validation: once per text, bounded by the kernel's instruction limit and by a compile
// deadline, with libpcap itself as the compiler (the addon the operator loads, in the child
// process FilterCompiler runs).
import { afterAll, describe, expect, test } from '@jest/globals';
import { compileFilter } from '../../../lib/native/filter.js';
import { FilterCompiler, type CompileOutcome } from '../../../lib/native/filter-compiler.js';
import { BPF_MAXINSNS, cachedFilterValidator, FILTER_CACHE_SIZE, FILTER_PENDING, type FilterValidator, type FilterWaiter } from '../../../operator/src/controllers/shared/filters.js';
import { FILTER_MAX_LENGTH } from '../../../crds/src/index.js';

const DEADLINE_MS = 2_000;
const compiler = new FilterCompiler(DEADLINE_MS);
afterAll(() => compiler.close());
const libpcap = (text: string, snaplen: number, tenant: string) => compiler.compile(text, snaplen, tenant);

/** A waiter for calls whose wake-up the test does not wait on. */
const NOBODY: FilterWaiter = { id: 'nobody', wake: () => undefined };

/** The validator's verdict: at once when it is known, else after it wakes this waiter (as a reconcile is woken). */
async function verdict(v: FilterValidator, text: string, snap = 262144, tenant = 'team-a'): Promise<string | undefined> {
  const woken = new Promise<void>((wake) => {
    const r = v(text, snap, tenant, { id: 'test', wake });
    if (r !== FILTER_PENDING) wake();
  });
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`no verdict on ${text.slice(0, 40)}`)), 60_000); });
  await Promise.race([woken, deadline]).finally(() => clearTimeout(timer));
  const r = v(text, snap, tenant, NOBODY);
  if (r === FILTER_PENDING) throw new Error(`woken, but still no verdict on ${text.slice(0, 40)}`);
  return r;
}

/** A filter within the schema's length that keeps libpcap's optimizer busy for seconds to minutes. */
function slowFilter(seed: number): string {
  let text = `port ${seed}`;
  for (let i = 1; `${text} or port ${seed + i}`.length <= FILTER_MAX_LENGTH; i++) text += ` or port ${seed + i}`;
  return text;
}

describe('cachedFilterValidator with libpcap', () => {
  test('a valid filter passes; a syntax error is libpcap\'s message', async () => {
    const v = cachedFilterValidator(libpcap, DEADLINE_MS);
    expect(v('udp port 53', 262144, 'team-a', NOBODY)).toBe(FILTER_PENDING);
    expect(await verdict(v, 'udp port 53')).toBeUndefined();
    expect(await verdict(v, 'udp port banana')).toMatch(/banana/);
  });

  test('a filter within the schema\'s length that compiles past the kernel\'s 4096 instructions is refused', async () => {
    // Each MPLS label shifts every later offset, so libpcap's optimizer cannot share the tests.
    const term = (i: number) => `(mpls ${i} and tcp port ${i})`;
    let text = term(1);
    for (let i = 2; `${text} or ${term(i)}`.length <= FILTER_MAX_LENGTH; i++) text += ` or ${term(i)}`;
    const n = compileFilter(text, { snaplen: 262144 }).instructions.length;
    expect(n).toBeGreaterThan(BPF_MAXINSNS);
    expect(await verdict(cachedFilterValidator(libpcap, DEADLINE_MS), text)).toBe(`the filter compiles to ${n} BPF instructions; the kernel takes at most ${BPF_MAXINSNS}`);
  });

  test('a NUL is refused before libpcap, which would read only up to it', () => {
    expect(cachedFilterValidator(libpcap, DEADLINE_MS)('tcp\0 or garbage ((', 262144, 'team-a', NOBODY)).toBe('the filter contains a NUL character');
  });

  test('a filter that keeps libpcap busy past the deadline is refused, and the next filter compiles', async () => {
    const v = cachedFilterValidator(libpcap, DEADLINE_MS);
    expect(await verdict(v, slowFilter(1))).toMatch(/^libpcap did not finish compiling the filter within 2 s/);
    // The child was killed mid-compile; a new one answers.
    expect(await verdict(v, 'tcp port 443')).toBeUndefined();
  }, 60_000);
});

describe('FilterCompiler', () => {
  test('one tenant\'s slow filters do not hold another tenant\'s behind all of them', async () => {
    const c = new FilterCompiler(500);
    try {
      const order: string[] = [];
      const track = (name: string, p: Promise<CompileOutcome>) => p.then((o) => { order.push(name); return o; });
      const a = [1, 1001, 2001].map((s, i) => track(`a${i}`, c.compile(slowFilter(s), 262144, 'team-a')));
      const b = track('b0', c.compile('udp port 53', 262144, 'team-b'));
      expect(await b).toEqual({ instructions: expect.any(Number) });
      for (const o of await Promise.all(a)) expect(o).toEqual({ timedOut: true });
      // Turns alternate between tenants: b0 is served before team-a's third filter.
      expect(order.indexOf('b0')).toBeLessThan(order.indexOf('a2'));
    } finally {
      c.close();
    }
  }, 60_000);

  test('after close, compiles are refused', async () => {
    const c = new FilterCompiler(500);
    c.close();
    await expect(c.compile('tcp', 262144)).rejects.toThrow('closed');
  });
});

describe('the cache', () => {
  test('each text is compiled once per snap length, however often it is asked', async () => {
    let compiles = 0;
    const v = cachedFilterValidator(async (t) => { compiles++; return { instructions: t.split(' ').length }; }, DEADLINE_MS);
    for (let i = 0; i < 1000; i++) v('host 10.0.0.1', 65535, 'team-a', NOBODY);
    expect(await verdict(v, 'host 10.0.0.1', 65535)).toBeUndefined();
    expect(await verdict(v, 'host 10.0.0.1', 128)).toBeUndefined();
    expect(compiles).toBe(2);
  });

  test('it holds a bounded number of texts, forgetting the least recently used', async () => {
    let compiles = 0;
    const v = cachedFilterValidator(async () => { compiles++; return { instructions: 1 }; }, DEADLINE_MS);
    await verdict(v, 'keep', 1);
    for (let i = 0; i < FILTER_CACHE_SIZE + 10; i++) {
      await verdict(v, `f${i}`, 1);
      if (i % 100 === 0) await verdict(v, 'keep', 1);
    }
    const before = compiles;
    await verdict(v, 'keep', 1);
    expect(compiles).toBe(before);
    await verdict(v, 'f0', 1);
    expect(compiles).toBe(before + 1);
  });

  test('a failure of the compiler itself is not kept as a verdict: the woken reconcile asks again', async () => {
    let calls = 0;
    const v = cachedFilterValidator(async () => { calls++; throw new Error('addon missing'); }, DEADLINE_MS);
    for (let round = 1; round <= 2; round++) {
      await new Promise<void>((wake) => expect(v('tcp', 1, 'team-a', { id: 'r', wake })).toBe(FILTER_PENDING));
      expect(calls).toBe(round);
    }
  });

  test('every reconcile waiting on a filter is woken once, however often it asked', async () => {
    let finish!: () => void;
    const v = cachedFilterValidator(() => new Promise((resolve) => { finish = () => resolve({ instructions: 1 }); }), DEADLINE_MS);
    const wakes: string[] = [];
    for (let i = 0; i < 5; i++) for (const id of ['shop/web', 'shop/db']) expect(v('tcp', 1, 'shop', { id, wake: () => wakes.push(id) })).toBe(FILTER_PENDING);
    expect(wakes).toEqual([]);
    finish();
    await new Promise((r) => setImmediate(r));
    expect(wakes.sort()).toEqual(['shop/db', 'shop/web']);
    expect(v('tcp', 1, 'shop', NOBODY)).toBeUndefined();
  });
});
