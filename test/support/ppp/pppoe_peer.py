#!/usr/bin/python3
"""PPPoE session peer for the relay tests, built on scapy (Debian python3-scapy), not ringtap code.

send: builds Ether/PPPoE frames from a JSON spec and sends them on an interface.
recv: sniffs PPPoE session frames (0x8864) and prints scapy's dissection as JSON: --count frames,
    or what came within --timeout seconds (counted from 'ready') if fewer.

Spec entries (send): {"src", "dst", "sid", "proto", "payload" (hex), optional "version", "type",
"code", "len" (PPPoE LENGTH override), "truncate" (cut the frame to this many bytes)}.
The PPP protocol is written as two bytes (no protocol-field compression), as PPPoE carries it.
"""
import argparse
import json
import socket
import struct
import sys

from scapy.all import AsyncSniffer, Ether, PPPoE, Raw, conf  # noqa: E402

conf.verb = 0


def build(e):
    ppp = struct.pack('!H', e['proto']) + bytes.fromhex(e.get('payload', ''))
    pppoe = PPPoE(version=e.get('version', 1), type=e.get('type', 1), code=e.get('code', 0),
                  sessionid=e['sid'], len=e.get('len'))
    frame = bytes(Ether(src=e['src'], dst=e['dst'], type=0x8864) / pppoe / Raw(ppp))
    if 'truncate' in e:
        frame = frame[:e['truncate']]
    return frame


def cmd_send(a):
    with open(a.spec) as f:
        spec = json.load(f)
    frames = [build(e) for e in spec]
    # scapy built the bytes; a plain packet socket sends them as they are (even truncated ones).
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((a.iface, 0))
    for fr in frames:
        s.send(fr)
    s.close()
    print(json.dumps({'sent': len(frames)}))


def dissect(p):
    eth = p[Ether]
    out = {'src': eth.src, 'dst': eth.dst, 'type': eth.type, 'frameLen': len(bytes(p))}
    if PPPoE in p:
        s = p[PPPoE]
        out.update(version=s.version, pppoeType=s.type, code=s.code, sid=s.sessionid, len=s.len)
        body = bytes(s.payload)
        out['proto'] = struct.unpack('!H', body[:2])[0] if len(body) >= 2 else None
        out['payload'] = body[2:s.len].hex()
        out['trailing'] = len(body) - s.len
    return out


def cmd_recv(a):
    sn = AsyncSniffer(iface=a.iface, count=a.count, timeout=a.timeout,
                      lfilter=lambda p: Ether in p and p[Ether].type == 0x8864 and p[Ether].src != a.ignore_src,
                      # Called once the packet socket is open (scapy sets 'running' before it opens
                      # it): only then may the test send. The timeout counts from here.
                      started_callback=lambda: print('ready', flush=True))
    sn.start()
    sn.join()
    res = sn.results or []
    print(json.dumps([dissect(p) for p in res]), flush=True)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest='cmd', required=True)
    s = sub.add_parser('send')
    s.add_argument('--iface', required=True)
    s.add_argument('--spec', required=True)
    r = sub.add_parser('recv')
    r.add_argument('--iface', required=True)
    r.add_argument('--count', type=int, default=0)
    r.add_argument('--timeout', type=float, default=10)
    r.add_argument('--ignore-src', default='')
    a = ap.parse_args()
    {'send': cmd_send, 'recv': cmd_recv}[a.cmd](a)
    sys.stdout.flush()


if __name__ == '__main__':
    main()
