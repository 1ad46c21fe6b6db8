# SPDX-License-Identifier: GPL-2.0-or-later
"""Helpers of the snapshot-tree integration tests (test-snapshot-tree.py,
test-snapshot-merge.py): qemu-img, a disk's contents as a hash, the tree's index, and waiting
for the virtio-blk-bench guest's crash=1 progress lines."""
import hashlib
import json
import os
import subprocess

from deskvm_harness import check, wait_for


def qemu_img(*args):
    return subprocess.run(["qemu-img"] + list(args), capture_output=True, text=True)


def disk_hash(path, tmp):
    """sha256 of what the image reads as (qemu-img convert to raw, -U: it may be open)."""
    raw = os.path.join(tmp, "read.raw")
    r = qemu_img("convert", "-U", "-O", "raw", path, raw)
    check(r.returncode == 0, "qemu-img convert %s: %s" % (path, r.stderr))
    h = hashlib.sha256()
    with open(raw, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    os.unlink(raw)
    return h.hexdigest()


def index(snapdir):
    with open(os.path.join(snapdir, "snapshots.json")) as f:
        return json.load(f)


def more_ops(vm, n, what):
    """Wait for n more "blk-crash: ops=" lines; the guest must not report a failure."""
    since = vm.serial_size()
    wait_for(lambda: vm.serial()[since:].count("blk-crash: ops=") >= n
             or vm.proc.poll() is not None, 60, "%s: guest I/O" % what)
    s = vm.serial()
    check(vm.proc.poll() is None and "FAIL" not in s and "stuck" not in s,
          "%s: the guest reports %r %r" % (what, s[-300:], vm.stderr()[-300:]))
