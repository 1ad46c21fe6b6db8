#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""test-serial-socket: `--serial unix:PATH` (docs/serial-socket.md) on the demo guest, which
prints its banner, then the RTC time every second, and echoes every byte it receives.

usage: test-serial-socket.py DESKVM_VM DEMO_ELF

Proves: a stale socket file at PATH is replaced; the socket is mode 0600; a client reads the
banner and the echo of what it types; the guest runs on with nobody attached (its clock
output goes on) and a client that comes back is first sent the history (banner, the earlier
echo, the clock lines printed while it was away), then its typing is echoed again; a second
connection while one is attached is closed at once (EOF, no data) and the attached client
keeps working; a second engine asked to serve the same path
refuses (exit 1) without disturbing the first; 'q' ends the guest (exit 0) and the socket file
is removed.
"""
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from deskvm_harness import check, main, require_kvm, wait_for  # noqa: E402

BANNER = b"deskvm demo guest"
CLOCK = re.compile(rb"\r\d\d:\d\d:\d\d")


class Client:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.s.connect(path)
        self.s.setblocking(False)
        self.data = b""
        self.eof = False

    def poll(self):
        while not self.eof:
            try:
                b = self.s.recv(65536)
            except BlockingIOError:
                break
            if not b:
                self.eof = True
            self.data += b
        return self.data

    def wait(self, pred, what, timeout=10):
        wait_for(lambda: pred(self.poll()), timeout,
                 lambda: "%s (the client has %r)" % (what, self.data[-300:]))

    def type(self, text):
        self.s.sendall(text)

    def close(self):
        self.s.close()


def echoed(data, text):
    """text came back after the banner, the clock's rewrites taken out."""
    return text in CLOCK.sub(b"", data.split(BANNER, 1)[-1])


def run():
    require_kvm()
    binary, elf = sys.argv[1], sys.argv[2]
    tmp = tempfile.mkdtemp(prefix="deskvm-it-")
    path = os.path.join(tmp, "serial.sock")
    # A socket file left by a crashed engine: nobody listens on it, so it is replaced.
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(path)
    stale.close()
    stderr = open(os.path.join(tmp, "stderr.log"), "wb")
    proc = subprocess.Popen([binary, "--kernel", elf, "--serial", "unix:" + path],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        session(binary, elf, proc, path, tmp)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        stderr.close()
        shutil.rmtree(tmp, ignore_errors=True)


def session(binary, elf, proc, path, tmp):
    # The engine listens before the guest runs; connect as soon as the socket accepts.
    def connected():
        try:
            return Client(path)
        except (ConnectionRefusedError, FileNotFoundError):
            return None
    a = wait_for(connected, 10, "the serial socket to accept")
    check(stat.S_IMODE(os.stat(path).st_mode) == 0o600,
          "socket mode %o" % stat.S_IMODE(os.stat(path).st_mode))

    a.wait(lambda d: BANNER in d, "the banner")
    a.type(b"abc")
    a.wait(lambda d: echoed(d, b"abc"), "the echo of 'abc'")
    clocks_before = len(CLOCK.findall(a.poll()))
    a.close()

    # Nobody attached: the guest keeps printing its clock and does not block.
    time.sleep(2.5)
    check(proc.poll() is None, "the engine exited with nobody attached: %s" % proc.returncode)

    b = Client(path)
    b.wait(lambda d: echoed(d, b"abc") and len(CLOCK.findall(d)) >= clocks_before + 2,
           "the history: banner, the earlier echo, the clock lines printed meanwhile")
    check(b.data.startswith(BANNER), "history does not start with the banner: %r" % b.data[:80])
    b.type(b"xyz")
    b.wait(lambda d: echoed(d, b"xyz"), "the echo of 'xyz' after reconnecting")

    # One client at a time: a second connection is closed at once, the first keeps working.
    c = Client(path)
    c.wait(lambda d: c.eof, "EOF on the second connection")
    check(c.data == b"", "the refused client was sent %r" % c.data[:80])
    c.close()
    c = b

    # A second engine on the same path refuses; the first keeps serving.
    p = subprocess.run([binary, "--kernel", elf, "--serial", "unix:" + path],
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, timeout=10)
    err = p.stderr.decode("utf-8", "replace")
    check(p.returncode == 1 and "in use" in err and path in err,
          "second engine: status %d, stderr %r" % (p.returncode, err))
    mark = len(c.poll())
    c.type(b"k")
    c.wait(lambda d: b"k" in CLOCK.sub(b"", d[mark:]), "the echo of 'k'")

    # 'q': the guest powers off, the engine exits 0 and removes its socket file.
    c.type(b"q")
    wait_for(lambda: proc.poll() is not None, 10, "the engine to exit after 'q'")
    check(proc.returncode == 0, "exit status %d" % proc.returncode)
    check(not os.path.exists(path), "the socket file is still there after exit")
    c.close()


if __name__ == "__main__":
    main(run)
