#!/usr/bin/env python3
"""Counts the packets of a capture file through libpcap itself (pcap_open_offline and
pcap_next_ex via ctypes): a libpcap-based reader other than tcpdump. Prints
"<packets> <link type> <sum of caplen>", or libpcap's error on stderr with exit status 1."""
import ctypes
import ctypes.util
import sys

lib = ctypes.CDLL(ctypes.util.find_library("pcap") or "libpcap.so.0.8")
lib.pcap_open_offline.restype = ctypes.c_void_p
lib.pcap_open_offline.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
lib.pcap_next_ex.argtypes = [ctypes.c_void_p, ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.c_void_p)]
lib.pcap_datalink.argtypes = [ctypes.c_void_p]
lib.pcap_geterr.restype = ctypes.c_char_p
lib.pcap_geterr.argtypes = [ctypes.c_void_p]
lib.pcap_close.argtypes = [ctypes.c_void_p]


class PktHdr(ctypes.Structure):
    _fields_ = [("tv_sec", ctypes.c_long), ("tv_usec", ctypes.c_long), ("caplen", ctypes.c_uint32), ("len", ctypes.c_uint32)]


err = ctypes.create_string_buffer(256)
p = lib.pcap_open_offline(sys.argv[1].encode(), err)
if not p:
    sys.stderr.write(err.value.decode() + "\n")
    sys.exit(1)
hdr, data = ctypes.c_void_p(), ctypes.c_void_p()
n = caplen = 0
while True:
    r = lib.pcap_next_ex(p, ctypes.byref(hdr), ctypes.byref(data))
    if r == 1:
        n += 1
        caplen += ctypes.cast(hdr, ctypes.POINTER(PktHdr)).contents.caplen
    elif r == -2:
        break
    else:
        sys.stderr.write(lib.pcap_geterr(p).decode() + "\n")
        sys.exit(1)
print(n, lib.pcap_datalink(p), caplen)
lib.pcap_close(p)
