#!/usr/bin/env node
// kubectl-ringtap: the kubectl plugin (`kubectl ringtap ...`). kubectl finds this executable on
// PATH by its name and passes the arguments after "ringtap" through.
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Writable } from 'node:stream';
import type { KubeConfig } from '@kubernetes/client-node';
import { KubeError } from '../../lib/kube/kube.js';
import { DataApiError, loadKubeConfig } from './dataclient.js';
import { USAGE, UsageError, parseCli, type ParsedCli } from './args.js';
import {
  TERMINAL_PHASES, createCapture, describeCapture, fetchCapture, formatFetchSummary, formatStreamSummary, getCapture, listCaptures, listFiles, streamCapture,
} from './capture.js';
import { PcapFormatError } from '../../lib/pcapng/index.js';
import { renderPlain, renderTTY, statusView, type Sample } from './status.js';

export { createCapture, fetchCapture, streamCapture, getCapture } from './capture.js';
export type { CreateCaptureOptions, FetchOptions, FetchSummary, StreamOptions, StreamSummary } from './capture.js';
export { parseCli, UsageError } from './args.js';
export { loadKubeConfig } from './dataclient.js';

export interface IO {
  stdout: Writable & { isTTY?: boolean };
  stderr: Writable;
  /** Cancels long-running commands (status --watch, fetch, stream). */
  signal?: AbortSignal;
}

/** The namespace of the kubeconfig's current context, else "default". */
export function contextNamespace(kc: KubeConfig): string {
  return kc.getContextObject(kc.getCurrentContext())?.namespace || 'default';
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(t);
      resolve();
    }, { once: true });
  });

/** Runs kubectl-ringtap with argv (without node and script); returns the exit code. */
export async function main(argv: string[], io: IO = { stdout: process.stdout, stderr: process.stderr }): Promise<number> {
  const err = (s: string) => io.stderr.write(`${s}\n`);
  let cli: ParsedCli;
  try {
    cli = parseCli(argv);
  } catch (e) {
    if (e instanceof UsageError) {
      err(`error: ${e.message}`);
      err('Run "kubectl ringtap --help" for usage.');
      return 2;
    }
    throw e;
  }
  if (cli.command === 'help') {
    io.stdout.write(USAGE);
    return 0;
  }
  try {
    const kubeConfig = loadKubeConfig(cli.global);
    if (!kubeConfig.getCurrentCluster()) throw new DataApiError(0, 'NoCluster', 'no current cluster in the kubeconfig: set a context (kubectl config use-context), or pass --kubeconfig or --context');
    const namespace = cli.global.namespace ?? contextNamespace(kubeConfig);
    const data = { kubeConfig, namespace, log: err, ...(io.signal ? { signal: io.signal } : {}) };
    switch (cli.command) {
      case 'capture': {
        const { command: _c, global: _g, name, ...rest } = cli;
        const r = await createCapture({ kubeConfig, namespace, name, ...rest });
        io.stdout.write(`${describeCapture(r.capture, r.defaultedDuration)}\n`);
        return 0;
      }
      case 'status':
        return await status({ kubeConfig, namespace, name: cli.name }, cli.watch, io);
      case 'list':
        if (cli.name === undefined) {
          io.stdout.write(`${await listCaptures({ kubeConfig, ...(cli.global.allNamespaces ? {} : { namespace }) })}\n`);
        } else {
          io.stdout.write(`${await listFiles({ ...data, kind: cli.kind, name: cli.name })}\n`);
        }
        return 0;
      case 'fetch': {
        const s = await fetchCapture({ ...data, kind: cli.kind, name: cli.name, output: cli.output ?? `${cli.name}.pcapng`, ...(cli.node ? { node: cli.node } : {}) });
        err(formatFetchSummary(s));
        return s.error || s.notices?.length ? 1 : 0;
      }
      case 'stream': {
        const s = await streamCapture({ ...data, kind: cli.kind, name: cli.name, fromStart: cli.fromStart, ...(cli.node ? { node: cli.node } : {}) });
        err(formatStreamSummary(s));
        return s.error || s.notices?.length ? 1 : 0;
      }
    }
  } catch (e) {
    err(`error: ${explain(e, cli)}`);
    return 1;
  }
}

/** A user-facing message for an error, with the API server's own message when it has one. */
export function explain(e: unknown, cli: ParsedCli): string {
  if (e instanceof KubeError) {
    if (e.code === 404 && cli.command !== 'capture') return `${'kind' in cli && cli.kind === 'IPAMonitor' ? 'ipamonitor' : 'packetcapture'} "${'name' in cli ? cli.name : ''}" not found${'kind' in cli && cli.kind === 'IPAMonitor' ? '' : ` in namespace ${cli.global.namespace ?? '(the context namespace)'}`}: ${e.message}`;
    if (e.code === 409 && cli.command === 'capture') return `the API server refused the PacketCapture: ${e.message} (delete it first, or choose another NAME)`;
    if (cli.command === 'capture') return `the API server refused the PacketCapture (${e.code} ${e.reason}): ${e.message}`;
    return `API server: ${e.code} ${e.reason}: ${e.message}`;
  }
  if (e instanceof DataApiError) {
    if (e.status === 403) return `${e.reason} (403): ${e.message}\nDownloads need the RBAC permission: apiGroups [ringtap.dev], resources [packetcaptures/download] (ipamonitors/download), verbs [get] (see cli/README.md).`;
    if (e.status === 503 && /data\.ringtap\.dev|service unavailable|no endpoints/i.test(e.message)) return `the data API (data.ringtap.dev) is not available: ${e.message} (is the ringtap operator running? kubectl get apiservice v1alpha1.data.ringtap.dev)`;
    return e.status ? `${e.reason} (${e.status}): ${e.message}` : e.message;
  }
  if (e instanceof PcapFormatError) return e.message;
  const m = (e as Error)?.message ?? String(e);
  const cause = (e as { cause?: { message?: string } })?.cause?.message;
  return cause && !m.includes(cause) ? `${m}: ${cause}` : m;
}

async function status(target: { kubeConfig: KubeConfig; namespace: string; name: string }, watch: boolean, io: IO): Promise<number> {
  const tty = io.stdout.isTTY === true;
  let prev: Sample | undefined;
  let drawn = 0;
  for (;;) {
    const c = await getCapture(target);
    const { view, sample } = statusView(c, Date.now(), prev);
    prev = sample;
    if (tty) {
      const text = renderTTY(view);
      // Redraw in place: up over the previous frame, clear to the end of the screen.
      io.stdout.write(`${drawn ? `\x1b[${drawn}F\x1b[J` : ''}${text}\n`);
      drawn = text.split('\n').length;
    } else {
      io.stdout.write(`${renderPlain(view)}\n`);
    }
    if (!watch || TERMINAL_PHASES.has(view.phase) || io.signal?.aborted) return view.phase === 'Failed' ? 1 : 0;
    await sleep(1000, io.signal);
    if (io.signal?.aborted) return 0;
  }
}

function isMain(): boolean {
  try {
    return !!process.argv[1] && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMain()) {
  const ac = new AbortController();
  process.once('SIGINT', () => ac.abort());
  // A closed pipe (`... | head`, tshark quitting) ends the stream quietly.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') {
      ac.abort();
      process.exit(0);
    }
  });
  main(process.argv.slice(2), { stdout: process.stdout, stderr: process.stderr, signal: ac.signal }).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`error: ${(e as Error)?.message ?? String(e)}\n`);
      process.exitCode = 1;
    },
  );
}
