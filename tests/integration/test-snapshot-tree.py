#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""test-snapshot-tree: the snapshot tree with qcow2 overlays (docs/snapshots.md) on the
virtio-blk-bench guest in crash=1 mode (8 requests in flight on a qcow2 disk, every
completion checked by the guest).

usage: test-snapshot-tree.py DESKVM_VM VIRTIO_BLK_BENCH_ELF

Proves: snapshot-take mid-I/O freezes the disk (the frozen image no longer changes while the
guest writes on) and records the snapshot in query-snapshots and snapshots.json; after more
writes, snapshot-revert gives a disk that reads back exactly the frozen image (qemu-img
convert of the new active overlay) and the guest's memory state that goes with it (its I/O
carries on without an error); a second snapshot has the first as parent; snapshot-delete of
the first re-parents the second, removes the checkpoint and keeps the image still used as a
backing file; a raw disk makes snapshot-take fail with a clear error; the index survives an
engine restart and a revert then works in the new engine.
"""
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from deskvm_harness import Engine, check, main, require_kvm, skip  # noqa: E402
from snaptree_helpers import disk_hash, index, more_ops, qemu_img  # noqa: E402


def ops(vm):
    return vm.serial().count("blk-crash: ops=")


def boot(binary, elf, disk, snapdir, tmp, fmt="qcow2"):
    return Engine(binary, ["--kernel", elf, "--append", "cpus=1 mem=160M crash=1 now=5",
                           "--cpus", "1", "--memory", "160", "--snapshot-dir", snapdir,
                           "--disk", "file=%s,format=%s" % (disk, fmt)],
                  tmp=tempfile.mkdtemp(dir=tmp))


def run():
    require_kvm()
    if shutil.which("qemu-img") is None:
        skip("qemu-img is not installed")
    binary, elf = sys.argv[1], sys.argv[2]
    tmp = tempfile.mkdtemp(prefix="deskvm-snapshot-tree-")
    try:
        # A raw disk: refused with a clear error, nothing written.
        raw = os.path.join(tmp, "disk.raw")
        check(qemu_img("create", "-q", "-f", "raw", raw, "32M").returncode == 0, "create raw")
        vm = boot(binary, elf, raw, os.path.join(tmp, "rawsnaps"), tmp, "raw")
        try:
            c = vm.qmp()
            e = c.error("snapshot-take", {"name": "x"})
            check("raw" in e["desc"] and "qcow2" in e["desc"], "raw disk error: %r" % e)
            check(not os.path.exists(os.path.join(tmp, "rawsnaps", "snapshots.json")),
                  "a refused snapshot wrote an index")
        finally:
            vm.cleanup()

        disk = os.path.join(tmp, "disk.qcow2")
        snapdir = os.path.join(tmp, "snaps")
        check(qemu_img("create", "-q", "-f", "qcow2", disk, "32M").returncode == 0, "create")
        vm = boot(binary, elf, disk, snapdir, tmp)
        try:
            c = vm.qmp()
            vm.wait_serial("blk-crash: writing", 30)
            more_ops(vm, 1, "before the snapshot")
            r = c.cmd("snapshot-take", {"name": "first", "description": "mid-I/O"}, timeout=60)
            id1 = r["id"]
            check(c.status() == "running", "status after snapshot-take")
            snaps = c.cmd("query-snapshots")
            check(len(snaps) == 1 and snaps[0]["id"] == id1 and snaps[0]["name"] == "first"
                  and snaps[0]["description"] == "mid-I/O" and snaps[0]["parent"] is None
                  and snaps[0]["current"] and snaps[0]["created"] > 0, "query: %r" % snaps)
            frozen = snaps[0]["disks"][0]
            check(os.path.realpath(frozen) == os.path.realpath(disk), "frozen image %r" % frozen)
            active1 = index(snapdir)["active"][0]
            check(active1 != frozen, "no overlay became active")
            h1 = disk_hash(disk, tmp)
            more_ops(vm, 3, "after the snapshot")
            c.cmd("stop")
            check(disk_hash(disk, tmp) == h1, "the frozen image changed after snapshot-take")
            check(disk_hash(active1, tmp) != h1, "the guest's writes did not reach the overlay")
            c.cmd("snapshot-revert", {"id": id1}, timeout=60)
            check(c.status() == "paused", "revert while paused resumed the VM")
            active2 = index(snapdir)["active"][0]
            check(active2 != active1 and not os.path.exists(active1),
                  "revert: the old overlay %r is still there (new %r)" % (active1, active2))
            check(disk_hash(active2, tmp) == h1, "after revert the disk is not the snapshot's")
            c.cmd("cont")
            more_ops(vm, 2, "after the revert")
            print("revert: disk equals the frozen image, guest I/O goes on")

            id2 = c.cmd("snapshot-take", {"name": "second"}, timeout=60)["id"]
            snaps = c.cmd("query-snapshots")
            check([s["parent"] for s in snaps if s["id"] == id2] == [id1], "parent: %r" % snaps)
            c.cmd("snapshot-delete", {"id": id1})
            snaps = c.cmd("query-snapshots")
            check(len(snaps) == 1 and snaps[0]["id"] == id2 and snaps[0]["parent"] is None,
                  "after delete: %r" % snaps)
            check(not os.path.exists(os.path.join(snapdir, "snap-%s.dvs" % id1)),
                  "the deleted snapshot's checkpoint is still there")
            check(os.path.exists(disk), "the base image was deleted while still a backing file")
            e = c.error("snapshot-revert", {"id": id1})
            check("no snapshot" in e["desc"], "revert of a deleted id: %r" % e)
            more_ops(vm, 1, "after the delete")
            c.cmd("quit")
            vm.wait_exit(30)
        finally:
            vm.cleanup()

        # A new engine on the active overlay: the same tree, and a revert works.
        active = index(snapdir)["active"][0]
        vm = boot(binary, elf, active, snapdir, tmp)
        try:
            c = vm.qmp()
            snaps = c.cmd("query-snapshots")
            check([(s["id"], s["name"]) for s in snaps] == [(id2, "second")],
                  "after restart: %r" % snaps)
            c.cmd("snapshot-revert", {"id": id2}, timeout=60)
            more_ops(vm, 2, "after the revert in a new engine")
            print("restart: tree kept, revert works")
        finally:
            vm.cleanup()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main(run)
