#!/usr/bin/python3
"""L2TPv2 (UDP) peer for the relay tests (an LNS stand-in), built on scapy, not ringtap code.

recv: binds a UDP socket, receives datagrams and prints scapy's L2TP dissection as JSON: --count
    datagrams, or what came before --timeout seconds passed without one (an idle timeout).
send: builds L2TP datagrams from a JSON spec with scapy and sends them from the bound socket.

Spec entries (send): {"hdr" (scapy L2TP flag names, e.g. "length" or "length+sequence"),
"version", "tunnel", "session", "ns", "nr", "offset", "len" (Length override), "ff03" (bool),
"proto", "payload" (hex)} or {"raw": hex} for arbitrary bytes.
"""
import argparse
import json
import socket
import struct
import sys

from scapy.all import HDLC, L2TP, Raw, conf  # noqa: E402

conf.verb = 0


def addr(s):
    host, port = s.rsplit(':', 1)
    return host, int(port)


def build(e):
    if 'raw' in e:
        return bytes.fromhex(e['raw'])
    ppp = struct.pack('!H', e['proto']) + bytes.fromhex(e.get('payload', ''))
    l2 = L2TP(hdr=e.get('hdr', 'length'), version=e.get('version', 2), len=e.get('len'),
              tunnel_id=e['tunnel'], session_id=e['session'], ns=e.get('ns', 0), nr=e.get('nr', 0),
              offset=e.get('offset', 0))
    body = (HDLC(address=0xff, control=0x03) / Raw(ppp)) if e.get('ff03', True) else Raw(ppp)
    return bytes(l2 / body)


def dissect(data):
    p = L2TP(data)
    out = {'size': len(data), 'flags': struct.unpack('!H', data[:2])[0], 'hdr': int(p.hdr),
           'version': p.version, 'len': p.len, 'tunnel': p.tunnel_id, 'session': p.session_id}
    body = bytes(p.payload)
    if body[:1] == b'\xff':
        h = HDLC(body)
        out['address'], out['control'] = h.address, h.control
        body = bytes(h.payload)
    else:
        out['address'] = out['control'] = None
    out['proto'] = struct.unpack('!H', body[:2])[0] if len(body) >= 2 else None
    out['payload'] = body[2:].hex()
    return out


def cmd_recv(a):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(addr(a.bind))
    s.settimeout(a.timeout)
    print('ready', flush=True)
    got = []
    try:
        while a.count == 0 or len(got) < a.count:
            data = s.recv(65535)
            got.append(dissect(data))
    except socket.timeout:
        pass
    print(json.dumps(got), flush=True)


def cmd_send(a):
    with open(a.spec) as f:
        spec = json.load(f)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(addr(a.bind))
    to = addr(a.to)
    for e in spec:
        s.sendto(build(e), to)
    print(json.dumps({'sent': len(spec)}))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest='cmd', required=True)
    r = sub.add_parser('recv')
    r.add_argument('--bind', required=True)
    r.add_argument('--count', type=int, default=0)
    r.add_argument('--timeout', type=float, default=5)
    s = sub.add_parser('send')
    s.add_argument('--bind', required=True)
    s.add_argument('--to', required=True)
    s.add_argument('--spec', required=True)
    a = ap.parse_args()
    {'send': cmd_send, 'recv': cmd_recv}[a.cmd](a)
    sys.stdout.flush()


if __name__ == '__main__':
    main()
