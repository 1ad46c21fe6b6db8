#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""test-virtio-gpu-display: the virtio-gpu guest (tests/guest/tests/virtio-gpu.c,
interactive=1) draws a 320x200 pattern through virtio-gpu resources, transfers and flushes;
this test checks every pixel of it through QMP screendump on deskvm (--display virtio-gpu),
then sends a VNC key and a pointer move, which must arrive in the guest as evdev events from
the virtio keyboard and tablet. When qemu-system-x86_64 is installed, QEMU's
-device virtio-gpu-pci must show the same picture.

usage: test-virtio-gpu-display.py DESKVM_VM VIRTIO_GPU_ELF
"""
import os
import shutil
import socket
import struct
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from deskvm_harness import Engine, QemuGuest, check, free_port, main, require_kvm  # noqa: E402
import rfb_client  # noqa: E402
from screen import read_ppm  # noqa: E402

W, H = 320, 200


def expected():
    """tests/guest/tests/virtio-gpu.c pattern() after the second (partial) transfer."""
    out = bytearray()
    for y in range(H):
        for x in range(W):
            if 40 <= x < 120 and 30 <= y < 80:
                v = 0xff8000
            elif 200 <= x < 260 and 100 <= y < 150:
                v = 0xffffff
            else:
                v = (x * 255 // (W - 1)) << 16 | (y * 255 // (H - 1)) << 8 | ((x ^ y) & 0xff)
            out += bytes(((v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff))
    return bytes(out)


def first_difference(got, want):
    for i in range(0, min(len(got), len(want)), 3):
        if got[i:i + 3] != want[i:i + 3]:
            return "pixel (%d, %d) is %s, want %s" % ((i // 3) % W, (i // 3) // W,
                                                      got[i:i + 3].hex(), want[i:i + 3].hex())
    return "sizes %d and %d" % (len(got), len(want))


def screendump(c, tmp, name):
    path = os.path.join(tmp, name + ".ppm")
    check(c.cmd("screendump", {"filename": path, "format": "ppm"}) == {}, "screendump")
    return read_ppm(path)


class Rfb:
    """Just enough of an RFB client to send input (no security, shared)."""

    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10)
        check(self.recv(12).startswith(b"RFB 003."), "no RFB greeting")
        self.s.sendall(b"RFB 003.008\n")
        types = self.recv(self.recv(1)[0])
        check(1 in types, "security types %r offer no None" % list(types))
        self.s.sendall(b"\x01")
        check(self.recv(4) == b"\0\0\0\0", "security result")
        self.s.sendall(b"\x01")
        self.w, self.h = struct.unpack(">HH", self.recv(4))
        self.recv(16)
        self.recv(struct.unpack(">I", self.recv(4))[0])

    def recv(self, n):
        b = b""
        while len(b) < n:
            chunk = self.s.recv(n - len(b))
            check(chunk, "VNC server closed the connection")
            b += chunk
        return b

    def key(self, keysym, down):
        self.s.sendall(struct.pack(">BBxxI", 4, 1 if down else 0, keysym))

    def pointer(self, x, y, buttons=0):
        self.s.sendall(struct.pack(">BBHH", 5, buttons, x, y))


def check_vnc_events(c, port):
    """A client connects, finishes the handshake and leaves: QEMU's three events, each with
    the server's and this client's address."""
    server = {"host": "127.0.0.1", "service": str(port), "family": "ipv4", "websocket": False,
              "auth": "none"}
    rfb = rfb_client.Rfb(port)
    client = {"host": "127.0.0.1", "service": str(rfb.s.getsockname()[1]), "family": "ipv4",
              "websocket": False}
    for name in ("VNC_CONNECTED", "VNC_INITIALIZED"):
        ev = c.event(name, timeout=20)
        check(ev["data"] == {"server": server, "client": client},
              "%s: %r, want server %r client %r" % (name, ev["data"], server, client))
    rfb.close()
    ev = c.event("VNC_DISCONNECTED", timeout=20)
    check(ev["data"] == {"server": server, "client": client}, "VNC_DISCONNECTED: %r" % ev["data"])
    print("QMP VNC_CONNECTED, VNC_INITIALIZED, VNC_DISCONNECTED with server and client info")


def check_set_desktop_size(port):
    """SetDesktopSize becomes the virtio-gpu's preferred mode: accepted (status 0) within
    its limits, refused (status 3, invalid layout) beyond the EDID limit of 4095, answered
    with the current size (the guest changes mode, or not)."""
    rfb = rfb_client.Rfb(port, encodings=(rfb_client.ENC_RAW, rfb_client.ENC_EXTENDED_DESKTOP_SIZE))
    rfb.grab()
    rfb.set_desktop_size(800, 600)
    r = rfb.layout_reply()
    check(r == (1, 0, W, H), "SetDesktopSize 800x600: reply %r, want (1, 0, %d, %d)" % (r, W, H))
    rfb.set_desktop_size(5000, 600)
    r = rfb.layout_reply()
    check(r == (1, 3, W, H), "SetDesktopSize 5000x600: reply %r, want (1, 3, %d, %d)" % (r, W, H))
    rfb.close()
    print("SetDesktopSize: 800x600 accepted, 5000x600 refused (invalid layout)")


def check_cursor(port):
    """The guest's cursor (a 32x32 resource, hot spot (3, 5), moved to (100, 60)) reaches a
    client as a RichCursor shape (64x64, transparent beyond the resource) and a PointerPos."""
    rfb = rfb_client.Rfb(port, encodings=(rfb_client.ENC_RAW, rfb_client.ENC_RICH_CURSOR,
                                          rfb_client.ENC_POINTER_POS))
    rfb.request(False)
    rfb.read_update()
    end = time.monotonic() + 20
    while rfb.cursor is None or rfb.pointer_pos != (100, 60):
        check(time.monotonic() < end, "cursor %r at %r" % (rfb.cursor and rfb.cursor[:4],
                                                            rfb.pointer_pos))
        rfb.request(True)
        rfb.read_update()
    hx, hy, w, h, px, mask = rfb.cursor
    check((hx, hy, w, h) == (3, 5, 64, 64), "cursor shape %r" % ((hx, hy, w, h),))
    for y in range(h):
        for x in range(w):
            opaque = x < 32 and y < 32 and x < y
            bit = bool(mask[y * 8 + x // 8] & (0x80 >> (x % 8)))
            check(bit == opaque, "cursor mask at (%d, %d) is %d" % (x, y, bit))
            if opaque:
                got = px[(y * w + x) * 4:(y * w + x) * 4 + 3]
                want = bytes((0x40, y * 8, x * 8))  # B, G, R
                check(got == want, "cursor (%d, %d) is %s, want %s" % (x, y, got.hex(), want.hex()))
    rfb.close()
    print("cursor: 64x64 RichCursor with the guest's image and hot spot, PointerPos (100, 60)")




def qemu_screen(elf, tmp):
    q = QemuGuest.start(elf, tmp, ["virtio-gpu-pci", "virtio-keyboard-pci", "virtio-tablet-pci"],
                        "interactive=1")
    if q is None:
        return None
    try:
        q.wait_serial("input ready", 60)
        return screendump(q.c, tmp, "qemu")
    finally:
        q.cleanup()


def run():
    require_kvm()
    binary, elf = sys.argv[1:3]
    port = free_port(5960, 6009)
    vm = Engine(binary, ["--kernel", elf, "--append", "interactive=1", "--display", "virtio-gpu",
                         "--vnc", "127.0.0.1:%d" % port])
    tmp = tempfile.mkdtemp(prefix="deskvm-virtio-gpu-")
    try:
        c = vm.qmp()
        vm.wait_serial("input ready", timeout=60)
        w, h, got = screendump(c, tmp, "deskvm")
        check((w, h) == (W, H), "screen is %dx%d, want %dx%d" % (w, h, W, H))
        want = expected()
        check(got == want, "deskvm screen: " + first_difference(got, want))
        print("deskvm: every pixel of the %dx%d pattern matches" % (W, H))
        check_vnc_events(c, port)
        check_set_desktop_size(port)
        check_cursor(port)

        rfb = Rfb(port)
        check((rfb.w, rfb.h) == (W, H), "VNC desktop %dx%d" % (rfb.w, rfb.h))
        rfb.pointer(160, 100)  # absolute: 0..319 -> 0..32767
        for line in ("evdev tablet 3 0 %d" % (160 * 32767 // 319),
                     "evdev tablet 3 1 %d" % (100 * 32767 // 199), "evdev tablet 0 0 0"):
            vm.wait_serial(line, timeout=30)
        # QMP abs events go to the tablet too, unscaled (0..0x7fff is its range), with the
        # button; the guest reads on until the key below.
        check(c.cmd("input-send-event", {"events": [
            {"type": "abs", "data": {"axis": "x", "value": 1234}},
            {"type": "abs", "data": {"axis": "y", "value": 30000}},
            {"type": "btn", "data": {"down": True, "button": "left"}}]}) == {},
            "input-send-event")
        for line in ("evdev tablet 1 272 1", "evdev tablet 3 0 1234", "evdev tablet 3 1 30000"):
            vm.wait_serial(line, timeout=30)
        rfb.key(0x61, True)  # 'a': KEY_A = 30
        rfb.key(0x61, False)
        for line in ("evdev kbd 1 30 1", "evdev kbd 0 0 0", "evdev kbd 1 30 0"):
            vm.wait_serial(line, timeout=30)
        rc = vm.wait_exit(30)
        check(rc == 33, "exit status %d, want 33 (guest PASS): %s" % (rc, vm.stderr()))
        print("VNC key and pointer, QMP abs and btn arrived as evdev events")

        q = qemu_screen(elf, tmp)
        if q is None:
            print("QEMU: not installed, no cross-check")
        else:
            check(q[:2] == (W, H), "QEMU's screen is %dx%d" % q[:2])
            check(q[2] == got, "QEMU and deskvm differ: " + first_difference(q[2], got))
            print("QEMU -device virtio-gpu-pci shows the same picture")
    finally:
        vm.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


main(run)
