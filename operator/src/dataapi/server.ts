// The data API (data.ringtap.dev/v1alpha1): captured packets for every Kubernetes user, served
// by every operator replica (leader or not) behind the API server's aggregation layer.
//
//   GET /apis, /apis/data.ringtap.dev, /apis/data.ringtap.dev/v1alpha1        discovery
//   GET .../namespaces/{ns}/packetcaptures/{name}/pcap                          every node's files merged in time order
//         ?follow=true [&fromStart=true]                                         live, until the capture completes
//         ?node=NAME                                                             one node only
//   GET .../namespaces/{ns}/packetcaptures/{name}/files                         the files per node (JSON)
//   GET .../namespaces/{ns}/packetcaptures/{name}/files/{node}/{file}           one file; Range answered with 206
//   GET .../ipamonitors/{name}/pcap | files | files/{node}/{file}               the same for IPAMonitor (cluster-scoped)
//
// Every path may also be asked for under .../v1alpha1/watch/..., which the API server treats as
// long-running (no --request-timeout cut-off): the plugin does so for downloads and streams.
//
// Who asks comes from the front proxy's identity headers (requestheader.ts); what they may do is
// decided by a SubjectAccessReview for `get` on `<plural>/download` in ringtap.dev, the rule that
// granted downloads before this API existed. The files come from the agents under the operator's
// identity (agents.ts). Output is produced as it is merged: the merge pulls from the agents only
// as fast as the client takes bytes, so memory is bounded by the reorder window, not by the size
// of the capture.
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { HttpMethod } from '@kubernetes/client-node/dist/gen/http/http.js';
import type { Logger } from '../../../lib/observe/log.js';
import { KubeError, type KubeClient, type KubeObject } from '../../../lib/kube/kube.js';
import { concatCaptures, mergeCaptures, readCapture, writeMerged, type MergeSource, type ReadEvent } from '../../../lib/pcapng/index.js';
import { orderSource } from '../../../lib/pcapng/stream-merge.js';
import { IPAMonitorType, PacketCaptureType, type ResourceType } from '../../../crds/src/resources.js';
import { GROUP } from '../../../crds/src/meta.js';
import { DATA_GROUP, DATA_KINDS, DATA_VERSION, DOWNLOAD_SUBRESOURCE, type DataKind, type NodeFileList } from '../../../crds/src/dataapi.js';
import { AgentClient, AgentUnavailable, STREAM_BUFFER_BYTES, agentMessage, chunksOf, readText, type AgentResponse } from './agents.js';
import { apiGroupDocument, apiGroupList, apiResourceList, writeJSON, writeStatus } from './discovery.js';
import { RequestHeaderAuthenticator, type UserInfo } from './requestheader.js';

const NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const FILE = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?-\d{6,}\.(pcapng|pcap)$/;
const PCAPNG_TYPE = 'application/x-pcapng';
/**
 * How a download of files is written: only whole 256 KiB chunks (its first bytes wait for them;
 * fewer, fuller TLS records and HTTP chunks through the API server to the client), each chunk
 * reused once the response has sent it.
 */
export const DOWNLOAD_WRITER = { flushWhenIdle: false, reuseChunks: true } as const;
/** Live merge: how long a packet may wait for a slower node's earlier ones (wall time). */
const LIVE_HOLD_MS = 250;
/** Live merge: a node's stream is read no further while this many of its packets wait. */
const LIVE_MAX_BUFFERED = 1024;

export interface DataApiOptions {
  /** host:port to listen on. */
  bindAddress: string;
  certFile: string;
  keyFile: string;
  /** The operator's namespace, where the agent pods run. */
  namespace: string;
  /** How far apart in capture time one node's files may be out of order (ns). */
  reorderWindowNs: bigint;
}

export interface Route { kind: DataKind; type: ResourceType; namespace?: string; name: string; sub: 'pcap' | 'files'; node?: string; file?: string }

interface Parent extends KubeObject { status?: { phase?: string; nodes?: { node: string; phase?: string; packets?: number; bytes?: number; files?: number; message?: string }[] } }

export class HttpError extends Error {
  constructor(readonly code: number, message: string) {
    super(message);
  }
}

export class DataApiServer {
  private server?: Server;
  private auth: RequestHeaderAuthenticator;
  private agents: AgentClient;
  private open = new Set<ServerResponse>();

  constructor(private client: KubeClient, private opts: DataApiOptions, private log: Logger) {
    this.auth = new RequestHeaderAuthenticator(client, log, (ca) => this.server?.setSecureContext(this.tlsOptions(ca)));
    this.agents = new AgentClient(client, opts.namespace, log);
  }

