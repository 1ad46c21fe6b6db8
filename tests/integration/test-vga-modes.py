#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""test-vga-modes: the vga-modes guest (tests/guest/tests/vga-modes.c, interactive=1) sets
the legacy VGA modes 13h, 12h, 0Dh and 04h from the BIOS register tables (with --display vga,vram=4,
whose size the guest checks in the dispi register and BAR0) and draws a known pattern
in each through the 0xA0000 window. Every pixel of both screens is checked through QMP
screendump (PNG and PPM), the 12h screen also through our RFB client over --vnc; when
qemu-system-x86_64 is installed, QEMU's -device VGA running the same ELF must give
byte-identical screendumps of all four (same size: QEMU shows mode 13h as 640x400, each pixel
doubled both ways, as the CRTC timing does). A checkpoint of the 12h screen restores with the
same pixels, and not into another VRAM size.

usage: test-vga-modes.py DESKVM_VM VGA_MODES_ELF
"""
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from deskvm_harness import Engine, QemuGuest, check, free_port, main, require_kvm  # noqa: E402
import rfb_client  # noqa: E402
from screen import first_difference, read_png, screendump  # noqa: E402

GUEST_ARGS = "interactive=1 vram_mib=4"
# Mode 12h's attribute palette (AR00-0F), as the guest loads it.
AR12 = [0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x14, 0x07,
        0x38, 0x39, 0x3a, 0x3b, 0x3c, 0x3d, 0x3e, 0x3f]


def dac(i):
    """The guest's DAC entry i (6-bit components) as 8-bit R, G, B bytes."""
    c6 = (i & 0x3f, (i >> 2) & 0x3f, (255 - i) & 0x3f)
    return bytes((v << 2) | (v & 1) * 3 for v in c6)


