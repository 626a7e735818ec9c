// Header decoders against hand-built byte vectors. Every expected value comes from the upstream
// layouts: drivers/net/ipa/ipa_endpoint.c (the 32-byte status element, ipa_status_extract() and
// its IPA v5.0 field moves) and qcom_ipa_monitor.h of Alex Elder's ipa_monitor series (struct
// qcom_dplv2_header, struct qcom_dplv3_header). Bytes are little-endian words.
import { describe, expect, test } from '@jest/globals';
import {
  decodeDplV2, decodeDplV3, decodeStatus, dplFormatFor, exceptionKey, exceptionName, keyedExceptionName, formatHeader, ipOriginalLength, isPacketHeader, isV5,
  maskNames, opcodeName, parseIPAVersion, ROUTER_RULE_MISS,
} from '../../../agent/src/drivers/ipa/decode.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

// The status element, IPA < 5.0. Word by word:
//   w0 01 08 89 01  opcode PACKET, exception PACKET_LENGTH, mask 0x0189 = FRAG_PROCESS|ROUTE_PROCESS|V4|CKSUM_PROCESS
//   w1 54 00 13 0c  pkt_len 84, src w1[20:16] = 0x13, dst w1[28:24] = 0x0c
//   w2 07 be ad de  metadata 0xdeadbe07 (QMAP mux_id 7 in the low byte)
//   w3 5d 55 f7 ff  filter local [0], global [2], retain [3]; filter rule [13:4] 0x155; router local [14];
//                   router hash [15] 0; UCP [16]; router table [21:17] 0x1b; router rule [31:22] 0x3ff (miss)
//   w4 69 a4 ef be  NAT hit [0]; NAT index [13:1] 0x1234; NAT type [15:14] 2; tag bits 0-15 0xbeef
//   w5 fe ca 23 01  tag bits 16-31 0xcafe, 32-47 0x0123
//   w6 42 ef cd ab  sequence [7:0] 0x42; time of day [31:8] 0xabcdef
//   w7 4b 9d 00 00  header local [0]; header offset [10:1] 0x2a5; frag hit [11]; frag rule [15:12] 9
const STATUS_V4 = hex('01088901 5400130c 07beadde 5d55f7ff 69a4efbe fe ca 23 01 42efcdab 4b9d0000');

// The status element, IPA >= 5.0: the same element with the v5.0 moves.
//   w1 54 00 c8 08  src w1[23:16] = 200 (8 bits); w1[27] router local = 1, w1[28] router hash = 0
//   w3 5d 55 e9 ff  router table w3[21:14] = 0xa5 (filter bits and rule index as above)
//   w7 4b 9d e1 80  dst w7[23:16] = 225; UCP w7[31] = 1
const STATUS_V5 = hex('01088901 5400c808 07beadde 5d55e9ff 69a4efbe fe ca 23 01 42efcdab 4b9de180');

describe('status element, IPA v3.x-v4.x', () => {
  test('every field of a hand-built element', () => {
    const h = decodeStatus(STATUS_V4, 0, false);
    expect(h).toEqual({
      format: 'status', v5: false, opcode: 0x01, exception: 0x08, mask: 0x0189, pktLen: 84, srcEndpoint: 0x13, dstEndpoint: 0x0c,
      metadata: 0xdeadbe07, filterLocal: true, filterHash: false, filterGlobal: true, retainHeader: true, filterRuleIndex: 0x155,
      routerLocal: true, routerHash: false, ucp: true, routerTable: 0x1b, routerRuleIndex: ROUTER_RULE_MISS, natHit: true,
      natIndex: 0x1234, natType: 2, tag: 0x0123cafebeef, seq: 0x42, tod: 0xabcdef, headerLocal: true, headerOffset: 0x2a5,
      fragHit: true, fragRule: 9,
    });
    expect(opcodeName(h.opcode)).toBe('PACKET');
    expect(exceptionName(h.exception)).toBe('PACKET_LENGTH');
    expect(maskNames(h.mask)).toEqual(['FRAG_PROCESS', 'ROUTE_PROCESS', 'V4', 'CKSUM_PROCESS']);
    expect(isPacketHeader(h)).toBe(true);
  });

  test('endpoints are 5 bits: w1[23:21] and w1[31:29] are not part of them', () => {
    const b = Buffer.from(STATUS_V4);
    b[6] = 0xff;
    b[7] = 0xff;
    const h = decodeStatus(b, 0, false);
    expect([h.srcEndpoint, h.dstEndpoint]).toEqual([31, 31]);
  });

  test('decodes at an offset inside a larger buffer', () => {
    const b = Buffer.concat([Buffer.alloc(7, 0xee), STATUS_V4]);
    expect(decodeStatus(b, 7, false)).toEqual(decodeStatus(STATUS_V4, 0, false));
  });
});