  private tlsOptions(ca: string | undefined): { cert: Buffer; key: Buffer; ca?: string } {
    return { cert: readFileSync(this.opts.certFile), key: readFileSync(this.opts.keyFile), ...(ca ? { ca } : {}) };
  }

  async start(): Promise<void> {
    await this.auth.start();
    const i = this.opts.bindAddress.lastIndexOf(':');
    const host = this.opts.bindAddress.slice(0, i) || '0.0.0.0';
    const port = Number(this.opts.bindAddress.slice(i + 1));
    // Client certificates are asked for and checked here and per request, never required by
    // TLS itself: an unauthenticated caller gets a 401 Status rather than a broken handshake.
    this.server = createServer({ ...this.tlsOptions(this.auth.config?.caPem), requestCert: true, rejectUnauthorized: false, highWaterMark: STREAM_BUFFER_BYTES }, (req, res) => {
      this.open.add(res);
      res.on('close', () => this.open.delete(res));
      this.handle(req, res).catch((err: unknown) => {
        this.log.error({ err, url: req.url }, 'data API request failed');
        if (!res.headersSent) writeStatus(res, 500, `internal error: ${(err as Error).message}`);
        else res.destroy();
      });
    });
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(port, host, () => resolve());
    });
    this.log.info({ addr: this.opts.bindAddress }, `data API (${DATA_GROUP}/${DATA_VERSION}) listening`);
  }

  async close(): Promise<void> {
    this.auth.stop();
    for (const res of this.open) res.destroy();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
    this.agents.close();
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const authn = this.auth.authenticate(req);
    if (!authn.ok) {
      this.log.info({ url: req.url, reason: authn.message, remote: req.socket.remoteAddress }, 'data API request refused: unauthenticated');
      return writeStatus(res, 401, `Unauthorized: ${authn.message}`);
    }
    const user = authn.user;
    if (req.method !== 'GET' && req.method !== 'HEAD') return writeStatus(res, 405, `the data API serves only GET, not ${req.method}`);
    const url = new URL(req.url ?? '/', 'https://data-api');
    const path = url.pathname.replace(/\/+$/, '');
    const base = `/apis/${DATA_GROUP}/${DATA_VERSION}`;
    if (path === '/apis') return writeJSON(res, 200, apiGroupList());
    if (path === `/apis/${DATA_GROUP}`) return writeJSON(res, 200, apiGroupDocument());
    if (path === base) return writeJSON(res, 200, apiResourceList());
    if (!path.startsWith(`${base}/`)) return writeStatus(res, 404, `the server could not find the requested resource ${path}`);

    let route: Route;
    try {
      route = parseRoute(path.slice(base.length), url.searchParams);
    } catch (err) {
      if (err instanceof HttpError) return writeStatus(res, err.code, err.message);
      throw err;
    }
    const plural = DATA_KINDS[route.kind].plural;
    const details = { name: route.name, group: GROUP, kind: plural };
    const allowed = await this.authorize(user, route);
    if (!allowed.ok) {
      this.log.info({ user: user.username, kind: route.kind, namespace: route.namespace, name: route.name, reason: allowed.reason }, 'data API request refused: forbidden');
      const where = route.namespace ? ` in the namespace "${route.namespace}"` : ' at the cluster scope';
      return writeStatus(res, 403,
        `${plural}.${GROUP} "${route.name}" is forbidden: User "${user.username}" cannot get resource "${plural}/${DOWNLOAD_SUBRESOURCE}" in API group "${GROUP}"${where}${allowed.reason ? `: ${allowed.reason}` : ''}`,
        details);
    }

    let parent: Parent;
    try {
      parent = await this.client.get<Parent>(route.type, route.namespace, route.name);
    } catch (err) {
      if (err instanceof KubeError && err.code === 404) return writeStatus(res, 404, `${plural}.${GROUP} "${route.name}" not found`, details);
      throw err;
    }
    let nodes = (parent.status?.nodes ?? []).map((n) => n.node);
    if (route.node !== undefined) {
      if (!nodes.includes(route.node)) return writeStatus(res, 404, `${route.kind} ${route.namespace ? `${route.namespace}/` : ''}${route.name} has no node "${route.node}" (its nodes: ${nodes.join(', ') || 'none yet'})`, details);
      nodes = [route.node];
    }
    const log = this.log.child({ user: user.username, kind: route.kind, namespace: route.namespace, name: route.name, sub: route.sub });
    const ac = new AbortController();
    res.on('close', () => ac.abort());
    try {
      if (route.sub === 'files' && route.file) return await this.file(req, res, route, ac.signal);
      if (route.sub === 'files') return await this.files(res, route, parent, nodes, ac.signal);
      if (url.searchParams.get('follow') === 'true') return await this.follow(res, route, nodes, url.searchParams.get('fromStart') === 'true', ac.signal, log);
      return await this.pcap(res, route, nodes, ac.signal, log, ['Completed', 'Failed'].includes(parent.status?.phase ?? ''));
    } catch (err) {
      if (err instanceof HttpError && !res.headersSent) return writeStatus(res, err.code, err.message, details);
      if (err instanceof AgentUnavailable && !res.headersSent) {
        return writeStatus(res, err.status >= 400 && err.status < 500 ? err.status : 503, err.message, details);
      }
      if (res.headersSent || ac.signal.aborted) {
        // The body is under way: cut it, so the client sees an incomplete transfer, not a short file.
        if (!ac.signal.aborted) log.warn({ err }, 'data API stream failed; response aborted');
        res.destroy();
        return;
      }
      throw err;
    } finally {
      ac.abort();
    }
  }

  private async authorize(user: UserInfo, route: Route): Promise<{ ok: boolean; reason?: string }> {
    const r = await this.client.request<{ status?: { allowed?: boolean; reason?: string; evaluationError?: string } }>(HttpMethod.POST, '/apis/authorization.k8s.io/v1/subjectaccessreviews', {
      body: {
        apiVersion: 'authorization.k8s.io/v1', kind: 'SubjectAccessReview',
        spec: {
          user: user.username, ...(user.uid ? { uid: user.uid } : {}), groups: user.groups, extra: user.extra,
          resourceAttributes: {
            group: GROUP, resource: DATA_KINDS[route.kind].plural, subresource: DOWNLOAD_SUBRESOURCE, verb: 'get', name: route.name,
            ...(route.namespace ? { namespace: route.namespace } : {}),
          },
        },
      },
    });
    return { ok: r.status?.allowed === true, ...(r.status?.reason ? { reason: r.status.reason } : {}) };
  }

  private agentBase(route: Route): string {
    return route.kind === 'PacketCapture'
      ? `/v1/captures/${encodeURIComponent(route.namespace!)}/${encodeURIComponent(route.name)}`
      : `/v1/ipamonitors/${encodeURIComponent(route.name)}`;
  }

  private async nodeFiles(route: Route, node: string, signal: AbortSignal): Promise<NodeFileList> {
    try {
      const r = await this.agents.getJSON<NodeFileList>(node, `${this.agentBase(route)}/files`, signal);
      return { node, files: (r.files ?? []).slice().sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)) };
    } catch (err) {
      if (err instanceof AgentUnavailable && err.status === 404) return { node, files: [] }; // nothing written there (yet)
      throw err;
    }
  }

  private async files(res: ServerResponse, route: Route, parent: Parent, nodes: string[], signal: AbortSignal): Promise<void> {
    const lists = await Promise.all(nodes.map(async (node) => {
      const st = parent.status?.nodes?.find((n) => n.node === node);
      const counts = { phase: st?.phase, packets: st?.packets ?? 0, bytes: st?.bytes ?? 0 };
      try {
        const l = await this.nodeFiles(route, node, signal);
        return { node, ...counts, size: l.files.reduce((a, f) => a + f.size, 0), files: l.files };
      } catch (err) {
        if (!(err instanceof AgentUnavailable)) throw err;
        return { node, ...counts, files: [], error: err.message };
      }
    }));
    const plural = DATA_KINDS[route.kind].plural;
    writeJSON(res, 200, {
      kind: `${route.kind}Data`, apiVersion: `${DATA_GROUP}/${DATA_VERSION}`,
      metadata: { name: route.name, ...(route.namespace ? { namespace: route.namespace } : {}), ...(parent.metadata.creationTimestamp ? { creationTimestamp: parent.metadata.creationTimestamp } : {}) },
      phase: parent.status?.phase,
      nodes: lists.map((l) => ({
        ...l,
        files: l.files.map((f) => ({ ...f, path: `/apis/${DATA_GROUP}/${DATA_VERSION}${route.namespace ? `/namespaces/${route.namespace}` : ''}/${plural}/${route.name}/files/${l.node}/${f.name}` })),
      })),
    });
  }

  /** One file, relayed with the client's Range header and the agent's 200/206/416 answer. */
  private async file(req: IncomingMessage, res: ServerResponse, route: Route, signal: AbortSignal): Promise<void> {
    const r = await this.agents.get(route.node!, `${this.agentBase(route)}/files/${encodeURIComponent(route.file!)}`, {
      headers: req.headers.range ? { range: req.headers.range } : {}, signal,
    });
    if (r.status >= 400 && r.status !== 416) {
      const text = await readText(r.body);
      return writeStatus(res, r.status === 404 ? 404 : 502, `node ${route.node}: ${agentMessage(text, r.status)}`);
    }
    const headers: Record<string, string> = { 'content-type': 'application/octet-stream', 'accept-ranges': 'bytes', 'cache-control': 'no-store' };
    for (const h of ['content-length', 'content-range']) {
      const v = r.headers[h];
      if (typeof v === 'string') headers[h] = v;
    }
    res.writeHead(r.status, headers);
    await pipeBody(r.body, res);
  }

  /** Every node's files, merged in time order, written as they are merged. */
  private async pcap(res: ServerResponse, route: Route, nodes: string[], signal: AbortSignal, log: Logger, settled: boolean): Promise<void> {
    // The lists first, so that an unreachable agent is a Status, not a short file.
    const lists = await Promise.all(nodes.map((n) => this.nodeFiles(route, n, signal)));
    const damaged: string[] = [];
    // Each node's packets are put in order first, holding only what is out of order, then
    // merged across nodes with no window (lib/pcapng/stream-merge.ts).
    const sources: MergeSource[] = lists.map((l) => ({
      label: `node=${l.node}`,
      events: orderSource(concatCaptures(this.fileCaptures(route, l, signal, damaged, settled)), this.opts.reorderWindowNs),
    }));
    res.writeHead(200, { 'content-type': PCAPNG_TYPE, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
    const summary = await writeMerged(mergeCaptures(sources, { slackNs: 0n, statistics: true }), res, { notices: () => damaged, writer: DOWNLOAD_WRITER });
    if (damaged.length) log.warn({ damaged }, 'data API: damaged files: their good packets were served, with a notice');
    log.info({ packets: summary.packets, interfaces: summary.interfaces, nodes: Object.fromEntries(summary.perSource) }, 'data API: pcap served');
  }

  /**
   * Each file's events; a damaged file gives its packets up to the damage, and a line in `damaged`.
   * Until the capture has ended, the last file may end inside the block being written: not damage.
   */
  private async *fileCaptures(route: Route, l: NodeFileList, signal: AbortSignal, damaged: string[], settled = true): AsyncGenerator<AsyncIterable<ReadEvent>> {
    for (const [i, f] of l.files.entries()) {
      const r = await this.agents.getBody(l.node, `${this.agentBase(route)}/files/${encodeURIComponent(f.name)}`, { signal });
      if (r.status === 404) { // retention removed it since the list: skip it, as a reader of the directory would
        await r.body.return(undefined);
        continue;
      }
      if (r.status !== 200) throw new AgentUnavailable(l.node, `${f.name}: ${agentMessage(await readText(r.body), r.status)}`, r.status);
      const writing = !settled && i === l.files.length - 1;
      yield readCapture(r.body, undefined, {
        statistics: true,
        onDamage: (d) => {
          if (!(d.truncated && writing)) damaged.push(`node ${l.node} file ${f.name}: ${d.message}; kept the ${d.packets} packets before it`);
        },
      });
    }
  }

  /** Live: every node's stream merged with a wall-time hold; ends when every node's capture has. */
  private async follow(res: ServerResponse, route: Route, nodes: string[], fromStart: boolean, signal: AbortSignal, log: Logger): Promise<void> {
    if (route.kind !== 'PacketCapture') throw new HttpError(400, 'follow: IPAMonitor has no live stream; fetch its files (without follow=true)');
    const opened = await Promise.all(nodes.map(async (node): Promise<{ node: string; res?: AgentResponse; files?: NodeFileList }> => {
      const r = await this.agents.get(node, `${this.agentBase(route)}/stream?from=${fromStart ? 'start' : 'now'}`, { signal });
      if (r.status === 200) return { node, res: r };
      const text = await readText(r.body);
      // Not running there (any more): its files are the whole story when the replay was asked for.
      if (r.status === 410 || r.status === 404) {
        log.info({ node, status: r.status, message: agentMessage(text, r.status) }, 'data API follow: node not streaming');
        return fromStart ? { node, files: await this.nodeFiles(route, node, signal) } : { node };
      }
      throw new AgentUnavailable(node, agentMessage(text, r.status), r.status);
    }));
    const damaged: string[] = [];
    const sources: MergeSource[] = opened.flatMap((o): MergeSource[] => {
      if (o.res) return [{ label: `node=${o.node}`, events: readCapture(chunksOf(o.res.body)) }];
      if (o.files) return [{ label: `node=${o.node}`, events: concatCaptures(this.fileCaptures(route, o.files, signal, damaged)) }];
      return [];
    });
    res.writeHead(200, { 'content-type': PCAPNG_TYPE, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
    res.flushHeaders();
    const hold = { holdMs: LIVE_HOLD_MS, slackNs: BigInt(LIVE_HOLD_MS) * 1_000_000n, maxBuffered: LIVE_MAX_BUFFERED };
    try {
      const summary = await writeMerged(mergeCaptures(sources, hold), res, { notices: () => damaged });
      log.info({ packets: summary.packets, nodes: Object.fromEntries(summary.perSource) }, 'data API: live stream ended');
    } finally {
      for (const o of opened) o.res?.body.destroy();
    }
  }
}

export function parseRoute(rest: string, q: URLSearchParams): Route {
  const parts = rest.split('/').filter(Boolean).map((p) => decodeURIComponent(p));
  if (parts[0] === 'watch') parts.shift();
  let namespace: string | undefined;
  if (parts[0] === 'namespaces') {
    namespace = parts[1];
    parts.splice(0, 2);
  }
  const [plural, name, sub, node, file, ...extra] = parts;
  const kind = (Object.keys(DATA_KINDS) as DataKind[]).find((k) => DATA_KINDS[k].plural === plural);
  if (!kind || !name || (sub !== undefined && sub !== 'pcap' && sub !== 'files') || extra.length) {
    throw new HttpError(404, `the server could not find the requested resource: expected .../${namespace === undefined ? '' : 'namespaces/NS/'}{packetcaptures|ipamonitors}/NAME/{pcap|files}`);
  }
  if (DATA_KINDS[kind].namespaced !== (namespace !== undefined)) {
    throw new HttpError(404, `${plural} are ${DATA_KINDS[kind].namespaced ? 'namespaced: use .../namespaces/NS/' : 'cluster-scoped: use .../'}${plural}/NAME/${sub ?? ''}`);
  }
  if (namespace !== undefined && !NAME.test(namespace)) throw new HttpError(400, `namespace "${namespace}" is not a valid name`);
  if (!NAME.test(name)) throw new HttpError(400, `name "${name}" is not a valid name`);
  // The parent's own path is its files summary too (discovery.ts).
  const route: Route = { kind, type: kind === 'PacketCapture' ? PacketCaptureType : IPAMonitorType, ...(namespace !== undefined ? { namespace } : {}), name, sub: sub ?? 'files' };
  if (sub === 'pcap' && (node !== undefined || file !== undefined)) throw new HttpError(404, 'pcap takes no path after it; choose a node with ?node=NAME');
  if (sub === 'files' && node !== undefined) {
    if (!NAME.test(node)) throw new HttpError(400, `node "${node}" is not a valid node name`);
    if (file === undefined || !FILE.test(file)) throw new HttpError(400, 'files/{node}/{file}: file must be one of the names the files list gives');
    route.node = node;
    route.file = file;
  }
  const qnode = q.get('node');
  if (qnode !== null) {
    if (sub === 'files' && file !== undefined) throw new HttpError(400, 'node: given in the path already');
    if (!NAME.test(qnode)) throw new HttpError(400, `node "${qnode}" is not a valid node name`);
    route.node = qnode;
  }
  for (const flag of ['follow', 'fromStart']) {
    const v = q.get(flag);
    if (v !== null && v !== 'true' && v !== 'false') throw new HttpError(400, `${flag}: expected true or false, not "${v}"`);
  }
  if (q.get('fromStart') === 'true' && q.get('follow') !== 'true') throw new HttpError(400, 'fromStart: only with follow=true (without follow, the files are the whole capture already)');
  if (q.get('follow') === 'true' && sub !== 'pcap') throw new HttpError(400, 'follow: only for pcap');
  return route;
}

/** Copies an agent's body to the response at the pace the client reads (backpressure). */
async function pipeBody(body: AsyncIterable<Uint8Array>, res: ServerResponse): Promise<void> {
  for await (const chunk of body) {
    if (!res.write(chunk)) {
      await new Promise<void>((resolve, reject) => {
        const done = (err?: Error) => {
          res.off('drain', onDrain);
          res.off('close', onClose);
          if (err) reject(err);
          else resolve();
        };
        const onDrain = () => done();
        const onClose = () => done(new Error('client went away'));
        res.once('drain', onDrain);
        res.once('close', onClose);
      });
    }
  }
  await new Promise<void>((resolve) => res.end(resolve));
}
