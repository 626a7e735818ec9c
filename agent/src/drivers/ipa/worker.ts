// The worker thread of one IPAMonitor task: it runs the task's pipeline (pipeline.ts: read loop,
// walker, stats, pcapng segments) and talks to the main thread only in bounded snapshots and
// log lines (the protocol is described in thread.ts). Started by IPAPipelineWorker; not a module
// to import.
import { parentPort, workerData } from 'node:worker_threads';
import { IPAPipeline } from './pipeline.js';
import type { IPAHostMessage, IPALogLine, IPAWorkerData, IPAWorkerMessage } from './thread.js';

/** Log lines held between two snapshots; beyond, they are counted and dropped. */
const MAX_LOGS = 32;

if (!parentPort) throw new Error('agent/src/drivers/ipa/worker is the entry of a worker thread');
const port = parentPort;
const data = workerData as IPAWorkerData;

let inFlight = false; // a snapshot awaits its ack
let pending = false; // another one is due once it comes
let urgent = false;
let sentGeneration = -1;
let stopping = false;
let logs: IPALogLine[] = [];
let droppedLogs = 0;

const pipeline = new IPAPipeline(data.pipeline, {
  changed: () => send(true),
  log: (level, fields, msg) => {
    if (logs.length < MAX_LOGS) logs.push({ level, fields, msg });
    else droppedLogs++;
  },
});

function takeLogs(): { logs: IPALogLine[]; droppedLogs: number } {
  const out = { logs, droppedLogs };
  logs = [];
  droppedLogs = 0;
  return out;
}

function send(isUrgent: boolean): void {
  if (stopping) return;
  urgent ||= isUrgent;
  if (inFlight) pending = true;
  else post();
}

function post(): void {
  inFlight = true;
  pending = false;
  sentGeneration = pipeline.generation;
  const m: IPAWorkerMessage = { type: 'snapshot', snapshot: pipeline.snapshot(), urgent, ...takeLogs() };
  urgent = false;
  port.postMessage(m);
}

async function stop(): Promise<void> {
  if (stopping) return;
  stopping = true;
  clearInterval(tick);
  await pipeline.stop();
  port.postMessage({ type: 'stopped', snapshot: pipeline.snapshot(), ...takeLogs() } satisfies IPAWorkerMessage);
  port.close(); // nothing else holds the thread's loop: it exits
}

port.on('message', (m: IPAHostMessage) => {
  if (m.type === 'ack') {
    inFlight = false;
    if (pending && !stopping) post();
  } else if (m.type === 'stop') {
    void stop();
  }
});

const tick = setInterval(() => {
  pipeline.tick();
  if (pipeline.generation !== sentGeneration || logs.length > 0 || droppedLogs > 0) send(false);
}, data.tickMs);

// An uncaught exception ends the thread: the device and the segment are closed on the way out
// (the main thread reports the task Failed).
process.on('exit', () => pipeline.abandon());

pipeline.start();
post(); // the first snapshot: the pipeline runs
