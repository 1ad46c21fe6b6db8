#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""test-snapshot-live: snapshot-save {"live": true} (docs/qmp.md, docs/snapshot-format.md
"Live save") on the snapshot guest, which rewrites one of its 16 slices of patterned RAM on
every "count N" line and checks them all, so it keeps dirtying memory while the RAM is
written.

usage: test-snapshot-live.py DESKVM_VM SNAPSHOT_ELF

Proves: a live save of a running VM returns with the VM running, pauses it once (one STOP,
one RESUME) and writes a file in the live layout (one extent over the whole RAM at a fixed
place); loading it takes the guest back to the count it had at the pause with every slice
and seed consistent (a page the guest dirtied during the save and the save missed shows as
a wrong word or a seed that disagrees with the counter, and the guest prints MISMATCH); a
second live save after that lazy restore (the RAM is no longer a memfd) loads as well; a
fresh engine started with --restore from a live file counts on; live and zstd together are
refused; a live save of a paused VM is an ordinary save and leaves it paused; a load with
"verify-ram": "background" of the good file runs on, and of a file with one flipped byte of
page data is accepted and then stopped by the background check with an internal error that
names the checksum.
"""
import importlib.util
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from deskvm_harness import Engine, check, main, require_kvm, wait_for  # noqa: E402

_spec = importlib.util.spec_from_file_location(
    "test_snapshot", os.path.join(os.path.dirname(os.path.abspath(__file__)), "test-snapshot.py"))
ts = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ts)

MEM = 512 << 20


def live_layout(path):
    """(header flags, extents) of a checkpoint; fails unless it has the live layout."""
    with open(path, "rb") as f:
        head = f.read(64)
    flags = struct.unpack_from("<I", head, 12)[0]
    at, length = ts.section_offset(path, 8)
    with open(path, "rb") as f:
        f.seek(at)
        ram = f.read(length)
    size, n, data_off, data_len = struct.unpack_from("<QQQQ", ram, 0)
    ext = [struct.unpack_from("<QQ", ram, 40 + 16 * i) for i in range(n)]
    check(size == MEM and ext == [(0, MEM // 4096)] and data_len == MEM,
          "%s: not the live layout: %d extents, %d data bytes" % (path, n, data_len))
    check(data_off + data_len == os.path.getsize(path), "%s: size" % path)
    return flags, ext


def live_save(vm, c, path):
    c.events.clear()
    check(c.cmd("snapshot-save", {"file": path, "live": True}, timeout=120) == {},
          "live snapshot-save")
    n_save = ts.save_count(vm)
    check(c.status() == "running", "status after a live save")
    stops = [e for e in c.events if e.get("event") == "STOP"]
    resumes = [e for e in c.events if e.get("event") == "RESUME"]
    check(len(stops) <= 1 and len(resumes) <= 1, "paused more than once: %r" % c.events)
    flags, _ = live_layout(path)
    st = os.stat(path)
    print("live save at count %d: %d bytes, %d on disk, flags %#x"
          % (n_save, st.st_size, st.st_blocks * 512, flags))
    return n_save


def run():
    require_kvm()
    binary, elf = sys.argv[1], sys.argv[2]
    vm = Engine(binary, ["--kernel", elf, "--memory", "512M", "--append", "mem=512M mib=192"])
    fresh = None
    try:
        c = vm.qmp()
        ts.wait_count(vm, 5, timeout=120)
        snap = os.path.join(vm.tmp, "live.dvs")
        n_save = live_save(vm, c, snap)
        ts.wait_count(vm, n_save + 5, since=vm.serial_size())
        ts.check_guest_ok(vm)
        ts.check_resumes_at(vm, c, snap, n_save, "load of a live save")

        # Again, now that the RAM is the lazily restored mapping (no memfd behind it).
        ts.wait_count(vm, n_save + 6, since=vm.serial_size())
        snap2 = os.path.join(vm.tmp, "live2.dvs")
        n2 = live_save(vm, c, snap2)
        ts.wait_count(vm, n2 + 4, since=vm.serial_size())
        ts.check_resumes_at(vm, c, snap2, n2, "load of a live save after a lazy restore",
                            {"verify-ram": True})

        e = c.error("snapshot-save", {"file": snap2, "live": True, "zstd": True})
        check("live and zstd" in e["desc"], "live+zstd: %r" % e)

        c.cmd("stop")
        c.event("STOP")
        p = os.path.join(vm.tmp, "paused.dvs")
        check(c.cmd("snapshot-save", {"file": p, "live": True}, timeout=60) == {},
              "live save of a paused VM")
        check(c.status() == "paused", "a live save of a paused VM resumed it")
        c.cmd("cont")
        c.event("RESUME")

        # A fresh engine from the live file.
        fresh = Engine(binary, ["--restore", snap])
        c2 = fresh.qmp()
        check(c2.status() == "running", "--restore of a live save: not running")
        ts.wait_count(fresh, n_save + 3)
        ts.check_guest_ok(fresh)
        first = ts.counts(fresh.serial())[0]
        check(first <= n_save + 1, "--restore started at count %d, saved at %d" % (first, n_save))
        print("--restore of the live file: counts on from %d" % first)

        # The RAM checksum in the background: a good file loads and the guest counts on; a
        # file with a flipped page-data byte loads too (only the RAM is unchecked), then the
        # check stops the VM with an internal error naming the checksum.
        ts.check_resumes_at(fresh, c2, snap, n_save, "load with the RAM checked in the background",
                            {"verify-ram": "background"})
        ts.wait_count(fresh, n_save + 3, since=fresh.serial_size())
        check(c2.status() == "running", "a good file failed its background check")
        at, _ = ts.section_offset(snap, 8)
        with open(snap, "rb") as f:
            f.seek(at + 16)
            data_off = struct.unpack("<Q", f.read(8))[0]
        bad = os.path.join(vm.tmp, "bad-live.dvs")
        ts.flip(snap, bad, data_off + (64 << 20) + 123)
        check(c2.cmd("snapshot-load", {"file": bad, "verify-ram": "background"}, timeout=60) == {},
              "a load checked in the background refused the file before the switch")
        wait_for(lambda: c2.status() == "internal-error", 60,
                 "the background check to stop the VM")
        wait_for(lambda: "page data checksum mismatch" in fresh.stderr(), 10,
                 lambda: "the reason on stderr: %r" % fresh.stderr()[-300:])
        print("a corrupt page found by the background check: the VM stopped (%s)"
              % fresh.stderr().strip().splitlines()[-1])
    finally:
        if fresh:
            fresh.cleanup()
        vm.cleanup()


if __name__ == "__main__":
    main(run)
