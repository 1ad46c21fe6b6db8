#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The host side of the virtio-net guest test (tests/guest/tests/virtio-net.c), started by
run-guest.sh for virtio=net. It listens on a free 127.0.0.1 port (the guest reaches it as
10.0.2.2:PORT through slirp) and picks a second free port for a hostfwd to the guest, writes
"ECHO_PORT FWD_PORT" to --ready, then:
  1. accepts the guest's connection, reads one line, requires "hello from the guest now=NOW",
     echoes it, and waits for the guest to close;
  2. connects to 127.0.0.1:FWD_PORT (forwarded to the guest's listening port), sends
     "ping from the host now=NOW", requires the same line back, and closes.
With --bind ADDR (a host tap's address) the echo server listens there instead of 127.0.0.1,
and with --connect HOST:PORT exchange 2 goes straight to the guest (no hostfwd).
Exits 0 when both exchanges happened as expected, 1 with the reason otherwise.
Python 3 standard library only.
"""

import argparse
import os
import socket
import sys
import time


def read_line(sock, deadline):
    buf = b""
    while not buf.endswith(b"\n"):
        sock.settimeout(max(0.1, deadline - time.monotonic()))
        chunk = sock.recv(256)
        if not chunk:
            break
        buf += chunk
        if len(buf) > 1024:
            break
    return buf


def wait_eof(sock, deadline):
    while time.monotonic() < deadline:
        sock.settimeout(max(0.1, deadline - time.monotonic()))
        if not sock.recv(256):
            return True
    return False


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ready", required=True, help="file to write the two ports to")
    ap.add_argument("--now", required=True, help="the now= the guest was given")
    ap.add_argument("--timeout", type=float, default=120)
    ap.add_argument("--bind", default="127.0.0.1", help="address the echo server listens on")
    ap.add_argument("--connect", help="HOST:PORT of the guest's listener (default: a hostfwd)")
    args = ap.parse_args()
    deadline = time.monotonic() + args.timeout

    lsock = socket.socket()
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind((args.bind, 0))
    lsock.listen(1)
    if args.connect:
        host, _, port = args.connect.rpartition(":")
        target = (host, int(port))
    else:
        target = ("127.0.0.1", free_port())
    fwd = target[1]
    tmp = args.ready + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"{lsock.getsockname()[1]} {fwd}\n")
    os.rename(tmp, args.ready)

    try:
        lsock.settimeout(max(0.1, deadline - time.monotonic()))
        conn, peer = lsock.accept()
        want = f"hello from the guest now={args.now}\n".encode()
        got = read_line(conn, deadline)
        if got != want:
            print(f"net-peer: the guest sent {got!r}, want {want!r}", file=sys.stderr)
            return 1
        conn.sendall(got)
        if not wait_eof(conn, deadline):
            print("net-peer: the guest did not close its connection", file=sys.stderr)
            return 1
        conn.close()
        print(f"net-peer: echoed the guest's line (from {peer[0]}:{peer[1]})")

        line = f"ping from the host now={args.now}\n".encode()
        c = socket.create_connection(target,
                                     timeout=max(0.1, deadline - time.monotonic()))
        c.sendall(line)
        got = read_line(c, deadline)
        if got != line:
            print(f"net-peer: hostfwd echo {got!r}, want {line!r}", file=sys.stderr)
            return 1
        c.shutdown(socket.SHUT_WR)
        if not wait_eof(c, deadline):
            print("net-peer: the guest did not close the hostfwd connection", file=sys.stderr)
            return 1
        c.close()
        print(f"net-peer: the guest echoed the line sent to {target[0]}:{fwd}")
    except OSError as e:
        print(f"net-peer: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
