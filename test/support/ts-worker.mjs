// Runs a worker thread's TypeScript entry from the sources, for tests: under ts-jest the agent
// runs as TypeScript, so a worker's entry has no .js beside it. test/support/sources.ts names
// this file in RINGTAP_TS_WORKER_LOADER, and agent/src/runner/workers.ts starts such entries through
// it. dist/ starts workers from their compiled .js; this file is not shipped.
//
// Two module hooks, for this thread only: a relative './x.js' import from a .ts module that
// finds no .js resolves to './x.ts' (the sources import each other as nodenext wants), and a
// .ts module is compiled with TypeScript's transpileModule (one file at a time, as ts-jest's
// isolated modules: no type checking here; `npm run typecheck` does that).
import { readFileSync } from 'node:fs';
import { registerHooks } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';
import ts from 'typescript';

const compilerOptions = {
  module: ts.ModuleKind.ESNext,
  target: ts.ScriptTarget.ES2023,
  verbatimModuleSyntax: true,
  inlineSourceMap: true,
  inlineSources: true,
};

registerHooks({
  resolve(specifier, context, nextResolve) {
    try {
      return nextResolve(specifier, context);
    } catch (err) {
      const relative = specifier.startsWith('./') || specifier.startsWith('../');
      if (err?.code === 'ERR_MODULE_NOT_FOUND' && relative && specifier.endsWith('.js') && context.parentURL?.endsWith('.ts')) {
        return nextResolve(`${specifier.slice(0, -3)}.ts`, context);
      }
      throw err;
    }
  },
  load(url, context, nextLoad) {
    if (!url.startsWith('file:') || !url.endsWith('.ts')) return nextLoad(url, context);
    const fileName = fileURLToPath(url);
    const { outputText } = ts.transpileModule(readFileSync(fileName, 'utf8'), { fileName, compilerOptions });
    return { format: 'module', source: outputText, shortCircuit: true };
  },
});

const entry = process.argv.at(-1);
if (!entry?.endsWith('.ts')) throw new Error(`ts-worker: the last argument must be a .ts entry, got ${entry}`);
await import(pathToFileURL(entry).href);
