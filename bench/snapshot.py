#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Checkpoint save/restore, deskvm vs QEMU, on the snapshot guest (tests/guest/tests/
snapshot.c) with --mib MiB of touched, non-zero RAM (256 by default) in a VM of twice that.

deskvm: QMP snapshot-save of the running VM (pause, write, resume, then fsync and rename:
all inside the figure; how long the guest was paused comes from the STOP and RESUME events);
the same with "live": true (RAM written while the guest runs, KVM dirty log, pause for the
last dirty pages); snapshot-load into the running engine with the RAM checksum checked
first, checked in the background after resuming ("verify-ram": "background"), and not at
all; deskvm-vm --restore from process spawn to the first QMP reply (the VM runs by then).
QEMU: stop, then migrate to "exec:cat > FILE" with max-bandwidth lifted (QEMU's default caps
it at 128 MiB/s) until query-migrate says completed (the stop is not counted: QEMU's savevm
also stops first), and again with an fsync of the file after it (deskvm's figure includes
one: its files are crash-safe); -incoming defer + migrate-incoming
"exec:cat FILE" until completed; and a process started with -incoming from spawn to running
after cont. QEMU live: migrate of the running VM to "exec:cat > FILE" until completed, its
downtime from query-migrate (if it has not converged after 90 s, downtime-limit is raised
to 10 s and the run is marked). Every restored guest must go on counting with its memory check passing.

Both read the file from the page cache (it was just written); nothing drops caches, as the
host is shared. Runs alternate deskvm, QEMU. Median [min-max] of --reps runs.

usage (from the repository root, after `ninja -C build`): bench/snapshot.py [--reps N]
    [--mib N] [--build DIR] [--qemu PATH] [--json FILE]
