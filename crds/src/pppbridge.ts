// PPPBridge: on one node, bridge two PPP sessions (PPPoE or L2TPv2) so that frames from one
// are forwarded on the other: PPPIOCBRIDGECHAN in the kernel (Linux >= 5.11) or a userspace relay.
import { L2TP_DEFAULT_PORT } from './defaults.js';
import { commonStatusProps, type CommonStatus } from './common.js';
import { ageColumn, phaseColumn, readyColumn, type KindDefinition } from './definition.js';
import { counter, PLURALS, type Resource } from './meta.js';
import {
  dateTime,
  dnsSubdomain,
  enumStr,
  exactlyOne,
  ifName,
  immutable,
  int,
  ipAddress,
  mac,
  obj,
  str,
  withRules,
  type JSONSchemaProps,
} from './schema.js';

export type BridgeMode = 'auto' | 'kernel' | 'userspace';

/** A PPPoE session whose discovery already happened (the kernel does the session stage only). */
export interface PPPoESession {
  interface: string;
  sessionId: number;
  peerMAC: string;
  localMAC?: string;
}

/** An L2TPv2 session over UDP. */
export interface L2TPSession {
  version?: 2;
  localAddress: string;
  peerAddress: string;
  localPort?: number;
  peerPort?: number;
  tunnelId: number;
  peerTunnelId: number;
  sessionId: number;
  peerSessionId: number;
}

/** Exactly one of pppoe or l2tp. */
export interface PPPEndpoint {
  pppoe?: PPPoESession;
  l2tp?: L2TPSession;
}

export interface PPPBridgeSpec {
  nodeName: string;
  mode?: BridgeMode;
  a: PPPEndpoint;
  b: PPPEndpoint;
  mtu?: number;
}

export type PPPBridgePhase = 'Pending' | 'Bridged' | 'Failed';
export const PPP_BRIDGE_PHASES: readonly PPPBridgePhase[] = ['Pending', 'Bridged', 'Failed'];

export interface DirectionCounters {
  packets?: number;
  bytes?: number;
  drops?: number;
}

export interface PPPBridgeStatus extends CommonStatus<PPPBridgePhase> {
  dataPath?: 'kernel' | 'userspace';
  bridgedSince?: string;
  aToB?: DirectionCounters;
  bToA?: DirectionCounters;
  message?: string;
}

export type PPPBridge = Resource<'PPPBridge', PPPBridgeSpec, PPPBridgeStatus>;

const l2tpId = (d: string) => int(`${d} 1 to 65535.`, { minimum: 1, maximum: 65535 });
const udpPort = (d: string) => int(`${d} 1 to 65535 (default ${L2TP_DEFAULT_PORT}).`, { minimum: 1, maximum: 65535, default: L2TP_DEFAULT_PORT });

export function pppEndpointSchema(description: string): JSONSchemaProps {
  const pppoe = obj(
    'A PPPoE session (RFC 2516) established by discovery elsewhere: the bridge takes over its session stage.',
    {
      interface: ifName('The Ethernet interface the session runs on, in the node network namespace.'),
      sessionId: int('The PPPoE session id, 1 to 65534 (0 and 65535 are reserved).', { minimum: 1, maximum: 65534 }),
      peerMAC: mac("The peer's Ethernet address."),
      localMAC: mac("The local Ethernet address; default: the interface's address."),
    },
    ['interface', 'sessionId', 'peerMAC'],
  );
  const l2tp = withRules(
    obj(
      'An L2TPv2 session (RFC 2661) over UDP. The tunnel and session ids are the ones the control connection negotiated.',
      {
        version: { type: 'integer', format: 'int32', description: 'The L2TP version. Only 2 is supported: PPP over L2TPv3 is not bridged. Default 2.', enum: [2], default: 2 },
        localAddress: ipAddress('The local tunnel address.'),
        peerAddress: ipAddress('The peer tunnel address; same IP family as localAddress.'),
        localPort: udpPort('The local UDP port,'),
        peerPort: udpPort("The peer's UDP port,"),
        tunnelId: l2tpId('The local tunnel id,'),
        peerTunnelId: l2tpId("The peer's tunnel id,"),
        sessionId: l2tpId('The local session id,'),
        peerSessionId: l2tpId("The peer's session id,"),
      },
      ['localAddress', 'peerAddress', 'tunnelId', 'peerTunnelId', 'sessionId', 'peerSessionId'],
    ),
    {
      rule: '!isIP(self.localAddress) || !isIP(self.peerAddress) || ip(self.localAddress).family() == ip(self.peerAddress).family()',
      message: 'localAddress and peerAddress must be of the same IP family (both IPv4 or both IPv6)',
      fieldPath: '.peerAddress',
    },
  );
  return withRules(obj(`${description} Exactly one of pppoe or l2tp.`, { pppoe, l2tp }), {
    rule: exactlyOne(['pppoe', 'l2tp']),
    message: 'set exactly one of pppoe or l2tp',
  });
}

