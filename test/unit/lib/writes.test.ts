import { describe, expect, test } from '@jest/globals';
import { mergePatchBetween } from '../../../lib/kube/writes.js';

describe('mergePatchBetween (RFC 7386)', () => {
  test('equal values, whatever the key order, need no patch', () => {
    expect(mergePatchBetween({ a: 1, b: { c: [1, { x: 1, y: 2 }] } }, { b: { c: [1, { y: 2, x: 1 }] }, a: 1 })).toBeUndefined();
  });

  test('changed leaves and new keys are set; nested objects are patched key by key', () => {
    expect(mergePatchBetween({ a: 1, n: { x: 1, y: 2 } }, { a: 2, n: { x: 1, y: 3 }, b: 'new' })).toEqual({ a: 2, n: { y: 3 }, b: 'new' });
  });

  test('a key that is gone becomes null, at any depth', () => {
    expect(mergePatchBetween({ a: 1, n: { x: 1, y: 2 } }, { n: { x: 1 } })).toEqual({ a: null, n: { y: null } });
  });

  test('a list that differs is replaced whole (a merge patch cannot edit a list)', () => {
    expect(mergePatchBetween({ l: [{ n: 'a' }, { n: 'b' }] }, { l: [{ n: 'a' }] })).toEqual({ l: [{ n: 'a' }] });
  });

  test('an empty list and an absent field are the same; emptying a list sets it empty', () => {
    expect(mergePatchBetween({ a: 1 }, { a: 1, l: [] })).toBeUndefined();
    expect(mergePatchBetween({ a: 1, l: [] }, { a: 1 })).toBeUndefined();
    expect(mergePatchBetween({ l: [1] }, { l: [] })).toEqual({ l: [] });
  });

  test('an object replacing a scalar (and the reverse) is set whole', () => {
    expect(mergePatchBetween({ a: 1 }, { a: { b: 1 } })).toEqual({ a: { b: 1 } });
    expect(mergePatchBetween({ a: { b: 1 } }, { a: 1 })).toEqual({ a: 1 });
  });
});