"""

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
from deskvm_harness import Qmp, wait_for  # noqa: E402

COUNT_RE = re.compile(r"count (\d+)\r?\n")


def counts(path):
    try:
        with open(path, "rb") as f:
            return [int(m.group(1)) for m in COUNT_RE.finditer(f.read().decode("latin-1"))]
    except FileNotFoundError:
        return []


def wait_counting(serial, more, timeout=600):
    """Waits for `more` further count lines in the serial file; fails on a guest FAIL."""
    start = len(counts(serial))

    def ok():
        with open(serial, "rb") as f:
            text = f.read()
        if b"FAIL" in text or b"MISMATCH" in text:
            raise RuntimeError("guest failed: %r" % text[-300:])
        return len(counts(serial)) >= start + more
    wait_for(ok, timeout, "the guest counting in " + serial)


def connect(path, timeout=30):
    wait_for(lambda: os.path.exists(path), timeout, path)
    deadline = time.monotonic() + timeout
    while True:
        try:
            c = Qmp(path, timeout=120)
            c.negotiate()
            return c
        except (ConnectionRefusedError, FileNotFoundError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.01)


class Bench:
    def __init__(self, args):
        self.args = args
        self.deskvm = os.path.join(args.build, "vmm", "deskvm-vm")
        self.elf = os.path.join(args.build, "tests", "guest", "snapshot.elf")
        self.mem = args.mib * 2
        self.append = "mem=%dM mib=%d" % (self.mem, args.mib)
        self.tmp = tempfile.mkdtemp(prefix="deskvm-bench-snap-")
        self.procs = []

    def spawn(self, argv):
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
        self.procs.append(p)
        return p

    def qemu_argv(self, qmp, serial, extra=()):
        return [self.args.qemu, "-M", "microvm,rtc=on,pit=on,pic=on,isa-serial=on,acpi=on",
                "-accel", "kvm", "-cpu", "qemu64,-pni", "-nodefaults", "-no-user-config",
                "-display", "none", "-serial", "file:" + serial,
                "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04", "-m", str(self.mem),
                "-kernel", self.elf, "-append", self.append,
                "-qmp", "unix:%s,server=on,wait=off" % qmp] + list(extra)

    def finish(self, c, p):
        try:
            c.execute("quit")
        except Exception:
            pass
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()

    def rep_deskvm(self, i):
        d = os.path.join(self.tmp, "d%d" % i)
        os.makedirs(d)
        qmp, serial, snap = (os.path.join(d, n) for n in ("qmp", "serial", "vm.dvs"))
        p = self.spawn([self.deskvm, "--kernel", self.elf, "--memory", "%dM" % self.mem,
                        "--append", self.append, "--serial", "file:" + serial,
                        "--qmp", "unix:" + qmp])
        c = connect(qmp)
        wait_for(lambda: counts(serial), 600, "the guest to fill its memory")
        out = {}
        t = time.monotonic()
        c.events.clear()
        c.cmd("snapshot-save", {"file": snap}, timeout=120)
        out["save_s"] = time.monotonic() - t
        out["size"] = os.path.getsize(snap)
        # How long the guest was stopped: the STOP and RESUME events' timestamps.
        stop, resume = (c.event(n)["timestamp"] for n in ("STOP", "RESUME"))
        out["paused_s"] = (resume["seconds"] - stop["seconds"]
                           + (resume["microseconds"] - stop["microseconds"]) / 1e6)
        wait_counting(serial, 3)
        # Live: the guest runs while the RAM is written; paused only for the last pages.
        live = os.path.join(d, "live.dvs")
        c.events.clear()
        t = time.monotonic()
        c.cmd("snapshot-save", {"file": live, "live": True}, timeout=300)
        out["live_save_s"] = time.monotonic() - t
        stop, resume = (c.event(n)["timestamp"] for n in ("STOP", "RESUME"))
        out["live_paused_s"] = (resume["seconds"] - stop["seconds"]
                                + (resume["microseconds"] - stop["microseconds"]) / 1e6)
        out["live_size_disk"] = os.stat(live).st_blocks * 512
        wait_counting(serial, 3)
        t = time.monotonic()
        c.cmd("snapshot-load", {"file": live, "verify-ram": "background"}, timeout=120)
        out["load_live_bg_s"] = time.monotonic() - t
        wait_counting(serial, 3)
        os.unlink(live)
        for key, verify in (("load_s", True), ("load_bg_s", "background"),
                            ("load_noverify_s", False)):
            t = time.monotonic()
            c.cmd("snapshot-load", {"file": snap, "verify-ram": verify}, timeout=120)
            out[key] = time.monotonic() - t
            wait_counting(serial, 3)
        if i == 0:
            z = snap + ".zst"
            t = time.monotonic()
            c.cmd("snapshot-save", {"file": z, "zstd": True}, timeout=120)
            out["zstd_save_s"] = time.monotonic() - t
            out["zstd_size"] = os.path.getsize(z)
            t = time.monotonic()
            c.cmd("snapshot-load", {"file": z}, timeout=120)
            out["zstd_load_s"] = time.monotonic() - t
            wait_counting(serial, 3)
            os.unlink(z)
        self.finish(c, p)
        # A fresh engine from the file: spawn -> first QMP reply (the VM is running then).
        qmp2, serial2 = os.path.join(d, "qmp2"), os.path.join(d, "serial2")
        t = time.monotonic()
        p2 = self.spawn([self.deskvm, "--restore", snap, "--serial", "file:" + serial2,
                         "--qmp", "unix:" + qmp2])
        c2 = connect(qmp2)
        st = c2.cmd("query-status")["status"]
        out["restore_proc_s"] = time.monotonic() - t
        assert st == "running", st
        wait_counting(serial2, 3)
        self.finish(c2, p2)
        shutil.rmtree(d, ignore_errors=True)
        return out

    def migrate_wait(self, c, timeout=120):
        deadline = time.monotonic() + timeout
        while True:
            st = c.cmd("query-migrate").get("status")
            if st == "completed":
                return
            if st in ("failed", "cancelled") or time.monotonic() > deadline:
                raise RuntimeError("QEMU migration %s" % st)
            time.sleep(0.002)

    def rep_qemu(self, i):
        d = os.path.join(self.tmp, "q%d" % i)
        os.makedirs(d)
        qmp, serial, snap = (os.path.join(d, n) for n in ("qmp", "serial", "vm.qemu"))
        p = self.spawn(self.qemu_argv(qmp, serial))
        c = connect(qmp)
        wait_for(lambda: counts(serial), 600, "the guest to fill its memory")
        out = {}
        # QEMU caps migration at 128 MiB/s by default (max-bandwidth): lift the cap.
        c.cmd("migrate-set-parameters", {"max-bandwidth": 1 << 40})
        c.cmd("stop")
        t = time.monotonic()
        c.cmd("migrate", {"uri": "exec:cat > " + snap})
        self.migrate_wait(c)
        out["save_s"] = time.monotonic() - t
        # deskvm's figure includes fsync (crash-safe file); QEMU's exec: target does not.
        fd = os.open(snap, os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)
        out["save_sync_s"] = time.monotonic() - t
        out["size"] = os.path.getsize(snap)
        # Live: migrate the running VM; QEMU reports the downtime it had.
        c.cmd("cont")
        live = snap + ".live"
        t = time.monotonic()
        c.cmd("migrate", {"uri": "exec:cat > " + live})
        try:
            self.migrate_wait(c, timeout=90)
        except RuntimeError:
            c.cmd("migrate-set-parameters", {"downtime-limit": 10000})
            out["live_forced"] = 1
            self.migrate_wait(c)
        out["live_save_s"] = time.monotonic() - t
        out["live_paused_s"] = c.cmd("query-migrate").get("downtime", 0) / 1e3
        out["live_size_disk"] = os.stat(live).st_blocks * 512
        os.unlink(live)
        self.finish(c, p)
        # In a waiting process: migrate-incoming -> completed.
        qmp2, serial2 = os.path.join(d, "qmp2"), os.path.join(d, "serial2")
        p2 = self.spawn(self.qemu_argv(qmp2, serial2, ["-incoming", "defer"]))
        c2 = connect(qmp2)
        t = time.monotonic()
        c2.cmd("migrate-incoming", {"uri": "exec:cat " + snap})
        self.migrate_wait(c2)
        out["load_s"] = time.monotonic() - t
        c2.cmd("cont")
        wait_counting(serial2, 3)
        self.finish(c2, p2)
        # A fresh process: spawn -> running after cont.
        qmp3, serial3 = os.path.join(d, "qmp3"), os.path.join(d, "serial3")
        t = time.monotonic()
        p3 = self.spawn(self.qemu_argv(qmp3, serial3, ["-incoming", "exec:cat " + snap]))
        c3 = connect(qmp3)
        self.migrate_wait(c3)
        c3.cmd("cont")
        st = c3.cmd("query-status")["status"]
        out["restore_proc_s"] = time.monotonic() - t
        assert st == "running", st
        wait_counting(serial3, 3)
        self.finish(c3, p3)
        shutil.rmtree(d, ignore_errors=True)
        return out

    def cleanup(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)


def stats(xs):
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "n": len(xs)}


def fmt_ms(s):
    return "%8.1f ms [%.1f-%.1f]" % (s["median"] * 1e3, s["min"] * 1e3, s["max"] * 1e3)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--mib", type=int, default=256, help="touched guest RAM, MiB (256)")
    ap.add_argument("--build", default="build")
    ap.add_argument("--qemu", default="qemu-system-x86_64")
    ap.add_argument("--json")
    args = ap.parse_args()
    sys.stdout.reconfigure(line_buffering=True)
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        print("SKIP: /dev/kvm is not usable")
        return 77
    b = Bench(args)
    runs = {"deskvm": [], "qemu": []}
    try:
        for i in range(args.reps):
            runs["deskvm"].append(b.rep_deskvm(i))
            print("round %d deskvm: %s" % (i, json.dumps(runs["deskvm"][-1])))
            runs["qemu"].append(b.rep_qemu(i))
            print("round %d qemu: %s" % (i, json.dumps(runs["qemu"][-1])))
    finally:
        b.cleanup()
    qv = subprocess.run([args.qemu, "--version"], capture_output=True, text=True).stdout
    res = {"mib": args.mib, "reps": args.reps, "qemu_version": qv.splitlines()[0],
           "deskvm": {k: stats([r[k] for r in runs["deskvm"] if k in r])
                      for k in runs["deskvm"][0]},
           "qemu": {k: stats([r[k] for r in runs["qemu"] if k in r])
                    for k in set().union(*runs["qemu"])}}
    d, q = res["deskvm"], res["qemu"]
    print("snapshot bench: %d MiB touched RAM in a %d MiB VM, %d reps, %s"
          % (args.mib, args.mib * 2, args.reps, res["qemu_version"]))
    rows = [
        ("save (deskvm: incl. fsync)", "save_s", "save_s"),
        ("  qemu with an fsync after it", "save_s", "save_sync_s"),
        ("guest paused during the save", "paused_s", "save_s"),
        ("live save (guest running)", "live_save_s", "live_save_s"),
        ("guest paused during the live save", "live_paused_s", "live_paused_s"),
        ("restore into a running process", "load_s", "load_s"),
        ("  deskvm, RAM checked in background", "load_bg_s", "load_s"),
        ("  deskvm, live file, background check", "load_live_bg_s", "load_s"),
        ("  deskvm without RAM checksum", "load_noverify_s", "load_s"),
        ("restore, process spawn -> running", "restore_proc_s", "restore_proc_s"),
    ]
    for label, dk, qk in rows:
        ratio = d[dk]["median"] / q[qk]["median"]
        print("  %-36s deskvm %s  qemu %s  ratio %.3f" % (label, fmt_ms(d[dk]), fmt_ms(q[qk]),
                                                          ratio))
    print("  %-36s deskvm %8.1f MiB  qemu %8.1f MiB  ratio %.3f"
          % ("file size", d["size"]["median"] / 2**20, q["size"]["median"] / 2**20,
             d["size"]["median"] / q["size"]["median"]))
    print("  %-36s deskvm %8.1f MiB  qemu %8.1f MiB  ratio %.3f"
          % ("live file, blocks on disk", d["live_size_disk"]["median"] / 2**20,
             q["live_size_disk"]["median"] / 2**20,
             d["live_size_disk"]["median"] / q["live_size_disk"]["median"]))
    if "live_forced" in q:
        print("  qemu live migration did not converge in 90 s in %d runs (downtime-limit raised)"
              % q["live_forced"]["n"])
    print("  deskvm zstd (1 run): save %.1f ms, load %.1f ms, %.1f MiB"
          % (d["zstd_save_s"]["median"] * 1e3, d["zstd_load_s"]["median"] * 1e3,
             d["zstd_size"]["median"] / 2**20))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
