#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""test-vnc-viewers: real VNC viewers (TigerVNC's xtigervncviewer, gtk-vnc's gvncviewer)
against deskvm-vm under Xvfb, driven with xdotool.

For each viewer, the virtio-gpu guest (tests/guest/tests/virtio-gpu.c, interactive=1) draws
its 320x200 picture; the viewer's window is grabbed with xwd and the guest area, found
inside the window (gvncviewer adds a menu bar), must equal the QMP screendump pixel by pixel.
Then xdotool moves the X pointer to guest pixel (160, 100), clicks, and types 'a' into the
window: the guest must read the tablet's absolute position, BTN_LEFT down and up, and KEY_A
down and up as evdev events. TigerVNC runs against --vnc ...,password=on with the password
set over QMP and given to the viewer in a vncpasswd file; while it is connected, a client
answering the challenge wrongly and vncsnapshot with a wrong password file are refused and
TigerVNC stays connected (its input still arrives afterwards). TigerVNC also connects to a
--vnc unix:PATH socket. Without Xvfb, xdotool or xwd the test is skipped; a viewer that is
not installed is reported and skipped, and the test is skipped when none is.

TigerVNC also shows the VGA guest (tests/guest/tests/vga.c, interactive=1): the text screen
and, after the guest's VBE mode set (the viewer follows the resize), the 640x480 screen
pixel for pixel; keys typed into it arrive as PS/2 set 1 bytes, the pointer and a click as
PS/2 mouse packets.

