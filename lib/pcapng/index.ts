// pcapng for every process: the agent serves it, the CLI reads and merges it.
export * from './format.js';
export * from './read.js';
export * from './write.js';
export * from './merge.js';
