#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""deskvm-vm vs QEMU: the VGA + VNC pipeline. Both run the guest-kit ELF display-bench
(tests/guest/tests/display-bench.c) with a 1280x800x32 VBE framebuffer animated at CPL3,
deskvm with --display vga --vnc, QEMU with -M q35 -device VGA -vnc (KVM). This script is the
VNC client (raw encoding, 32 bpp, one incremental request outstanding, a new one sent as soon
as an update is read; tests/integration/rfb_client.py) and reads pixel (0,0), where the guest
writes the number of each finished frame.

  latency  the guest changes a 64x64 box and the counter every gap (40-60 ms), then prints
           "f N" on the serial port (stdio pipe, timestamped here on arrival); latency = when
           the client has read the update carrying N - when "f N" arrived.
  fps      the guest draws full frames as fast as it can; the client counts the distinct
           frame numbers it receives per second over a window, and the engine's CPU time
           (utime+stime of every thread but the vCPUs, /proc/PID/task/*/stat) over the same
           window divided by those frames is the CPU per frame.

Rounds alternate deskvm, QEMU, deskvm, QEMU ...; figures are medians [min-max].
Targets (issue 4): lower latency than QEMU, at least 2x QEMU's frame rate at no more CPU per
frame. docs/benchmarks.md ("Display and VNC") has the results.

usage (from the repository root, after `ninja -C build`): bench/display.py [--reps N]
    [--seconds S] [--count N] [--build DIR] [--qemu PATH] [--json FILE]
"""

import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
from core import machine_info, stats, verdict  # noqa: E402
import rfb_client  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port():
    for port in range(5960, 6100):
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            s.close()
    sys.exit("bench: no free port in 5960-6099")


def engine_cpu_s(pid, vcpu_prefixes):
    """utime+stime of the process's threads except the vCPUs, in seconds."""
    total = 0
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/stat" % (pid, tid)) as f:
                st = f.read()
        except OSError:
            continue
        comm = st[st.index("(") + 1:st.rindex(")")]
        if comm.startswith(vcpu_prefixes):
            continue
        fields = st[st.rindex(")") + 2:].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15)
    return total / CLK_TCK


class Serial(threading.Thread):
    """Reads the VMM's stdout (the guest's serial port) and timestamps each line."""

    def __init__(self, stream):
        super().__init__(daemon=True)
        self.stream = stream
        self.lines = []  # (monotonic time, text)
        self.cond = threading.Condition()

    def run(self):
        for raw in self.stream:
            t = time.monotonic()
            with self.cond:
                self.lines.append((t, raw.decode(errors="replace").rstrip()))
                self.cond.notify_all()

    def wait(self, prefix, timeout):
        end = time.monotonic() + timeout
        with self.cond:
            while True:
                for t, line in self.lines:
                    if line.startswith(prefix):
                        return t, line
                left = end - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)


class Bench:
    def __init__(self, args):
        self.args = args
        self.deskvm = os.path.join(args.build, "vmm", "deskvm-vm")
        self.elf = os.path.join(args.build, "tests", "guest", "display-bench.elf")
        for p in (self.deskvm, self.elf):
            if not os.path.exists(p):
                sys.exit(f"bench: {p} is missing: build first (ninja -C {args.build})")
        self.qemu = shutil.which(args.qemu)
        if not self.qemu:
            sys.exit(f"bench: {args.qemu} not found")

    def argv(self, vmm, port, append):
        if vmm == "deskvm":
            return [self.deskvm, "--kernel", self.elf, "--append", append, "--memory", "256",
                    "--serial", "stdio", "--vnc", "127.0.0.1:%d" % port]
        return [self.qemu, "-M", "q35", "-accel", "kvm", "-cpu", "qemu64,-pni",
                "-nodefaults", "-no-user-config", "-display", "none", "-device", "VGA",
                "-vnc", "127.0.0.1:%d" % (port - 5900), "-serial", "stdio", "-m", "256",
                "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
                "-kernel", self.elf, "-append", append]

    def run(self, vmm, mode):
        port = free_port()
        if mode == "fps":
            append = "wait=1 mode=fps seconds=%d" % (self.args.seconds + 4)
        else:
            append = "wait=1 mode=latency count=%d gap_ms=40" % self.args.count
        p = subprocess.Popen(self.argv(vmm, port, append), stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        serial = Serial(p.stdout)
        serial.start()
        try:
            if not serial.wait("display-bench: ready", 60):
                sys.exit(f"bench: {vmm}: the guest never got ready: {serial.lines[-5:]}")
            c = rfb_client.Rfb(port, (rfb_client.ENC_RAW, rfb_client.ENC_DESKTOP_SIZE))
            c.grab()
            if (c.w, c.h) != (1280, 800):
                sys.exit(f"bench: {vmm}: VNC desktop is {c.w}x{c.h}")
            c.request(True)
            p.stdin.write(b"g")
            p.stdin.flush()
            return self.latency(vmm, p, c, serial) if mode == "latency" else self.fps(
                vmm, p, c)
        finally:
            p.kill()
            p.wait()

    def latency(self, vmm, p, c, serial):
        """A change counts as received with the first update showing it or a later frame
        (the server may merge changes that come faster than it refreshes)."""
        seen = {}
        end = time.monotonic() + self.args.count * 0.1 + 20
        while max(seen, default=0) < self.args.count and time.monotonic() < end:
            c.read_update(store=False)
            t = time.monotonic()
            c.request(True)
            if c.origin is not None:
                n = int.from_bytes(c.origin[:3], "little")
                if 0 < n <= self.args.count:
                    seen.setdefault(n, t)
        if not serial.wait("display-bench: frames", 10):
            sys.exit(f"bench: {vmm}: the guest did not finish: {serial.lines[-3:]}")
        sent = {int(line[2:]): t for t, line in serial.lines if line.startswith("f ")}
        if len(sent) != self.args.count or max(seen, default=0) < self.args.count:
            sys.exit(f"bench: {vmm}: {len(sent)} changes sent, last received {max(seen, default=0)}")
        lat = [min(t for m, t in seen.items() if m >= n) - sent[n] for n in sent]
        return {"latency_ms": statistics.median(lat) * 1e3, "latency_max_ms": max(lat) * 1e3,
                "updates_per_change": len(seen) / len(sent)}

    def fps(self, vmm, p, c):
        prefixes = ("vcpu",) if vmm == "deskvm" else ("CPU ",)
        frames, t0 = set(), time.monotonic()
        warm, window = 1.0, self.args.seconds
        cpu0 = t_start = None
        while True:
            c.read_update(store=False)
            c.request(True)
            now = time.monotonic()
            if cpu0 is None and now - t0 >= warm:
                cpu0, t_start = engine_cpu_s(p.pid, prefixes), now
            if cpu0 is not None and c.origin is not None:
                frames.add(int.from_bytes(c.origin[:3], "little"))
            if cpu0 is not None and now - t_start >= window:
                break
        cpu = engine_cpu_s(p.pid, prefixes) - cpu0
        elapsed = time.monotonic() - t_start
        drawn = max(frames) - min(frames) + 1 if frames else 0
        return {"fps": len(frames) / elapsed, "cpu_ms_per_frame": cpu / max(1, len(frames)) * 1e3,
                "cpu_percent": cpu / elapsed * 100, "guest_fps": drawn / elapsed}


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=5, help="fps window per run")
    ap.add_argument("--count", type=int, default=60, help="changes per latency run")
    ap.add_argument("--qemu", default="qemu-system-x86_64")
    ap.add_argument("--json")
    args = ap.parse_args()
    b = Bench(args)
    res = {"deskvm": {"latency": [], "fps": []}, "qemu": {"latency": [], "fps": []}}
    for rep in range(args.reps):
        for vmm in ("deskvm", "qemu"):
            for mode in ("latency", "fps"):
                r = b.run(vmm, mode)
                res[vmm][mode].append(r)
                print(f"round {rep + 1} {vmm:6} {mode:7} " +
                      " ".join(f"{k}={v:.2f}" for k, v in r.items()), flush=True)

    def med(vmm, mode, key):
        return stats([r[key] for r in res[vmm][mode]])

    rows = []
    for key, mode, unit in (("latency_ms", "latency", "ms"), ("fps", "fps", "frames/s"),
                            ("cpu_ms_per_frame", "fps", "ms"), ("cpu_percent", "fps", "%")):
        d, q = med("deskvm", mode, key), med("qemu", mode, key)
        rows.append((key, d, q, d["median"] / q["median"] if q["median"] else float("inf"), unit))
    print("\n%-18s %-26s %-26s %s" % ("", "deskvm", "QEMU", "deskvm/QEMU"))
    for key, d, q, ratio, unit in rows:
        print("%-18s %-26s %-26s %.2f" % (
            key, "%.2f %s [%.2f-%.2f]" % (d["median"], unit, d["min"], d["max"]),
            "%.2f %s [%.2f-%.2f]" % (q["median"], unit, q["min"], q["max"]), ratio))
    lat, fps, cpu = rows[0][3], rows[1][3], rows[2][3]
    print("\nlatency lower than QEMU: %s; frame rate >= 2x QEMU: %s; CPU per frame <= QEMU: %s"
          % (verdict(lat < 1), verdict(fps >= 2), verdict(cpu <= 1)))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": machine_info(b.qemu), "runs": res,
                       "ratios": {"latency": lat, "fps": fps, "cpu_per_frame": cpu}}, f, indent=1)


if __name__ == "__main__":
    main()
