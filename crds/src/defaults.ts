// Numbers of the contract that more than one process needs, each defined once.

/** The largest snap length libpcap accepts (MAXIMUM_SNAPLEN in libpcap's pcap-int.h). */
export const MAX_SNAP_LENGTH = 262144;
/** The snap length when a spec names none: whole packets. */
export const DEFAULT_SNAP_LENGTH = MAX_SNAP_LENGTH;

/** VXLAN's IANA port (RFC 7348 section 5). */
export const VXLAN_DEFAULT_PORT = 4789;
/** L2TP's IANA port (RFC 2661 section 8.1, RFC 3931 section 4.1.2.1). */
export const L2TP_DEFAULT_PORT = 1701;

/**
 * The VXLAN network identifier a PortMirror uses between its source nodes and the node of its
 * collector pod: the first 24 bits of its UID. The operator writes it into the source nodes'
 * NodeTasks; the collector node's agent derives it to open the receiving device.
 */
export function mirrorVni(parentUid: string): number {
  return parseInt(parentUid.replaceAll('-', '').slice(0, 6), 16) & 0xffffff;
}
