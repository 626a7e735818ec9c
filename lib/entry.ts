// Where a worker thread's or child process's entry script is, in either layout a process runs in:
//
//   dist/      (production, `node dist/.../main.js`, the e2e suite): the entry is the compiled
//              .js next to the module that starts it;
//   sources    (unit tests: ts-jest runs the .ts files in place, so import.meta.url names a .ts
//              file and no .js is next to it): the entry's .ts is started through the loader that
//              $RINGTAP_TS_WORKER_LOADER names (the tests set it to their TypeScript loader,
//              test/support/ts-worker.mjs), so the thread or child runs the current sources too,
//              never a stale dist/. Jest's module system reaches into neither.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/**
 * The script to start and the arguments it takes for `entry`, given as the compiled .js URL
 * (`new URL('./worker.js', import.meta.url)`): `{ script: entry }`, or the loader with the .ts as
 * its last argument.
 */
export function resolveEntry(entry: URL): { script: string; args: string[] } {
  const file = fileURLToPath(entry);
  if (existsSync(file)) return { script: file, args: [] };
  const ts = file.replace(/\.js$/, '.ts');
  const loader = process.env.RINGTAP_TS_WORKER_LOADER;
  // The loader takes the entry as its last argument.
  if (ts !== file && existsSync(ts) && loader && existsSync(loader)) return { script: loader, args: [ts] };
  throw new Error(`the entry ${file} does not exist (run npm run build)`);
}
