#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""test-vnc-slow-client: a VNC client that stops reading must not hold up anyone else.

The display-bench guest (mode=fps progress=1) animates 1280x800x32 and prints "f N" on the
serial port after every frame (a port write: it needs the engine's device lock). A raw client
finishes the handshake with a 4 KiB receive buffer, asks for three full raw frames (12 MiB)
and never reads again. While it is stuck and still connected, a second client must receive
new frames and the guest must keep printing; later the server drops the stuck client
(docs/display.md, "Slow clients") and the good client goes on. The frame rates seen are
printed for docs/display.md, not asserted.

usage: test-vnc-slow-client.py DESKVM_VM DISPLAY_BENCH_ELF
"""
import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from deskvm_harness import Engine, check, free_port, main, require_kvm  # noqa: E402
import rfb_client  # noqa: E402

W, H = 1280, 800
FRAMES = 5  # new frames the good client must see while the stuck one is connected
WINDOW = 3  # seconds of frame rates to print (not asserted)


def stuck_client(port, requests=3):
    """Handshake, raw 32 bpp, `requests` full-screen update requests, then never read."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(10)
    s.connect(("127.0.0.1", port))

    def recv(n):
        b = b""
        while len(b) < n:
            chunk = s.recv(n - len(b))
            check(chunk, "the server closed the stuck client during its handshake")
            b += chunk
        return b

    check(recv(12).startswith(b"RFB 003."), "no RFB greeting")
    s.sendall(b"RFB 003.008\n")
    check(1 in recv(recv(1)[0]), "no None security type")
    s.sendall(b"\x01")
    check(recv(4) == b"\0\0\0\0", "security result")
    s.sendall(b"\x01")
    w, h = struct.unpack(">HH", recv(4))
    check((w, h) == (W, H), "desktop %dx%d, want %dx%d" % (w, h, W, H))
    recv(16)
    recv(struct.unpack(">I", recv(4))[0])
    s.sendall(struct.pack(">B3xBBBBHHHBBB3x", 0, 32, 24, 0, 1, 255, 255, 255, 16, 8, 0))
    s.sendall(struct.pack(">BxHi", 2, 1, 0))
    for _ in range(requests):
        s.sendall(struct.pack(">BBHHHH", 3, 0, 0, 0, W, H))
    return s


def guest_frames(vm):
    return vm.serial().count("\nf ")


def frame_rate(good, vm):
    """Frames per second the good client sees and the guest draws, over WINDOW seconds."""
    t0, g0, seen = time.monotonic(), guest_frames(vm), set()
    while time.monotonic() - t0 < WINDOW:
        good.request(True)
        good.read_update(store=False)
        if good.origin is not None:
            seen.add(good.origin[:3])
    t = time.monotonic() - t0
    return len(seen) / t, (guest_frames(vm) - g0) / t


def run():
    require_kvm()
    binary, elf = sys.argv[1:3]
    port = free_port(5900, 5949)
    vm = Engine(binary, ["--kernel", elf, "--memory", "256", "--append",
                         "mode=fps seconds=900 progress=1", "--vnc", "127.0.0.1:%d" % port])
    try:
        c = vm.qmp()
        vm.wait_serial("\nf 2", timeout=60)
        good = rfb_client.Rfb(port, timeout=60)
        good.request(False)
        good.read_update(store=False)
        alone = frame_rate(good, vm)
        print("no stuck client: the good client got %.1f frames/s, the guest drew %.1f/s" % alone)
        bad = stuck_client(port)
        bad_port = str(bad.getsockname()[1])
        t0, g0 = time.monotonic(), guest_frames(vm)
        seen = set()
        # at least FRAMES new frames; a few seconds of them for the figures in docs/display.md
        while len(seen) < FRAMES or time.monotonic() - t0 < WINDOW:
            good.request(True)
            try:
                good.read_update(store=False)
            except (socket.timeout, rfb_client.RfbError) as e:
                check(False, "the good client got %d new frames, then %s" % (len(seen), e))
            if good.origin is not None:
                seen.add(good.origin[:3])
        t1, g1 = time.monotonic(), guest_frames(vm)
        print("while a client was stuck: the good client got %d frames in %.1f s (%.1f/s), "
              "the guest drew %d (%.1f/s)" % (len(seen), t1 - t0, len(seen) / (t1 - t0), g1 - g0,
                                              (g1 - g0) / (t1 - t0)))
        clients = [cl["service"] for cl in c.cmd("query-vnc")["clients"]]
        check(bad_port in clients,
              "the good client's %d frames arrived only after the stuck client was dropped "
              "(clients %r)" % (FRAMES, clients))
        check(g1 - g0 >= FRAMES, "the guest drew %d frames meanwhile" % (g1 - g0))
        # The stuck client goes (VNC_DISCONNECTED with its port); the good one stays.
        end = time.monotonic() + 90
        while True:
            ev = c.event("VNC_DISCONNECTED", timeout=max(1, end - time.monotonic()))
            check(ev["data"]["client"]["service"] != str(good.s.getsockname()[1]),
                  "the good client was dropped")
            if ev["data"]["client"]["service"] == bad_port:
                break
        print("the stuck client was dropped after %.1f s" % (time.monotonic() - t0))
        before = good.origin
        for _ in range(50):
            good.request(True)
            good.read_update(store=False)
            if good.origin != before:
                break
        check(good.origin != before, "the good client got no new frame after the drop")
        bad.close()
        good.close()
    finally:
        vm.cleanup()


main(run)
