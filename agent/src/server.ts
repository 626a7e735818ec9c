// The agent's download and live-stream server. HTTPS; every request is authenticated with a
// TokenReview and authorized with a SubjectAccessReview against the PacketCapture it names:
//
//   verb get, group ringtap.dev, resource packetcaptures, subresource download, in its namespace
//
// so the RBAC rule that grants downloads is
//   { apiGroups: [ringtap.dev], resources: [packetcaptures/download], verbs: [get] }
// (the aggregated ClusterRoles ringtap-view/ringtap-edit carry it). Users reach agents through
// the API server's pod proxy, which strips the Authorization header after authenticating the
// user for the proxy itself; the plugin therefore sends the user's own bearer token again in
// X-Ringtap-Token, and the agent checks it here. A direct caller may use Authorization: Bearer.
//
//   GET /v1/captures/{ns}/{name}/files              this node's files of the capture (JSON)
//   GET /v1/captures/{ns}/{name}/files/{file}       one file; Range requests answered with 206
//   GET /v1/captures/{ns}/{name}/stream             the live pcapng stream (SHB, IDBs, packets)
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { HttpMethod } from '@kubernetes/client-node';
import type { KubeClient } from '../../lib/kube/kube.js';
import type { Logger } from '../../lib/observe/log.js';
import { streamConsumers } from './metrics.js';
import { PcapngWriter, readCapture } from '../../lib/pcapng/index.js';
import { captureDir, listCaptureFiles } from './files.js';
import { GROUP, PLURALS } from '../../crds/src/index.js';

export interface StreamSource {
  /** A live pcapng stream of the capture running on this node, or undefined if none runs. */
  openStream(namespace: string, name: string): Readable | undefined;
}

interface UserInfo { username: string; uid?: string; groups?: string[]; extra?: Record<string, string[]> }

const NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const FILE = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?-\d{6,}\.(pcapng|pcap)$/;

export class DownloadServer {
  private server?: Server;
  private tokenCache = new Map<string, { user: UserInfo; at: number }>();

  constructor(
    private client: KubeClient,
    private node: string,
    private dataDir: string,
    private streams: StreamSource,
    private log: Logger,
  ) {}

  async start(addr: string, tls: { cert: Buffer; key: Buffer }): Promise<void> {
    const i = addr.lastIndexOf(':');
    const host = addr.slice(0, i) || '0.0.0.0';
    const port = Number(addr.slice(i + 1));
    this.server = createServer({ cert: tls.cert, key: tls.key }, (req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        this.log.error({ err: String(err), url: req.url }, 'request failed');
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
    const url = new URL(req.url ?? '/', 'https://agent');
    const m = /^\/v1\/captures\/([^/]+)\/([^/]+)\/(files|stream)(?:\/([^/]+))?$/.exec(url.pathname);
    if (req.method !== 'GET' || !m) return this.reply(res, 404, 'not found: GET /v1/captures/{namespace}/{name}/files[/{file}] or /stream');
    const [, ns, name, what, file] = m as unknown as [string, string, string, string, string | undefined];
    if (!NAME.test(ns) || !NAME.test(name) || (file !== undefined && !FILE.test(file)) || (what === 'stream' && file)) {
      return this.reply(res, 400, 'bad path: namespace, name and file must be the names ringtap gives them');
    }

    const token = (req.headers['x-ringtap-token'] as string | undefined)?.replace(/^Bearer\s+/i, '')
      ?? /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '')?.[1];
    if (!token) return this.reply(res, 401, 'no credentials: send your bearer token in X-Ringtap-Token (the API server proxy drops Authorization)');
    const user = await this.authenticate(token);
    if (!user) return this.reply(res, 401, 'the token is not valid (TokenReview said unauthenticated)');
    const allowed = await this.authorize(user, ns, name);
    if (!allowed.ok) {
      this.log.info({ user: user.username, namespace: ns, name, reason: allowed.reason }, 'download refused');
      return this.reply(res, 403, `user "${user.username}" cannot get packetcaptures/download of ${ns}/${name}${allowed.reason ? `: ${allowed.reason}` : ''}`);
    }

    const dir = captureDir(this.dataDir, ns, name, this.node);
    if (what === 'stream') {
      const from = url.searchParams.get('from') ?? 'now';
      if (from !== 'now' && from !== 'start') return this.reply(res, 400, `from must be "now" or "start", not "${from}"`);
      const s = this.streams.openStream(ns, name);
      if (!s) return this.reply(res, existsSync(dir) ? 410 : 404, existsSync(dir) ? `capture ${ns}/${name} is not running on node ${this.node}; fetch its files instead` : `no capture ${ns}/${name} on node ${this.node}`);
      res.writeHead(200, { 'content-type': 'application/vnd.tcpdump.pcap', 'cache-control': 'no-store' });
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
    if (!existsSync(dir)) return this.reply(res, 404, `no capture ${ns}/${name} on node ${this.node}`);
    const files = listCaptureFiles(dir, name);
    if (!file) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ node: this.node, files: files.map((f) => ({ name: f.name, size: f.size, mtime: new Date(f.mtimeMs).toISOString() })) }));
      return;
    }
    const f = files.find((x) => x.name === file);
    if (!f) return this.reply(res, 404, `no file ${file} of ${ns}/${name} on node ${this.node}`);
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
    const body = fh.createReadStream({ start, end, autoClose: true });
    body.on('error', (err) => {
      this.log.warn({ err, path }, 'reading a file for download failed; the response is cut short');
      res.destroy();
    });
    res.on('close', () => body.destroy());
    body.pipe(res);
  }

  private async authenticate(token: string): Promise<UserInfo | undefined> {
    const key = createHash('sha256').update(token).digest('hex');
    const hit = this.tokenCache.get(key);
    if (hit && Date.now() - hit.at < 10_000) return hit.user;
    const r = await this.client.request<{ status?: { authenticated?: boolean; user?: UserInfo } }>(HttpMethod.POST, '/apis/authentication.k8s.io/v1/tokenreviews', {
      body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } },
    });
    if (!r.status?.authenticated || !r.status.user) return undefined;
    if (this.tokenCache.size > 1000) this.tokenCache.clear();
    this.tokenCache.set(key, { user: r.status.user, at: Date.now() });
    return r.status.user;
  }

  private async authorize(user: UserInfo, namespace: string, name: string): Promise<{ ok: boolean; reason?: string }> {
    const r = await this.client.request<{ status?: { allowed?: boolean; reason?: string } }>(HttpMethod.POST, '/apis/authorization.k8s.io/v1/subjectaccessreviews', {
      body: {
        apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview',
        spec: {
          user: user.username, ...(user.uid ? { uid: user.uid } : {}), groups: user.groups ?? [], ...(user.extra ? { extra: user.extra } : {}),
          resourceAttributes: { group: GROUP, resource: PLURALS.PacketCapture, subresource: 'download', verb: 'get', namespace, name },
        },
      },
    });
    return { ok: r.status?.allowed === true, ...(r.status?.reason ? { reason: r.status.reason } : {}) };
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
