#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""test-vga-display: the vga guest (tests/guest/tests/vga.c, interactive=1) draws text at
0xB8000 and later a 640x480x32 VBE pattern; this test checks every pixel of both screens
through QMP screendump (PNG and PPM), through its own RFB client over --vnc, and through
vncsnapshot (a real VNC client, JPEG output, compared with a tolerance) when installed. VNC
key and pointer events must reach the guest as PS/2 set 1 scancodes and a mouse packet. When
qemu-system-x86_64 is installed, QEMU's -device VGA must show the same VBE screen.

usage: test-vga-display.py DESKVM_VM VGA_ELF VGA_FONT_C
"""
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from deskvm_harness import Engine, Qmp, check, main, require_kvm, wait_for  # noqa: E402
from screen import load_font, read_png  # noqa: E402

W, H = 640, 480


# ---- images --------------------------------------------------------------------------------

def read_ppm(path):
    data = open(path, "rb").read()
    m = re.match(rb"P6\s+(\d+)\s+(\d+)\s+(\d+)\s", data)
    check(m and m.group(3) == b"255", "%s: not an 8-bit binary PPM" % path)
    w, h = int(m.group(1)), int(m.group(2))
    return w, h, data[m.end():m.end() + w * h * 3]


def screendump(c, tmp, name):
    png, ppm = os.path.join(tmp, name + ".png"), os.path.join(tmp, name + ".ppm")
    check(c.cmd("screendump", {"filename": png}) == {}, "screendump png")
    check(c.cmd("screendump", {"filename": ppm, "format": "ppm"}) == {}, "screendump ppm")
    a, b = read_png(png), read_ppm(ppm)
    check(a == b, "the PNG and PPM screendumps differ")
    return a


def first_difference(w, got, want):
    for i in range(0, len(want), 3):
        if got[i:i + 3] != want[i:i + 3]:
            return "pixel (%d, %d) is %s, want %s" % ((i // 3) % w, (i // 3) // w,
                                                      got[i:i + 3].hex(), want[i:i + 3].hex())
    return "sizes %d and %d" % (len(got), len(want))


# ---- what the guest draws ------------------------------------------------------------------

EGA = [0x000000, 0x0000aa, 0x00aa00, 0x00aaaa, 0xaa0000, 0xaa00aa, 0xaa5500, 0xaaaaaa,
       0x555555, 0x5555ff, 0x55ff55, 0x55ffff, 0xff5555, 0xff55ff, 0xffff55, 0xffffff]


def expected_text(font):
    cells = {}
    for row, col, s, attr in ((0, 0, "deskvm VGA text mode", 0x1f),
                              (2, 4, "0123456789 ABCDEF", 0x4e), (24, 79, "Z", 0x2f)):
        for i, ch in enumerate(s):
            cells[(row, col + i)] = (ord(ch), attr)
    img = bytearray(640 * 400 * 3)
    for (row, col), (ch, attr) in cells.items():
        fg, bg = EGA[attr & 15], EGA[(attr >> 4) & 7]
        for y in range(16):
            for x in range(8):
                rgb = fg if font[ch][y] & (0x80 >> x) else bg
                i = ((row * 16 + y) * 640 + col * 8 + x) * 3
                img[i:i + 3] = rgb.to_bytes(3, "big")
    return bytes(img)


def expected_vbe():
    img = bytearray(W * H * 3)
    for y in range(H):
        for x in range(W):
            if 100 <= x < 200 and 100 <= y < 150:
                v = 0xffffff
            else:
                v = (x * 255 // (W - 1)) << 16 | (y * 255 // (H - 1)) << 8 | ((x ^ y) & 0xff)
            img[(y * W + x) * 3:(y * W + x) * 3 + 3] = v.to_bytes(3, "big")
    return bytes(img)


# ---- a small RFB 3.8 client ----------------------------------------------------------------

class Rfb:
    def __init__(self, port):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10)
        check(self.recv(12).startswith(b"RFB 003."), "no RFB greeting")
        self.s.sendall(b"RFB 003.008\n")
        n = self.recv(1)[0]
        types = self.recv(n)
        check(1 in types, "security types %r offer no None" % list(types))
        self.s.sendall(b"\x01")
        check(self.recv(4) == b"\0\0\0\0", "security result")
        self.s.sendall(b"\x01")  # shared
        self.w, self.h = struct.unpack(">HH", self.recv(4))
        self.recv(16)
        self.recv(struct.unpack(">I", self.recv(4))[0])
        # 32 bpp little endian true colour, red at bit 16: bytes B, G, R, X.
        self.s.sendall(struct.pack(">B3xBBBBHHHBBB3x", 0, 32, 24, 0, 1, 255, 255, 255, 16, 8, 0))
        self.s.sendall(struct.pack(">BxHi", 2, 1, 0))  # raw only

    def recv(self, n):
        b = b""
        while len(b) < n:
            chunk = self.s.recv(n - len(b))
            check(chunk, "VNC server closed the connection")
            b += chunk
        return b

    def grab(self):
        """A full (non-incremental) update as RGB bytes."""
        self.s.sendall(struct.pack(">BBHHHH", 3, 0, 0, 0, self.w, self.h))
        img = bytearray(self.w * self.h * 3)
        while True:
            t = self.recv(1)[0]
            if t == 0:
                break
            check(t in (1, 2), "unexpected server message %d" % t)
            if t == 1:  # colour map: skip
                _, _, n = struct.unpack(">xHH", self.recv(5))
                self.recv(6 * n)
        _, nrect = struct.unpack(">BH", self.recv(3))
        for _ in range(nrect):
            x, y, w, h, enc = struct.unpack(">HHHHi", self.recv(12))
            check(enc == 0, "encoding %d, asked for raw" % enc)
            px = self.recv(w * h * 4)
            for j in range(h):
                for i in range(w):
                    b, g, r = px[(j * w + i) * 4:(j * w + i) * 4 + 3]
                    o = ((y + j) * self.w + x + i) * 3
                    img[o:o + 3] = bytes((r, g, b))
        return bytes(img)

    def key(self, keysym, down):
        self.s.sendall(struct.pack(">BBxxI", 4, 1 if down else 0, keysym))

    def pointer(self, x, y, buttons=0):
        self.s.sendall(struct.pack(">BBHH", 5, buttons, x, y))

    def close(self):
        self.s.close()


def free_port():
    for port in range(5950, 6000):
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            s.close()
    raise RuntimeError("no free port in 5950-5999")


def vncsnapshot_matches(port, tmp, w, want):
    """Grab with vncsnapshot (JPEG) and compare with a tolerance; None when not installed."""
    if not shutil.which("vncsnapshot") or not shutil.which("djpeg"):
        return None
    jpg = os.path.join(tmp, "snap.jpg")
    r = subprocess.run(["vncsnapshot", "-quiet", "-nocursor", "-quality", "100",
                        "-encodings", "raw", "127.0.0.1::%d" % port, jpg],
                       capture_output=True, timeout=30)
    check(r.returncode == 0 and os.path.exists(jpg), "vncsnapshot failed: %r" % r.stderr[-300:])
    ppm = os.path.join(tmp, "snap.ppm")
    with open(ppm, "wb") as f:
        subprocess.run(["djpeg", "-pnm", jpg], stdout=f, check=True)
    sw, sh, got = read_ppm(ppm)
    check((sw, sh) == (w, len(want) // 3 // w), "vncsnapshot size %dx%d" % (sw, sh))
    err = sum(abs(a - b) for a, b in zip(got, want)) / len(want)
    check(err < 3.0, "vncsnapshot differs from the screendump by %.2f per channel" % err)
    return err


# ---- QEMU cross-check ----------------------------------------------------------------------

def qemu_vbe_screen(elf, tmp):
    qemu = shutil.which("qemu-system-x86_64")
    if not qemu:
        return None
    qmp_path, serial = os.path.join(tmp, "qemu-qmp.sock"), os.path.join(tmp, "qemu-serial.log")
    p = subprocess.Popen([qemu, "-M", "q35", "-accel", "tcg", "-nodefaults", "-no-user-config",
                          "-display", "none", "-device", "VGA", "-m", "256",
                          "-serial", "file:" + serial, "-qmp", "unix:%s,server=on,wait=off" % qmp_path,
                          "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
                          "-kernel", elf, "-append", "interactive=1"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        log = lambda: open(serial, errors="replace").read() if os.path.exists(serial) else ""
        wait_for(lambda: os.path.exists(qmp_path), 20, "QEMU's QMP socket")
        c = Qmp(qmp_path)
        c.negotiate()
        wait_for(lambda: "vga: text ready" in log(), 60, lambda: "QEMU text stage: " + log())
        for key in ("a",):
            c.cmd("send-key", {"keys": [{"type": "qcode", "data": key}]})
        wait_for(lambda: "vga: vbe ready" in log(), 60, lambda: "QEMU VBE stage: " + log())
        png = os.path.join(tmp, "qemu-vbe.png")
        c.cmd("screendump", {"filename": png, "format": "png"})
        return read_png(png)
    finally:
        p.kill()
        p.wait()


def run():
    require_kvm()
    binary, elf, font_c = sys.argv[1:4]
    font = load_font(font_c)
    port = free_port()
    vm = Engine(binary, ["--kernel", elf, "--append", "interactive=1",
                         "--vnc", "127.0.0.1:%d" % port])
    tmp = tempfile.mkdtemp(prefix="deskvm-vga-")
    try:
        c = vm.qmp()
        info = c.cmd("query-vnc")
        check(info["enabled"] and info["service"] == str(port) and info["auth"] == "none",
              "query-vnc %r" % info)
        vm.wait_serial("vga: text ready", timeout=60)
        w, h, text = screendump(c, tmp, "text")
        check((w, h) == (640, 400), "text screen is %dx%d" % (w, h))
        want = expected_text(font)
        check(text == want, "text screen: " + first_difference(w, text, want))

        rfb = Rfb(port)
        check((rfb.w, rfb.h) == (640, 400), "VNC desktop %dx%d" % (rfb.w, rfb.h))
        got = rfb.grab()
        check(got == text, "VNC text screen: " + first_difference(w, got, text))
        check(len(c.cmd("query-vnc")["clients"]) == 1, "query-vnc lists no client")
        err = vncsnapshot_matches(port, tmp, w, text)
        print("vncsnapshot: %s" % ("not installed" if err is None else "mean error %.3f per channel" % err))

        rfb.key(0x61, True)  # 'a': set 1 make 1e, break 9e (the guest turned translation on)
        rfb.key(0x61, False)
        vm.wait_serial("vga: key 1e", timeout=30)
        vm.wait_serial("vga: key 9e", timeout=30)
        vm.wait_serial("vga: vbe ready", timeout=60)
        w, h, vbe = screendump(c, tmp, "vbe")
        check((w, h) == (W, H), "VBE screen is %dx%d" % (w, h))
        want = expected_vbe()
        check(vbe == want, "VBE screen: " + first_difference(w, vbe, want))
        rfb.close()
        rfb = Rfb(port)
        check((rfb.w, rfb.h) == (W, H), "VNC desktop after the mode set %dx%d" % (rfb.w, rfb.h))
        got = rfb.grab()
        check(got == vbe, "VNC VBE screen: " + first_difference(w, got, vbe))
        err = vncsnapshot_matches(port, tmp, w, vbe)
        print("vncsnapshot (VBE): %s" % ("not installed" if err is None else "%.3f" % err))

        # The first pointer event moves (10, 5) from the origin: PS/2 counts y upwards.
        rfb.pointer(10, 5)
        for b in ("28", "0a", "fb"):
            vm.wait_serial("vga: mouse %s (aux)" % b, timeout=30)
        vm.wait_serial("vga: done", timeout=30)
        rc = vm.wait_exit(30)
        check(rc == 33, "exit status %d, want 33 (guest PASS): %s" % (rc, vm.stderr()))
        rfb.close()

        q = qemu_vbe_screen(elf, tmp)
        if q is None:
            print("QEMU: not installed, no cross-check")
        else:
            check(q[:2] == (W, H), "QEMU's VBE screen is %dx%d" % q[:2])
            check(q[2] == vbe, "QEMU and deskvm differ: " + first_difference(W, vbe, q[2]))
            print("QEMU -device VGA shows the same VBE screen")
    finally:
        vm.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


main(run)
