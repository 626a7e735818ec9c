#!/usr/bin/python3
"""PPP channel operations straight on the kernel (ppp_generic, pppoe), for the kernel-bridge tests:
independent of ringtap's code. Prints one JSON object; errors as errno names.

hold IFACE SID PEERMAC [--unit]: opens a PPPoE session socket, prints {"channel", "unit"} and keeps
    it open until stdin closes. --unit also connects the channel to a new PPP unit (as pppd does).
bridge CHAN TO: PPPIOCATTCHAN CHAN, PPPIOCBRIDGECHAN TO -> {"errno"}
unbridge CHAN:  PPPIOCATTCHAN CHAN, PPPIOCUNBRIDGECHAN -> {"errno"}
unit CHAN:      PPPIOCATTCHAN CHAN, then PPPIOCCONNECT it to a new unit -> {"errno"}
Ioctl numbers from include/uapi/linux/ppp-ioctl.h (generic _IOC encoding, as on x86).
"""
import ctypes
import errno
import fcntl
import json
import os
import socket
import struct
import sys


def _ioc(d, nr, size):
    return (d << 30) | (size << 16) | (ord('t') << 8) | nr


PPPIOCGCHAN = _ioc(2, 55, 4)
PPPIOCATTCHAN = _ioc(1, 56, 4)
PPPIOCCONNECT = _ioc(1, 58, 4)
PPPIOCNEWUNIT = _ioc(3, 62, 4)
PPPIOCBRIDGECHAN = _ioc(1, 53, 4)
PPPIOCUNBRIDGECHAN = _ioc(0, 52, 0)
AF_PPPOX, PX_PROTO_OE = 24, 0

libc = ctypes.CDLL(None, use_errno=True)


def ioctl_int(fd, req, value=0):
    buf = bytearray(struct.pack('i', value))
    fcntl.ioctl(fd, req, buf, True)
    return struct.unpack('i', buf)[0]


def pppoe_session(iface, sid, mac):
    s = socket.socket(AF_PPPOX, socket.SOCK_STREAM, PX_PROTO_OE)
    # struct sockaddr_pppox, __packed: family, protocol, then sid (BE), remote MAC, device name.
    addr = struct.pack('=HI', AF_PPPOX, PX_PROTO_OE) + struct.pack('!H', sid) + bytes.fromhex(mac.replace(':', '')) + iface.encode().ljust(16, b'\0')
    buf = ctypes.create_string_buffer(addr, len(addr))
    if libc.connect(s.fileno(), buf, len(addr)) != 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return s


def attached(chan):
    fd = os.open('/dev/ppp', os.O_RDWR)
    ioctl_int(fd, PPPIOCATTCHAN, chan)
    return fd


def result(fn):
    try:
        fn()
        return {'errno': None}
    except OSError as e:
        return {'errno': errno.errorcode.get(e.errno, str(e.errno))}


def new_unit(chan_fd):
    unit_fd = os.open('/dev/ppp', os.O_RDWR)
    unit = ioctl_int(unit_fd, PPPIOCNEWUNIT, -1)
    ioctl_int(chan_fd, PPPIOCCONNECT, unit)
    return unit_fd, unit


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == 'hold':
        s = pppoe_session(args[0], int(args[1], 0), args[2])
        chan = ioctl_int(s.fileno(), PPPIOCGCHAN)
        out = {'channel': chan, 'unit': None}
        if '--unit' in args:
            chan_fd = attached(chan)
            _, out['unit'] = new_unit(chan_fd)
        print(json.dumps(out), flush=True)
        sys.stdin.read()
        return
    if cmd == 'bridge':
        out = result(lambda: ioctl_int(attached(int(args[0])), PPPIOCBRIDGECHAN, int(args[1])))
    elif cmd == 'unbridge':
        out = result(lambda: fcntl.ioctl(attached(int(args[0])), PPPIOCUNBRIDGECHAN))
    elif cmd == 'unit':
        out = result(lambda: new_unit(attached(int(args[0]))))
    else:
        raise SystemExit(f'unknown command {cmd}')
    print(json.dumps(out))


if __name__ == '__main__':
    main()
