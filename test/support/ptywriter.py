#!/usr/bin/env python3
"""A pseudo-terminal as a test character device: the slave (/dev/pts/N) is a real character
device that a reader opens by path; bytes written into the master come out of it.

    python3 ptywriter.py STREAM_FILE [PIECE_BYTES]

Opens a pty, puts its line discipline in raw mode (as cfmakeraw(3): no echo, no canonical
lines, no signal, flow-control, CR/NL or parity processing, 8-bit bytes, VMIN 1), prints the
slave's path on stdout, then waits for a line on stdin and writes STREAM_FILE into the master
in pieces (default 777 bytes, so headers split across reads). Writes block while the slave's
queue is full, so the reader's pace is the writer's: nothing is dropped. Prints "written" when
done and holds both ends open until stdin closes, so the slave never hangs up under its reader.
"""
import os
import pty
import sys
import termios


def make_raw(fd):
    iflag, oflag, cflag, lflag, ispeed, ospeed, cc = termios.tcgetattr(fd)
    iflag &= ~(termios.IGNBRK | termios.BRKINT | termios.IGNPAR | termios.PARMRK | termios.INPCK | termios.ISTRIP
               | termios.INLCR | termios.IGNCR | termios.ICRNL | termios.IXON | termios.IXANY | termios.IXOFF
               | termios.IUCLC | termios.IMAXBEL | getattr(termios, 'IUTF8', 0))  # IUTF8: Python >= 3.12
    oflag &= ~termios.OPOST
    cflag &= ~(termios.CSIZE | termios.PARENB)
    cflag |= termios.CS8 | termios.CREAD
    lflag &= ~(termios.ECHO | termios.ECHOE | termios.ECHOK | termios.ECHONL | termios.ICANON | termios.IEXTEN
               | termios.ISIG | termios.NOFLSH | termios.TOSTOP)
    cc[termios.VMIN] = 1
    cc[termios.VTIME] = 0
    termios.tcsetattr(fd, termios.TCSANOW, [iflag, oflag, cflag, lflag, ispeed, ospeed, cc])


def main():
    stream = open(sys.argv[1], 'rb').read()
    piece = int(sys.argv[2]) if len(sys.argv) > 2 else 777
    master, slave = pty.openpty()
    make_raw(slave)
    print(os.ttyname(slave), flush=True)
    if not sys.stdin.readline():
        return
    for off in range(0, len(stream), piece):
        view = memoryview(stream)[off:off + piece]
        while view:
            view = view[os.write(master, view):]
    print('written', flush=True)
    sys.stdin.read()  # until the test closes stdin (or kills this process)
    os.close(slave)
    os.close(master)


if __name__ == '__main__':
    main()
