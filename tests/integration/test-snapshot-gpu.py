#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""test-snapshot-gpu: virtio-gpu state in checkpoints (docs/snapshot-format.md, "virtio-gpu").
The virtio-gpu guest (tests/guest/tests/virtio-gpu.c, interactive=1) creates its resources,
draws, transfers (the last transfer covers only a part of what it redrew, so the host copy
and the guest's pages differ) and flushes, sets a cursor, then waits for input.

usage: test-snapshot-gpu.py DESKVM_VM VIRTIO_GPU_ELF

Proves: snapshot-save of that VM succeeds; a fresh engine started with --restore shows a
screen that equals the pre-save screendump byte for byte without the guest re-creating
anything (the guest is still waiting for input); a snapshot-load of the same file into that
engine gives the same screen again; a checkpoint whose virtio-gpu section (checksums
re-sealed) puts scanout 0 on a resource that is not there is refused naming the section, the
screen unchanged; the restored guest's virtio-gpu and input devices go on
(it reads pointer events and a key, and passes).
"""
import importlib.util
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from deskvm_harness import Engine, check, free_port, main, require_kvm  # noqa: E402
import rfb_client  # noqa: E402

# test-snapshot.py's checkpoint helpers (section lookup, re-sealing after an edit).
_spec = importlib.util.spec_from_file_location(
    "snapshot_test", os.path.join(os.path.dirname(os.path.abspath(__file__)), "test-snapshot.py"))
snapshot_test = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(snapshot_test)

# The tail of virtio-gpu.resources in its payload: vmstate header, then the cursor fields
# (events_read, hot x/y, x/y, visible, the 64x64 image); its first word is scanout 0's resource.
TAIL = 8 + 4 + 16 + 1 + 64 * 64 * 4


def screendump(c, tmp, name):
    path = os.path.join(tmp, name + ".ppm")
    c.cmd("screendump", {"filename": path, "format": "ppm"})
    with open(path, "rb") as f:
        return f.read()


def run():
    require_kvm()
    binary, elf = sys.argv[1], sys.argv[2]
    tmp = tempfile.mkdtemp(prefix="deskvm-snapshot-gpu-")
    args = ["--kernel", elf, "--append", "interactive=1", "--display", "virtio-gpu"]
    ckpt = os.path.join(tmp, "gpu.dvs")
    try:
        vm = Engine(binary, args, tmp=tempfile.mkdtemp(dir=tmp))
        try:
            c = vm.qmp()
            vm.wait_serial("input ready", timeout=60)
            c.cmd("stop")
            before = screendump(c, tmp, "before")
            c.cmd("snapshot-save", {"file": ckpt}, timeout=60)
            check(screendump(c, tmp, "after-save") == before, "the save changed the screen")
            c.cmd("quit")
            vm.wait_exit(30)
        finally:
            vm.cleanup()
        print("saved %d bytes with the virtio-gpu resources" % os.path.getsize(ckpt))

        port = free_port(5950, 5999)
        vm = Engine(binary, ["--paused", "--restore", ckpt, "--display", "virtio-gpu",
                             "--vnc", "127.0.0.1:%d" % port],
                    tmp=tempfile.mkdtemp(dir=tmp))
        try:
            c = vm.qmp()
            restored = screendump(c, tmp, "restored")
            check(restored == before, "the restored screen differs from the saved one "
                  "(%d vs %d bytes)" % (len(restored), len(before)))
            print("--restore: screendump equals the pre-save one byte for byte")
            c.cmd("snapshot-load", {"file": ckpt}, timeout=60)
            check(screendump(c, tmp, "loaded") == before, "snapshot-load: screen differs")
            # Checksums right, contents wrong: scanout 0 on a resource that is not there.
            bad = os.path.join(tmp, "bad.dvs")
            if snapshot_test.reseal_device(ckpt, bad, "virtio-gpu.resources", TAIL, 0x7f):
                e = c.error("snapshot-load", {"file": bad})
                check("'virtio-gpu.resources'" in e["desc"], "refused section: %r" % e)
                check(screendump(c, tmp, "refused") == before, "a refused load changed the screen")
                print("refused: %s" % e["desc"])
            serial = vm.serial_size()
            c.cmd("cont")
            # The guest reads the tablet and the keyboard (virtio-input) until a key is up.
            c.cmd("input-send-event", {"events": [
                {"type": "abs", "data": {"axis": "x", "value": 1234}},
                {"type": "abs", "data": {"axis": "y", "value": 30000}},
                {"type": "btn", "data": {"down": True, "button": "left"}}]})
            vm.wait_serial("evdev tablet 3 1 30000", timeout=30)
            # QMP keys go to the PS/2 keyboard; VNC keys to the virtio keyboard.
            rfb = rfb_client.Rfb(port)
            check((rfb.w, rfb.h) == (320, 200), "VNC desktop %dx%d" % (rfb.w, rfb.h))
            rfb.key(0x61, True)
            rfb.key(0x61, False)
            rc = vm.wait_exit(60)
            out = vm.serial()[serial:]
            check("evdev kbd 1 30 1" in out and rc == 33,
                  "the restored guest: exit %d, %r" % (rc, out[-300:]))
            print("restored guest: exit status %d" % rc)
        finally:
            vm.cleanup()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main(run)
