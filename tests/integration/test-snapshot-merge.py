#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""test-snapshot-merge: snapshot-delete merges a deleted snapshot's image into its only child
(docs/snapshots.md, "Delete"), on the virtio-blk-bench guest in crash=1 mode (8 requests in
flight on a qcow2 disk).

usage: test-snapshot-merge.py DESKVM_VM VIRTIO_BLK_BENCH_ELF

Proves: take Z, write, take A, write, take B, write, delete A -> B's image and the active
disk read back exactly as before (qemu-img convert), A's image is gone, the active chain is
one image shorter, qemu-img check is clean on every image (the active overlay, open for
writing, may show leaked clusters, as docs/qcow2.md allows), and the guest's I/O goes on
(the running VM reopened its chain); delete B (its only child is the running VM's active
overlay) -> the same; a guest reading every block of the final disk (crash=2) finds each one
whole, and orphaned checkpoint/thumbnail files of deleted snapshots are swept when the tree
is opened. Then a SIGKILL while the engine merges a 192 MiB image: an engine restarted on the
directory finds a consistent tree (the snapshot still there, or gone with its image merged),
every image checks clean, the disk reads as before, and the delete then completes.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from deskvm_harness import Engine, check, main, require_kvm, skip, wait_for  # noqa: E402
from snaptree_helpers import disk_hash, index, more_ops, qemu_img  # noqa: E402


def chain(path):
    r = qemu_img("info", "-U", "--backing-chain", "--output=json", path)
    check(r.returncode == 0, "qemu-img info %s: %s" % (path, r.stderr))
    return [os.path.realpath(i["filename"]) for i in json.loads(r.stdout)]


def check_clean(path, active=()):
    """qemu-img check: no error. An image the engine has open for writing (or had, when it was
    killed) may hold leaked clusters (exit status 3, docs/qcow2.md "Write ordering"); every
    other image must be spotless."""
    r = qemu_img("check", "-U", path)
    ok = (0, 3) if path in active else (0,)
    check(r.returncode in ok, "qemu-img check %s: %s %s" % (path, r.stdout, r.stderr))


def all_images(snapdir, disk):
    ix = index(snapdir)
    return sorted(set(list(ix["images"].keys()) + ix["active"] + [disk]))


def boot(binary, elf, disk, snapdir, tmp, mode=1, paused=False):
    return Engine(binary, (["--paused"] if paused else []) + ["--kernel", elf, "--append", "cpus=1 mem=160M crash=%d now=5" % mode,
                           "--cpus", "1", "--memory", "160", "--snapshot-dir", snapdir,
                           "--disk", "file=%s,format=qcow2" % disk],
                  tmp=tempfile.mkdtemp(dir=tmp))


def boot_new(binary, elf, tmp, name, size):
    """A fresh qcow2 disk NAME.qcow2 and snapshot directory NAME-snaps, and an engine on them."""
    disk = os.path.join(tmp, name + ".qcow2")
    snapdir = os.path.join(tmp, name + "-snaps")
    check(qemu_img("create", "-q", "-f", "qcow2", disk, size).returncode == 0, "create")
    return disk, snapdir, boot(binary, elf, disk, snapdir, tmp)


def merge_while_running(binary, elf, tmp):
    disk, snapdir, vm = boot_new(binary, elf, tmp, "disk", "32M")
    try:
        c = vm.qmp()
        vm.wait_serial("blk-crash: writing", 30)
        ids = {}
        for name in ("Z", "A", "B"):
            more_ops(vm, 1, "before " + name)
            ids[name] = c.cmd("snapshot-take", {"name": name}, timeout=60)["id"]
        more_ops(vm, 1, "after B")
        c.cmd("stop")
        snaps = {s["name"]: s for s in c.cmd("query-snapshots")}
        img_a, img_b = snaps["A"]["disks"][0], snaps["B"]["disks"][0]
        active = index(snapdir)["active"][0]
        before = chain(active)
        check(len(before) == 4 and before[1] == os.path.realpath(img_b)
              and before[2] == os.path.realpath(img_a), "chain before: %r" % before)
        h_b, h_active = disk_hash(img_b, tmp), disk_hash(active, tmp)
        c.cmd("cont")

        # A's image has one child (B's image): merged into it while the guest writes.
        c.cmd("snapshot-delete", {"id": ids["A"]}, timeout=120)
        check(c.status() == "running", "status after the merge")
        more_ops(vm, 2, "after deleting A")
        c.cmd("stop")
        active2 = index(snapdir)["active"][0]
        check(active2 == active, "the active overlay changed name: %r" % active2)
        after = chain(active)
        check(after == [before[0], before[1], before[3]], "chain after delete A: %r" % after)
        check(not os.path.exists(img_a), "A's image %r is still there" % img_a)
        check(disk_hash(img_b, tmp) == h_b, "B's disk changed in the merge")
        for p in all_images(snapdir, disk):
            check_clean(p, index(snapdir)["active"])
        check(os.stat(img_b).st_mode & 0o222 == 0, "B's image is writable after the merge")
        print("delete A: chain %d -> %d images, B's disk unchanged, qemu-img check clean"
              % (len(before), len(after)))

        # B's only child is the active overlay: merged with the guest paused.
        h_active = disk_hash(active, tmp)
        c.cmd("snapshot-delete", {"id": ids["B"]}, timeout=120)
        check(c.status() == "paused", "a paused VM was resumed by the delete")
        check(disk_hash(active, tmp) == h_active, "the active disk changed in the merge")
        final = chain(active)
        check(final == [before[0], before[3]], "chain after delete B: %r" % final)
        check(not os.path.exists(img_b), "B's image is still there")
        for p in all_images(snapdir, disk):
            check_clean(p, index(snapdir)["active"])
        c.cmd("cont")
        more_ops(vm, 2, "after deleting B")
        check([s["name"] for s in c.cmd("query-snapshots")] == ["Z"], "tree after deletes")
        c.cmd("snapshot-revert", {"id": ids["Z"]}, timeout=60)
        more_ops(vm, 1, "after reverting to Z")
        c.cmd("stop")
        active = index(snapdir)["active"][0]
        c.cmd("quit")
        vm.wait_exit(30)
        print("delete B (child active): disk unchanged, chain %d images, revert works"
              % len(final))
    finally:
        vm.cleanup()

    # What a crash after the index write would leave: the deleted snapshots' files. The next
    # engine that opens the tree removes them, and nothing else.
    orphans = [os.path.join(snapdir, "snap-%s.dvs" % ids["A"]),
               os.path.join(snapdir, "snap-%s.png" % ids["B"])]
    keep = os.path.join(snapdir, "snap-%s.dvs.keep" % ids["A"])
    for p in orphans + [keep]:
        open(p, "wb").close()
    # The guest reads every block of what is left: each is whole and in its place.
    vm = boot(binary, elf, active, snapdir, tmp, mode=2)
    try:
        check([s["name"] for s in vm.qmp().cmd("query-snapshots")] == ["Z"], "tree after restart")
        check(not any(os.path.exists(p) for p in orphans) and os.path.exists(keep),
              "orphaned checkpoint/thumbnail files were not swept (or too much was)")
        vm.wait_serial("blk-crash: verified", 120)
        check("FAIL" not in vm.serial(), "crash=2: %r" % vm.serial()[-300:])
    finally:
        vm.cleanup()


