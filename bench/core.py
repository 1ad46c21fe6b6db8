#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""deskvm-vm vs QEMU microvm on the same guest-kit ELFs: start-up time, peak RSS and the
port-I/O exit round trip, plus the raw KVM_RUN floor (bench/kvm-floor). Runs alternate
deskvm, QEMU, deskvm, QEMU ... so drift on a noisy host hits both alike; each figure is the
median (with min and max) of --reps runs. docs/benchmarks.md explains every figure.

usage (from the repository root, after `ninja -C build`): bench/core.py [--reps N]
    [--count N] [--build DIR] [--qemu PATH] [--json FILE] [--only start,rss,exits]
Python 3 standard library only.
"""

import argparse
import datetime
import json
import os
import platform
import re
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

MIB = 1024 * 1024
EXIT_PASS = 33  # (0x10 << 1) | 1: the kit's PASS through the debug-exit port


class Run:
    """One finished VMM process: wall time, time to the first serial byte, peak RSS."""

    def __init__(self):
        self.wall_s = 0.0
        self.first_byte_s = None
        self.last_byte_s = None
        self.maxrss_kib = 0
        self.status = None
        self.output = b""
        self.sample = None  # /proc figures taken while the guest ran (see sample_proc)


def sample_proc(pid, guest_mib):
    """VmRSS and the resident part of the guest-RAM mapping (the one mapping at least as large
    as guest RAM; deskvm: a memfd, QEMU: anonymous) from /proc/PID/smaps."""
    try:
        with open(f"/proc/{pid}/status") as f:
            status = f.read()
        with open(f"/proc/{pid}/smaps") as f:
            smaps = f.read()
    except OSError:
        return None
    m = re.search(r"^VmRSS:\s+(\d+) kB", status, re.M)
    if not m:
        return None
    vmrss = int(m.group(1))
    ram_rss = 0
    size = None
    for line in smaps.splitlines():
        if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
            lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
            size = hi - lo
        elif line.startswith("Rss:") and size is not None and size >= guest_mib * MIB:
            ram_rss += int(line.split()[1])
    return {"vmrss_kib": vmrss, "guest_ram_rss_kib": ram_rss}


def run_vmm(argv, sample_after_s=None, guest_mib=0, timeout_s=120):
    """Spawn argv with stdout on a pipe, stdin and stderr on /dev/null; timestamp the first
    stdout byte; reap with wait4 for ru_maxrss."""
    r = Run()
    rfd, wfd = os.pipe()
    devnull = os.open(os.devnull, os.O_RDWR)
    actions = [
        (os.POSIX_SPAWN_DUP2, devnull, 0),
        (os.POSIX_SPAWN_DUP2, wfd, 1),
        (os.POSIX_SPAWN_DUP2, devnull, 2),
        (os.POSIX_SPAWN_CLOSE, rfd),
    ]
    t0 = time.perf_counter()
    pid = os.posix_spawnp(argv[0], argv, os.environ, file_actions=actions)
    os.close(wfd)
    os.close(devnull)
    chunks = []
    deadline = t0 + timeout_s
    sample_at = t0 + sample_after_s if sample_after_s is not None else None
    while True:
        now = time.perf_counter()
        if now > deadline:
            os.kill(pid, 9)
            break
        wait = deadline - now
        if sample_at is not None:
            wait = max(0.0, min(wait, sample_at - now))
        ready, _, _ = select.select([rfd], [], [], wait)
        if sample_at is not None and time.perf_counter() >= sample_at:
            r.sample = sample_proc(pid, guest_mib)
            sample_at = None
        if not ready:
            continue
        data = os.read(rfd, 65536)
        if not data:
            break
        r.last_byte_s = time.perf_counter() - t0
        if r.first_byte_s is None:
            r.first_byte_s = r.last_byte_s
        chunks.append(data)
    _, status, ru = os.wait4(pid, 0)
    r.wall_s = time.perf_counter() - t0
    os.close(rfd)
    r.status = os.waitstatus_to_exitcode(status)
    r.maxrss_kib = ru.ru_maxrss
    r.output = b"".join(chunks)
    return r


class Bench:
    def __init__(self, args):
        self.args = args
        b = args.build
        self.deskvm = os.path.join(b, "vmm", "deskvm-vm")
        self.floor = os.path.join(b, "bench", "kvm-floor")
        self.elf = {n: os.path.join(b, "tests", "guest", n + ".elf") for n in ("hello", "exits")}
        for p in [self.deskvm, self.floor] + list(self.elf.values()):
            if not os.path.exists(p):
                sys.exit(f"bench: {p} is missing: build first (ninja -C {b})")
        self.qemu = shutil.which(args.qemu)
        if not self.qemu:
            sys.exit(f"bench: {args.qemu} not found")
        self.time = shutil.which("time", path="/usr/bin:/bin")
        if not self.time and "rss" in args.only:
            sys.exit("bench: /usr/bin/time (GNU time) is needed for the RSS figures")
        self.time_out = os.path.join(tempfile.gettempdir(), f"deskvm-bench-{os.getpid()}.time")

    def argv(self, vmm, elf, mem_mib, extra=""):
        append = f"cpus=1 mem={mem_mib}M {extra}".strip()
        if vmm == "deskvm":
            return [self.deskvm, "--kernel", elf, "--append", append, "--cpus", "1",
                    "--memory", str(mem_mib), "--serial", "stdio"] + self.args.deskvm_arg
        # The flags of tests/guest/run-guest.sh (docs/guest-test-kit.md), KVM only.
        return [self.qemu, "-M", "microvm,rtc=on,pit=on,pic=on,isa-serial=on,acpi=on",
                "-accel", "kvm", "-cpu", "qemu64,-pni", "-nodefaults", "-no-user-config",
                "-display", "none", "-serial", "stdio",
                "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
                "-smp", "1,sockets=1,cores=1,threads=1", "-m", str(mem_mib),
                "-kernel", elf, "-append", append]

    def guest(self, vmm, name, mem_mib, extra="", sample_after_s=None, rss=False):
        argv = self.argv(vmm, self.elf[name], mem_mib, extra)
        if rss:
            argv = [self.time, "-f", "maxrss=%M", "-o", self.time_out] + argv
        r = run_vmm(argv, sample_after_s, mem_mib)
        if rss:
            with open(self.time_out) as f:
                m = re.search(r"maxrss=(\d+)", f.read())
            r.maxrss_kib = int(m.group(1)) if m else 0
        if r.status != EXIT_PASS:
            tail = r.output.decode(errors="replace")[-500:]
            sys.exit(f"bench: {vmm} {name} {extra}: exit status {r.status}, output:\n{tail}")
        return r


def exits_cycles(r, n):
    m = re.search(rb"exits: (\d+) cycles: (\d+)", r.output)
    if not m or int(m.group(1)) != n:
        sys.exit(f"bench: no 'exits: {n} cycles: C' line in the guest output")
    return int(m.group(2))


def run_floor(path, n, chips=""):
    argv = [path, str(n)] + ([chips] if chips else [])
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    m = re.search(r"exits: (\d+) cycles: (\d+) wall_ns: (\d+) tsc_hz: (\d+) cpl: (\d+)", out)
    if not m:
        sys.exit(f"bench: unexpected kvm-floor output: {out!r}")
    return {k: int(v) for k, v in zip(("exits", "cycles", "wall_ns", "tsc_hz", "cpl"),
                                      m.groups())}


def stats(xs):
    return {"median": statistics.median(xs), "min": min(xs), "max": max(xs), "n": len(xs)}


def fmt(s, scale, unit, digits):
    return (f"{s['median'] * scale:.{digits}f} {unit} "
            f"[{s['min'] * scale:.{digits}f}-{s['max'] * scale:.{digits}f}]")


def verdict(ok):
    return "PASS" if ok else "MISS"


def machine_info(qemu):
    cpu = "?"
    try:
        with open("/proc/cpuinfo") as f:
            m = re.search(r"^model name\s*:\s*(.*)$", f.read(), re.M)
            cpu = m.group(1) if m else cpu
    except OSError:
        pass
    qv = subprocess.run([qemu, "--version"], capture_output=True, text=True).stdout
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "kernel": platform.release(),
        "qemu": qv.splitlines()[0] if qv else "?",
    }


def bench_start(b, reps, results):
    """Benchmark 1: the hello guest (128 MiB), spawned directly, ABAB."""
    data = {"deskvm": [], "qemu": []}
    for _ in range(reps):
        for vmm in ("deskvm", "qemu"):
            data[vmm].append(b.guest(vmm, "hello", 128))
    paired = {k: stats([getattr(a, k) / getattr(z, k) for a, z in zip(data["deskvm"], data["qemu"])])
              for k in ("first_byte_s", "wall_s")}
    out = {v: {"wall_s": stats([r.wall_s for r in runs]),
               "first_byte_s": stats([r.first_byte_s for r in runs]),
               "tail_s": stats([r.wall_s - r.last_byte_s for r in runs])}
           for v, runs in data.items()}
    results["start"] = dict(out, paired_ratio=paired)
    print("\n1. start -> exit, hello guest (128 MiB), wall time of the whole process")
    d, q = out["deskvm"], out["qemu"]
    for key, label in (("first_byte_s", "to first serial byte"), ("wall_s", "start -> exit"),
                       ("tail_s", "last byte -> reaped")):
        ratio = d[key]["median"] / q[key]["median"]
        rmin = d[key]["min"] / q[key]["min"]
        tgt = f"target <= 0.20: {verdict(ratio <= 0.20)}" if key == "wall_s" else ""
        pr = f", paired {paired[key]['median']:.3f}" if key in paired else ""
        print(f"  {label:22} deskvm {fmt(d[key], 1e3, 'ms', 1):26} "
              f"qemu {fmt(q[key], 1e3, 'ms', 1):26} ratio {ratio:.3f} (mins {rmin:.3f}{pr})  {tgt}")


def bench_rss(b, reps, results):
    """Benchmark 2: peak RSS of the hello guest at 128 MiB and 1 GiB, ABAB, each run under
    /usr/bin/time: a child spawned from this (large) Python process would inherit its RSS
    high-water mark into ru_maxrss at exec, a child of time(1) inherits time's (~1 MiB)."""
    data = {(v, m): [] for v in ("deskvm", "qemu") for m in (128, 1024)}
    for _ in range(reps):
        for mem in (128, 1024):
            for vmm in ("deskvm", "qemu"):
                data[(vmm, mem)].append(b.guest(vmm, "hello", mem, rss=True).maxrss_kib)
    out = {f"{v}_{m}": stats(xs) for (v, m), xs in data.items()}
    results["rss"] = out
    print("\n2. peak RSS (ru_maxrss through /usr/bin/time), hello guest")
    for mem in (128, 1024):
        d, q = out[f"deskvm_{mem}"], out[f"qemu_{mem}"]
        ratio = d["median"] / q["median"]
        print(f"  {mem:5} MiB guest        deskvm {fmt(d, 1 / 1024, 'MiB', 2):26} "
              f"qemu {fmt(q, 1 / 1024, 'MiB', 2):26} ratio {ratio:.3f}  "
              f"target <= 0.25: {verdict(ratio <= 0.25)}")
    for vmm in ("deskvm", "qemu"):
        diff = (out[f"{vmm}_1024"]["median"] - out[f"{vmm}_128"]["median"]) / 1024
        print(f"  {vmm:6} 1 GiB minus 128 MiB: {diff:+.2f} MiB "
              f"({'lazy' if abs(diff) < 8 else 'NOT lazy'} guest RAM)")


