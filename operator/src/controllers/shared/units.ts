// Durations and byte sizes as the API writes them (Go durations, Kubernetes quantities),
// resolved to numbers once, by the operator, so that agents never parse user text.
import type { CaptureRetention, CaptureRotation, ResolvedRetention, ResolvedRotation } from '../../../../crds/src/index.js';

const DURATION_UNIT_MS: Record<string, number> = { ns: 1e-6, us: 1e-3, 'µs': 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** "1h30m" -> 5400000. Throws on anything the schema's pattern would not accept. */
export function parseDurationMs(d: string): number {
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0, consumed = 0;
  for (let m = re.exec(d); m; m = re.exec(d)) {
    total += Number(m[1]) * DURATION_UNIT_MS[m[2]!]!;
    consumed = re.lastIndex;
  }
  if (d === '' || consumed !== d.length) throw new Error(`invalid duration "${d}": want e.g. 90s, 5m, 1h30m`);
  return total;
}

const BYTE_SUFFIX: Record<string, number> = {
  '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50,
};

/** "100Mi" -> 104857600; a number passes through. */
export function parseBytes(q: number | string): number {
  if (typeof q === 'number') return q;
  const m = /^(\d+(?:\.\d+)?)(Ki|Mi|Gi|Ti|Pi|k|M|G|T|P)?$/.exec(q);
  if (!m) throw new Error(`invalid byte size "${q}": want e.g. 1500000, 512Ki, 100Mi, 2G`);
  return Math.floor(Number(m[1]) * BYTE_SUFFIX[m[2] ?? '']!);
}

/** The file settings PacketCapture and IPAMonitor share, resolved for a NodeTask. */
export function resolveFiles(r: CaptureRotation | undefined, k: CaptureRetention | undefined): { rotation?: ResolvedRotation; retention?: ResolvedRetention } {
  return {
    ...(r ? {
      rotation: {
        ...(r.fileSize !== undefined ? { fileSizeBytes: parseBytes(r.fileSize) } : {}),
        ...(r.fileDuration ? { fileDurationSeconds: Math.ceil(parseDurationMs(r.fileDuration) / 1000) } : {}),
      },
    } : {}),
    ...(k ? {
      retention: {
        ...(k.maxFiles !== undefined ? { maxFiles: k.maxFiles } : {}),
        ...(k.maxAge ? { maxAgeSeconds: Math.ceil(parseDurationMs(k.maxAge) / 1000) } : {}),
        ...(k.maxTotalBytes !== undefined ? { maxTotalBytes: parseBytes(k.maxTotalBytes) } : {}),
      },
    } : {}),
  };
}
