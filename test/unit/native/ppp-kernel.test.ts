// Kernel PPP bridge (PPPIOCBRIDGECHAN) through the native addon, on this host's kernel. On a
// kernel without PPP (like this project's CI machine) the bridge must fail with the stable
// ERR_RINGTAP_KERNEL_LACKS_PPP and a message that says so, leaving no fd behind; the errno
// mapping is checked on any kernel. Forwarding, error paths and counters on a kernel with PPP:
// test/guest/ppp-kernel-bridge.test.ts (a stock Debian kernel in a qemu guest).
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';

import { isNativeError, NativeErrorCode, PppKernelBridge, pppKernelError, type PppRelayOptions } from '../../../agent/src/native.js';
import { createNamespace, destroyAll, ip, type Namespace } from '../../support/netns.js';
import { countFds } from './helpers.js';

const LACKS = 'kernel lacks PPP (CONFIG_PPP/PPPOE/PPPOL2TP)';

/** True when this kernel can bridge PPP channels (AF_PPPOX registered and /dev/ppp present). */
function kernelHasPpp(): boolean {
  const protocols = readFileSync('/proc/net/protocols', 'utf8');
  return existsSync('/dev/ppp') && /^PPPOL2TP|^PPPoE/m.test(protocols);
}
const HAS_PPP = kernelHasPpp();

const codeOf = (fn: () => unknown): { code?: string; message?: string } => {
  try {
    fn();
  } catch (e) {
    return isNativeError(e) ? { code: e.code, message: e.message } : { message: String(e) };
  }
  return {};
};

let ns: Namespace;
let a = '';
let b = '';
beforeAll(() => {
  ns = createNamespace('ppk');
  const tag = (process.pid % 100000).toString(36);
  a = `ka${tag}`;
  b = `kb${tag}`;
  ip('link', 'add', a, 'netns', ns.name, 'type', 'veth', 'peer', 'name', b, 'netns', ns.name);
  ip('-n', ns.name, 'link', 'set', a, 'up');
  ip('-n', ns.name, 'link', 'set', b, 'up');
  ip('-n', ns.name, 'addr', 'add', '10.98.0.1/30', 'dev', a);
  ip('-n', ns.name, 'addr', 'add', '10.98.0.2/30', 'dev', b);
});
afterAll(() => destroyAll());

const pppoe = (iface: string, sid: number) => ({ type: 'pppoe' as const, interface: iface, netns: ns.path, sessionId: sid, peerMac: '02:00:00:00:00:01' });
const l2tp = { type: 'l2tp' as const, netns: '', localAddress: '10.98.0.1', localPort: 1701, peerAddress: '10.98.0.2', peerPort: 1701, tunnelId: 1, sessionId: 2, peerTunnelId: 3, peerSessionId: 4 };

describe('PppKernelBridge errors', () => {
  test('errno of each step maps to a stable code with a clear message', () => {
    expect(pppKernelError('socket(AF_PPPOX, PX_PROTO_OE)', 97 /* EAFNOSUPPORT */)).toEqual({
      code: NativeErrorCode.kernelLacksPpp, message: `${LACKS}: socket(AF_PPPOX, PX_PROTO_OE): Address family not supported by protocol`,
    });
    expect(pppKernelError('PPPIOCBRIDGECHAN 1 -> 2', 25 /* ENOTTY */)).toMatchObject({ code: NativeErrorCode.pppBridgeUnsupported, message: expect.stringMatching(/predates PPPIOCBRIDGECHAN \(Linux 5\.11\)/) });
    expect(pppKernelError('PPPIOCBRIDGECHAN 1 -> 2', 114 /* EALREADY */)).toMatchObject({ code: NativeErrorCode.pppChannelBusy, message: expect.stringMatching(/already part of a bridge or connected to a unit/) });
    expect(pppKernelError('PPPIOCBRIDGECHAN 1 -> 99', 6 /* ENXIO */)).toMatchObject({ code: NativeErrorCode.pppNoSuchChannel, message: expect.stringMatching(/does not exist in this network namespace.*1 -> 99/) });
    expect(pppKernelError('x', 5 /* EIO */)).toMatchObject({ code: NativeErrorCode.socket });
  });

  test('both sessions must be in one network namespace, and it must exist', () => {
    expect(codeOf(() => new PppKernelBridge({ a: pppoe(a, 1), b: l2tp })).code).toBe(NativeErrorCode.invalidArgument);
    const gone = '/run/netns/rt-does-not-exist';
    expect(codeOf(() => new PppKernelBridge({ a: { ...pppoe(a, 1), netns: gone }, b: { ...pppoe(b, 2), netns: gone } })).code).toBe(NativeErrorCode.netns);
  });

  (HAS_PPP ? test.skip : test)('on a kernel without PPP: ERR_RINGTAP_KERNEL_LACKS_PPP, nothing left open', () => {
    const fds = countFds();
    for (const opts of [
      { a: pppoe(a, 1), b: pppoe(b, 2) },
      { a: pppoe(a, 1), b: { ...l2tp, netns: ns.path } },
      { a: { ...l2tp, netns: ns.path }, b: { ...l2tp, netns: ns.path, localPort: 1702, tunnelId: 5 } },
    ] satisfies PppRelayOptions[]) {
      const e = codeOf(() => new PppKernelBridge(opts));
      expect(e.code).toBe(NativeErrorCode.kernelLacksPpp);
      expect(e.message).toContain(LACKS);
    }
    expect(countFds()).toBe(fds);
    // The L2TP tunnel socket was closed again: its port is free.
    expect(execFileSync('ip', ['netns', 'exec', ns.name, 'ss', '-H', '-u', '-a', '-n'], { encoding: 'utf8' })).not.toContain(':1701');
  });
});
