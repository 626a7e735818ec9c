// Starting the agent's worker threads from either layout the agent runs in (lib/entry.ts).
import { Worker, type WorkerOptions } from 'node:worker_threads';
import { resolveEntry } from '../../../lib/entry.js';

/** A worker thread running `entry`, given as the compiled .js URL: `new URL('./worker.js', import.meta.url)`. */
export function newWorker(entry: URL, options: WorkerOptions = {}): Worker {
  const { script, args } = resolveEntry(entry);
  return new Worker(script, { ...options, argv: [...(options.argv ?? []), ...args] });
}
