#!/usr/bin/env python3
"""A collector for mirrored frames over GRE: gretap (Ethernet over GRE) and ERSPAN type II and
III. Independent of ringtap and of the kernel's decapsulation: a raw IP socket of protocol 47
reads each GRE packet, the GRE and ERSPAN headers are parsed here field by field (RFC 2784,
RFC 2890; ERSPAN: draft-foschiano-erspan), and the inner Ethernet frame is dissected by scapy.

  gre_rx.py --family 4|6 --count N --sentinel-port P --timeout S

Prints `ready` once listening, then one JSON list: a record per GRE packet. Stops after the
sentinel (an inner UDP datagram to port P) once N packets are in, or at the timeout.
"""
import argparse
import json
import socket
import struct

from scapy.layers.inet import ICMP, IP, UDP
from scapy.layers.l2 import Ether

ETH_P_TEB = 0x6558
ETH_P_ERSPAN = 0x88BE  # type II
ETH_P_ERSPAN2 = 0x22EB  # type III


def parse_gre(data):
    flags, proto = struct.unpack('!HH', data[:4])
    off = 4
    rec = {'greFlags': flags, 'greProto': proto, 'greVersion': flags & 7}
    if flags & 0x8000:  # C: checksum and reserved
        off += 4
    if flags & 0x2000:  # K
        rec['key'] = struct.unpack('!I', data[off:off + 4])[0]
        off += 4
    if flags & 0x1000:  # S
        rec['seq'] = struct.unpack('!I', data[off:off + 4])[0]
        off += 4
    body = data[off:]
    if proto == ETH_P_ERSPAN:
        w0, w1 = struct.unpack('!II', body[:8])
        rec['erspan'] = {'ver': w0 >> 28, 'vlan': (w0 >> 16) & 0xFFF, 'cos': (w0 >> 13) & 7, 'en': (w0 >> 11) & 3,
                         't': (w0 >> 10) & 1, 'session': w0 & 0x3FF, 'index': w1 & 0xFFFFF}
        body = body[8:]
    elif proto == ETH_P_ERSPAN2:
        w0, ts, w2 = struct.unpack('!III', body[:12])
        rec['erspan'] = {'ver': w0 >> 28, 'vlan': (w0 >> 16) & 0xFFF, 'cos': (w0 >> 13) & 7, 'bso': (w0 >> 11) & 3,
                         't': (w0 >> 10) & 1, 'session': w0 & 0x3FF, 'sgt': w2 >> 16, 'p': (w2 >> 15) & 1,
                         'ft': (w2 >> 10) & 0x1F, 'hwid': (w2 >> 4) & 0x3F, 'dir': (w2 >> 3) & 1, 'gra': (w2 >> 1) & 3, 'o': w2 & 1}
        body = body[12 + (8 if w2 & 1 else 0):]
    return rec, body


def dissect_inner(frame):
    e = Ether(frame)
    out = {'len': len(frame), 'src': e.src, 'dst': e.dst, 'type': e.type}
    if IP in e:
        out['ipSrc'], out['ipDst'], out['ipLen'] = e[IP].src, e[IP].dst, e[IP].len
        if ICMP in e:
            out['icmp'] = e[ICMP].type
        if UDP in e:
            out['udpDport'] = e[UDP].dport
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--family', type=int, choices=[4, 6], default=4)
    ap.add_argument('--count', type=int, required=True)
    ap.add_argument('--sentinel-port', type=int, required=True)
    ap.add_argument('--timeout', type=float, default=60)
    a = ap.parse_args()
    af = socket.AF_INET if a.family == 4 else socket.AF_INET6
    s = socket.socket(af, socket.SOCK_RAW, socket.IPPROTO_GRE)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.settimeout(a.timeout)
    print('ready', flush=True)
    got, sentinel = [], False
    try:
        while not (sentinel and len(got) >= a.count):
            data, addr = s.recvfrom(65535)
            outer = {'outerSrc': addr[0], 'size': len(data)}
            if a.family == 4:  # an IPv4 raw socket hands over the IP header too
                ihl = (data[0] & 0xF) * 4
                outer['outerDst'] = socket.inet_ntoa(data[16:20])
                outer['df'] = bool(struct.unpack('!H', data[6:8])[0] & 0x4000)
                data = data[ihl:]
            rec, inner = parse_gre(data)
            rec.update(outer)
            rec['inner'] = dissect_inner(inner) if inner else None
            got.append(rec)
            if rec['inner'] and rec['inner'].get('udpDport') == a.sentinel_port:
                sentinel = True
    except socket.timeout:
        pass
    print(json.dumps(got), flush=True)


if __name__ == '__main__':
    main()
