// Structured logs (pino): every line carries the process role and, in controllers, the
// resource's kind, namespace and name.
import { pino, type Logger } from 'pino';

export type { Logger };

export function newLogger(component: string, extra: Record<string, unknown> = {}): Logger {
  return pino({
    level: process.env.RINGTAP_LOG_LEVEL ?? 'info',
    base: { component, ...extra },
    timestamp: pino.stdTimeFunctions.isoTime,
  });
}
