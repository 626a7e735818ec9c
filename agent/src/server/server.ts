// The agent's download and live-stream server. HTTPS; it serves the operator and nobody else:
// users reach captured data through the operator's aggregated API (data.ringtap.dev), which
// authenticates and authorizes them and reads from here under its own identity. Each request
// carries a token of the operator's ServiceAccount made for this node's audience
// (agent.ringtap.dev/<node>); a TokenReview for that audience must say it is the operator's. A
// user's own token (audience: the API server) fails the review; a token made for another node's
// agent fails it too, so no token one agent sees opens another.
//
//   GET /v1/captures/{ns}/{name}/files              this node's files of the capture (JSON)
//   GET /v1/captures/{ns}/{name}/files/{file}       one file; Range requests answered with 206
//   GET /v1/captures/{ns}/{name}/stream             the live pcapng stream (SHB, IDBs, packets)
//   GET /v1/ipamonitors/{name}/files[/{file}]        the same for an IPAMonitor's files
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { HttpMethod } from '@kubernetes/client-node/dist/gen/http/http.js';
import type { KubeClient } from '../../../lib/kube/kube.js';
import type { Logger } from '../../../lib/observe/log.js';
import { streamConsumers } from '../metrics.js';
import { PcapngWriter, readCapture } from '../../../lib/pcapng/index.js';
import { captureDir, listCaptureFiles } from '../node/files.js';
import { agentAudience } from '../../../crds/src/dataapi.js';

export interface StreamSource {
  /** A live pcapng stream of the capture running on this node, or undefined if none runs. */
  openStream(namespace: string, name: string): Readable | undefined;
}

/** The operator's ServiceAccount user name (system:serviceaccount:NS:NAME), learned once. */
export type OperatorIdentity = () => Promise<string>;

/**
 * The operator's user: $RINGTAP_OPERATOR_USER, else the ServiceAccount
 * $RINGTAP_OPERATOR_SERVICEACCOUNT (default ringtap-operator) in the agent's own namespace,
 * which a SelfSubjectReview tells (in and out of a cluster alike).
 */
export function operatorIdentity(client: KubeClient, env: NodeJS.ProcessEnv = process.env): OperatorIdentity {
  let p: Promise<string> | undefined;
  return () => {
    p ??= (async () => {
      if (env.RINGTAP_OPERATOR_USER) return env.RINGTAP_OPERATOR_USER;
      const r = await client.request<{ status?: { userInfo?: { username?: string } } }>(HttpMethod.POST, '/apis/authentication.k8s.io/v1/selfsubjectreviews', {
        body: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
      });
      const me = r.status?.userInfo?.username ?? '';
      const m = /^system:serviceaccount:([^:]+):/.exec(me);
      if (!m) throw new Error(`the agent runs as "${me}", not a ServiceAccount: set RINGTAP_OPERATOR_USER to the operator's user name`);
      return `system:serviceaccount:${m[1]}:${env.RINGTAP_OPERATOR_SERVICEACCOUNT ?? 'ringtap-operator'}`;
    })();
    p.catch(() => (p = undefined));
    return p;
  };
}

const NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const FILE = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?-\d{6,}\.(pcapng|pcap)$/;
/** A reviewed token is trusted this long before it is reviewed again. */
const TOKEN_CACHE_MS = 10_000;
const TOKEN_CACHE_MAX = 64;
/**
 * Socket and file buffers: a download crosses several processes (agent, operator, API server,
 * client), and large buffers mean fewer handoffs between them. Backpressure still bounds memory.
 */
const STREAM_BUFFER_BYTES = 1 << 20;

export class DownloadServer {
  private server?: Server;
  private tokenCache = new Map<string, { ok: boolean; message: string; at: number }>();

  constructor(
    private client: KubeClient,
    private node: string,
    private dataDir: string,
    private streams: StreamSource,
    private operator: OperatorIdentity,
    private log: Logger,
  ) {}