describe('status element, IPA v5.0 field moves', () => {
  test('src 8 bits in w1[23:16], dst in w7[23:16], router local/hash in w1[27]/w1[28], table w3[21:14], UCP w7[31]', () => {
    const h = decodeStatus(STATUS_V5, 0, true);
    expect(h).toMatchObject({
      v5: true, srcEndpoint: 200, dstEndpoint: 225, routerLocal: true, routerHash: false, routerTable: 0xa5, ucp: true,
      // unchanged by the move
      opcode: 0x01, exception: 0x08, mask: 0x0189, pktLen: 84, metadata: 0xdeadbe07, filterRuleIndex: 0x155,
      routerRuleIndex: 0x3ff, tag: 0x0123cafebeef, seq: 0x42, tod: 0xabcdef, headerOffset: 0x2a5, fragRule: 9,
    });
  });

  test('the same v4 bytes read as v5 land in the moved fields', () => {
    const h = decodeStatus(STATUS_V4, 0, true);
    expect(h.srcEndpoint).toBe(0x13); // w1[23:16]
    expect(h.dstEndpoint).toBe(0x00); // w7[23:16] is zero in the v4 element
    expect(h.routerLocal).toBe(true); // w1[27] = bit 3 of byte 7 (0x0c)
    expect(h.routerHash).toBe(false); // w1[28]
    expect(h.routerTable).toBe(0xdd); // w3[21:14] of 0xfff7555d
    expect(h.ucp).toBe(false); // w7[31]
  });

  test('version strings select the layout and the DPL header', () => {
    expect(parseIPAVersion('3.5.1')).toEqual([3, 5]);
    expect(['4.11', '4.9', '3.0'].map(isV5)).toEqual([false, false, false]);
    expect(['5.0', '5.1', '5.5'].map(isV5)).toEqual([true, true, true]);
    expect(['3.0', '4.2', '4.5', '4.11', '5.0'].map(dplFormatFor)).toEqual(['dplv2', 'dplv2', 'dplv3', 'dplv3', 'dplv3']);
  });
});

describe('DPL monitor headers', () => {
  // struct qcom_dplv2_header, 32 B:
  //   0  flags0   10 00 00 00              opcode 0x10 LOG
  //   4  pkt_len  54 00                    84
  //   6  flags1   e7 ff                    src endpoint bits 4:0 = 7 (upper bits ignored)
  //   8  metadata 78 56 34 12
  //  12  reserved 00 00 00 00
  //  16  flags2   34 92 d5 c4 b3 a2 91 00  TOD bits 63:15 = 0x123456789ab (bits 14:0 = 0x1234, not TOD)
  //  24  flags3   9a 00 00 00 00 00 00 00  sequence bits 7:0 = 0x9a
  const V2 = hex('10000000 5400e7ff 78563412 00000000 3492d5c4b3a29100 9a00000000000000');
  test('DPLv2', () => {
    expect(decodeDplV2(V2, 0)).toEqual({ format: 'dplv2', opcode: 0x10, pktLen: 84, srcEndpoint: 7, metadata: 0x12345678, seq: 0x9a, tod: 0x123456789ab });
  });

  // struct qcom_dplv3_header, 16 B:
  //   0 opcode 10; 1 seq_num 9a; 2 flags0 f4 ff (src bits 4:0 = 20); 4 metadata 78 56 34 12;
  //   8 flags1 0f 0e 0d 0c 0b 0a dc 05: TOD bits 47:0 = 0x0a0b0c0d0e0f, pkt_len bits 63:48 = 0x05dc (1500)
  const V3 = hex('109af4ff 78563412 0f0e0d0c0b0adc05');
  test('DPLv3', () => {
    const h = decodeDplV3(V3, 0);
    expect(h).toEqual({ format: 'dplv3', opcode: 0x10, seq: 0x9a, srcEndpoint: 20, metadata: 0x12345678, tod: 0x0a0b0c0d0e0f, pktLen: 1500 });
    expect(isPacketHeader(h)).toBe(true);
    expect(formatHeader(h)).toBe('ipa dplv3 op=LOG(0x10) src=20 len=1500 meta=0x12345678 seq=154 tod=11042563100175');
  });
});

