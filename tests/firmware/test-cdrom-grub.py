#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""test-cdrom-grub (docs/firmware.md): first, with no boot device, SeaBIOS's banner and "No
bootable device." must be on the VGA text screen (the VGA BIOS from fw_cfg at work); a
checkpoint of that VM restores with its firmware into a fresh engine (--restore), keeps
running, and starts SeaBIOS again on system_reset. Then
Debian's SeaBIOS boots Debian's grub-rescue-cdrom.iso
from the AHCI CD-ROM (El Torito) with --display vga, and the GRUB menu must appear on the VGA
text screen, read back from QMP screendump with deskvm's own font. Then QMP eject and
blockdev-change-medium on the running VM, and their errors.

usage: test-cdrom-grub.py DESKVM_VM VGA_FONT_C
"""
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
from deskvm_harness import (Engine, TestFailure, check, main, require_kvm, skip,  # noqa: E402
                            wait_for)
from screen import grub_menu_shown, load_font, qmp_screen, read_ppm  # noqa: E402

ISO = "/usr/lib/grub-rescue/grub-rescue-cdrom.iso"
BIOS = "/usr/share/seabios/bios-256k.bin"
VGABIOS = "/usr/share/seabios/vgabios-stdvga.bin"
LIMIT = float(os.environ.get("DESKVM_FIRMWARE_TIMEOUT", "270"))


def screen(c, tmp, font):
    return qmp_screen(c, os.path.join(tmp, "screen.ppm"), font)


def banner(vm_bin, font):
    """No disk: SeaBIOS prints its banner, finds nothing and waits 60 s before retrying."""
    tmp = tempfile.mkdtemp(prefix="deskvm-banner-")
    vm = Engine(vm_bin, ["--firmware", "bios", "--memory", "128M", "--display", "vga"], tmp=tmp)
    try:
        c = vm.qmp()
        vm.wait_serial("No bootable device", 90)
        last = [""]

        def on_screen():
            last[0] = "\n".join(screen(c, tmp, font))
            return "SeaBIOS (version" in last[0] and "No bootable device." in last[0]
        wait_for(on_screen, 30, lambda: "the BIOS text on the VGA screen (%s):\n%s"
                 % (read_ppm(os.path.join(tmp, "screen.ppm"))[:2], last[0]), interval=1)
        print("SeaBIOS banner on the VGA screen")
        # A checkpoint of a firmware VM restores with its firmware (not as a kernel boot):
        # the restored SeaBIOS, reset, starts over from the ROM with its shadow RAM and PAM.
        snap = os.path.join(tmp, "bios.dvs")
        check(c.cmd("snapshot-save", {"file": snap}, timeout=60) == {}, "snapshot-save")
        c.cmd("quit")
        vm.wait_exit(30)
        rtmp = tempfile.mkdtemp(prefix="deskvm-banner-restore-")
        restored = Engine(vm_bin, ["--restore", snap, "--display", "vga"], tmp=rtmp)
        try:
            rc = restored.qmp()
            time.sleep(2)  # SeaBIOS waits in its shadow RAM copy: wrong PAM runs garbage
            check(rc.status() == "running", "status of the restored firmware VM: %s"
                  % restored.stderr()[-400:])
            check(rc.cmd("system_reset") == {}, "system_reset")
            restored.wait_serial("SeaBIOS (version", 90)
            check(rc.status() == "running", "the restored VM after its reset: %s"
                  % restored.stderr()[-400:])
            print("restored from a checkpoint and reset: SeaBIOS starts again")
        finally:
            restored.cleanup()
    finally:
        vm.cleanup()


def run():
    vm_bin, font_c = sys.argv[1], sys.argv[2]
    for f, pkg in ((ISO, "grub-rescue-pc"), (BIOS, "seabios"), (VGABIOS, "seabios")):
        if not os.path.exists(f):
            skip("%s missing (apt-get install %s)" % (f, pkg))
    require_kvm()
    font = load_font(font_c)
    banner(vm_bin, font)
    tmp = tempfile.mkdtemp(prefix="deskvm-cdrom-")
    start = time.monotonic()
    vm = Engine(vm_bin, ["--firmware", "bios", "--memory", "256M", "--display", "vga",
                         "--cdrom", ISO], tmp=tmp)
    try:
        c = vm.qmp()
        vm.wait_serial("Booting from DVD/CD", LIMIT)
        text = []
        while time.monotonic() - start < LIMIT:
            text = screen(c, tmp, font)
            if grub_menu_shown(text):
                break
            check(vm.proc.poll() is None, "deskvm-vm exited: %s" % vm.stderr())
            time.sleep(3)
        else:
            raise TestFailure("no GRUB menu on the screen after %.0f s; last screen:\n%s\n"
                                 "serial: %r" % (LIMIT, "\n".join(text), vm.serial()[-400:]))
        print("GRUB menu on screen after %.0f s" % (time.monotonic() - start))

        # media change through QMP
        check(c.cmd("eject", {"device": "cd0"}) == {}, "eject")
        check(c.cmd("eject", {"id": "cd0", "force": True}) == {}, "eject of an empty drive")
        check(c.cmd("blockdev-change-medium", {"id": "cd0", "filename": ISO,
                                               "format": "raw"}) == {}, "change medium")
        e = c.error("eject", {"device": "ide1-cd0"})
        check(e["class"] == "DeviceNotFound", "unknown drive: %r" % e)
        e = c.error("blockdev-change-medium", {"device": "cd0",
                                               "filename": os.path.join(tmp, "nope.iso")})
        check(e["class"] == "GenericError" and "nope.iso" in e["desc"], "missing ISO: %r" % e)
        e = c.error("blockdev-change-medium", {"device": "cd0", "filename": ISO,
                                               "format": "qcow2"})
        check(e["class"] == "GenericError", "qcow2 medium: %r" % e)
        c.error("eject", {})
        check(vm.proc.poll() is None, "deskvm-vm exited after the media changes")
    finally:
        vm.cleanup()


main(run)