def kill_mid_merge(binary, elf, tmp):
    disk, snapdir, vm = boot_new(binary, elf, tmp, "big", "256M")
    try:
        c = vm.qmp()
        vm.wait_serial("blk-crash: writing", 30)
        c.cmd("snapshot-take", {"name": "Z"}, timeout=60)
        c.cmd("quit")
        vm.wait_exit(30)
    finally:
        vm.cleanup()
    # 192 MiB of data in the overlay that snapshot A will freeze: a merge that takes a while.
    over = index(snapdir)["active"][0]
    r = subprocess.run(["qemu-io", "-f", "qcow2", "-c", "write -P 0x5a 32M 192M", over],
                       capture_output=True, text=True)
    check(r.returncode == 0, "qemu-io: %s" % r.stderr)
    vm = boot(binary, elf, over, snapdir, tmp)
    try:
        c = vm.qmp()
        vm.wait_serial("blk-crash: writing", 30)
        id_a = c.cmd("snapshot-take", {"name": "A"}, timeout=60)["id"]
        c.cmd("stop")
        active = index(snapdir)["active"][0]
        h = disk_hash(active, tmp)
        n_before = len(chain(active))
        c.send_raw(json.dumps({"execute": "snapshot-delete", "arguments": {"id": id_a}}) + "\n")
        tmpfile = active + ".merge"
        wait_for(lambda: os.path.exists(tmpfile) or not os.path.exists(over), 60,
                 "the merge to start")
        mid = os.path.exists(tmpfile)
        os.kill(vm.proc.pid, signal.SIGKILL)
        vm.proc.wait()
        print("SIGKILL %s" % ("while the merged image was being written" if mid
                              else "after the merge (it finished first)"))
    finally:
        vm.cleanup()
    ix = index(snapdir)
    names = [s["name"] for s in ix["snapshots"]]
    check(names in (["Z", "A"], ["Z"]), "tree after the kill: %r" % names)
    if "A" in names:
        check(os.path.exists(over), "A is listed but its image is gone")
    check(disk_hash(active, tmp) == h, "the disk changed across the killed merge")
    for p in all_images(snapdir, disk):
        if os.path.exists(p):
            check_clean(p, ix["active"])
    vm = boot(binary, elf, active, snapdir, tmp, paused=True)  # no guest writes
    try:
        c = vm.qmp()
        listed = [s["name"] for s in c.cmd("query-snapshots")]  # opens the tree
        check(not os.path.exists(active + ".merge"), "the cut-short merge file was left")
        if "A" in listed:
            c.cmd("snapshot-delete", {"id": id_a}, timeout=300)
        check([s["name"] for s in c.cmd("query-snapshots")] == ["Z"], "tree after the delete")
        c.cmd("stop")
        check(disk_hash(active, tmp) == h, "the disk changed in the completed merge")
        check(len(chain(active)) == n_before - 1, "chain not shortened: %r" % chain(active))
        check(not os.path.exists(over), "A's image is still there")
        for p in all_images(snapdir, disk):
            check_clean(p, index(snapdir)["active"])
        print("after the kill: consistent tree, the delete completes, chain %d -> %d"
              % (n_before, n_before - 1))
    finally:
        vm.cleanup()


def run():
    require_kvm()
    if shutil.which("qemu-img") is None or shutil.which("qemu-io") is None:
        skip("qemu-img / qemu-io are not installed")
    binary, elf = sys.argv[1], sys.argv[2]
    tmp = tempfile.mkdtemp(prefix="deskvm-snapshot-merge-")
    try:
        merge_while_running(binary, elf, tmp)
        kill_mid_merge(binary, elf, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main(run)
