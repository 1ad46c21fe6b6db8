#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""test-snapshot-ahci (docs/ahci.md, "Snapshots"): checkpoints of a VM whose guest is reading
from the AHCI CD-ROM. SeaBIOS boots Debian's grub-rescue-cdrom.iso; while GRUB loads its core
image and modules (AHCI commands, some in flight when the checkpoint starts), snapshot-save
runs every second, then the last checkpoint is loaded back into the running engine, and the
GRUB menu must still come up. A port saved with a command in flight would be refused on load
(PxCI/PxSACT set): the quiesce hook must have drained it.

usage: test-snapshot-ahci.py DESKVM_VM VGA_FONT_C
"""
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from deskvm_harness import Engine, TestFailure, check, main, require_kvm, skip  # noqa: E402
from screen import grub_menu_shown, load_font, qmp_screen  # noqa: E402

ISO = "/usr/lib/grub-rescue/grub-rescue-cdrom.iso"
BIOS = "/usr/share/seabios/bios-256k.bin"
LIMIT = float(os.environ.get("DESKVM_FIRMWARE_TIMEOUT", "270"))


def run():
    vm_bin, font_c = sys.argv[1], sys.argv[2]
    for f, pkg in ((ISO, "grub-rescue-pc"), (BIOS, "seabios")):
        if not os.path.exists(f):
            skip("%s missing (apt-get install %s)" % (f, pkg))
    require_kvm()
    font = load_font(font_c)
    start = time.monotonic()
    vm = Engine(vm_bin, ["--firmware", "bios", "--memory", "256M", "--display", "vga",
                         "--cdrom", ISO])
    try:
        c = vm.qmp()
        vm.wait_serial("Booting from DVD/CD", LIMIT)
        snap = os.path.join(vm.tmp, "snap.dkv")
        saves = 0
        while "Welcome to GRU" not in vm.serial() and saves < 8:
            check(c.cmd("snapshot-save", {"file": snap}, timeout=60) == {}, "snapshot-save")
            saves += 1
            time.sleep(1)
        check(saves > 0, "GRUB started before the first checkpoint")
        check(c.cmd("snapshot-load", {"file": snap}, timeout=60) == {}, "snapshot-load")
        print("%d checkpoints while GRUB loaded from the CD; the last one loaded" % saves)
        cache = {}
        dump = os.path.join(vm.tmp, "screen.ppm")
        while time.monotonic() - start < LIMIT:
            if grub_menu_shown(qmp_screen(c, dump, font, cache=cache)):
                break
            check(vm.proc.poll() is None, "deskvm-vm exited: %s" % vm.stderr())
            time.sleep(2)
        else:
            raise TestFailure("no GRUB menu after the restore within %.0f s; serial: %r"
                              % (LIMIT, vm.serial()[-400:]))
        print("GRUB menu on screen after %.0f s" % (time.monotonic() - start))
    finally:
        vm.cleanup()


main(run)
