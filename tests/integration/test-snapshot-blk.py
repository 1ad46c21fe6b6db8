#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""test-snapshot-blk: checkpoints of a VM whose disk is busy (issue 6; docs/snapshots.md,
"Quiescing"). The virtio-blk-bench guest with crash=1 keeps 8 requests in flight on a qcow2
disk forever (writes, overwrites, discards, write-zeroes, flushes) and checks every used-ring
entry it gets back; a second, idle qcow2 disk makes the VM carry two virtio-blk devices.

usage: test-snapshot-blk.py DESKVM_VM VIRTIO_BLK_BENCH_ELF

Proves: snapshot-save in the middle of the guest's I/O drains the requests in flight and
writes a checkpoint (with two devices of one type); the guest keeps completing requests after
it; snapshot-load of that checkpoint puts the guest back and its I/O goes on without an error
(a request lost or completed twice makes the guest fail: "stuck" or "used id"); a second load
of the same file does the same, and so does a live save (snapshot-save "live") taken mid-I/O; the image then passes `qemu-img check` and a reread by the
guest (crash=2) finds every block zeroes or carrying its own tag.
"""
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from deskvm_harness import Engine, check, main, require_kvm, skip, wait_for  # noqa: E402

EXIT_GUEST_PASS = 33


def qemu_img(*args):
    return subprocess.run(["qemu-img"] + list(args), capture_output=True, text=True)


def ops_lines(text):
    return text.count("blk-crash: ops=")


def check_guest_ok(vm, what):
    s = vm.serial()
    check(vm.proc.poll() is None, "%s: deskvm-vm exited (%s): %r %r"
          % (what, vm.proc.returncode, s[-300:], vm.stderr()[-300:]))
    check("FAIL" not in s and "stuck" not in s, "%s: the guest reports %r" % (what, s[-400:]))


def wait_more_ops(vm, since, n, what):
    wait_for(lambda: ops_lines(vm.serial()[since:]) >= n or vm.proc.poll() is not None, 60,
             lambda: "%s: %d more 'ops=' lines (serial ends %r)" % (what, n, vm.serial()[-300:]))
    check_guest_ok(vm, what)


def run():
    require_kvm()
    if shutil.which("qemu-img") is None:
        skip("qemu-img is not installed")
    binary, elf = sys.argv[1], sys.argv[2]
    tmp = tempfile.mkdtemp(prefix="deskvm-snapshot-blk-")
    try:
        disk = os.path.join(tmp, "disk.qcow2")
        idle = os.path.join(tmp, "idle.qcow2")
        for path, size in ((disk, "32M"), (idle, "8M")):
            check(qemu_img("create", "-q", "-f", "qcow2", path, size).returncode == 0,
                  "qemu-img create failed")
        args = ["--kernel", elf, "--append", "cpus=1 mem=160M crash=1 now=77", "--cpus", "1",
                "--memory", "160",
                "--disk", "file=%s,format=qcow2,cache=writeback" % disk,
                "--disk", "file=%s,format=qcow2,cache=writeback" % idle]
        vm = Engine(binary, args, tmp=tempfile.mkdtemp(dir=tmp))
        try:
            c = vm.qmp()
            vm.wait_serial("blk-crash: writing", 30)
            wait_more_ops(vm, 0, 1, "before the save")
            snap = os.path.join(tmp, "busy.dvs")
            check(c.cmd("snapshot-save", {"file": snap}, timeout=60) == {}, "snapshot-save")
            check(c.status() == "running", "status after snapshot-save")
            print("saved mid-I/O after %d ops lines" % ops_lines(vm.serial()))
            wait_more_ops(vm, vm.serial_size(), 2, "after the save")
            for i in range(2):
                since = vm.serial_size()
                check(c.cmd("snapshot-load", {"file": snap}, timeout=60) == {},
                      "snapshot-load %d" % (i + 1))
                check(c.status() == "running", "status after snapshot-load")
                wait_more_ops(vm, since, 2, "after load %d" % (i + 1))
                print("load %d: the guest's I/O goes on" % (i + 1))
            # Live: the RAM is written while the guest's requests complete into it; the
            # buffers and used-ring entries the device writes meanwhile must be in the file.
            live = os.path.join(tmp, "busy-live.dvs")
            check(c.cmd("snapshot-save", {"file": live, "live": True}, timeout=60) == {},
                  "live snapshot-save")
            check(c.status() == "running", "status after a live snapshot-save")
            wait_more_ops(vm, vm.serial_size(), 2, "after the live save")
            since = vm.serial_size()
            check(c.cmd("snapshot-load", {"file": live}, timeout=60) == {},
                  "snapshot-load of the live save")
            wait_more_ops(vm, since, 2, "after loading the live save")
            print("live save mid-I/O loaded: the guest's I/O goes on")
            c.cmd("stop")
            c.close()
        finally:
            vm.cleanup()
        r = qemu_img("check", "-f", "qcow2", disk)
        check(r.returncode in (0, 3), "qemu-img check exit %d:\n%s" % (r.returncode, r.stdout))
        vm = Engine(binary, ["--kernel", elf, "--append", "cpus=1 mem=160M crash=2 now=1",
                             "--cpus", "1", "--memory", "160",
                             "--disk", "file=%s,format=qcow2" % disk],
                    qmp=False, tmp=tempfile.mkdtemp(dir=tmp))
        try:
            rc = vm.wait_exit(60)
            check(rc == EXIT_GUEST_PASS, "reread: exit %d, serial %r" % (rc, vm.serial()[-400:]))
        finally:
            vm.cleanup()
        print("image checked and reread: every block in place")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main(run)
