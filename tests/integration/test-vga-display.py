#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""test-vga-display: the vga guest (tests/guest/tests/vga.c, interactive=1) draws text at
0xB8000 and later a 640x480x32 VBE pattern; this test checks every pixel of both screens
through QMP screendump (PNG and PPM), through its own RFB client over --vnc, and through
vncsnapshot (a real VNC client, JPEG output, compared with a tolerance) when installed. Two
clients (DesktopSize, ExtendedDesktopSize) stay connected through the VBE mode set and must
get the resize and the new pixels. VNC key and pointer events, QMP send-key and
input-send-event must reach the guest as PS/2 set 1 scancodes and mouse packets. When
qemu-system-x86_64 is installed, QEMU's -device VGA must show the same VBE screen and its guest
must read the same bytes for the same QMP input commands.

usage: test-vga-display.py DESKVM_VM VGA_ELF VGA_FONT_C
"""
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from deskvm_harness import Engine, QemuGuest, check, free_port, main, require_kvm  # noqa: E402
import rfb_client  # noqa: E402
from screen import first_difference, load_font, read_png, read_ppm, screendump  # noqa: E402

W, H = 640, 480

# What the guest reads besides the VNC input (QEMU gets the same QMP commands, and must agree):
# send-key shift+b (pressed in order, released in reverse), then one mouse packet from
# input-send-event (5 right, 3 up, left button).
SEND_KEY = {"keys": [{"type": "qcode", "data": "shift"}, {"type": "qcode", "data": "b"}],
            "hold-time": 50}
SEND_EVENT = {"events": [{"type": "rel", "data": {"axis": "x", "value": 5}},
                         {"type": "rel", "data": {"axis": "y", "value": -3}},
                         {"type": "btn", "data": {"down": True, "button": "left"}}]}
GUEST_ARGS = "interactive=1 keys=6 packets=2"


# ---- images --------------------------------------------------------------------------------

# ---- what the guest draws ------------------------------------------------------------------

# The DAC's 6-bit 0x2a and 0x15 widen to 0xa8 and 0x57 (bit 0 fills the new bits, as in QEMU).
EGA = [0x000000, 0x0000a8, 0x00a800, 0x00a8a8, 0xa80000, 0xa800a8, 0xa85700, 0xa8a8a8,
       0x575757, 0x5757ff, 0x57ff57, 0x57ffff, 0xff5757, 0xff57ff, 0xffff57, 0xffffff]


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


# ---- VNC ---------------------------------------------------------------------------------

class Rfb(rfb_client.Rfb):
    """The shared client, with errors as test failures."""

    def __init__(self, port, encodings=(rfb_client.ENC_RAW,)):
        try:
            super().__init__(port, encodings)
        except rfb_client.RfbError as e:
            check(False, str(e))


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
    q = QemuGuest.start(elf, tmp, ["VGA"], GUEST_ARGS)
    if q is None:
        return None
    try:
        c = q.c
        q.wait_serial("vga: text ready", 60)
        c.cmd("send-key", {"keys": [{"type": "qcode", "data": "a"}]})
        q.wait_serial("vga: key", 30, count=2)
        c.cmd("send-key", SEND_KEY)
        q.wait_serial("vga: vbe ready", 60)
        png = os.path.join(tmp, "qemu-vbe.png")
        c.cmd("screendump", {"filename": png, "format": "png"})
        # What VNC's pointer move to (10, 5) is on deskvm, then the shared event.
        c.cmd("input-send-event", {"events": [{"type": "rel", "data": {"axis": "x", "value": 10}},
                                              {"type": "rel", "data": {"axis": "y", "value": 5}}]})
        q.wait_serial("vga: mouse", 30, count=3)
        c.cmd("input-send-event", SEND_EVENT)
        q.wait_serial("vga: done", 30)
        return read_png(png), input_lines(q.serial())
    finally:
        q.cleanup()


def input_lines(log):
    return [l for l in log.splitlines() if l.startswith(("vga: key", "vga: mouse"))]


def run():
    require_kvm()
    binary, elf, font_c = sys.argv[1:4]
    font = load_font(font_c)
    port = free_port(5950, 5999)
    vm = Engine(binary, ["--kernel", elf, "--append", GUEST_ARGS,
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
        # Two clients that stay connected through the mode change, one per resize encoding.
        stay = {}
        for name, enc in (("DesktopSize", rfb_client.ENC_DESKTOP_SIZE),
                          ("ExtendedDesktopSize", rfb_client.ENC_EXTENDED_DESKTOP_SIZE)):
            stay[name] = Rfb(port, (rfb_client.ENC_RAW, enc))
            check(stay[name].grab() == text, "%s client: text screen" % name)
        check(len(c.cmd("query-vnc")["clients"]) == 3, "query-vnc does not list the 3 clients")
        err = vncsnapshot_matches(port, tmp, w, text)
        print("vncsnapshot: %s" % ("not installed" if err is None else "mean error %.3f per channel" % err))

        rfb.key(0x61, True)  # 'a': set 1 make 1e, break 9e (the guest turned translation on)
        rfb.key(0x61, False)
        vm.wait_serial("vga: key 1e", timeout=30)
        vm.wait_serial("vga: key 9e", timeout=30)
        check(c.cmd("send-key", SEND_KEY) == {}, "send-key")
        vm.wait_serial("vga: vbe ready", timeout=60)
        w, h, vbe = screendump(c, tmp, "vbe")
        check((w, h) == (W, H), "VBE screen is %dx%d" % (w, h))
        want = expected_vbe()
        check(vbe == want, "VBE screen: " + first_difference(w, vbe, want))
        for name, client in stay.items():
            try:
                client.wait_size(W, H)
            except rfb_client.RfbError as e:
                check(False, "%s client: %s" % (name, e))
            check([r[0] for r in client.resizes] == [
                rfb_client.ENC_DESKTOP_SIZE if name == "DesktopSize"
                else rfb_client.ENC_EXTENDED_DESKTOP_SIZE], "%s client: resizes %r" % (name, client.resizes))
            got = client.grab()
            check(got == vbe, "%s client after the resize: %s" % (name, first_difference(w, got, vbe)))
            client.close()
        print("VNC clients that stayed connected got the desktop resize and the VBE pixels")
        rfb.close()
        rfb = Rfb(port)
        check((rfb.w, rfb.h) == (W, H), "VNC desktop after the mode set %dx%d" % (rfb.w, rfb.h))
        got = rfb.grab()
        check(got == vbe, "VNC VBE screen: " + first_difference(w, got, vbe))
        err = vncsnapshot_matches(port, tmp, w, vbe)
        print("vncsnapshot (VBE): %s" % ("not installed" if err is None else "%.3f" % err))
        # SetDesktopSize: the VGA's modes are the guest's choice; refused (status 1, prohibited).
        ext = Rfb(port, (rfb_client.ENC_RAW, rfb_client.ENC_EXTENDED_DESKTOP_SIZE))
        ext.grab()
        ext.set_desktop_size(800, 600)
        r = ext.layout_reply()
        check(r == (1, 1, W, H), "SetDesktopSize on the VGA: reply %r, want (1, 1, %d, %d)" % (r, W, H))
        ext.close()
        print("SetDesktopSize on the VGA: resize prohibited")

        # The first pointer event moves (10, 5) from the origin: PS/2 counts y upwards.
        rfb.pointer(10, 5)
        for b in ("28", "0a", "fb"):
            vm.wait_serial("vga: mouse %s (aux)" % b, timeout=30)
        check(c.cmd("input-send-event", SEND_EVENT) == {}, "input-send-event")
        vm.wait_serial("vga: done", timeout=30)
        got_input = input_lines(vm.serial())
        want_input = ["vga: key %s" % b for b in ("1e", "9e", "2a", "30", "b0", "aa")] + [
            "vga: mouse %s (aux)" % b for b in ("28", "0a", "fb", "09", "05", "03")]
        check(got_input == want_input, "guest input %r, want %r" % (got_input, want_input))
        rc = vm.wait_exit(30)
        check(rc == 33, "exit status %d, want 33 (guest PASS): %s" % (rc, vm.stderr()))
        rfb.close()

        q = qemu_vbe_screen(elf, tmp)
        if q is None:
            print("QEMU: not installed, no cross-check")
        else:
            q, qemu_input = q
            check(qemu_input == got_input, "QEMU's guest read %r, deskvm's %r" % (qemu_input, got_input))
            print("QEMU's guest read the same bytes for send-key and input-send-event")
            check(q[:2] == (W, H), "QEMU's VBE screen is %dx%d" % q[:2])
            check(q[2] == vbe, "QEMU and deskvm differ: " + first_difference(W, vbe, q[2]))
            print("QEMU -device VGA shows the same VBE screen")
    finally:
        vm.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


main(run)
