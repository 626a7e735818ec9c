#!/usr/bin/env python3
"""An IPA status stream built straight from the upstream layout, independent of hack/ipa-sim.

Written from drivers/net/ipa/ipa_endpoint.c (Linux 6.12): the 32-byte status element read by
ipa_status_extract() (word 0: opcode 7:0, exception 15:8, mask 31:16; word 1: pkt_len 15:0,
source endpoint 20:16 before IPA v5.0 and 23:16 from v5.0, destination endpoint 28:24 before
v5.0 and word 7 bits 23:16 from v5.0; word 3: router rule index 31:22), the walking rule of
ipa_endpoint_status_parse() and ipa_endpoint_status_skip() (an element whose opcode is not
PACKET/DROPPED_PACKET/SUSPENDED_PACKET/PACKET_2ND_PASS, or whose pkt_len is 0, has no replica),
and the padding the hardware applies on AP_LAN_RX (pad_align = ilog2(sizeof(u32)) in every
ipa_data-v*.c: replicas padded to 4 bytes). Exception 0x40 is NAT for IPv4 and
IPV6_CONN_TRACK for IPv6 (enum ipa_status_exception), told apart by the mask's V4 bit.

usage: gen_status.py VERSION OUT.bin  -> prints the expected counts as JSON on stdout.
"""
import json
import struct
import sys

OPCODES = {0x01: "PACKET", 0x02: "NEW_RULE_PACKET", 0x04: "DROPPED_PACKET", 0x08: "SUSPENDED_PACKET",
           0x10: "LOG", 0x20: "DCMP", 0x40: "PACKET_2ND_PASS"}
PACKET_OPCODES = (0x01, 0x04, 0x08, 0x40)
EXCEPTIONS = {0x00: "NONE", 0x01: "DEAGGR", 0x04: "IPTYPE", 0x08: "PACKET_LENGTH", 0x10: "FRAG_RULE_MISS",
              0x20: "SW_FILTER", 0x80: "UC", 0x81: "INVALID_ENDPOINT", 0x88: "HEADER_INSERT", 0xE5: "CHECKSUM"}
MASK_V4 = 1 << 7


def exception_name(exc, ipv6):
    if exc == 0x40:
        return "IPV6_CONN_TRACK" if ipv6 else "NAT"
    return EXCEPTIONS[exc]


def ip_packet(ipv6, total, src, dst):
    """A UDP packet of `total` bytes (at least the headers)."""
    if ipv6:
        total = max(total, 48)
        hdr = struct.pack(">IHBB16s16s", 0x60000000, total - 40, 17, 64,
                          bytes([0xFD, 0] + [0] * 13 + [src]), bytes([0xFD, 1] + [0] * 13 + [dst]))
        udp = struct.pack(">HHHH", 1000 + src, 2000 + dst, total - 40, 0)
    else:
        total = max(total, 28)
        hdr = struct.pack(">BBHHHBBH4s4s", 0x45, 0, total, 7, 0, 64, 17, 0, bytes([10, 0, 0, src]), bytes([10, 1, 0, dst]))
        udp = struct.pack(">HHHH", 1000 + src, 2000 + dst, total - 20, 0)
    return hdr + udp + bytes([0x61]) * (total - len(hdr) - len(udp))


def element(v5, opcode, exc, mask, pkt_len, src, dst, seq):
    w = [0] * 8
    w[0] = opcode | (exc << 8) | (mask << 16)
    if v5:
        w[1] = pkt_len | (src << 16)
        w[7] = dst << 16
    else:
        w[1] = pkt_len | ((src & 0x1F) << 16) | ((dst & 0x1F) << 24)
    w[2] = 0xC0FFEE00 | src  # metadata
    w[3] = (5 << 4) | (9 << 22)  # filter rule 5, router rule 9 (not the 0x3ff miss)
    w[6] = (seq & 0xFF) | ((seq * 3 & 0xFFFFFF) << 8)
    return struct.pack("<8I", *w)


def main():
    version, out = sys.argv[1], sys.argv[2]
    v5 = int(version.split(".")[0]) >= 5
    exp = {"records": 0, "packets": 0, "bytes": 0, "capturedBytes": 0, "truncated": 0, "exceptions": 0,
           "byPair": {}, "byOpcode": {}, "byException": {}}
    parts = []

    def count(table, key, nbytes, truncated=None):
        c = table.setdefault(key, {"records": 0, "bytes": 0} if truncated is None else {"records": 0, "bytes": 0, "truncated": 0})
        c["records"] += 1
        c["bytes"] += nbytes
        if truncated:
            c["truncated"] += 1

    seq = 0
    for n in range(1, 1501):
        ipv6 = n % 3 == 0
        src, dst = (3, 12) if n % 2 else (200 if v5 else 20, 7)
        opcode = PACKET_OPCODES[n % 4]
        exc = (0x00, 0x40, 0x08, 0xE5, 0x00)[n % 5]
        mask = (0 if ipv6 else MASK_V4) | 0x000A
        # Every 7th packet is a replica cut to 100 bytes of a longer one.
        full = ip_packet(ipv6, n + 300 if n % 7 == 0 else n, src, dst)
        replica = full[:n]
        pkt_len = len(replica)
        parts.append(element(v5, opcode, exc, mask, pkt_len, src, dst, seq))
        parts.append(replica + b"\x00" * (-pkt_len % 4))
        seq += 1
        header = 40 if ipv6 else 20
        orig = len(full) if pkt_len >= header else pkt_len
        trunc = orig > pkt_len
        exp["records"] += 1
        exp["packets"] += 1
        exp["bytes"] += orig
        exp["capturedBytes"] += pkt_len
        exp["truncated"] += 1 if trunc else 0
        exp["exceptions"] += 1 if exc else 0
        count(exp["byPair"], "%d>%d" % (src, dst), orig, trunc)
        count(exp["byOpcode"], OPCODES[opcode], orig)
        count(exp["byException"], exception_name(exc, ipv6), orig)
        # Status-only elements between packets: no replica follows, whatever pkt_len claims.
        if n % 50 == 0:
            for op, claim in ((0x02, 64), (0x10, 1500), (0x20, 3), (0x01, 0), (0x04, 0)):
                parts.append(element(v5, op, 0, MASK_V4, claim, 1, 3, seq))
                seq += 1
                exp["records"] += 1
                count(exp["byPair"], "1>3", 0, False)
                count(exp["byOpcode"], OPCODES[op], 0)
                count(exp["byException"], "NONE", 0)
    with open(out, "wb") as f:
        f.write(b"".join(parts))
    json.dump(exp, sys.stdout)


main()