  async start(addr: string, tls: { cert: Buffer; key: Buffer }): Promise<void> {
    const i = addr.lastIndexOf(':');
    const host = addr.slice(0, i) || '0.0.0.0';
    const port = Number(addr.slice(i + 1));
    this.server = createServer({ cert: tls.cert, key: tls.key, highWaterMark: STREAM_BUFFER_BYTES }, (req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        this.log.error({ err, url: req.url }, 'request failed');
        if (!res.headersSent) this.reply(res, 500, 'internal error');
        else res.destroy();
      });
    });
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(port, host, () => resolve());
    });
    this.log.info({ addr }, 'download server listening');
  }

  close(): Promise<void> {
    return new Promise((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  private reply(res: ServerResponse, code: number, message: string): void {
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ message }));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const token = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '')?.[1];
    if (!token) return this.reply(res, 401, 'this server serves the ringtap operator only: download captures through the API server (kubectl get --raw /apis/data.ringtap.dev/v1alpha1/..., or kubectl ringtap fetch)');
    const who = await this.authenticate(token);
    if (!who.ok) {
      this.log.info({ reason: who.message, remote: req.socket.remoteAddress }, 'request refused: not the operator');
      return this.reply(res, 401, `this server serves the ringtap operator only: ${who.message}`);
    }

    const url = new URL(req.url ?? '/', 'https://agent');
    const m = /^\/v1\/(?:captures\/([^/]+)|(ipamonitors))\/([^/]+)\/(files|stream)(?:\/([^/]+))?$/.exec(url.pathname);
    if (req.method !== 'GET' || !m) return this.reply(res, 404, 'not found: GET /v1/captures/{namespace}/{name}/files[/{file}] or /stream, /v1/ipamonitors/{name}/files[/{file}]');
    const [, capNs, ipa, name, what, file] = m as unknown as [string, string | undefined, string | undefined, string, string, string | undefined];
    if ((capNs !== undefined && !NAME.test(capNs)) || !NAME.test(name) || (file !== undefined && !FILE.test(file)) || (what === 'stream' && (file || ipa))) {
      return this.reply(res, 400, 'bad path: namespace, name and file must be the names ringtap gives them (IPAMonitors have no live stream)');
    }
    // IPAMonitor files live apart from every namespace's captures (agent/src/drivers/ipa/driver.ts).
    const dir = ipa ? captureDir(join(this.dataDir, '_cluster'), 'ipamonitor', name, this.node) : captureDir(this.dataDir, capNs!, name, this.node);
    const label = ipa ? `ipamonitor ${name}` : `capture ${capNs}/${name}`;
    if (what === 'stream') {
      const ns = capNs!;
      const from = url.searchParams.get('from') ?? 'now';
      if (from !== 'now' && from !== 'start') return this.reply(res, 400, `from must be "now" or "start", not "${from}"`);
      const s = this.streams.openStream(ns, name);
      if (!s) return this.reply(res, existsSync(dir) ? 410 : 404, existsSync(dir) ? `capture ${ns}/${name} is not running on node ${this.node}; fetch its files instead` : `no capture ${ns}/${name} on node ${this.node}`);
      res.writeHead(200, { 'content-type': 'application/vnd.tcpdump.pcap', 'cache-control': 'no-store' });
      res.flushHeaders();
      streamConsumers.inc();
      req.on('close', () => {
        streamConsumers.dec();
        s.destroy();
      });
      if (from === 'now') {
        s.pipe(res);
        return;
      }
      // The live stream was opened first, so nothing falls between the files and it.
      await replayThenLive(listCaptureFiles(dir, name).map((f) => join(dir, f.name)), s, res);
      return;
    }
    if (!existsSync(dir)) return this.reply(res, 404, `no ${label} on node ${this.node}`);
    const files = listCaptureFiles(dir, name);
    if (!file) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ node: this.node, files: files.map((f) => ({ name: f.name, size: f.size, mtime: new Date(f.mtimeMs).toISOString() })) }));
      return;
    }
    const f = files.find((x) => x.name === file);
    if (!f) return this.reply(res, 404, `no file ${file} of ${label} on node ${this.node}`);
    await this.sendFile(req, res, join(dir, file));
  }

  /**
   * One file, whole or one byte range. The file is opened once and its size taken from that
   * descriptor, so a file that retention deletes meanwhile is a 404 (or an aborted body), never
   * an unhandled stream error, and a file still being written is sent up to the size announced
   * in Content-Length. A Range with several ranges, or one we cannot parse, is ignored (RFC 9110
   * section 14.2 lets a server answer such a request with the whole file, 200).
   */
  private async sendFile(req: IncomingMessage, res: ServerResponse, path: string): Promise<void> {
    let fh: FileHandle;
    try {
      fh = await open(path, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return this.reply(res, 404, 'the file was removed (retention) while it was asked for');
      throw err;
    }
    let size: number;
    try {
      size = (await fh.stat()).size;
    } catch (err) {
      await fh.close().catch(() => undefined);
      throw err;
    }
    const headers = { 'content-type': 'application/octet-stream', 'accept-ranges': 'bytes' };
    const range = /^bytes=(\d*)-(\d*)$/.exec(req.headers.range ?? '');
    let start = 0;
    let end = size - 1;
    let status = 200;
    if (range && (range[1] || range[2])) {
      start = range[1] ? Number(range[1]) : Math.max(0, size - Number(range[2]));
      end = range[1] && range[2] ? Math.min(Number(range[2]), size - 1) : size - 1;
      if (start > end || start >= size) {
        await fh.close().catch(() => undefined);
        res.writeHead(416, { 'content-range': `bytes */${size}` });
        res.end();
        return;
      }
      status = 206;
    }
    res.writeHead(status, { ...headers, 'content-length': size === 0 ? 0 : end - start + 1, ...(status === 206 ? { 'content-range': `bytes ${start}-${end}/${size}` } : {}) });
    if (size === 0) {
      await fh.close().catch(() => undefined);
      res.end();
      return;
    }
    try {
      await sendRange(fh, start, end + 1, res);
    } catch (err) {
      this.log.warn({ err, path }, 'reading a file for download failed; the response is cut short');
      res.destroy();
    } finally {
      await fh.close().catch(() => undefined);
    }
  }

  /**
   * Whether the token is the operator's, made for this node: a TokenReview with this node's
   * audience, then the user name. Results are cached briefly by the token's hash, so a download
   * of many files costs one review.
   */
  private async authenticate(token: string): Promise<{ ok: boolean; message: string }> {
    const key = createHash('sha256').update(token).digest('hex');
    const hit = this.tokenCache.get(key);
    if (hit && Date.now() - hit.at < TOKEN_CACHE_MS) return hit;
    const audience = agentAudience(this.node);
    const r = await this.client.request<{ status?: { authenticated?: boolean; user?: { username?: string }; audiences?: string[]; error?: string } }>(HttpMethod.POST, '/apis/authentication.k8s.io/v1/tokenreviews', {
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token, audiences: [audience] } },
    });
    const expected = await this.operator();
    let result: { ok: boolean; message: string; at: number };
    if (!r.status?.authenticated || !r.status.audiences?.includes(audience)) result = { ok: false, message: `the token is not valid for audience ${audience}`, at: Date.now() };
    else if (r.status.user?.username !== expected) result = { ok: false, message: `"${r.status.user?.username ?? '?'}" is not the operator (${expected})`, at: Date.now() };
    else result = { ok: true, message: '', at: Date.now() };
    if (this.tokenCache.size >= TOKEN_CACHE_MAX) this.tokenCache.clear();
    this.tokenCache.set(key, result);
    return result;
  }
}

