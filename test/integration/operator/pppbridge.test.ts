// The PPPBridge controller, run as a real operator process against the real API server, with
// the test playing the agent: the bridge's status follows the NodeTask's status.reason (never
// its message), waits for the world are Reconciling and only what a person must fix is
// Stalled, and every status says which generation it describes.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { addNode, cluster, delNode } from '../../support/cluster.js';
import { adminConfig, agentNodeToken, tokenConfig, uniqueName, waitFor } from '../../support/kube.js';
import { KubeClient, isNotFound, type KubeObject } from '../../../lib/kube/kube.js';
import { NodeTaskType, PPPBridgeType, type ConditionReason, type NodeTaskStatus } from '../../../crds/src/index.js';
import type { NodeTask, PPPBridge } from '../../../lib/kube/objects.js';

const OPERATOR_NS = 'ringtap-system';
const admin = new KubeClient(adminConfig(), 'test-admin');
const node = uniqueName('ppb');
const bridge = uniqueName('ppb');

/** A client with the node's agent token (bound to the Node), as that node's agent writes. */
async function agentClient(): Promise<KubeClient> {
  return new KubeClient(tokenConfig(await agentNodeToken(node)), `ringtap-agent/${node}`);
}

/** Waits until the bridge's status describes its current generation and `type` is True with `reason`. */
async function waitCondition(type: string, reason: ConditionReason): Promise<PPPBridge> {
  return waitFor(`${bridge}: ${type}=True reason ${reason}`, async () => {
    const b = await admin.get<PPPBridge>(PPPBridgeType, undefined, bridge);
    const c = b.status?.conditions?.find((x) => x.type === type);
    return c?.status === 'True' && c.reason === reason && b.status?.observedGeneration === b.metadata.generation ? b : undefined;
  }, 30_000, 100);
}

async function theTask(): Promise<NodeTask> {
  return waitFor('the NodeTask', async () => {
    const l = await admin.list<NodeTask>(NodeTaskType, OPERATOR_NS, { labelSelector: `ringtap.dev/parent-kind=PPPBridge,ringtap.dev/parent-name=${bridge}` });
    return l.items[0];
  }, 30_000, 100);
}

async function agentWrites(task: NodeTask, status: NodeTaskStatus): Promise<void> {
  await (await agentClient()).apply(NodeTaskType, { metadata: { name: task.metadata.name, namespace: OPERATOR_NS }, status } as KubeObject, { subresource: 'status' });
}

beforeAll(async () => {
  await cluster(['ringtap', 'start'], { ...process.env, RINGTAP_AGENTS: '0' });
}, 120_000);

afterAll(async () => {
  await admin.delete(PPPBridgeType, undefined, bridge).catch(() => undefined);
  // Nothing acknowledges the cleanup here: the operator lets the finalizer go once the node is gone.
  await delNode(node).catch(() => undefined);
  await waitFor(`${bridge} to be gone`, async () => admin.get(PPPBridgeType, undefined, bridge).then(() => undefined, (e: unknown) => isNotFound(e) || undefined), 90_000, 200)
    .catch(() => undefined);
  await cluster(['ringtap', 'stop']).catch(() => undefined);
}, 120_000);

describe('PPPBridge status', () => {
  test('waits for a node as Reconciling, follows the agent\'s reason, and is Stalled only where a person must act', async () => {
    await admin.create(PPPBridgeType, {
      metadata: { name: bridge },
      spec: {
        nodeName: node, mode: 'userspace',
        a: { pppoe: { interface: 'eth9', sessionId: 7, peerMAC: '02:00:00:00:00:07' } },
        b: { l2tp: { localAddress: '192.0.2.1', peerAddress: '192.0.2.2', tunnelId: 1, sessionId: 1, peerTunnelId: 2, peerSessionId: 2 } },
      },
    } as unknown as PPPBridge);

    // No such node yet: waiting for the world, not a failure.
    let b = await waitCondition('Reconciling', 'NodeNotFound');
    expect(b.status?.conditions?.find((c) => c.type === 'Stalled')?.status).toBe('False');

    await addNode(node);
    const task = await theTask();
    await waitCondition('Reconciling', 'Starting');

    // The agent is waiting for an interface: the reason travels as a value.
    await agentWrites(task, { observedGeneration: task.metadata.generation, phase: 'Pending', reason: 'InterfaceNotFound', message: "no such interface 'eth9'" });
    b = await waitCondition('Reconciling', 'InterfaceNotFound');
    expect(b.status?.conditions?.find((c) => c.type === 'Reconciling')?.message).toContain('eth9');

    // The node cannot do it: a person must act.
    await agentWrites(task, { observedGeneration: task.metadata.generation, phase: 'Failed', reason: 'CapabilityMissing', message: 'kernel lacks PPP' });
    b = await waitCondition('Stalled', 'CapabilityMissing');
    expect(b.status?.phase).toBe('Failed');

    // A message that merely starts like a reason is a message: without a reason it is a plain failure.
    await agentWrites(task, { observedGeneration: task.metadata.generation, phase: 'Failed', message: 'CapabilityMissing: said in words only' });
    await waitCondition('Stalled', 'BridgeFailed');
  }, 120_000);
});
