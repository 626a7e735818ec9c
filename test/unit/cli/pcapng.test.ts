// What the plugin says about a merged pcapng whose sources were damaged: the data API writes a
// notice per damaged file after the last packet (lib/pcapng encodeNotice); fetch repeats each as a
// warning and calls the output incomplete, and `main` exits 1 for it.
import { describe, expect, it } from '@jest/globals';
import { formatFetchSummary, formatStreamSummary, type FetchSummary } from '../../../cli/src/capture.js';

const base: FetchSummary = { output: 'c.pcapng', packets: 9, interfaces: 2, perNode: new Map([['n1', 5], ['n2', 4]]), expected: 10 };

describe('fetch summary', () => {
  it('warns about every damaged file and calls the output incomplete', () => {
    const text = formatFetchSummary({ ...base, notices: ['node n2 file c-000002.pcapng: the input ends inside a block: 40 of its 92 bytes at byte offset 5120; kept the 4 packets before it'] });
    expect(text.split('\n')).toEqual([
      'wrote 9 packets from 2 node(s), 2 interface(s) to c.pcapng',
      '  n1: 5 packets',
      '  n2: 4 packets',
      'warning: damaged: node n2 file c-000002.pcapng: the input ends inside a block: 40 of its 92 bytes at byte offset 5120; kept the 4 packets before it',
      'INCOMPLETE: damaged files; the output holds every packet before the damage in each',
    ]);
  });

  it('without damage, only compares with the status', () => {
    expect(formatFetchSummary(base)).toContain('warning: the status counts 10 packets, the files hold 9');
    expect(formatFetchSummary({ ...base, expected: 9 })).not.toMatch(/warning|INCOMPLETE/);
  });
});

describe('stream summary', () => {
  it('warns about every damaged file replayed before the live packets', () => {
    const text = formatStreamSummary({ packets: 3, interfaces: 1, perNode: new Map([['n1', 3]]), notices: ['node n1 file c-000001.pcapng: bad pcapng block length 13 (block type 0x6) at byte offset 512; kept the 3 packets before it'] });
    expect(text.split('\n')).toEqual([
      'stream ended: 3 packets from 1 node(s); n1: 3 packets',
      'warning: damaged: node n1 file c-000001.pcapng: bad pcapng block length 13 (block type 0x6) at byte offset 512; kept the 3 packets before it',
    ]);
  });
});