/**
 * One pcapng section: every packet of the files so far, then the live stream. A packet can be
 * in both (written to a file after the stream opened); per interface, timestamps only grow, so
 * a live packet no later than the last one the files had for its interface is a repeat.
 */
async function replayThenLive(files: string[], live: Readable, out: ServerResponse): Promise<void> {
  const w = new PcapngWriter(out);
  const outId = new Map<string, number>();
  const lastTs = new Map<number, bigint>();
  const parts: { live: boolean; input: AsyncIterable<Uint8Array> }[] = [
    ...files.map((f) => ({ live: false, input: lazyFile(f) })),
    { live: true, input: live as AsyncIterable<Uint8Array> },
  ];
  try {
    for (const part of parts) {
      const ids = new Map<string, number>();
      for await (const ev of readCapture(part.input)) {
        if (ev.type === 'interface') {
          const key = `${ev.iface.name ?? ''}\0${ev.iface.description ?? ''}`;
          let id = outId.get(key);
          if (id === undefined) {
            id = w.addInterface({ linkType: ev.iface.linkType, snapLen: ev.iface.snapLen, ...(ev.iface.name ? { name: ev.iface.name } : {}), ...(ev.iface.description ? { description: ev.iface.description } : {}) });
            outId.set(key, id);
          }
          ids.set(ev.iface.key, id);
          continue;
        }
        const p = ev.packet;
        const id = ids.get(p.interfaceKey);
        if (id === undefined) continue;
        const seen = lastTs.get(id);
        if (part.live && seen !== undefined && p.tsNs <= seen) continue;
        if (!part.live && (seen === undefined || p.tsNs > seen)) lastTs.set(id, p.tsNs);
        await w.writePacket(id, p.tsNs, p.origLen, p.data, p.flags);
      }
    }
    await w.end();
  } catch {
    out.destroy(); // the client went away, or a file could not be read: end the stream
  }
}

