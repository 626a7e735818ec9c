// libpcap's filter compiler, in process: the operator validates filters with it, the agent
// compiles what it attaches (capture sockets, and tc's cls_bpf programs for mirrors).
import { MAX_SNAP_LENGTH } from '../../crds/src/defaults.js';
import { LINKTYPE_ETHERNET } from '../pcapng/format.js';
import { isNativeError, loadAddon, NativeErrorCode } from './addon.js';

/** One classic BPF instruction (struct sock_filter). */
export interface BpfInsn { code: number; jt: number; jf: number; k: number }

interface FilterAddon {
  compileFilter(text: string, linkType: number, snaplen: number): { instructions: string[] };
  compileFilterProgram(text: string, linkType: number, snaplen: number): BpfInsn[];
}

/** Compiles a filter with libpcap; throws ERR_RINGTAP_BAD_FILTER with libpcap's message. */
export function compileFilter(
  text: string,
  opts: { linkType?: number; snaplen?: number } = {},
): { instructions: string[] } {
  return loadAddon<FilterAddon>().compileFilter(text, opts.linkType ?? LINKTYPE_ETHERNET, opts.snaplen ?? MAX_SNAP_LENGTH);
}

/**
 * Compiles a filter with libpcap to classic BPF instructions (what `tcpdump -ddd` prints, and
 * what tc's `bytecode` takes); throws ERR_RINGTAP_BAD_FILTER with libpcap's message.
 */
export function compileFilterProgram(text: string, opts: { linkType?: number; snaplen?: number } = {}): BpfInsn[] {
  return loadAddon<FilterAddon>().compileFilterProgram(text, opts.linkType ?? LINKTYPE_ETHERNET, opts.snaplen ?? MAX_SNAP_LENGTH);
}

/** libpcap's verdict on a filter (undefined: valid). Any other failure is ours, and thrown. */
export function filterError(filter: string, snapLength: number): string | undefined {
  try {
    compileFilter(filter, { snaplen: snapLength });
    return undefined;
  } catch (err) {
    if (isNativeError(err, NativeErrorCode.badFilter)) return err.message;
    throw err;
  }
}
