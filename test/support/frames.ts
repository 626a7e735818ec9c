// Builds exact Ethernet/IPv4/UDP frames for the TX_RING sender's tests.

export interface UdpFrameSpec {
  srcMac: string;
  dstMac: string;
  srcIp: string;
  dstIp: string;
  srcPort: number;
  dstPort: number;
  /** Whole frame length as captured (no FCS): 14 + 20 + 8 + payload; at least 42. Default 64. */
  frameLength?: number;
  /** Payload fill byte. Default 0x41. */
  fill?: number;
  ttl?: number;
}

function macBytes(mac: string): Buffer {
  const parts = mac.split(':');
  if (parts.length !== 6) throw new Error(`bad MAC address ${mac}`);
  return Buffer.from(parts.map((p) => parseInt(p, 16)));
}

function ipBytes(ip: string): Buffer {
  const parts = ip.split('.').map(Number);
  if (parts.length !== 4 || parts.some((n) => !(n >= 0 && n <= 255))) throw new Error(`bad IPv4 address ${ip}`);
  return Buffer.from(parts);
}

function checksum(buf: Buffer, initial = 0): number {
  let sum = initial;
  for (let i = 0; i + 1 < buf.length; i += 2) sum += buf.readUInt16BE(i);
  if (buf.length % 2) sum += (buf[buf.length - 1] ?? 0) << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

/** An Ethernet II + IPv4 + UDP frame with valid IP and UDP checksums. */
export function udpFrame(spec: UdpFrameSpec): Buffer {
  const len = spec.frameLength ?? 64;
  if (len < 42 || len > 65535) throw new Error('frameLength must be 42..65535');
  const f = Buffer.alloc(len, spec.fill ?? 0x41);
  macBytes(spec.dstMac).copy(f, 0);
  macBytes(spec.srcMac).copy(f, 6);
  f.writeUInt16BE(0x0800, 12);
  const ip = 14;
  const ipLen = len - 14;
  f.writeUInt8(0x45, ip);
  f.writeUInt8(0, ip + 1);
  f.writeUInt16BE(ipLen, ip + 2);
  f.writeUInt16BE(0, ip + 4);
  f.writeUInt16BE(0x4000, ip + 6); // DF
  f.writeUInt8(spec.ttl ?? 64, ip + 8);
  f.writeUInt8(17, ip + 9);
  f.writeUInt16BE(0, ip + 10);
  ipBytes(spec.srcIp).copy(f, ip + 12);
  ipBytes(spec.dstIp).copy(f, ip + 16);
  f.writeUInt16BE(checksum(f.subarray(ip, ip + 20)), ip + 10);
  const udp = ip + 20;
  const udpLen = ipLen - 20;
  f.writeUInt16BE(spec.srcPort, udp);
  f.writeUInt16BE(spec.dstPort, udp + 2);
  f.writeUInt16BE(udpLen, udp + 4);
  f.writeUInt16BE(0, udp + 6);
  // Pseudo-header sum: src, dst, protocol, UDP length.
  const pseudo = Buffer.alloc(12);
  ipBytes(spec.srcIp).copy(pseudo, 0);
  ipBytes(spec.dstIp).copy(pseudo, 4);
  pseudo.writeUInt16BE(17, 8);
  pseudo.writeUInt16BE(udpLen, 10);
  let pre = 0;
  for (let i = 0; i < 12; i += 2) pre += pseudo.readUInt16BE(i);
  const c = checksum(f.subarray(udp, udp + udpLen), pre);
  f.writeUInt16BE(c === 0 ? 0xffff : c, udp + 6);
  return f;
}
