// Discovery documents and Status errors in the shapes the Kubernetes API uses, so that kubectl
// (api-resources, get --raw) and the aggregator read them as they read their own.
import type { ServerResponse } from 'node:http';
import { DATA_API_VERSION, DATA_GROUP, DATA_KINDS, DATA_SUBRESOURCES, DATA_VERSION } from '../../../crds/src/dataapi.js';

export function apiGroup(): object {
  return {
    name: DATA_GROUP,
    versions: [{ groupVersion: DATA_API_VERSION, version: DATA_VERSION }],
    preferredVersion: { groupVersion: DATA_API_VERSION, version: DATA_VERSION },
  };
}

export function apiGroupList(): object {
  return { kind: 'APIGroupList', apiVersion: 'v1', groups: [apiGroup()] };
}

export function apiGroupDocument(): object {
  return { kind: 'APIGroup', apiVersion: 'v1', ...apiGroup() };
}

/**
 * Each parent kind appears as a resource of its own (get only: the garbage-collector and
 * namespace controllers, which need list and delete, pass it by) whose object is the summary of
 * its files, kind <Kind>Data; the packets are in its subresources. `kubectl get packetcaptures`
 * still means ringtap.dev's, which the API server ranks first (APIService groupPriorityMinimum).
 */
export function apiResourceList(): object {
  const resources = Object.entries(DATA_KINDS).flatMap(([kind, k]) => [
    { name: k.plural, singularName: '', namespaced: k.namespaced, kind: `${kind}Data`, verbs: ['get'] },
    ...DATA_SUBRESOURCES.map((sub) => ({ name: `${k.plural}/${sub}`, singularName: '', namespaced: k.namespaced, kind: sub === 'files' ? `${kind}Data` : kind, verbs: ['get'] })),
  ]);
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: DATA_API_VERSION, resources };
}

const REASONS: Record<number, string> = {
  400: 'BadRequest', 401: 'Unauthorized', 403: 'Forbidden', 404: 'NotFound', 405: 'MethodNotAllowed',
  406: 'NotAcceptable', 409: 'Conflict', 410: 'Gone', 416: 'RequestedRangeNotSatisfiable', 500: 'InternalError',
  502: 'BadGateway', 503: 'ServiceUnavailable', 504: 'Timeout',
};

export interface StatusDetails { name?: string; group?: string; kind?: string }

/** A failure as a Kubernetes Status object. */
export function status(code: number, message: string, details?: StatusDetails): object {
  return {
    kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message,
    reason: REASONS[code] ?? (code >= 500 ? 'InternalError' : 'BadRequest'),
    ...(details ? { details } : {}),
    code,
  };
}

export function writeJSON(res: ServerResponse, code: number, body: object): void {
  const text = JSON.stringify(body);
  res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
}

export function writeStatus(res: ServerResponse, code: number, message: string, details?: StatusDetails): void {
  writeJSON(res, code, status(code, message, details));
}
