#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""deskvm-vm vs QEMU: firmware boot. Each engine boots Debian's SeaBIOS with Debian's
grub-rescue-cdrom.iso (package grub-rescue-pc) in the CD-ROM and a VGA display; the bench
timestamps, from the moment it starts the engine process:

  banner   "SeaBIOS (version" on the serial port (SeaBIOS's serial console, fw_cfg
           etc/sercon-port = 0x3F8 on both engines)
  booting  "Booting from DVD/CD" on the serial port (SeaBIOS hands over to the CD's boot
           image; QEMU q35 first tries the CD as a hard disk and fails, as its BIOS order says)
  welcome  "Welcome to GRU" on the serial port: GRUB's core image runs (the rest of the
           line is broken up by SeaBIOS's serial-console escape sequences)
  grub     the GRUB menu on the VGA text screen, read through QMP screendump (PPM) and
           deskvm's VGA font (tests/integration/screen.py, the same check as the test
           integration-cdrom-grub), polled every --poll seconds

Engines: deskvm-vm --firmware bios --display vga --cdrom ISO (AHCI CD-ROM), and
qemu-system-x86_64 with KVM, -cpu qemu64,-pni, the same RAM, BIOS and ISO, as -M q35 (the
CD on q35's AHCI) and -M pc (the CD on PIIX IDE). Rounds alternate the engines (rotating
which goes first); figures are medians [min-max] over the rounds, ratios are deskvm's median
over QEMU's. Target (issue 5): deskvm faster than QEMU on every row.

--firmware uefi boots deskvm alone (QEMU cannot run OVMF on the nested host this was written
on: KVM emulation failure on fwait) and times the first serial output, "BdsDxe" (OVMF's boot
manager) and "Shell>" on the serial port; if the engine refuses --firmware uefi, it says so.

usage (from the repository root, after `ninja -C build`): bench/firmware.py [--reps N]
    [--firmware bios|uefi] [--memory MIB] [--iso FILE] [--poll S] [--timeout S]
    [--engines deskvm,q35,pc] [--exits] [--build DIR] [--qemu PATH] [--json FILE]
"""

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
from core import machine_info, stats, verdict  # noqa: E402
from deskvm_harness import Qmp, wait_for  # noqa: E402
from screen import grub_menu_shown, load_font, qmp_screen  # noqa: E402

BIOS = "/usr/share/seabios/bios-256k.bin"
ISO = "/usr/lib/grub-rescue/grub-rescue-cdrom.iso"
BIOS_MARKS = (("banner", "SeaBIOS (version"), ("booting", "Booting from DVD/CD"),
              ("welcome", "Welcome to GRU"))
FUZZY = 24  # pixels of 128 a QEMU glyph may differ from deskvm's (tests/integration/screen.py)
UEFI_MARKS = (("first output", ""), ("BdsDxe", "BdsDxe"), ("Shell>", "Shell>"))


class Serial(threading.Thread):
    """Reads an engine's stdout (its COM1) and timestamps when each mark first appears."""

    def __init__(self, stream, t0, marks):
        super().__init__(daemon=True)
        self.stream, self.t0, self.marks = stream, t0, marks
        self.text = b""
        self.seen = {}
        self.start()

    def run(self):
        while True:
            chunk = os.read(self.stream.fileno(), 65536)
            if not chunk:
                return
            now = time.monotonic()
            self.text += chunk
            for name, s in self.marks:
                if name not in self.seen and s.encode() in self.text:
                    self.seen[name] = now - self.t0


def engine_argv(args, engine, tmp, qmp_path):
    mem = str(args.memory)
    if engine == "deskvm":
        return [os.path.join(args.build, "vmm", "deskvm-vm"), "--firmware", args.firmware,
                "--memory", mem + "M", "--display", "vga", "--cdrom", args.iso,
                "--serial", "stdio", "--qmp", "unix:" + qmp_path]
    port = os.path.join(tmp, "sercon-port")
    with open(port, "wb") as f:
        f.write((0x3f8).to_bytes(2, "little"))
    if engine == "q35":
        cd = ["-device", "ide-cd,drive=cd,bus=ide.0"]  # q35's AHCI, port 0
    else:
        cd = ["-device", "ide-cd,drive=cd,bus=ide.1,unit=0"]  # PIIX IDE secondary master
    return [args.qemu, "-M", engine + ",accel=kvm", "-cpu", "qemu64,-pni", "-m", mem,
            "-nodefaults", "-vga", "std", "-display", "none", "-bios", BIOS,
            "-drive", "if=none,id=cd,file=%s,media=cdrom,readonly=on" % args.iso] + cd + [
            "-fw_cfg", "name=etc/sercon-port,file=" + port,
            "-serial", "stdio", "-qmp", "unix:%s,server=on,wait=off" % qmp_path]