usage: test-vnc-viewers.py DESKVM_VM VIRTIO_GPU_ELF VGA_ELF
"""
import os
import re
import shutil
import socket
import struct
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from deskvm_harness import Engine, check, free_port, main, require_kvm, skip, wait_for  # noqa: E402

W, H = 320, 200
PASSWORD = "s3cret"
VIEWERS = ("xtigervncviewer", "gvncviewer")


def read_ppm(path):
    data = open(path, "rb").read()
    m = re.match(rb"P6\s+(\d+)\s+(\d+)\s+(\d+)\s", data)
    check(m and m.group(3) == b"255", "%s: not an 8-bit binary PPM" % path)
    w, h = int(m.group(1)), int(m.group(2))
    return w, h, data[m.end():m.end() + w * h * 3]


def read_xwd(data):
    """An xwd dump of a 24/32-bit TrueColor window (what Xvfb gives) as (w, h, RGB bytes)."""
    hdr = struct.unpack(">25I", data[:100])
    size, fmt, w, h = hdr[0], hdr[2], hdr[4], hdr[5]
    order, bpp, stride, rmask, gmask, bmask, ncolors = (hdr[7], hdr[11], hdr[12], hdr[14],
                                                        hdr[15], hdr[16], hdr[19])
    check(fmt == 2 and bpp == 32 and (rmask, gmask, bmask) == (0xff0000, 0xff00, 0xff),
          "xwd format %d, %d bpp, masks %x/%x/%x" % (fmt, bpp, rmask, gmask, bmask))
    px = data[size + 12 * ncolors:]
    check(len(px) >= stride * h, "xwd: short pixel data")
    out = bytearray(w * h * 3)
    r, g, b = (2, 1, 0) if order == 0 else (1, 2, 3)  # LSBFirst: B G R X in memory
    for y in range(h):
        line = px[y * stride:y * stride + w * 4]
        out[y * w * 3 + 0:(y + 1) * w * 3:3] = line[r::4]
        out[y * w * 3 + 1:(y + 1) * w * 3:3] = line[g::4]
        out[y * w * 3 + 2:(y + 1) * w * 3:3] = line[b::4]
    return w, h, bytes(out)


def find_image(win, want):
    """(x, y) where the w x h image want lies inside the window grab, or None."""
    ww, wh, wpx = win
    w, h, px = want
    first = px[:w * 3]
    for y in range(wh - h + 1):
        row = wpx[y * ww * 3:(y + 1) * ww * 3]
        at = row.find(first)
        while at >= 0:
            if at % 3 == 0:
                x = at // 3
                if x + w <= ww and all(
                        wpx[((y + j) * ww + x) * 3:((y + j) * ww + x + w) * 3] ==
                        px[j * w * 3:(j + 1) * w * 3] for j in range(h)):
                    return x, y
            at = row.find(first, at + 1)
    return None


def near_image(win, want, step=7):
    """For a lossy viewer: the offset where want fits best (mean error over a grid of pixels)
    and the mean error per channel over every pixel there."""
    ww, wh, wpx = win
    w, h, px = want
    if ww < w or wh < h:
        return None, 255.0

    def error(ox, oy, step):
        total = n = 0
        for y in range(0, h, step):
            a = wpx[((oy + y) * ww + ox) * 3:((oy + y) * ww + ox + w) * 3]
            b = px[y * w * 3:(y + 1) * w * 3]
            for i in range(0, w * 3, step * 3 if step > 1 else 1):
                for c in range(3 if step > 1 else 1):
                    total += abs(a[i + c] - b[i + c])
                    n += 1
        return total / n

    at = min(((ox, oy) for oy in range(wh - h + 1) for ox in range(ww - w + 1)),
             key=lambda o: error(o[0], o[1], step))
    return at, error(at[0], at[1], 1)


def first_difference(win, want):
    """What the failure message says when no grab held the screendump."""
    if win is None:
        return "no window grab"
    ww, wh, wpx = win
    w, h, px = want
    return "window %dx%d holds no exact copy of the %dx%d screendump (pixel (0,0) is %s)" % (
        ww, wh, w, h, px[:3].hex())


class X:
    """An Xvfb server on a display number it picks itself (-displayfd)."""

    def __init__(self, tmp):
        r, w = os.pipe()
        self.log = open(os.path.join(tmp, "xvfb.log"), "wb")
        self.proc = subprocess.Popen(["Xvfb", "-displayfd", str(w), "-screen", "0", "1024x768x24",
                                      "-nolisten", "tcp"], pass_fds=(w,), stdout=self.log,
                                     stderr=self.log)
        os.close(w)
        num = b""
        with os.fdopen(r, "rb") as f:
            while not num.endswith(b"\n"):
                c = f.read(1)
                check(c, "Xvfb did not start")
                num += c
        self.env = dict(os.environ, DISPLAY=":" + num.decode().strip())

    def run(self, *args, timeout=30):
        r = subprocess.run(list(args), env=self.env, capture_output=True, timeout=timeout)
        check(r.returncode == 0, "%s failed (%d): %r" % (" ".join(args), r.returncode, r.stderr))
        return r.stdout.decode()

    def close(self):
        self.proc.kill()
        self.proc.wait()
        self.log.close()


def wrong_password_refused(port):
    """A client that picks VNC authentication and answers the challenge with zeros."""
    s = socket.create_connection(("127.0.0.1", port), timeout=20)

    def recv(n):
        b = b""
        while len(b) < n:
            chunk = s.recv(n - len(b))
            check(chunk, "the server closed before the security result (got %r)" % b)
            b += chunk
        return b

    check(recv(12).startswith(b"RFB 003."), "no RFB greeting")
    s.sendall(b"RFB 003.008\n")
    types = recv(recv(1)[0])
    check(list(types) == [2], "security types %r, want only VNC authentication" % list(types))
    s.sendall(b"\x02")
    recv(16)  # the challenge
    s.sendall(bytes(16))
    result = struct.unpack(">I", recv(4))[0]
    check(result == 1, "a wrong response got security result %d, want 1 (failed)" % result)
    s.close()


def tiger_args(target, security=("-SecurityTypes=None",)):
    """TigerVNC at 1:1, lossless, no toolbar (1.12 has none; F8 opens the menu), no remote
    resize."""
    return ["xtigervncviewer", "-AutoSelect=0", "-PreferredEncoding=ZRLE", "-NoJPEG", "-FullColor",
            "-RemoteResize=0", "-Shared"] + list(security) + [target]


def grab_until(x, wid, want, tmp, what, lossless=True):
    """Grabs the window until the guest picture want is in it (exactly, or for a lossy
    viewer with a mean error below 3 per channel); returns its offset in the window."""
    grab = os.path.join(tmp, "win.xwd")

    def matches():
        with open(grab, "wb") as f:
            subprocess.run(["xwd", "-silent", "-id", wid], env=x.env, stdout=f, check=True)
        matches.win = read_xwd(open(grab, "rb").read())
        if lossless:
            return find_image(matches.win, want)
        at, matches.err = near_image(matches.win, want)
        return at if matches.err < 3.0 else None

    matches.win, matches.err = None, None
    at = wait_for(matches, 60, lambda: "%s: %s%s" % (
        what, first_difference(matches.win, want),
        "" if lossless else ", mean error %.2f per channel" % matches.err))
    print("%s: the %dx%d guest screen is at (%d, %d) in its %dx%d window, %s" % (
        what, want[0], want[1], at[0], at[1], matches.win[0], matches.win[1],
        "every pixel equal to the screendump" if lossless else
        "mean error %.2f per channel against the screendump (JPEG)" % matches.err))
    return at


def session(binary, elf, x, viewer, tmp, password=False, unix=False):
    port = free_port(5900, 5999)  # gvncviewer takes a display number: port 5900 + N
    sock = os.path.join(tmp, "vnc.sock")
    vnc = (("unix:" + sock) if unix else "127.0.0.1:%d" % port) + (
        ",password=on" if password else "")
    vm = Engine(binary, ["--kernel", elf, "--append", "interactive=1 input_s=600",
                         "--display", "virtio-gpu", "--vnc", vnc])
    viewer_proc = None
    what = "%s%s%s" % (viewer, " (password)" if password else "", " (unix socket)" if unix else "")
    try:
        c = vm.qmp()
        vm.wait_serial("input ready", timeout=60)
        dump = os.path.join(tmp, "dump.ppm")
        check(c.cmd("screendump", {"filename": dump, "format": "ppm"}) == {}, "screendump")
        want = read_ppm(dump)
        check(want[:2] == (W, H), "screendump %dx%d" % want[:2])
        if viewer == "xtigervncviewer":
            security = ["-SecurityTypes=None"]
            if password:
                c.cmd("set_password", {"protocol": "vnc", "password": PASSWORD})
                passwd = os.path.join(tmp, "passwd")
                with open(passwd, "wb") as f:
                    f.write(subprocess.run(["vncpasswd", "-f"], input=PASSWORD.encode(),
                                           capture_output=True, check=True).stdout)
                security = ["-SecurityTypes=VncAuth", "-passwd", passwd]
            args = tiger_args(sock if unix else "127.0.0.1::%d" % port, security)
            lossless = True
        else:
            # gvncviewer (gtk-vnc 1.3.1) asks for Tight with JPEG quality 5 (pseudo-encoding
            # -27) and has no option against it: compared with a tolerance, as vncsnapshot's JPEG.
            args = [viewer, "127.0.0.1:%d" % (port - 5900)]
            lossless = False
        log = open(os.path.join(tmp, "viewer.log"), "wb")
        viewer_proc = subprocess.Popen(args, env=x.env, stdout=log, stderr=log)
        wid = x.run("xdotool", "search", "--sync", "--onlyvisible", "--name", "deskvm").split()[0]
        at = grab_until(x, wid, want, tmp, what, lossless)
        if password:
            wrong_password_refused(port)
            wrong = os.path.join(tmp, "wrong")
            with open(wrong, "wb") as f:
                f.write(subprocess.run(["vncpasswd", "-f"], input=b"nottheone",
                                       capture_output=True, check=True).stdout)
            if shutil.which("vncsnapshot"):
                r = subprocess.run(["vncsnapshot", "-quiet", "-passwd", wrong,
                                    "127.0.0.1::%d" % port, os.path.join(tmp, "no.jpg")],
                                   capture_output=True, timeout=30)
                check(r.returncode != 0 and not os.path.exists(os.path.join(tmp, "no.jpg")),
                      "vncsnapshot with a wrong password: exit %d" % r.returncode)
            wait_for(lambda: len(c.cmd("query-vnc")["clients"]) == 1, 20,
                     lambda: "only the viewer left: %r" % c.cmd("query-vnc")["clients"])
            check(viewer_proc.poll() is None, "%s exited" % viewer)
            print("%s: wrong passwords refused (our client, vncsnapshot), the viewer stays" % what)
        # Input through the viewer: pointer to guest pixel (160, 100), a click, the key 'a'.
        # TigerVNC (FLTK) sends no warp (xdotool mousemove) before it has the focus: warp next
        # to the spot, then a relative XTEST motion onto it, which every viewer sees.
        x.run("xdotool", "mousemove", "--window", wid, str(at[0] + 159), str(at[1] + 99))
        x.run("xdotool", "mousemove_relative", "1", "1")
        for line in ("evdev tablet 3 0 %d" % (160 * 32767 // (W - 1)),
                     "evdev tablet 3 1 %d" % (100 * 32767 // (H - 1))):
            vm.wait_serial(line, timeout=30)
        x.run("xdotool", "click", "1")
        vm.wait_serial("evdev tablet 1 272 1", timeout=30)
        vm.wait_serial("evdev tablet 1 272 0", timeout=30)
        x.run("xdotool", "windowfocus", "--sync", wid)
        x.run("xdotool", "key", "a")
        for line in ("evdev kbd 1 30 1", "evdev kbd 0 0 0", "evdev kbd 1 30 0"):
            vm.wait_serial(line, timeout=30)
        keys = [l for l in vm.serial().splitlines() if l.startswith("evdev kbd 1 ")]
        check(keys == ["evdev kbd 1 30 1", "evdev kbd 1 30 0"], "%s: keys %r" % (what, keys))
        rc = vm.wait_exit(30)
        check(rc == 33, "exit status %d, want 33 (guest PASS): %s" % (rc, vm.stderr()))
        print("%s: pointer (absolute tablet), click and key 'a' arrived as evdev events" % what)
    finally:
        if viewer_proc:
            viewer_proc.kill()
            viewer_proc.wait()
        vm.cleanup()


def session_vga(binary, elf, x, tmp):
    """TigerVNC on the VGA: text and VBE screens (a resize while connected), keys as PS/2
    set 1 bytes and pointer/click as PS/2 mouse packets (tests/guest/tests/vga.c)."""
    port = free_port(5900, 5999)
    vm = Engine(binary, ["--kernel", elf, "--append", "interactive=1 keys=6 packets=2",
                         "--vnc", "127.0.0.1:%d" % port])
    viewer_proc = None
    what = "xtigervncviewer (VGA)"
    try:
        c = vm.qmp()
        vm.wait_serial("vga: text ready", timeout=60)
        dump = os.path.join(tmp, "text.ppm")
        check(c.cmd("screendump", {"filename": dump, "format": "ppm"}) == {}, "screendump")
        text = read_ppm(dump)
        log = open(os.path.join(tmp, "viewer.log"), "wb")
        viewer_proc = subprocess.Popen(tiger_args("127.0.0.1::%d" % port), env=x.env, stdout=log,
                                       stderr=log)
        wid = x.run("xdotool", "search", "--sync", "--onlyvisible", "--name", "deskvm").split()[0]
        at = grab_until(x, wid, text, tmp, what + " text mode")
        # TigerVNC sends the pointer position it last saw (where the X pointer was when its
        # window appeared) once it has the focus; the guest reads keys first and would take a
        # mouse packet for one. A real motion onto guest pixel (0, 0), the PS/2 mouse's
        # reference point, replaces that position and makes no packet.
        x.run("xdotool", "mousemove", "--window", wid, str(at[0] + 1), str(at[1] + 1))
        x.run("xdotool", "mousemove_relative", "--", "-1", "-1")
        x.run("xdotool", "windowfocus", "--sync", wid)
        x.run("xdotool", "key", "a")
        vm.wait_serial("vga: key 9e", timeout=30)
        x.run("xdotool", "keydown", "shift", "key", "b", "keyup", "shift")
        vm.wait_serial("vga: vbe ready", timeout=60)
        dump = os.path.join(tmp, "vbe.ppm")
        check(c.cmd("screendump", {"filename": dump, "format": "ppm"}) == {}, "screendump")
        vbe = read_ppm(dump)
        check(vbe[:2] == (640, 480), "VBE screendump %dx%d" % vbe[:2])
        at = grab_until(x, wid, vbe, tmp, what + " after the VBE mode set")
        # One motion from guest pixel (0, 0), where the X pointer was left, to (10, 5): one
        # packet (PS/2 counts y upwards). With the focus, TigerVNC sends warps too.
        x.run("xdotool", "mousemove_relative", "10", "5")
        vm.wait_serial("vga: mouse fb (aux)", timeout=30)
        x.run("xdotool", "click", "1")
        vm.wait_serial("vga: done", timeout=30)
        got = [l.strip() for l in vm.serial().splitlines()
               if l.startswith(("vga: key", "vga: mouse"))]
        want = ["vga: key %s" % b for b in ("1e", "9e", "2a", "30", "b0", "aa")] + [
            "vga: mouse %s (aux)" % b for b in ("28", "0a", "fb", "09", "00", "00")]
        check(got == want, "%s: guest input %r, want %r" % (what, got, want))
        rc = vm.wait_exit(30)
        check(rc == 33, "exit status %d, want 33 (guest PASS): %s" % (rc, vm.stderr()))
        print("%s: keys a, shift+b as set 1 1e 9e 2a 30 b0 aa; pointer and click as PS/2 "
              "packets 28 0a fb, 09 00 00" % what)
    finally:
        if viewer_proc:
            viewer_proc.kill()
            viewer_proc.wait()
        vm.cleanup()


def run():
    require_kvm()
    binary, elf, vga_elf = sys.argv[1:4]
    for tool in ("Xvfb", "xdotool", "xwd"):
        if not shutil.which(tool):
            skip("%s is not installed (packages xvfb, xdotool, x11-apps)" % tool)
    viewers = [v for v in VIEWERS if shutil.which(v)]
    for v in VIEWERS:
        if v not in viewers:
            print("%s: not installed, not tested" % v)
    if not viewers:
        skip("no VNC viewer installed (tigervnc-viewer, gvncviewer)")
    tmp = tempfile.mkdtemp(prefix="deskvm-viewers-")
    x = X(tmp)
    try:
        for v in viewers:
            password = v == "xtigervncviewer" and shutil.which("vncpasswd") is not None
            if v == "xtigervncviewer" and not password:
                print("vncpasswd (tigervnc-tools) is not installed: no password case")
            session(binary, elf, x, v, tmp, password=password)
            if v == "xtigervncviewer":
                session(binary, elf, x, v, tmp, unix=True)
                session_vga(binary, vga_elf, x, tmp)
    finally:
        x.close()
        shutil.rmtree(tmp, ignore_errors=True)


main(run)
