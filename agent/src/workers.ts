// Starting the agent's worker threads from either layout the agent runs in:
//
//   dist/      (production, `node dist/agent/src/main.js`, the e2e suite): the entry is the
//              compiled .js next to the module that starts it;
//   sources    (unit tests: ts-jest runs agent/src/**/*.ts in place, so import.meta.url names a
//              .ts file and no .js is next to it): the entry's .ts is started through
//              ts-worker.mjs, which compiles the worker's modules on load with the project's
//              TypeScript (a dev dependency, as ts-jest itself). Tests therefore run the current
//              sources in the worker too, never a stale dist/.
// Jest's own module system does not reach into a worker thread: it is a plain Node thread.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker, type WorkerOptions } from 'node:worker_threads';

const TS_BOOTSTRAP = new URL('./ts-worker.mjs', import.meta.url);

/** A worker thread running `entry`, given as the compiled .js URL: `new URL('./worker.js', import.meta.url)`. */
export function newWorker(entry: URL, options: WorkerOptions = {}): Worker {
  const file = fileURLToPath(entry);
  if (existsSync(file)) return new Worker(entry, options);
  const ts = file.replace(/\.js$/, '.ts');
  if (ts !== file && existsSync(ts) && existsSync(fileURLToPath(TS_BOOTSTRAP))) {
    // The bootstrap takes the entry as its last argument.
    return new Worker(TS_BOOTSTRAP, { ...options, argv: [...(options.argv ?? []), ts] });
  }
  throw new Error(`the worker entry ${file} does not exist (run npm run build)`);
}