EXIT_EVENTS = ("kvm:kvm_exit", "kvm:kvm_userspace_exit", "kvm:kvm_pio", "kvm:kvm_mmio",
               "kvm:kvm_emulate_insn")


def exit_counts(path, times, marks):
    """perf stat -I output -> {phase: {event: count}}, the phases ending at each mark."""
    ends = [(m, times[m]) for m in marks if m in times]
    phases = {m: {} for m, _ in ends}
    try:
        lines = open(path).read().splitlines()
    except OSError:
        return phases
    for line in lines:
        f = line.split(",")
        if len(f) < 4 or line.startswith("#"):
            continue
        try:
            t, n = float(f[0]), int(f[1])
        except ValueError:
            continue
        # an interval counts for the phase its end falls in (resolution: the -I interval)
        for m, end in ends:
            if t <= end:
                phases[m][f[3]] = phases[m].get(f[3], 0) + n
                break
    return phases


def boot(args, engine, font):
    """One boot; returns {mark: seconds} for the marks reached (a missing mark is printed),
    and with --exits {"exits": {phase: {event: count}}}."""
    tmp = tempfile.mkdtemp(prefix="deskvm-fwbench-")
    qmp_path = os.path.join(tmp, "qmp.sock")
    marks = UEFI_MARKS if args.firmware == "uefi" else BIOS_MARKS
    argv = engine_argv(args, engine, tmp, qmp_path)
    perf_out = os.path.join(tmp, "perf.csv")
    if args.exits:
        argv = ["perf", "stat", "-x,", "-I", "200", "-e", ",".join(EXIT_EVENTS), "-o", perf_out,
                "--"] + argv
    err = open(os.path.join(tmp, "stderr"), "w+b")
    t0 = time.monotonic()
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err,
                            start_new_session=True)
    serial = Serial(proc.stdout, t0, marks)
    c = None
    try:
        wait_for(lambda: os.path.exists(qmp_path) or proc.poll() is not None, 30, "QMP socket")
        if proc.poll() is not None:
            err.seek(0)
            raise RuntimeError("%s exited with %s: %s" % (engine, proc.returncode,
                                                          err.read().decode(errors="replace")))
        c = Qmp(qmp_path)
        c.negotiate()
        deadline = t0 + args.timeout
        dump = os.path.join(tmp, "screen.ppm")
        times = {}
        cache = {}
        while time.monotonic() < deadline and proc.poll() is None:
            if args.firmware == "bios" and "booting" in serial.seen:
                # the menu only, after SeaBIOS handed over; the dump and decode cost CPU
                # QEMU's VGA font differs from deskvm's in a few letters: read it fuzzily
                fuzzy = 0 if engine == "deskvm" else FUZZY
                if grub_menu_shown(qmp_screen(c, dump, font, fuzzy=fuzzy, cache=cache)):
                    times["grub"] = time.monotonic() - t0
                    break
            elif args.firmware == "uefi" and len(serial.seen) == len(marks):
                break
            time.sleep(args.poll)
        times.update(serial.seen)
        missing = [m for m, _ in marks if m not in times]
        if args.firmware == "bios" and "grub" not in times:
            missing.append("grub")
        if missing:
            print("  %s: no %s within %.0f s; serial ends %r" % (
                engine, ", ".join(missing), args.timeout, serial.text[-200:]), flush=True)
        if args.exits:
            os.killpg(proc.pid, signal.SIGINT)  # perf stat prints its last interval
            proc.wait()
            times["exits"] = exit_counts(perf_out, times, [m for m, _ in marks] + ["grub"])
        return times
    finally:
        if c:
            c.close()
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)  # the engine, and perf when it wraps it
        proc.wait()
        err.close()
        shutil.rmtree(tmp, ignore_errors=True)