def bench_exits(b, reps, n, results):
    """Benchmark 3: the exits guest with count=n and count=0 on both VMMs, and kvm-floor n."""
    cyc = {"deskvm": [], "qemu": [], "floor": [], "floor_irq": []}
    wall_n = {"deskvm": [], "qemu": []}
    wall_0 = {"deskvm": [], "qemu": []}
    floor_wall = []
    samples = {"deskvm": [], "qemu": []}
    tsc_hz = []
    for _ in range(reps):
        for vmm in ("deskvm", "qemu"):
            r = b.guest(vmm, "exits", 128, f"count={n}", sample_after_s=1.0)
            cyc[vmm].append(exits_cycles(r, n) / n)
            wall_n[vmm].append(r.wall_s)
            if r.sample:
                samples[vmm].append(r.sample)
        f = run_floor(b.floor, n)
        cyc["floor"].append(f["cycles"] / n)
        floor_wall.append(f["wall_ns"] / n)
        tsc_hz.append(f["tsc_hz"])
        # The same loop with deskvm's in-kernel PIC/IOAPIC/LAPIC and PIT: the kernel's share.
        cyc["floor_irq"].append(run_floor(b.floor, n, "irqchip+pit")["cycles"] / n)
        for vmm in ("deskvm", "qemu"):
            r = b.guest(vmm, "exits", 128, "count=0")
            exits_cycles(r, 0)
            wall_0[vmm].append(r.wall_s)
    hz = statistics.median(tsc_hz)
    ns = {k: stats([c * 1e9 / hz for c in v]) for k, v in cyc.items()}
    # Wall difference per exit: pair each count=n run with the count=0 run of the same round.
    wd = {v: stats([(a - z) * 1e9 / n for a, z in zip(wall_n[v], wall_0[v])])
          for v in ("deskvm", "qemu")}
    wd["floor"] = stats(floor_wall)
    # Per-round ratios: the runs of one round are seconds apart, so host drift cancels better
    # than in a ratio of medians taken over minutes.
    def pair(a, b):
        return stats([x / y for x, y in zip(cyc[a], cyc[b])])

    paired = {"deskvm/qemu": pair("deskvm", "qemu"), "deskvm/floor": pair("deskvm", "floor"),
              "qemu/floor": pair("qemu", "floor"),
              "deskvm/floor_irq": pair("deskvm", "floor_irq"),
              "floor_irq/floor": pair("floor_irq", "floor")}
    results["exits"] = {"count": n, "tsc_hz": hz, "guest_tsc_ns": ns, "wall_diff_ns": wd,
                        "paired_ratio_guest_tsc": paired, "proc_samples": samples}

    print(f"\n3. port-I/O exit round trip, {n} exits to port 0x3ff at CPL3 "
          f"(TSC {hz / 1e9:.3f} GHz, floor guest at CPL{f['cpl']})")
    for label, s in (("guest TSC", ns), ("wall diff", wd)):
        irq = (f" floor+irqchip+pit {fmt(s['floor_irq'], 1e-3, 'us', 2)}"
               if "floor_irq" in s else "")
        print(f"  {label:10} deskvm {fmt(s['deskvm'], 1e-3, 'us', 2):24} "
              f"qemu {fmt(s['qemu'], 1e-3, 'us', 2):24} floor {fmt(s['floor'], 1e-3, 'us', 2)}"
              + irq)
        rq = s["deskvm"]["median"] / s["qemu"]["median"]
        rf = s["deskvm"]["median"] / s["floor"]["median"]
        rqm = s["deskvm"]["min"] / s["qemu"]["min"]
        rfm = s["deskvm"]["min"] / s["floor"]["min"]
        print(f"  {'':10} deskvm/qemu {rq:.3f} (mins {rqm:.3f})  deskvm/floor {rf:.3f} "
              f"(mins {rfm:.3f})  target deskvm/floor <= 1.10: {verdict(rf <= 1.10)}")

    print("  paired (per-round guest TSC ratios, median [min-max]):\n    "
          + "\n    ".join(f"{k:17} {v['median']:.3f} [{v['min']:.3f}-{v['max']:.3f}]"
                         for k, v in paired.items())
          + f"\n    target deskvm/floor <= 1.10: {verdict(paired['deskvm/floor']['median'] <= 1.10)}")

    print("\n2b. RSS beyond guest RAM, sampled 1 s into the exits run (128 MiB guest)")
    for vmm in ("deskvm", "qemu"):
        if not samples[vmm]:
            print(f"  {vmm}: no /proc sample")
            continue
        beyond = stats([(s["vmrss_kib"] - s["guest_ram_rss_kib"]) / 1024 for s in samples[vmm]])
        ram = stats([s["guest_ram_rss_kib"] / 1024 for s in samples[vmm]])
        results["exits"][f"{vmm}_beyond_ram_mib"] = beyond
        tgt = f"target < 5 MiB: {verdict(beyond['median'] < 5)}" if vmm == "deskvm" else ""
        print(f"  {vmm:6} guest RAM resident {fmt(ram, 1, 'MiB', 2):26} "
              f"rest {fmt(beyond, 1, 'MiB', 2):26} {tgt}")
    if "rss" in results and samples["deskvm"] and samples["qemu"]:
        print("  (peak RSS of hello at 128 MiB minus the guest RAM resident here: "
              + ", ".join(f"{v} {results['rss'][v + '_128']['median'] / 1024 - stats([s['guest_ram_rss_kib'] / 1024 for s in samples[v]])['median']:.2f} MiB"
                          for v in ("deskvm", "qemu") if samples[v]) + ")")


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=11, help="repetitions per figure (11)")
    ap.add_argument("--count", type=int, default=100000, help="exits per run (100000)")
    ap.add_argument("--build", default="build", help="meson build directory (build)")
    ap.add_argument("--qemu", default="qemu-system-x86_64")
    ap.add_argument("--json", help="also write every figure to this file")
    ap.add_argument("--only", default="start,rss,exits",
                    help="comma-separated subset of start,rss,exits")
    ap.add_argument("--deskvm-arg", action="append", default=[], metavar="ARG",
                    help="one more deskvm-vm argument (repeatable), e.g. --deskvm-arg="
                         "--no-async-teardown")
    args = ap.parse_args()
    sys.stdout.reconfigure(line_buffering=True)
    b = Bench(args)
    only = set(args.only.split(","))
    results = {"machine": machine_info(b.qemu), "reps": args.reps}
    m = results["machine"]
    print(f"deskvm bench: {m['date']}, {m['nproc']} CPUs, {m['cpu']}, kernel {m['kernel']}, "
          f"{m['qemu']}; {args.reps} reps, median [min-max]")
    if "start" in only:
        bench_start(b, args.reps, results)
    if "rss" in only:
        bench_rss(b, args.reps, results)
    if "exits" in only:
        bench_exits(b, args.reps, args.count, results)
    if os.path.exists(b.time_out):
        os.unlink(b.time_out)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