def expected_13h(changed=False):
    """320x200 shown as 640x400: every pixel two dots wide and two scan lines high; changed:
    with the 16x16 square of colour 0x10 at (200, 150) the guest draws later."""
    def colour(x, y):
        if changed and 200 <= x < 216 and 150 <= y < 166:
            return 0x10
        return 0x3f if 100 <= x < 140 and 50 <= y < 90 else ((x ^ y) + y // 8) & 0xff
    rows = []
    for y in range(200):
        line = b"".join(dac(colour(x, y)) * 2 for x in range(320))
        rows.append(line * 2)
    return b"".join(rows)


def expected_12h():
    out = bytearray()
    for y in range(480):
        for x in range(640):
            c = 15 if x == 80 + y else (x // 8 + y // 16) & 15
            out += dac(AR12[c])
    return bytes(out)


AR0D = [0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
        0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17]
AR04 = [0x00, 0x13, 0x15, 0x17]


def expected_0dh():
    """320x200 shown as 640x400 (dot clock / 2, double scan)."""
    rows = []
    for y in range(200):
        line = b"".join(dac(AR0D[(x // 8 + y // 8) & 15]) * 2 for x in range(320))
        rows.append(line * 2)
    return b"".join(rows)


def expected_04h():
    """320x200x4 shown as 640x400; row y's bytes are xb * 7 + y, 4 pixels each, MSB first."""
    rows = []
    for y in range(200):
        line = b"".join(dac(AR04[(((x // 4) * 7 + y) & 0xff) >> (6 - 2 * (x % 4)) & 3]) * 2
                        for x in range(320))
        rows.append(line * 2)
    return b"".join(rows)


STAGES = ("13h", "13h changed", "12h", "0dh", "04h")


def qemu_screens(elf, tmp):
    q = QemuGuest.start(elf, tmp, ["VGA,vgamem_mb=4"], GUEST_ARGS)
    if q is None:
        return None
    try:
        screens = []
        for stage in STAGES:
            q.wait_serial("vga-modes: %s" % (stage if " " in stage else stage + " ready"), 60)
            png = os.path.join(tmp, "qemu-%s.png" % stage.replace(" ", "-"))
            q.c.cmd("screendump", {"filename": png, "format": "png"})
            screens.append(read_png(png))
            q.c.cmd("send-key", {"keys": [{"type": "qcode", "data": "a"}]})
        q.wait_serial("PASS", 30)
        print("QEMU (TCG): " + "".join(l for l in q.serial().splitlines(True) if "fill:" in l).strip())
        return screens
    finally:
        q.cleanup()


def check_restore(binary, c, tmp, screen):
    """A checkpoint of the 12h screen restores into the same VRAM size with the same pixels,
    and is refused, naming the device, with another size."""
    snap = os.path.join(tmp, "12h.dvs")
    check(c.cmd("snapshot-save", {"file": snap}, timeout=60) == {}, "snapshot-save")
    r = subprocess.run([binary, "--restore", snap, "--display", "vga,vram=16", "--serial", "null"],
                       stdin=subprocess.DEVNULL, capture_output=True, timeout=60)
    err = r.stderr.decode(errors="replace")
    check(r.returncode == 1 and "'vga'" in err and "Wrong medium type" in err,
          "restore with another VRAM size: status %d, %r" % (r.returncode, err))
    print("restore into 16 MiB of VRAM refused: %s" % err.strip().splitlines()[0])
    os.mkdir(os.path.join(tmp, "r"))
    back = Engine(binary, ["--restore", snap, "--display", "vga,vram=4"], tmp=os.path.join(tmp, "r"))
    try:
        w, h, img = screendump(back.qmp(), tmp, "12h-restored")
        check(img == screen, "mode 12h after --restore: " + first_difference(w, img, screen))
        print("mode 12h: the same pixels after --restore")
    finally:
        back.cleanup()


def run():
    require_kvm()
    binary, elf = sys.argv[1:3]
    port = free_port(5950, 5999)
    vm = Engine(binary, ["--kernel", elf, "--append", GUEST_ARGS,
                         "--display", "vga,vram=4", "--vnc", "127.0.0.1:%d" % port])
    tmp = tempfile.mkdtemp(prefix="deskvm-vga-modes-")
    try:
        c = vm.qmp()
        ours = []
        vm.wait_serial("vga-modes: 13h ready", timeout=120)
        w, h, img = screendump(c, tmp, "13h")
        check((w, h) == (640, 400), "mode 13h screen is %dx%d" % (w, h))
        check(img == expected_13h(), "mode 13h: " + first_difference(w, img, expected_13h()))
        print("mode 13h: every pixel as drawn")
        ours.append((w, h, img))
        check(c.cmd("send-key", {"keys": [{"type": "qcode", "data": "a"}]}) == {}, "send-key")
        vm.wait_serial("vga-modes: 13h changed", timeout=60)
        w, h, img = screendump(c, tmp, "13h-changed")
        want = expected_13h(changed=True)
        check(img == want, "mode 13h after a change: " + first_difference(w, img, want))
        print("mode 13h: a later change is redrawn (damage through the window)")
        ours.append((w, h, img))
        check(c.cmd("send-key", {"keys": [{"type": "qcode", "data": "a"}]}) == {}, "send-key")

        vm.wait_serial("vga-modes: 12h ready", timeout=120)
        w, h, img = screendump(c, tmp, "12h")
        check((w, h) == (640, 480), "mode 12h screen is %dx%d" % (w, h))
        want = expected_12h()
        check(img == want, "mode 12h: " + first_difference(w, img, want))
        print("mode 12h: every pixel as drawn")
        ours.append((w, h, img))
        rfb = rfb_client.Rfb(port)
        check((rfb.w, rfb.h) == (640, 480), "VNC desktop %dx%d" % (rfb.w, rfb.h))
        got = rfb.grab()
        check(got == img, "VNC mode 12h: " + first_difference(w, got, img))
        rfb.close()
        print("mode 12h: the VNC client gets the same pixels")
        check_restore(binary, c, tmp, img)
        check(c.cmd("send-key", {"keys": [{"type": "qcode", "data": "a"}]}) == {}, "send-key")
        for stage, want in (("0dh", expected_0dh()), ("04h", expected_04h())):
            vm.wait_serial("vga-modes: %s ready" % stage, timeout=120)
            w, h, img = screendump(c, tmp, stage)
            check((w, h) == (640, 400), "mode %s screen is %dx%d" % (stage, w, h))
            check(img == want, "mode %s: %s" % (stage, first_difference(w, img, want)))
            print("mode %s: every pixel as drawn" % stage)
            ours.append((w, h, img))
            check(c.cmd("send-key", {"keys": [{"type": "qcode", "data": "a"}]}) == {}, "send-key")
        rc = vm.wait_exit(60)
        print("deskvm: " + "".join(l for l in vm.serial().splitlines(True) if "fill:" in l).strip())
        check(rc == 33, "exit status %d, want 33 (guest PASS): %s" % (rc, vm.stderr()))

        q = qemu_screens(elf, tmp)
        if q is None:
            print("QEMU: not installed, no cross-check")
            return
        for name, a, b in zip(STAGES, ours, q):
            check(a[:2] == b[:2], "mode %s: QEMU's screen is %dx%d, ours %dx%d" % ((name,) + b[:2] + a[:2]))
            check(a[2] == b[2], "mode %s: QEMU and deskvm differ: %s" % (name, first_difference(a[0], a[2], b[2])))
            print("mode %s: QEMU -device VGA shows the same %dx%d screen" % ((name,) + a[:2]))
    finally:
        vm.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


main(run)
