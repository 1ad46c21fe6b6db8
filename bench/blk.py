#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""virtio-blk: deskvm-vm vs QEMU (q35, virtio-blk-pci) on the same guest-kit ELF
(tests/guest/tests/virtio-blk-bench.c) and the same kind of image, KVM on both. The guest times
each row with the TSC; TSC Hz comes from bench/kvm-floor. Each round boots deskvm, then QEMU,
once per image kind, each on a fresh image; figures are medians [min-max] over --reps rounds,
"paired" is the median of the per-round ratios. docs/benchmarks.md ("virtio-blk") explains
the set-up and the cache modes.

usage (from the repository root, after `ninja -C build`): bench/blk.py [--reps N]
    [--images raw-none,qcow2-writeback] [--size 128M] [--count1 N] [--count32 N]
    [--seq-qd N] [--dir DIR] [--build DIR] [--qemu PATH] [--qemu-aio threads|native|io_uring]
    [--json FILE]
Python 3 standard library only.
"""

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True  # no bench/__pycache__ from importing core.py
from core import EXIT_PASS, machine_info, run_floor, run_vmm, stats, verdict  # noqa: E402

MIB = 1024 * 1024
# row: (label, unit, target ratio deskvm/QEMU or None)
ROWS = {
    "randread1": ("4 KiB random read, QD1", "IOPS", 1.0),
    "randread32": ("4 KiB random read, QD32", "IOPS", 1.5),
    "randwrite1": ("4 KiB random write, QD1", "IOPS", 1.0),
    "randwrite32": ("4 KiB random write, QD32", "IOPS", 1.0),
    "seqread": ("128 KiB sequential read", "MiB/s", 1.0),
    "seqwrite": ("128 KiB sequential write", "MiB/s", 1.0),
    "fill": ("128 KiB sequential first write", "MiB/s", None),
}
# image kind: (format, deskvm cache, QEMU -drive cache options)
IMAGES = {
    "raw-none": ("raw", "none", ",cache.direct=on"),
    "raw-writeback": ("raw", "writeback", ""),
    "qcow2-writeback": ("qcow2", "writeback", ""),
}


class BlkBench:
    def __init__(self, args):
        self.args = args
        b = args.build
        self.deskvm = os.path.join(b, "vmm", "deskvm-vm")
        self.floor = os.path.join(b, "bench", "kvm-floor")
        self.elf = os.path.join(b, "tests", "guest", "virtio-blk-bench.elf")
        for p in (self.deskvm, self.floor, self.elf):
            if not os.path.exists(p):
                sys.exit(f"bench: {p} is missing: build first (ninja -C {b})")
        self.qemu = shutil.which(args.qemu)
        self.qemu_img = shutil.which("qemu-img")
        if not self.qemu or not self.qemu_img:
            sys.exit("bench: qemu-system-x86_64 and qemu-img are needed")
        self.dir = tempfile.mkdtemp(prefix="deskvm-blk-", dir=args.dir)

    def argv(self, vmm, image, fmt, cache, qemu_cache):
        a = self.args
        append = (f"cpus=1 mem=256M count1={a.count1} count32={a.count32} seq_qd={a.seq_qd} "
                  f"now={os.getpid()}")
        if vmm == "deskvm":
            return [self.deskvm, "--kernel", self.elf, "--append", append, "--cpus", "1",
                    "--memory", "256", "--serial", "stdio",
                    "--disk", f"file={image},format={fmt},cache={cache}"]
        return [self.qemu, "-M", "q35", "-accel", "kvm", "-cpu", "qemu64,-pni",
                "-nodefaults", "-no-user-config", "-display", "none", "-serial", "stdio",
                "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
                "-smp", "1,sockets=1,cores=1,threads=1", "-m", "256",
                "-kernel", self.elf, "-append", append,
                "-drive", f"if=none,id=disk0,file={image},format={fmt},aio={a.qemu_aio}"
                + qemu_cache,
                "-device", "virtio-blk-pci,drive=disk0,disable-legacy=on,num-queues=1"]

    def run(self, vmm, kind):
        fmt, cache, qemu_cache = IMAGES[kind]
        image = os.path.join(self.dir, f"{vmm}.{fmt}")
        if os.path.exists(image):
            os.unlink(image)
        subprocess.run([self.qemu_img, "create", "-q", "-f", fmt, image, self.args.size],
                       check=True)
        r = run_vmm(self.argv(vmm, image, fmt, cache, qemu_cache), timeout_s=600)
        os.unlink(image)
        out = r.output.decode(errors="replace")
        if r.status != EXIT_PASS:
            sys.exit(f"bench: {vmm} {kind}: exit status {r.status}, output:\n{out[-800:]}")
        rows = {}
        for name, ops, nbytes, cycles in re.findall(
                r"blk-bench: (\w+) ops=(\d+) bytes=(\d+) cycles=(\d+)", out):
            rows[name] = (int(ops), int(nbytes), int(cycles))
        if set(rows) != set(ROWS):
            sys.exit(f"bench: {vmm} {kind}: rows {sorted(rows)} in the output")
        return rows

    def close(self):
        shutil.rmtree(self.dir, ignore_errors=True)


def figure(row, ops, nbytes, cycles, hz):
    secs = cycles / hz
    return ops / secs if ROWS[row][1] == "IOPS" else nbytes / MIB / secs


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=5, help="rounds (5)")
    ap.add_argument("--images", default="raw-none,qcow2-writeback",
                    help="comma-separated image kinds: " + ", ".join(IMAGES))
    ap.add_argument("--size", default="128M", help="image size (128M)")
    ap.add_argument("--count1", type=int, default=2000, help="requests per QD1 row (2000)")
    ap.add_argument("--count32", type=int, default=10000, help="requests per QD32 row (10000)")
    ap.add_argument("--seq-qd", type=int, default=8, help="depth of the sequential rows (8)")
    ap.add_argument("--dir", default=None, help="where the images go (default: $TMPDIR)")
    ap.add_argument("--build", default="build", help="meson build directory (build)")
    ap.add_argument("--qemu", default="qemu-system-x86_64")
    ap.add_argument("--qemu-aio", default="threads", help="QEMU -drive aio= (threads)")
    ap.add_argument("--json", help="also write every figure to this file")
    args = ap.parse_args()
    sys.stdout.reconfigure(line_buffering=True)
    kinds = args.images.split(",")
    for k in kinds:
        if k not in IMAGES:
            sys.exit(f"bench: unknown image kind {k} ({', '.join(IMAGES)})")
    b = BlkBench(args)
    hz = run_floor(b.floor, 1000)["tsc_hz"]
    m = machine_info(b.qemu)
    print(f"deskvm blk bench: {m['date']}, {m['nproc']} CPUs, {m['cpu']}, kernel {m['kernel']}, "
          f"{m['qemu']}; TSC {hz / 1e9:.3f} GHz; {args.reps} rounds, image {args.size}, "
          f"QEMU aio={args.qemu_aio}; median [min-max]")
    data = {(k, v): [] for k in kinds for v in ("deskvm", "qemu")}
    try:
        for rep in range(args.reps):
            for k in kinds:
                for vmm in ("deskvm", "qemu"):
                    rows = b.run(vmm, k)
                    data[(k, vmm)].append({r: figure(r, *rows[r], hz) for r in rows})
            print(f"  round {rep + 1}/{args.reps} done")
    finally:
        b.close()

    results = {"machine": m, "tsc_hz": hz, "args": vars(args), "images": {}}
    for k in kinds:
        fmt, cache, qemu_cache = IMAGES[k]
        print(f"\nvirtio-blk, {k}: deskvm cache={cache}, QEMU {fmt}"
              f"{qemu_cache or ' (writeback)'} aio={args.qemu_aio}")
        print(f"  {'row':40} {'deskvm':>24} {'QEMU':>24}  ratio  paired  target")
        res = {}
        for row, (label, unit, target) in ROWS.items():
            d = [x[row] for x in data[(k, "deskvm")]]
            q = [x[row] for x in data[(k, "qemu")]]
            sd, sq = stats(d), stats(q)
            paired = stats([x / y for x, y in zip(d, q)])
            ratio = sd["median"] / sq["median"]
            tgt = f">= {target:.1f}: {verdict(ratio >= target)}" if target else "-"
            res[row] = {"deskvm": sd, "qemu": sq, "ratio": ratio, "paired": paired,
                        "unit": unit, "target": target}

            def f(s):
                return f"{s['median']:.0f} [{s['min']:.0f}-{s['max']:.0f}]"

            print(f"  {label + ' (' + unit + ')':40} {f(sd):>24} {f(sq):>24}  {ratio:5.2f}  "
                  f"{paired['median']:5.2f}  {tgt}")
        results["images"][k] = res
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(results, fh, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
