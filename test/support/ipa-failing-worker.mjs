// A stand-in for agent/src/drivers/ipa/worker.ts that fails the way a bug in the pipeline would: it
// reports that it runs (one empty snapshot, as the real worker's first), then throws an
// uncaught exception once that snapshot is acknowledged. Started by the ipa driver tests
// through IPADriver's worker entry setting.
import { parentPort } from 'node:worker_threads';

const errors = { unknownOpcode: 0, impossibleLength: 0, garbage: 0, truncatedTail: 0, overflow: 0 };
const summary = {
  format: 'status', records: 0, packets: 0, bytes: 0, capturedBytes: 0, truncated: 0, exceptions: 0, unknownExceptions: 0,
  byPair: [], otherPairs: { records: 0, bytes: 0, pairs: 0 }, byOpcode: {}, byException: {}, topFlows: [], flowsApproximate: false,
  errors, resyncs: 0, skippedBytes: 0,
};

parentPort.postMessage({ type: 'snapshot', snapshot: { summary, reopens: 0, replayDone: false }, urgent: false, logs: [], droppedLogs: 0 });
parentPort.on('message', (m) => {
  if (m.type === 'ack') setImmediate(() => { throw new Error('injected fault in the pipeline'); });
});