describe('names and lengths', () => {
  test('opcodes, exceptions and mask bits from upstream; unknown values are named, not dropped', () => {
    expect([0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40].map(opcodeName)).toEqual([
      'PACKET', 'NEW_RULE_PACKET', 'DROPPED_PACKET', 'SUSPENDED_PACKET', 'LOG', 'DCMP', 'PACKET_2ND_PASS',
    ]);
    expect([0, 0x01, 0x04, 0x08, 0x10, 0x20, 0x40, 0x80, 0x81, 0x88, 0xe5].map((x) => exceptionName(x))).toEqual([
      'NONE', 'DEAGGR', 'IPTYPE', 'PACKET_LENGTH', 'FRAG_RULE_MISS', 'SW_FILTER', 'NAT', 'UC', 'INVALID_ENDPOINT', 'HEADER_INSERT', 'CHECKSUM',
    ]);
    // 0x40: NAT for IPv4, IPV6_CONN_TRACK for IPv6 (the status mask's V4 bit tells them apart).
    expect([exceptionName(0x40, false), exceptionName(0x40, true), exceptionName(0x08, true)]).toEqual(['NAT', 'IPV6_CONN_TRACK', 'PACKET_LENGTH']);
    expect([exceptionKey(0x40, 0x80), exceptionKey(0x40, 0), exceptionKey(0x08, 0)].map(keyedExceptionName)).toEqual(['NAT', 'IPV6_CONN_TRACK', 'PACKET_LENGTH']);
    expect(opcodeName(0x80)).toBe('UNKNOWN_0x80');
    expect(maskNames(0xffff)).toHaveLength(16);
    expect(maskNames(1 << 15)).toEqual(['BYTE_LIMIT']);
  });

  test('the driver packet opcodes are PACKET, DROPPED, SUSPENDED and 2ND_PASS', () => {
    const b = Buffer.from(STATUS_V4);
    const packetOps = [0x01, 0x02, 0x04, 0x08, 0x10, 0x20, 0x40].filter((op) => {
      b[0] = op;
      return isPacketHeader(decodeStatus(b, 0, false));
    });
    expect(packetOps).toEqual([0x01, 0x04, 0x08, 0x40]);
  });

  test('original length from an intact IP header (the example payloads of the RFC thread)', () => {
    expect(ipOriginalLength(hex('45000054' + '00'.repeat(16)))).toBe(0x54);
    expect(ipOriginalLength(hex('60000000 0040 3a40' + '00'.repeat(32)))).toBe(40 + 0x40);
    expect(ipOriginalLength(hex('4500'))).toBeUndefined();
    expect(ipOriginalLength(hex('ff' + '00'.repeat(40)))).toBeUndefined();
  });

  test('the text form carries the decoded fields', () => {
    expect(formatHeader(decodeStatus(STATUS_V4, 0, false))).toBe(
      'ipa status op=PACKET(0x01) exc=PACKET_LENGTH(0x08) src=19 dst=12 len=84 mask=0x0189[FRAG_PROCESS,ROUTE_PROCESS,V4,CKSUM_PROCESS] ' +
        'meta=0xdeadbe07 filt=341LG rt=27/missL ucp nat=4660/2 tag=0x123cafebeef seq=66 tod=11259375 frag=9 hdr=677L',
    );
  });
});
