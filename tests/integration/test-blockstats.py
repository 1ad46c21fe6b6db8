#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""test-blockstats: QMP query-blockstats (docs/qmp.md) on the virtio-blk-bench guest in
crash=1 mode (8 requests in flight forever on a qcow2 disk: writes of 4..128 KiB, flushes,
discards, write-zeroes; "blk-crash: ops=N" every 1024 completions), with an idle SATA disk,
an idle second virtio disk and a CD-ROM beside it.

usage: test-blockstats.py DESKVM_VM VIRTIO_BLK_BENCH_ELF

Proves: one entry per drive, named disk0.. in --disk order on either bus then cd0 (the name eject uses), with
its bus and image; the busy disk's counters agree with what the guest did (at least as many
completions as the guest counted, 4 KiB to 128 KiB a write and 4 KiB to 1 MiB an unmap
(less where a request meets the disk's end), flushes and
unmaps seen, nothing failed); the idle drives read all zero; while the VM is stopped the
counters do not move (a stopped VM starts no I/O), after 'cont' they grow; an unexpected
argument is refused.
"""
import os
import re
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from deskvm_harness import Engine, check, main, require_kvm, skip, wait_for  # noqa: E402
from snaptree_helpers import qemu_img  # noqa: E402

OPS_RE = re.compile(r"blk-crash: ops=(\d+)\r?\n")


def guest_ops(vm):
    n = [int(m.group(1)) for m in OPS_RE.finditer(vm.serial())]
    return n[-1] if n else 0


def total_ops(s):
    return sum(s[k] for k in ("rd_operations", "wr_operations", "flush_operations",
                              "unmap_operations"))


def run():
    require_kvm()
    if shutil.which("qemu-img") is None:
        skip("qemu-img is not installed")
    binary, elf = sys.argv[1], sys.argv[2]
    tmp = tempfile.mkdtemp(prefix="deskvm-blockstats-")
    try:
        busy = os.path.join(tmp, "busy.qcow2")
        sata = os.path.join(tmp, "sata.raw")
        idle = os.path.join(tmp, "idle.raw")
        iso = os.path.join(tmp, "cd.iso")
        check(qemu_img("create", "-q", "-f", "qcow2", busy, "32M").returncode == 0,
              "qemu-img create")
        for path, size in ((sata, 8 << 20), (idle, 8 << 20), (iso, 1 << 20)):
            with open(path, "wb") as f:
                f.truncate(size)
        vm = Engine(binary, ["--kernel", elf, "--append", "cpus=1 mem=160M crash=1 now=9",
                             "--cpus", "1", "--memory", "160",
                             "--disk", "file=%s,format=qcow2" % busy,
                             "--disk", "file=%s,format=raw,bus=sata" % sata,
                             "--disk", "file=%s,format=raw" % idle,
                             "--cdrom", iso], tmp=tempfile.mkdtemp(dir=tmp))
        try:
            c = vm.qmp()
            wait_for(lambda: guest_ops(vm) >= 2048, 60,
                     lambda: "2048 guest completions (serial ends %r)" % vm.serial()[-200:])
            c.cmd("stop")
            q1 = c.cmd("query-blockstats")
            names = [(d["device"], d["bus"], d.get("file")) for d in q1]
            check(names == [("disk0", "virtio", busy), ("disk1", "sata", sata),
                            ("disk2", "virtio", idle), ("cd0", "sata", iso)],
                  "drives: %r" % names)
            s = q1[0]["stats"]
            n = guest_ops(vm)
            check(total_ops(s) >= n, "%d requests counted, the guest saw %d" % (total_ops(s), n))
            check(s["wr_operations"] > 0 and s["flush_operations"] > 0
                  and s["unmap_operations"] > 0, "busy disk: %r" % s)
            check(4096 * s["wr_operations"] <= s["wr_bytes"] <= 131072 * s["wr_operations"],
                  "write bytes %d for %d writes" % (s["wr_bytes"], s["wr_operations"]))
            check(4096 * s["unmap_operations"] <= s["unmap_bytes"]
                  <= (1 << 20) * s["unmap_operations"],
                  "unmap bytes %d for %d requests" % (s["unmap_bytes"], s["unmap_operations"]))
            check(s["rd_operations"] == 0 and s["rd_bytes"] == 0, "the guest never reads: %r" % s)
            failed = [k for k in s if k.startswith("failed_") and s[k]]
            check(not failed, "failed requests: %r" % failed)
            check(s["wr_total_time_ns"] > 0, "no write time: %r" % s)
            for d in q1[1:]:
                busy_keys = [k for k, v in d["stats"].items() if v]
                check(not busy_keys, "%s is idle but counts %r" % (d["device"], busy_keys))
            print("stopped after %d guest completions: %d writes (%d MiB), %d flushes, "
                  "%d unmaps; the idle drives count nothing"
                  % (n, s["wr_operations"], s["wr_bytes"] >> 20, s["flush_operations"],
                     s["unmap_operations"]))
            time.sleep(1.0)
            q2 = c.cmd("query-blockstats")
            check(q2 == q1, "the counters moved while the VM was stopped: %r -> %r"
                  % (q1[0]["stats"], q2[0]["stats"]))
            c.cmd("cont")
            wait_for(lambda: guest_ops(vm) >= n + 2048, 60, "2048 more guest completions")
            q3 = c.cmd("query-blockstats")
            check(total_ops(q3[0]["stats"]) >= n + 2048 > total_ops(s),
                  "after cont: %r" % q3[0]["stats"])
            e = c.error("query-blockstats", {"device": "disk0"})
            check("device" in e["desc"], "unexpected argument: %r" % e)
            print("frozen while stopped, %d more requests after cont" %
                  (total_ops(q3[0]["stats"]) - total_ops(s)))
        finally:
            vm.cleanup()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main(run)
