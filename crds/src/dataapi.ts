// The captured-data API (data.ringtap.dev/v1alpha1), served by every operator replica behind
// the API server's aggregation layer, and the agent API the operator reads the nodes' files
// and live streams from. Constants the operator, the agents, the plugin and the chart share.
import { GROUP, PLURALS } from './meta.js';

export const DATA_GROUP = 'data.ringtap.dev';
export const DATA_VERSION = 'v1alpha1';
export const DATA_API_VERSION = `${DATA_GROUP}/${DATA_VERSION}`;
/** The APIService that registers the group with the API server. */
export const DATA_API_SERVICE = `${DATA_VERSION}.${DATA_GROUP}`;

/** What the data API serves under each parent kind's path. */
export const DATA_SUBRESOURCES = ['pcap', 'files'] as const;
export type DataSubresource = (typeof DATA_SUBRESOURCES)[number];

/** The kinds whose files the data API serves, with the RBAC resource that allows it. */
export const DATA_KINDS = {
  PacketCapture: { plural: PLURALS.PacketCapture, namespaced: true },
  IPAMonitor: { plural: PLURALS.IPAMonitor, namespaced: false },
} as const;
export type DataKind = keyof typeof DATA_KINDS;

/**
 * The permission a download or stream needs, checked with a SubjectAccessReview:
 * `get` on `<plural>/download` in ringtap.dev (the rule the aggregated view role carries).
 */
export const DOWNLOAD_SUBRESOURCE = 'download';
export const DOWNLOAD_GROUP = GROUP;

/** Path of one parent's data under the API server. */
export function dataPath(kind: DataKind, namespace: string | undefined, name: string, sub: DataSubresource, opts: { longRunning?: boolean } = {}): string {
  const k = DATA_KINDS[kind];
  // The /watch/ prefix makes the API server treat the request as long-running (no
  // --request-timeout cut-off); see docs/adr/0008-data-api.md.
  const base = `/apis/${DATA_GROUP}/${DATA_VERSION}${opts.longRunning ? '/watch' : ''}`;
  const ns = k.namespaced ? `/namespaces/${encodeURIComponent(namespace ?? '')}` : '';
  return `${base}${ns}/${k.plural}/${encodeURIComponent(name)}/${sub}`;
}

// ---- the agents' server (operator only) ----------------------------------------------------

/** The agents' HTTPS port (hostNetwork: on the node's address). */
export const AGENT_SERVER_PORT = 9443;
/** The label of agent pods (DaemonSet and the local cluster's stand-ins). */
export const AGENT_POD_LABEL = 'app.kubernetes.io/name=ringtap-agent';

/**
 * The audience of the operator's tokens for one node's agent. One audience per node: a token
 * an agent receives is good for that agent only, so a compromised node cannot replay it to
 * another node's agent.
 */
export function agentAudience(node: string): string {
  return `agent.${GROUP}/${node}`;
}

/** The operator's file list for one node, as the agent answers it and the data API relays it. */
export interface NodeFile { name: string; size: number; mtime: string }
export interface NodeFileList { node: string; files: NodeFile[] }
