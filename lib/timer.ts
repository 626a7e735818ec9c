// Node keeps a timer's delay in a signed 32-bit millisecond count: a longer delay (over 24.8
// days) is taken as 1 ms and fires at once. Every long wait (a capture's duration, a requeue)
// is therefore taken in steps of at most this, each step re-checking how long is left.
export const MAX_TIMER_MS = 2 ** 31 - 1;
