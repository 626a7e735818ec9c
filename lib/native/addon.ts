// The native addon (@ringtap/native, agent/native), loaded by package name, and the error codes
// everything it throws carries. The operator needs the addon only to compile filters
// (filter.ts); the agent's facade over the rest of it is agent/src/native.ts.
import { createRequire } from 'node:module';

/** Stable error codes carried as `error.code` by everything the addon throws or rejects with. */
export const NativeErrorCode = {
  noSuchInterface: 'ERR_RINGTAP_NO_SUCH_INTERFACE',
  badFilter: 'ERR_RINGTAP_BAD_FILTER',
  netns: 'ERR_RINGTAP_NETNS',
  socket: 'ERR_RINGTAP_SOCKET',
  ring: 'ERR_RINGTAP_RING',
  hwTimestampUnsupported: 'ERR_RINGTAP_HWTSTAMP_UNSUPPORTED',
  unsupportedLinkType: 'ERR_RINGTAP_UNSUPPORTED_LINK_TYPE',
  invalidArgument: 'ERR_RINGTAP_INVALID_ARGUMENT',
  file: 'ERR_RINGTAP_FILE',
  state: 'ERR_RINGTAP_STATE',
  transmit: 'ERR_RINGTAP_TRANSMIT',
  badCaptureFile: 'ERR_RINGTAP_BAD_CAPTURE_FILE',
  netlink: 'ERR_RINGTAP_NETLINK',
  /** No PPP in the kernel: AF_PPPOX unsupported, no /dev/ppp, or no genl family l2tp. */
  kernelLacksPpp: 'ERR_RINGTAP_KERNEL_LACKS_PPP',
  /** PPPIOCBRIDGECHAN answered ENOTTY: the kernel predates it (Linux 5.11). */
  pppBridgeUnsupported: 'ERR_RINGTAP_PPP_BRIDGE_UNSUPPORTED',
  /** EALREADY: a channel is already in a bridge or connected to a unit. */
  pppChannelBusy: 'ERR_RINGTAP_PPP_CHANNEL_BUSY',
  /** ENXIO: the peer channel does not exist in the caller's network namespace. */
  pppNoSuchChannel: 'ERR_RINGTAP_PPP_NO_SUCH_CHANNEL',
} as const;
export type NativeErrorCode = (typeof NativeErrorCode)[keyof typeof NativeErrorCode];

export interface NativeError extends Error {
  code: NativeErrorCode | 'ERR_RINGTAP_INTERNAL';
}

/** Duck-typed: errors made by the addon belong to the main realm (not `instanceof Error` under vm/Jest). */
export function isNativeError(e: unknown, code?: NativeErrorCode): e is NativeError {
  if (typeof e !== 'object' || e === null) return false;
  const c = (e as { code?: unknown }).code;
  return typeof c === 'string' && c.startsWith('ERR_RINGTAP_') && (!code || c === code);
}

let addon: unknown;
/** The addon's exports, loaded once. The caller names the part of its shape it uses. */
export function loadAddon<T>(): T {
  addon ??= createRequire(import.meta.url)('@ringtap/native');
  return addon as T;
}
