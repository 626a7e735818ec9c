// Kubernetes Events (events.k8s.io/v1) for phase transitions and target churn. Recording an
// event never fails a reconcile: a lost event is logged, not retried.
import { V1MicroTime } from '@kubernetes/client-node/dist/types.js';
import { randomBytes } from 'node:crypto';
import type { IEvent } from 'kubernetes-models/events.k8s.io/v1/Event';
import type { Logger } from '../observe/log.js';
import { EventType, type KubeClient, type KubeObject } from './kube.js';

export class EventRecorder {
  constructor(private client: KubeClient, private controller: string, private instance: string, private log: Logger) {}

  async record(regarding: KubeObject & { apiVersion: string; kind: string }, type: 'Normal' | 'Warning', reason: string, note: string): Promise<void> {
    const namespace = regarding.metadata.namespace ?? 'default';
    const event: KubeObject & Omit<IEvent, 'apiVersion' | 'kind' | 'metadata'> = {
      metadata: { name: `${regarding.metadata.name}.${randomBytes(8).toString('hex')}`, namespace },
      eventTime: new V1MicroTime().toISOString(),
      reportingController: this.controller,
      reportingInstance: this.instance,
      action: reason,
      reason,
      type,
      note: note.slice(0, 1024),
      regarding: {
        apiVersion: regarding.apiVersion, kind: regarding.kind, name: regarding.metadata.name,
        namespace: regarding.metadata.namespace, uid: regarding.metadata.uid,
      },
    };
    try {
      await this.client.create(EventType, event);
    } catch (err) {
      this.log.warn({ err, reason }, 'recording an event failed');
    }
  }
}