/** CEL on an object with a and b endpoints: false when both name the same session. */
export const DISTINCT_ENDPOINTS_RULE =
  '!(has(self.a.pppoe) && has(self.b.pppoe) && self.a.pppoe.interface == self.b.pppoe.interface && self.a.pppoe.sessionId == self.b.pppoe.sessionId) && ' +
  '!(has(self.a.l2tp) && has(self.b.l2tp) && self.a.l2tp.localAddress == self.b.l2tp.localAddress && self.a.l2tp.tunnelId == self.b.l2tp.tunnelId && self.a.l2tp.sessionId == self.b.l2tp.sessionId)';

export const DISTINCT_ENDPOINTS_MESSAGE =
  'a and b must be different sessions (a PPPoE session is its interface and sessionId; an L2TP session its localAddress, tunnelId and sessionId): a session cannot be bridged to itself';

export function mtuSchema(): JSONSchemaProps {
  return int('The MTU to enforce on bridged frames, 576 to 9000; default: the smaller of the two sessions\' MTUs.', { minimum: 576, maximum: 9000 });
}

const spec = withRules(
  obj(
    'The node and the two sessions to bridge.',
    {
      nodeName: immutable(dnsSubdomain('The node whose agent sets up the bridge; the sessions must reach that node.'), 'nodeName is immutable'),
      mode: enumStr(
        'The data path: kernel (PPPIOCBRIDGECHAN, Linux 5.11 or later), userspace (a relay in the agent), or auto (the default: kernel where available, else userspace).',
        ['auto', 'kernel', 'userspace'],
        'auto',
      ),
      a: immutable(pppEndpointSchema('One side of the bridge.'), 'a is immutable: delete the bridge and create a new one to bridge other sessions'),
      b: immutable(pppEndpointSchema('The other side of the bridge.'), 'b is immutable: delete the bridge and create a new one to bridge other sessions'),
      mtu: mtuSchema(),
    },
    ['nodeName', 'a', 'b'],
  ),
  { rule: DISTINCT_ENDPOINTS_RULE, message: DISTINCT_ENDPOINTS_MESSAGE, fieldPath: '.b' },
);

const direction = (d: string) =>
  obj(d, {
    packets: counter('Frames forwarded.'),
    bytes: counter('Bytes forwarded: PPP bytes (userspace), or the sending session\'s L2TP or PPPoE messages without the outer headers (kernel).'),
    drops: counter('Frames dropped.'),
  });

const status = obj('The observed state of the bridge, written by the operator from its NodeTask.', {
  ...commonStatusProps('bridge', PPP_BRIDGE_PHASES),
  dataPath: enumStr('The data path in use: kernel or userspace.', ['kernel', 'userspace']),
  bridgedSince: dateTime('When the two sessions were last bridged.'),
  aToB: direction('Frames received on a and sent on b.'),
  bToA: direction('Frames received on b and sent on a.'),
  message: str('Details, e.g. which session is gone.', { maxLength: 1024 }),
});


