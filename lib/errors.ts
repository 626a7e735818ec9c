// ringtap's own error type: a stable `code` (ERR_RINGTAP_*, the codes the native addon throws
// too) that callers branch on, and, where the failure means something to a resource's status,
// the condition reason (crds/src/reasons.ts) it is reported with. Loggers get the error object
// (`log.error({ err }, ...)`), so pino keeps its code, stack and cause.
import { REASONS, type ConditionReason } from '../crds/src/reasons.js';

export class RingtapError extends Error {
  readonly reason?: ConditionReason;

  constructor(readonly code: string, message: string, opts: { reason?: ConditionReason; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'RingtapError';
    if (opts.reason) this.reason = opts.reason;
  }
}

/** The condition reason an error carries, if it carries one from the list. */
export function errorReason(err: unknown): ConditionReason | undefined {
  const r = (err as { reason?: unknown } | null)?.reason;
  return typeof r === 'string' && (REASONS as readonly string[]).includes(r) ? (r as ConditionReason) : undefined;
}