def uefi_refused(args):
    """The engine's refusal of --firmware uefi (its first line), or None when it starts."""
    p = subprocess.Popen([os.path.join(args.build, "vmm", "deskvm-vm"), "--firmware", "uefi",
                          "--memory", "%dM" % args.memory, "--serial", "null", "--paused"],
                         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    try:
        _, err = p.communicate(timeout=5)
    except subprocess.TimeoutExpired:  # running (paused): taken
        p.kill()
        p.wait()
        return None
    return (err.strip().splitlines() or ["exit status %d" % p.returncode])[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--firmware", choices=("bios", "uefi"), default="bios")
    ap.add_argument("--memory", type=int, default=256, help="guest RAM in MiB (256)")
    ap.add_argument("--iso", default=ISO)
    ap.add_argument("--poll", type=float, default=0.5, help="screendump interval (0.5 s)")
    ap.add_argument("--timeout", type=float, default=300,
                    help="per boot (300 s); a mark not reached counts as this")
    ap.add_argument("--engines", default="deskvm,q35,pc")
    ap.add_argument("--build", default=os.path.join(HERE, "..", "build"))
    ap.add_argument("--qemu", default="qemu-system-x86_64")
    ap.add_argument("--exits", action="store_true",
                    help="count KVM exits per phase with perf stat (kvm:* tracepoints)")
    ap.add_argument("--json")
    args = ap.parse_args()

    for f, pkg in ((args.iso, "grub-rescue-pc"), (BIOS, "seabios")):
        if not os.path.exists(f):
            sys.exit("bench: %s missing (apt-get install %s)" % (f, pkg))
    font = load_font(os.path.join(args.build, "display", "vga_font.c"))
    engines = args.engines.split(",")
    if args.firmware == "uefi":
        print("note: QEMU cannot run OVMF on this host (KVM emulation failure on fwait): "
              "deskvm only")
        engines = ["deskvm"]
        why = uefi_refused(args)
        if why:
            print("SKIP: this deskvm-vm refuses --firmware uefi: %s" % why)
            return 0
    info = machine_info(args.qemu)
    print("# %s, %d CPUs, %s, kernel %s, %s" % (info["date"], info["nproc"], info["cpu"],
                                                info["kernel"], info["qemu"]))
    try:
        load = os.getloadavg()[0]
        print("# load average %.1f at the start (shared host: figures are noisy)" % load)
    except OSError:
        pass

    marks = [m for m, _ in (UEFI_MARKS if args.firmware == "uefi" else BIOS_MARKS)]
    if args.firmware == "bios":
        marks.append("grub")
    runs = {e: [] for e in engines}
    for rep in range(args.reps):
        order = engines[rep % len(engines):] + engines[:rep % len(engines)]
        for e in order:
            t = boot(args, e, font)
            runs[e].append(t)
            print("round %d %-6s %s" % (rep + 1, e, "  ".join(
                "%s %.2f s" % (m, t[m]) if m in t else "%s -" % m for m in marks)), flush=True)
            for phase, counts in t.get("exits", {}).items():
                print("    exits up to %-8s %s" % (phase, "  ".join(
                    "%s %d" % (ev.split(":")[1], counts.get(ev, 0)) for ev in EXIT_EVENTS)))

    # a mark an engine missed in some round counts as the timeout there (a lower bound)
    res = {e: {m: stats([t.get(m, args.timeout) for t in runs[e]]) for m in marks}
           for e in engines}
    print()
    head = "| engine start -> | " + " | ".join(engines)
    if "deskvm" in engines:
        head += "".join(" | deskvm/%s" % e for e in engines if e != "deskvm")
    print(head + " |")
    print("|" + " --- |" * (1 + len(engines) + (len(engines) - 1 if "deskvm" in engines else 0)))
    ok = True
    for m in marks:
        row = "| %s | " % m + " | ".join(
            "%.2f s [%.2f-%.2f]" % (res[e][m]["median"], res[e][m]["min"], res[e][m]["max"])
            for e in engines)
        if "deskvm" in engines:
            for e in engines:
                if e == "deskvm":
                    continue
                r = res["deskvm"][m]["median"] / res[e][m]["median"]
                ok = ok and r < 1
                row += " | %.2f" % r
        print(row + " |")
    if len(engines) > 1 and "deskvm" in engines:
        print("\ntarget: deskvm faster than QEMU on every row: %s" % verdict(ok))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": info, "args": vars(args), "runs": runs, "stats": res}, f,
                      indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
