// Starting the agent's worker threads from either layout the agent runs in:
//
//   dist/      (production, `node dist/agent/src/main.js`, the e2e suite): the entry is the
//              compiled .js next to the module that starts it;
//   sources    (unit tests: ts-jest runs agent/src/**/*.ts in place, so import.meta.url names a
//              .ts file and no .js is next to it): the entry's .ts is started through the loader
//              that $RINGTAP_TS_WORKER_LOADER names (the tests set it to their TypeScript loader,
//              test/support/ts-worker.mjs), so the worker runs the current sources too, never a
//              stale dist/. Jest's module system does not reach into a worker thread.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker, type WorkerOptions } from 'node:worker_threads';

/** A worker thread running `entry`, given as the compiled .js URL: `new URL('./worker.js', import.meta.url)`. */
export function newWorker(entry: URL, options: WorkerOptions = {}): Worker {
  const file = fileURLToPath(entry);
  if (existsSync(file)) return new Worker(entry, options);
  const ts = file.replace(/\.js$/, '.ts');
  const loader = process.env.RINGTAP_TS_WORKER_LOADER;
  if (ts !== file && existsSync(ts) && loader && existsSync(loader)) {
    // The loader takes the entry as its last argument.
    return new Worker(loader, { ...options, argv: [...(options.argv ?? []), ts] });
  }
  throw new Error(`the worker entry ${file} does not exist (run npm run build)`);
}
