// The child process that compiles filters for FilterCompiler (filter-compiler.ts). libpcap's
// optimizer is superlinear: a 4 KiB filter of 600 `port N` alternatives takes tens of seconds.
// Only a process can be stopped in the middle of a C call, so the compile runs here, and the
// parent kills this process when a compile outlives its deadline.
//
// Protocol: one JSON request per line on stdin ({ id, text, snaplen }), one JSON answer per
// line on stdout ({ id, instructions } or { id, error }); "ready" once the addon is loaded.
import { createInterface } from 'node:readline';
import { isNativeError, NativeErrorCode } from './addon.js';
import { compileFilter } from './filter.js';

interface Request { id: number; text: string; snaplen: number }

compileFilter('tcp'); // load the addon before saying ready, so the deadline measures compiles only
process.stdout.write('ready\n');
for await (const line of createInterface({ input: process.stdin })) {
  const req = JSON.parse(line) as Request;
  let answer: { id: number; instructions?: number; error?: string };
  try {
    answer = { id: req.id, instructions: compileFilter(req.text, { snaplen: req.snaplen }).instructions.length };
  } catch (err) {
    // A filter libpcap refuses is an answer; anything else is this process failing.
    if (!isNativeError(err, NativeErrorCode.badFilter)) throw err;
    answer = { id: req.id, error: err.message };
  }
  process.stdout.write(`${JSON.stringify(answer)}\n`);
}
