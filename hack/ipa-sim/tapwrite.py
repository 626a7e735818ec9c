#!/usr/bin/env python3
"""Writes frames into a TAP device: what a network device carrying the IPA monitor stream would
deliver to the kernel. Attaches to the (persistent or new) TAP named argv[1] with TUNSETIFF
(IFF_TAP | IFF_NO_PI, linux/if_tun.h) and writes each frame read from stdin, framed as a
little-endian u32 length followed by the frame. One write() is one frame received on the
device. Prints the number of frames written."""
import fcntl
import os
import struct
import sys

TUNSETIFF = 0x400454CA
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000

fd = os.open("/dev/net/tun", os.O_RDWR)
fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", sys.argv[1].encode(), IFF_TAP | IFF_NO_PI))
inp = sys.stdin.buffer
n = 0
while True:
    h = inp.read(4)
    if len(h) < 4:
        break
    (length,) = struct.unpack("<I", h)
    frame = inp.read(length)
    if len(frame) < length:
        break
    os.write(fd, frame)
    n += 1
os.close(fd)
print(n)
