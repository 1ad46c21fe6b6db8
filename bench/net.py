#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""deskvm-vm vs QEMU: guest -> host TCP throughput through user networking (slirp) and a
virtio-net NIC. The virtio-net guest-kit ELF (net_bench_mib=N) connects to 10.0.2.2:PORT,
which slirp maps to this script's listener on 127.0.0.1:PORT, and streams N MiB of a known
pattern; the script checks every byte, answers "got N" and the guest prints its own time
(TSC, from the first segment queued to the last byte acknowledged). Rounds alternate deskvm,
QEMU, deskvm, QEMU ...; figures are medians [min-max]. docs/benchmarks.md ("virtio-net")
explains them.

usage (from the repository root, after `ninja -C build`): bench/net.py [--reps N] [--mib N]
    [--build DIR] [--qemu PATH] [--qemu-accel kvm|tcg] [--json FILE] [--wrap CMD]
Python 3 standard library only. --wrap "perf stat -e kvm:kvm_exit --" (or perf record ...)
adds one run of each VMM under that command after the rounds, its output shown.
"""

import argparse
import json
import os
import re
import shlex
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from core import machine_info, stats, verdict  # noqa: E402

MIB = 1024 * 1024
EXIT_PASS = 33
PATTERN = bytes(range(251)) * 300  # the guest sends byte (offset % 251) at each offset


class Sink(threading.Thread):
    """Accepts one connection, reads n bytes, checks the pattern, answers "got n"."""

    def __init__(self, n, timeout_s):
        super().__init__(daemon=True)
        self.n = n
        self.timeout_s = timeout_s
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(1)
        self.port = self.lsock.getsockname()[1]
        self.t_accept = self.t_first = self.t_last = None
        self.got = 0
        self.error = None

    def run(self):
        try:
            self.lsock.settimeout(self.timeout_s)
            conn, _ = self.lsock.accept()
            self.t_accept = time.perf_counter()
            conn.settimeout(self.timeout_s)
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * MIB)
            off = 0
            while off < self.n:
                data = conn.recv(65536)
                if not data:
                    break
                now = time.perf_counter()
                if self.t_first is None:
                    self.t_first = now
                self.t_last = now
                s = off % 251
                if data != PATTERN[s:s + len(data)]:
                    self.error = f"wrong bytes in [{off}, {off + len(data)})"
                    break
                off += len(data)
            self.got = off
            conn.sendall(f"got {off}\n".encode())
            while conn.recv(4096):
                pass
            conn.close()
        except OSError as e:
            self.error = str(e)
        finally:
            self.lsock.close()


class Bench:
    def __init__(self, args):
        self.args = args
        b = args.build
        self.deskvm = os.path.join(b, "vmm", "deskvm-vm")
        self.elf = os.path.join(b, "tests", "guest", "virtio-net.elf")
        for p in (self.deskvm, self.elf):
            if not os.path.exists(p):
                sys.exit(f"bench: {p} is missing: build first (ninja -C {b})")
        self.qemu = shutil.which(args.qemu)
        if not self.qemu:
            sys.exit(f"bench: {args.qemu} not found")

    def argv(self, vmm, port, mib):
        append = f"cpus=1 mem=128M net_port={port} net_bench_mib={mib}"
        if vmm in ("deskvm", "base"):
            return [self.deskvm if vmm == "deskvm" else self.args.base, "--kernel", self.elf, "--append", append, "--cpus", "1",
                    "--memory", "128", "--serial", "stdio", "--net", "user"]
        # run-guest.sh's flags for virtio=net, on q35 (the kit needs the 0xCF8 mechanism).
        cpu = ["-cpu", "qemu64,-pni"] if self.args.qemu_accel == "kvm" else []
        return [self.qemu, "-M", "q35", "-accel", self.args.qemu_accel] + cpu + [
            "-nodefaults", "-no-user-config", "-display", "none", "-serial", "stdio",
            "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04",
            "-smp", "1,sockets=1,cores=1,threads=1", "-m", "128",
            "-kernel", self.elf, "-append", append,
            "-netdev", "user,id=n0",
            "-device", "virtio-net-pci,netdev=n0,disable-legacy=on,romfile="]

    def run(self, vmm, mib, wrap=None):
        sink = Sink(mib * MIB, self.args.timeout)
        sink.start()
        argv = self.argv(vmm, sink.port, mib)
        if wrap:
            argv = shlex.split(wrap) + argv
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                           timeout=self.args.timeout)
        sink.join(5)
        out = p.stdout.decode(errors="replace")
        if p.returncode != EXIT_PASS or sink.error or sink.got != mib * MIB:
            sys.exit(f"bench: {vmm}: exit {p.returncode}, sink {sink.error or sink.got}, "
                     f"output:\n{out[-800:]}\n{p.stderr.decode(errors='replace')[-400:]}")
        if wrap:
            print(p.stderr.decode(errors="replace")[-3000:])
        m = re.search(r"net-bench: bytes (\d+) cycles (\d+) tsc_hz (\d+) frames (\d+) "
                      r"kicks (\d+) retransmits (\d+)", out)
        if not m:
            sys.exit(f"bench: {vmm}: no net-bench line in:\n{out[-800:]}")
        nbytes, cyc, hz, frames, kicks, retr = (int(x) for x in m.groups())
        return {"host_mbps": nbytes / (sink.t_last - sink.t_first) / 1e6,
                "guest_mbps": nbytes * hz / cyc / 1e6,
                "frames": frames, "kicks": kicks, "retransmits": retr}


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=5, help="rounds (5)")
    ap.add_argument("--mib", type=int, default=64, help="MiB per run (64)")
    ap.add_argument("--build", default="build", help="meson build directory (build)")
    ap.add_argument("--qemu", default="qemu-system-x86_64")
    ap.add_argument("--qemu-accel", default="kvm", choices=("kvm", "tcg"))
    ap.add_argument("--timeout", type=float, default=300, help="seconds per run (300)")
    ap.add_argument("--only", default="deskvm,qemu", help="deskvm,qemu or one of them")
    ap.add_argument("--base", help="another deskvm-vm binary (e.g. before a change) run as "
                    "'base' in every round")
    ap.add_argument("--json", help="also write every figure to this file")
    ap.add_argument("--wrap", help="one extra run of each VMM under this command (e.g. perf)")
    args = ap.parse_args()
    sys.stdout.reconfigure(line_buffering=True)
    b = Bench(args)
    vmms = [v for v in ("deskvm", "qemu") if v in args.only.split(",")]
    if args.base:
        vmms.insert(1, "base")
    m = machine_info(b.qemu)
    print(f"deskvm net bench: {m['date']}, {m['nproc']} CPUs, {m['cpu']}, kernel "
          f"{m['kernel']}, {m['qemu']} (-accel {args.qemu_accel}); {args.reps} rounds of "
          f"{args.mib} MiB guest -> host, median [min-max]")
    data = {v: [] for v in vmms}
    for r in range(args.reps):
        for vmm in vmms:
            x = b.run(vmm, args.mib)
            data[vmm].append(x)
            print(f"  round {r + 1} {vmm:6} host {x['host_mbps']:8.1f} MB/s  guest "
                  f"{x['guest_mbps']:8.1f} MB/s  frames {x['frames']} kicks {x['kicks']} "
                  f"retransmits {x['retransmits']}")
    results = {"machine": m, "reps": args.reps, "mib": args.mib, "runs": data}
    summary = {v: {k: stats([x[k] for x in runs]) for k in ("host_mbps", "guest_mbps")}
               for v, runs in data.items()}
    results["summary"] = summary
    print(f"\nguest -> host TCP through user networking, {args.mib} MiB per run (MB = 1e6 B)")
    for k, label in (("host_mbps", "host clock"), ("guest_mbps", "guest TSC")):
        line = f"  {label:10}"
        for v in vmms:
            s = summary[v][k]
            line += (f" {v} {s['median']:.1f} MB/s [{s['min']:.1f}-{s['max']:.1f}]").ljust(40)
        print(line)
        for other in ("base", "qemu"):
            if "deskvm" not in vmms or other not in vmms:
                continue
            ratio = summary["deskvm"][k]["median"] / summary[other][k]["median"]
            paired = stats([a[k] / q[k] for a, q in zip(data["deskvm"], data[other])])
            results.setdefault("paired_ratio", {})[f"{k} deskvm/{other}"] = paired
            tgt = f"  target >= 1.0: {verdict(ratio >= 1.0)}" if other == "qemu" else ""
            print(f"  {'':10} deskvm/{other} {ratio:.3f} (paired {paired['median']:.3f} "
                  f"[{paired['min']:.3f}-{paired['max']:.3f}]){tgt}")
    if args.wrap:
        for vmm in vmms:
            x = b.run(vmm, args.mib, wrap=args.wrap)
            print(f"  {vmm} under '{args.wrap}': host {x['host_mbps']:.1f} MB/s")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
