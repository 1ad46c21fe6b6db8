#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""test-uefi-boot (docs/firmware.md, suite slow): Debian's OVMF (--firmware uefi) boots with
--display vga and a blank disk until its UEFI shell prompt is on the serial port (OVMF's
terminal console on COM1, which it finds through the ICH9 LPC bridge). Then:
- the VGA screen, read with QMP screendump, is in the graphics mode OVMF's QemuVideoDxe set
  through Bochs VBE (1280x800 here, not the 720x400 text mode), is not blank, and has the
  shell's text in the upper left of OVMF's centred console and a dark bottom half;
- the variable store next to the disk (DISK.vars.fd, created from OVMF_VARS_4M.fd) holds
  what OVMF wrote through the CFI flash (boot options, the monotonic counter): it differs
  from the template and still carries its NV volume header.
Prints how long OVMF took to reach the shell. On this nested (PVM) host OVMF's CPL0 code is
interpreted, so that takes 12 (idle host) to 30 minutes: DESKVM_UEFI_TIMEOUT (default 3000 s)
bounds it.

usage: test-uefi-boot.py DESKVM_VM
"""
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from deskvm_harness import Engine, TestFailure, check, main, require_kvm, skip  # noqa: E402
from screen import read_png  # noqa: E402

CODE = "/usr/share/OVMF/OVMF_CODE_4M.fd"
VARS = "/usr/share/OVMF/OVMF_VARS_4M.fd"
LIMIT = float(os.environ.get("DESKVM_UEFI_TIMEOUT", "3000"))
PROMPT = "Shell>"


def luma(img, x, y):
    w, _, px = img
    i = (y * w + x) * 3
    return (px[i] * 3 + px[i + 1] * 6 + px[i + 2]) // 10


def bright_in(img, x0, y0, x1, y1, level=0x80):
    """Pixels in [x0, x1) x [y0, y1) brighter than level."""
    return sum(1 for y in range(y0, y1, 2) for x in range(x0, x1, 2) if luma(img, x, y) > level)


def check_screen(png):
    img = read_png(png)
    w, h, _ = img
    check((w, h) != (720, 400) and (w, h) != (640, 400) and w >= 640 and h >= 480,
          "the screen is %dx%d: not a graphics mode OVMF set" % (w, h))
    # OVMF centres its text console on the screen: the shell's first lines (banner, mapping
    # table, prompt) are in the upper third, starting left of the middle; below, nothing.
    top = bright_in(img, 0, 0, w // 2, h // 3)
    bottom = bright_in(img, 0, h // 2, w, h)
    print("screen %dx%d: %d light pixels in the upper-left text area, %d in the bottom half"
          % (w, h, top, bottom))
    check(top > 200, "no text in the upper left of the screen (%d light pixels)" % top)
    check(bottom * 10 < top, "the bottom half is not dark (%d light pixels, %d above)"
          % (bottom, top))


def run():
    vm_bin = sys.argv[1]
    for f in (CODE, VARS):
        if not os.path.exists(f):
            skip("%s missing (apt-get install ovmf)" % f)
    require_kvm()
    tmp = tempfile.mkdtemp(prefix="deskvm-uefi-")
    disk = os.path.join(tmp, "disk.img")
    with open(disk, "wb") as f:
        f.truncate(16 << 20)
    vars_path = disk + ".vars.fd"
    start = time.monotonic()
    vm = Engine(vm_bin, ["--firmware", "uefi", "--memory", "1G", "--display", "vga",
                         "--disk", "file=%s,format=raw" % disk], tmp=tmp)
    try:
        c = vm.qmp()
        while PROMPT not in vm.serial():
            if vm.proc.poll() is not None:
                raise TestFailure("deskvm-vm exited (%s): %s" % (vm.proc.returncode, vm.stderr()))
            if time.monotonic() - start > LIMIT:
                raise TestFailure("no %r on the serial port after %.0f s; it holds %r"
                                  % (PROMPT, LIMIT, vm.serial()[-600:]))
            time.sleep(5)
        took = time.monotonic() - start
        print("OVMF reached the UEFI shell after %.0f s" % took)
        png = os.path.join(tmp, "screen.png")
        deadline = time.monotonic() + 60
        while True:  # the shell may still be drawing its banner
            check(c.cmd("screendump", {"filename": png}) == {}, "screendump")
            try:
                check_screen(png)
                break
            except TestFailure:
                if time.monotonic() > deadline:
                    raise
                time.sleep(5)
        with open(vars_path, "rb") as f:
            got = f.read()
        with open(VARS, "rb") as f:
            template = f.read()
        check(len(got) == len(template), "the variable store changed size")
        check(got[0x28:0x2c] == b"_FVH", "the variable store lost its volume header")
        changed = sum(1 for a, b in zip(got, template) if a != b)
        print("variable store: %d bytes differ from the template" % changed)
        check(changed > 0, "OVMF wrote no variable through the flash")
    finally:
        vm.cleanup()


main(run)
