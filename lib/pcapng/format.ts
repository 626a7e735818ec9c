// pcapng and pcap on-disk constants (pcapng: draft-ietf-opsawg-pcapng; pcap: draft-ietf-opsawg-pcap),
// shared by the reader and the writer.
export { MAX_SNAP_LENGTH as MAX_SNAPLEN } from '../../crds/src/defaults.js';

export const LINKTYPE_ETHERNET = 1;

export const BT_SHB = 0x0a0d0d0a;
export const BT_IDB = 0x00000001;
export const BT_OPB = 0x00000002; // obsolete Packet Block
export const BT_SPB = 0x00000003;
export const BT_ISB = 0x00000005;
export const BT_EPB = 0x00000006;
export const BYTE_ORDER_MAGIC = 0x1a2b3c4d;

export const OPT_ENDOFOPT = 0;
export const IF_NAME = 2;
export const IF_DESCRIPTION = 3;
export const IF_TSRESOL = 9;
export const IF_TSOFFSET = 14;
export const EPB_FLAGS = 2;

export const PCAP_MAGIC_US = 0xa1b2c3d4;
export const PCAP_MAGIC_NS = 0xa1b23c4d;
