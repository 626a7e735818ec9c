// The agent's own metrics, in the process registry.
import { Gauge } from 'prom-client';
import { registry } from '../../lib/observe/metrics.js';

// Per capture on this node (labels namespace, capture).
const captureLabels = ['namespace', 'capture'] as const;
export const capturePackets = new Gauge({ name: 'ringtap_capture_packets', help: 'Packets written by a capture on this node (after its filter).', labelNames: captureLabels, registers: [registry] });
export const captureBytes = new Gauge({ name: 'ringtap_capture_bytes', help: 'Bytes (original lengths) of the packets a capture wrote on this node.', labelNames: captureLabels, registers: [registry] });
export const captureDrops = new Gauge({ name: 'ringtap_capture_drops', help: 'Packets a capture lost on this node: kernel ring drops plus spill-queue drops.', labelNames: captureLabels, registers: [registry] });
export const captureFreezes = new Gauge({ name: 'ringtap_capture_ring_freezes', help: 'Times a capture\'s TPACKET_V3 rings froze (all blocks owned by user space) on this node.', labelNames: captureLabels, registers: [registry] });
export const captureFiles = new Gauge({ name: 'ringtap_capture_files', help: 'Files a capture has on this node.', labelNames: captureLabels, registers: [registry] });
export const streamConsumers = new Gauge({ name: 'ringtap_stream_consumers', help: 'Live stream consumers (downloads of the live pcapng) connected to this agent.', registers: [registry] });
export const streamDrops = new Gauge({ name: 'ringtap_stream_drops', help: 'Packets dropped for slow live-stream consumers of a capture on this node.', labelNames: captureLabels, registers: [registry] });
