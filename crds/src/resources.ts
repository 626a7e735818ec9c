// Where each kind lives in the API: what a client needs to build its paths.
import { GROUP, PLURALS, VERSION, type Kind } from './meta.js';

/** Identifies a resource type: core ('' group) or a named group. */
export interface ResourceType { group: string; version: string; plural: string; kind: string; namespaced: boolean }

function ours(kind: Kind, namespaced: boolean): ResourceType {
  return { group: GROUP, version: VERSION, plural: PLURALS[kind], kind, namespaced };
}

export const PacketCaptureType = ours('PacketCapture', true);
export const PortMirrorType = ours('PortMirror', true);
export const PPPBridgeType = ours('PPPBridge', false);
export const IPAMonitorType = ours('IPAMonitor', false);
export const NodeTaskType = ours('NodeTask', true);
