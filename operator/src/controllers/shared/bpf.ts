// The structured `match` of a capture, turned into BPF filter text and combined with the
// user's own `filter`. libpcap compiles the result (the operator validates it, the agent
// attaches it), so this only has to produce valid syntax from validated fields.
export interface PortRange { port: number; endPort?: number }
export interface PacketMatch {
  protocol?: 'tcp' | 'udp' | 'icmp' | 'icmpv6' | 'sctp' | 'any';
  ports?: PortRange[];
  cidrs?: string[];
  tcpFlags?: string[];
  bidirectional?: boolean;
}

const TCP_FLAG: Record<string, string> = {
  SYN: 'tcp-syn', ACK: 'tcp-ack', FIN: 'tcp-fin', RST: 'tcp-rst', PSH: 'tcp-push', URG: 'tcp-urg', ECE: 'tcp-ece', CWR: 'tcp-cwr',
};

const or = (parts: string[]): string => (parts.length === 1 ? parts[0]! : `(${parts.join(' or ')})`);

/** BPF text for a structured match, or '' when it matches everything. */
export function matchToBpf(m: PacketMatch | undefined): string {
  if (!m) return '';
  const terms: string[] = [];
  const proto = m.protocol && m.protocol !== 'any' ? m.protocol : undefined;
  if (proto === 'icmpv6') terms.push('icmp6');
  else if (proto) terms.push(proto);
  // Without bidirectional, ports and CIDRs name the destination (one direction of a flow).
  const dir = m.bidirectional === false ? 'dst ' : '';
  if (m.ports?.length) {
    const prefix = proto === 'tcp' || proto === 'udp' || proto === 'sctp' ? `${proto} ` : '';
    terms.push(or(m.ports.map((p) => (p.endPort && p.endPort !== p.port ? `${prefix}${dir}portrange ${p.port}-${p.endPort}` : `${prefix}${dir}port ${p.port}`))));
  }
  if (m.cidrs?.length) terms.push(or(m.cidrs.map((c) => `${dir}net ${c}`)));
  if (m.tcpFlags?.length) terms.push(or(m.tcpFlags.map((f) => `(tcp[tcpflags] & ${TCP_FLAG[f] ?? 'tcp-syn'} != 0)`)));
  return terms.join(' and ');
}

/** The filter the engine attaches: the user's filter and the structured match, both required. */
export function effectiveFilter(filter: string | undefined, match: PacketMatch | undefined): string {
  const parts = [filter?.trim() ?? '', matchToBpf(match)].filter((p) => p !== '');
  if (parts.length === 0) return '';
  if (parts.length === 1) return parts[0]!;
  return parts.map((p) => `(${p})`).join(' and ');
}
