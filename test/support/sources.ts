// Jest setup for every project: tests run the agent from its TypeScript sources, so worker
// threads (agent/src/runner/workers.ts) start their .ts entries through this TypeScript loader.
import { fileURLToPath } from 'node:url';

process.env.RINGTAP_TS_WORKER_LOADER ??= fileURLToPath(new URL('./ts-worker.mjs', import.meta.url));