// ---- NodeTask work and status --------------------------------------------------------------

export interface PPPBridgeWork {
  mode: BridgeMode;
  a: PPPEndpoint;
  b: PPPEndpoint;
  mtu?: number;
}

export const pppBridgeWorkSchema = withRules(
  obj(
    'The work of a PPPBridge on this node: the two sessions, as in the parent.',
    {
      mode: enumStr('auto, kernel or userspace.', ['auto', 'kernel', 'userspace'], 'auto'),
      a: pppEndpointSchema('One side of the bridge.'),
      b: pppEndpointSchema('The other side of the bridge.'),
      mtu: mtuSchema(),
    },
    ['mode', 'a', 'b'],
  ),
  { rule: DISTINCT_ENDPOINTS_RULE, message: DISTINCT_ENDPOINTS_MESSAGE, fieldPath: '.b' },
);

/** Why frames of one bridge direction were dropped (userspace relay; the kernel bridge does not say). */
export interface PPPDropReasons {
  short?: number;
  badVersion?: number;
  badSession?: number;
  badLength?: number;
  control?: number;
  sendError?: number;
  rxOverflow?: number;
}

export interface PPPDirectionCounters {
  packets?: number;
  bytes?: number;
  drops?: number;
  dropReasons?: PPPDropReasons;
}

/** For PPPBridge tasks: per-direction counters (a to b: received on a, sent on b). */
export interface NodeTaskPPPBridgeStatus {
  aToB?: PPPDirectionCounters;
  bToA?: PPPDirectionCounters;
  bridgedSince?: string;
}

export function pppDirectionSchema(description: string): JSONSchemaProps {
  return obj(description, {
    packets: counter('Frames forwarded (kernel mode: those the destination session sent to its peer).'),
    bytes: counter(
      'Bytes forwarded. Userspace: PPP bytes (protocol and payload, without encapsulation). Kernel: the sending session\'s messages without the outer headers: ' +
        'L2TP data messages (L2TP header, FF 03, PPP frame) or PPPoE session packets (6-byte PPPoE header, PPP frame).',
    ),
    drops: counter('Frames dropped, all reasons (kernel mode: L2TP sends the kernel failed).'),
    dropReasons: obj('Frames dropped, by reason (kernel mode: sendError only).', {
      short: counter('Too short for the headers or the PPP protocol field.'),
      badVersion: counter('PPPoE version/type/code or L2TP version wrong.'),
      badSession: counter('Another tunnel or session.'),
      badLength: counter('A length field beyond the frame or inside the header.'),
      control: counter('L2TP control messages (never relayed).'),
      sendError: counter('Sending on the other side failed (e.g. above its MTU).'),
      rxOverflow: counter('Dropped by the kernel before the relay read them (receive queue full).'),
    }),
  });
}

export const pppBridgeDefinition: KindDefinition = {
  kind: 'PPPBridge',
  plural: PLURALS.PPPBridge,
  singular: 'pppbridge',
  shortNames: ['pppb'],
  scope: 'Cluster',
  description:
    'PPPBridge bridges two PPP sessions on one node (PPPoE to L2TP, L2TP to L2TP, PPPoE to PPPoE) so that every frame ' +
    'received on one is sent on the other; LCP, authentication and NCPs run end to end through the bridge.',
  spec,
  status,
  printerColumns: [
    { name: 'Node', type: 'string', jsonPath: '.spec.nodeName', description: 'The node running the bridge.' },
    phaseColumn,
    readyColumn,
    { name: 'Data Path', type: 'string', jsonPath: '.status.dataPath', description: 'kernel or userspace.' },
    { name: 'A To B', type: 'integer', jsonPath: '.status.aToB.packets', description: 'Frames forwarded from a to b.' },
    { name: 'B To A', type: 'integer', jsonPath: '.status.bToA.packets', description: 'Frames forwarded from b to a.' },
    ageColumn,
  ],
};
