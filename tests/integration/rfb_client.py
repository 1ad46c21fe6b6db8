# SPDX-License-Identifier: GPL-2.0-or-later
"""A small RFB 3.8 client (raw encoding, 32 bpp BGRX) for the display tests and bench/display.py.

It keeps a copy of the framebuffer, applies raw rectangles, and follows the server's desktop
size changes (DesktopSize -223 and ExtendedDesktopSize -308 pseudo-encodings) without
reconnecting. Errors raise RfbError.
"""
import socket
import struct
import time

ENC_RAW = 0
ENC_DESKTOP_SIZE = -223
ENC_EXTENDED_DESKTOP_SIZE = -308
ENC_RICH_CURSOR = -239
ENC_POINTER_POS = -232


class RfbError(Exception):
    pass


class Rfb:
    def __init__(self, port, encodings=(ENC_RAW,), host="127.0.0.1", timeout=10):
        self.s = socket.create_connection((host, port), timeout=timeout)
        self.s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        greeting = self.recv(12)
        if not greeting.startswith(b"RFB 003."):
            raise RfbError("no RFB greeting: %r" % greeting)
        self.s.sendall(b"RFB 003.008\n")
        n = self.recv(1)[0]
        types = self.recv(n)
        if 1 not in types:
            raise RfbError("security types %r offer no None" % list(types))
        self.s.sendall(b"\x01")
        if self.recv(4) != b"\0\0\0\0":
            raise RfbError("security result")
        self.s.sendall(b"\x01")  # shared
        self.w, self.h = struct.unpack(">HH", self.recv(4))
        self.recv(16)
        self.recv(struct.unpack(">I", self.recv(4))[0])
        self.fb = bytearray(self.w * self.h * 4)
        self.resizes = []  # (encoding, w, h) as the server sent them
        self.layouts = []  # ExtendedDesktopSize rects as (reason, status, w, h)
        self.cursor = None  # the last RichCursor: (hot_x, hot_y, w, h, BGRX pixels, mask)
        self.pointer_pos = None  # the last PointerPos (x, y)
        self.origin = None  # pixel (0,0) of the last raw rect that started there
        self.scratch = bytearray()
        self.covered = bytearray(self.w * self.h)  # pixels received (store=True) since grab()
        # 32 bpp little endian true colour, red at bit 16: bytes B, G, R, X.
        self.s.sendall(struct.pack(">B3xBBBBHHHBBB3x", 0, 32, 24, 0, 1, 255, 255, 255, 16, 8, 0))
        self.s.sendall(struct.pack(">BxH", 2, len(encodings)) +
                       b"".join(struct.pack(">i", e) for e in encodings))

    def recv(self, n, into=None):
        out = into if into is not None else bytearray(n)
        view, got = memoryview(out), 0
        while got < n:
            k = self.s.recv_into(view[got:], n - got)
            if not k:
                raise RfbError("VNC server closed the connection")
            got += k
        return bytes(out) if n < 64 else out

    def request(self, incremental):
        self.s.sendall(struct.pack(">BBHHHH", 3, 1 if incremental else 0, 0, 0, self.w, self.h))

    def read_update(self, store=True):
        """Read server messages up to and including one FramebufferUpdate; returns its rects
        as (x, y, w, h, encoding). store=False skips copying pixels into self.fb and only
        keeps pixel (0,0) in self.origin (BGRX bytes) when a rect starts there."""
        while True:
            t = self.recv(1)[0]
            if t == 0:
                break
            if t == 1:  # colour map: skip
                _, _, n = struct.unpack(">xHH", self.recv(5))
                self.recv(6 * n)
            elif t == 2:  # bell
                continue
            elif t == 3:  # cut text
                self.recv(3)
                self.recv(struct.unpack(">I", self.recv(4))[0])
            else:
                raise RfbError("unexpected server message %d" % t)
        _, nrect = struct.unpack(">BH", self.recv(3))
        rects = []
        for _ in range(nrect):
            x, y, w, h, enc = struct.unpack(">HHHHi", self.recv(12))
            rects.append((x, y, w, h, enc))
            if enc == ENC_RAW:
                if x + w > self.w or y + h > self.h:
                    raise RfbError("rect %dx%d+%d+%d outside %dx%d" % (w, h, x, y, self.w, self.h))
                if not store:  # into a scratch buffer kept between updates
                    if len(self.scratch) < w * h * 4:
                        self.scratch = bytearray(w * h * 4)
                    px = self.recv(w * h * 4, memoryview(self.scratch)[:w * h * 4])
                else:
                    px = self.recv(w * h * 4)
                if x == 0 and y == 0 and w and h:
                    self.origin = bytes(px[:4])
                if not store:
                    continue
                ones = b"\1" * w
                for j in range(h):
                    self.covered[(y + j) * self.w + x:(y + j) * self.w + x + w] = ones
                    o = ((y + j) * self.w + x) * 4
                    self.fb[o:o + w * 4] = px[j * w * 4:(j + 1) * w * 4]
            elif enc in (ENC_DESKTOP_SIZE, ENC_EXTENDED_DESKTOP_SIZE):
                if enc == ENC_EXTENDED_DESKTOP_SIZE:
                    nscreens = self.recv(4)[0]
                    self.recv(16 * nscreens)
                    self.layouts.append((x, y, w, h))
                if (w, h) != (self.w, self.h):  # ExtendedDesktopSize also announces the layout
                    self.w, self.h = w, h
                    self.fb = bytearray(w * h * 4)
                    self.covered = bytearray(w * h)
                    self.resizes.append((enc, w, h))
            elif enc == ENC_RICH_CURSOR:
                px = bytes(self.recv(w * h * 4)) if w and h else b""
                mask = bytes(self.recv((w + 7) // 8 * h)) if w and h else b""
                self.cursor = (x, y, w, h, px, mask)
            elif enc == ENC_POINTER_POS:
                self.pointer_pos = (x, y)
            else:
                raise RfbError("encoding %d, asked for raw" % enc)
        return rects

    def rgb(self):
        """The framebuffer as RGB bytes."""
        out = bytearray(self.w * self.h * 3)
        out[0::3] = self.fb[2::4]
        out[1::3] = self.fb[1::4]
        out[2::3] = self.fb[0::4]
        return bytes(out)

    def grab(self):
        """The whole screen as RGB bytes: a full (non-incremental) request, then incremental
        ones until every pixel has arrived since (libvncserver answers a full request from an
        ExtendedDesktopSize client with the layout alone, and a resize can split the pixels
        over several updates)."""
        self.covered = bytearray(self.w * self.h)
        self.request(False)
        self.read_update()
        while self.covered.count(0):
            self.request(True)
            self.read_update()
        return self.rgb()

    def wait_size(self, w, h, timeout=30):
        """Ask for incremental updates until the desktop is w x h (a desktop-size update)."""
        end = time.monotonic() + timeout
        while (self.w, self.h) != (w, h):
            if time.monotonic() > end:
                raise RfbError("desktop stayed %dx%d, want %dx%d" % (self.w, self.h, w, h))
            self.request(True)
            self.read_update()

    def set_desktop_size(self, w, h):
        """SetDesktopSize (251) with one screen covering w x h."""
        self.s.sendall(struct.pack(">BxHHBx", 251, w, h, 1) +
                       struct.pack(">IHHHHI", 0, 0, 0, w, h, 0))

    def layout_reply(self, timeout=20):
        """The server's answer to set_desktop_size: (reason, status, w, h) of the next
        ExtendedDesktopSize rect with reason 1 (this client asked)."""
        end = time.monotonic() + timeout
        while True:
            for i, r in enumerate(self.layouts):
                if r[0] == 1:
                    del self.layouts[:i + 1]
                    return r
            if time.monotonic() > end:
                raise RfbError("no ExtendedDesktopSize reply")
            self.request(True)
            self.read_update()

    def key(self, keysym, down):
        self.s.sendall(struct.pack(">BBxxI", 4, 1 if down else 0, keysym))

    def pointer(self, x, y, buttons=0):
        self.s.sendall(struct.pack(">BBHH", 5, buttons, x, y))

    def close(self):
        self.s.close()
