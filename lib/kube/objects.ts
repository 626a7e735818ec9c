// ringtap's kinds as the API server returns them (metadata.name always set), for every
// process's informers and clients. The shapes themselves are the contract's (crds/src).
import type * as api from '../../crds/src/index.js';
import type { KubeObject } from './kube.js';

type Stored<T extends { spec: unknown; status?: unknown }> = KubeObject & { spec: T['spec']; status?: T['status'] };

export type PacketCapture = Stored<api.PacketCapture>;
export type PortMirror = Stored<api.PortMirror>;
export type PPPBridge = Stored<api.PPPBridge>;
export type IPAMonitor = Stored<api.IPAMonitor>;
export type NodeTask = Stored<api.NodeTask>;