/** Buffers in flight per file download: one being read while the others are written. */
const SEND_BUFFERS = 4;
const SEND_BUFFER_BYTES = 256 << 10;

/**
 * Bytes [start, end) of an open file to the response, read into a few buffers that are reused
 * once the response has taken them (its write callback). A read stream allocates a new buffer per
 * read instead: a gigabyte's download was 4,000 buffers of external memory, and the garbage
 * collections they caused cost this agent more CPU than the TLS encryption. Follows the
 * response's backpressure; a response closed early ends the loop.
 */
async function sendRange(fh: FileHandle, start: number, end: number, res: ServerResponse): Promise<void> {
  const free: Buffer[] = Array.from({ length: SEND_BUFFERS }, () => Buffer.allocUnsafeSlow(Math.min(SEND_BUFFER_BYTES, Math.max(1, end - start))));
  let waiting: (() => void) | undefined;
  let failed: Error | undefined;
  const wake = () => {
    const w = waiting;
    waiting = undefined;
    w?.();
  };
  const onClose = () => {
    failed ??= new Error('the response closed before the file was sent');
    wake();
  };
  res.on('close', onClose);
  res.on('drain', wake);
  try {
    for (let pos = start; pos < end;) {
      while ((free.length === 0 || res.writableNeedDrain) && !failed) await new Promise<void>((r) => (waiting = r));
      if (failed || res.destroyed) return;
      const buf = free.pop()!;
      const { bytesRead } = await fh.read(buf, 0, Math.min(buf.length, end - pos), pos);
      if (bytesRead === 0) throw new Error(`the file ended at ${pos} bytes, before the ${end} announced`);
      pos += bytesRead;
      res.write(buf.subarray(0, bytesRead), () => {
        free.push(buf);
        wake();
      });
    }
    if (!failed) res.end();
  } finally {
    res.off('close', onClose);
    res.off('drain', wake);
  }
}

/** A file's bytes, opened only when read: retention may remove it first, and then it is skipped. */
async function* lazyFile(path: string): AsyncIterable<Uint8Array> {
  let fh: FileHandle;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  try {
    for await (const chunk of fh.createReadStream({ autoClose: false })) yield chunk as Uint8Array;
  } finally {
    await fh.close().catch(() => undefined);
  }
}
