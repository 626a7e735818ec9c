// pcapng and pcap on-disk constants (pcapng: draft-ietf-opsawg-pcapng; pcap: draft-ietf-opsawg-pcap),
// shared by the reader and the writer.
export { MAX_SNAP_LENGTH as MAX_SNAPLEN } from '../../crds/src/defaults.js';

export const LINKTYPE_ETHERNET = 1;

/** An Interface Statistics Block's counters; times in ns since the epoch. */
export interface StatisticsCounters {
  tsNs: bigint;
  startNs?: bigint;
  endNs?: bigint;
  /** isb_ifrecv, isb_ifdrop, isb_filteraccept, isb_osdrop, isb_usrdeliv. */
  ifRecv?: bigint;
  ifDrop?: bigint;
  filterAccept?: bigint;
  osDrop?: bigint;
  usrDeliv?: bigint;
}

export const BT_SHB = 0x0a0d0d0a;
export const BT_IDB = 0x00000001;
export const BT_OPB = 0x00000002; // obsolete Packet Block
export const BT_SPB = 0x00000003;
export const BT_ISB = 0x00000005;
export const BT_EPB = 0x00000006;
export const BT_NRB = 0x00000004;
/** How the opt_comment of a ringtap notice begins (see encodeNotice). */
export const NOTICE_PREFIX = 'ringtap notice: ';
export const BYTE_ORDER_MAGIC = 0x1a2b3c4d;

export const OPT_ENDOFOPT = 0;
export const OPT_COMMENT = 1;
export const SHB_USERAPPL = 4;
export const IF_NAME = 2;
export const IF_DESCRIPTION = 3;
export const IF_TSRESOL = 9;
export const IF_FCSLEN = 13;
export const IF_TSOFFSET = 14;
/** Custom options that may be copied into another file (string, binary); 19372/19373 may not. */
export const OPT_CUSTOM_STR_COPY = 2988;
export const OPT_CUSTOM_BIN_COPY = 2989;
/** epb_flags; the obsolete Packet Block's pack_flags has the same code and layout. */
export const EPB_FLAGS = 2;
export const ISB_STARTTIME = 2;
export const ISB_ENDTIME = 3;
export const ISB_IFRECV = 4;
export const ISB_IFDROP = 5;
export const ISB_FILTERACCEPT = 6;
export const ISB_OSDROP = 7;
export const ISB_USRDELIV = 8;

export const PCAP_MAGIC_US = 0xa1b2c3d4;
export const PCAP_MAGIC_NS = 0xa1b23c4d;
/** Alexey Kuznetzov's patched libpcap: microseconds, and 8 more bytes per record header (ifindex, protocol, pkt_type, pad). */
export const PCAP_MAGIC_MODIFIED = 0xa1b2cd34;
