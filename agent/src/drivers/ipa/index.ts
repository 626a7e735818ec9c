// The IPA monitor stream, from bytes to counters and pcapng: the pieces the IPA driver
// (agent/src/drivers) assembles. See README.md next to this file for the choices made.
export * from './decode.js';
export * from './walker.js';
export * from './stats.js';
export * from './capture.js';
