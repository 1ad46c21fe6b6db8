#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The desktop app (build/gui/deskvm) under Xvfb: start to first frame, console frame latency
and frame rate against gvncviewer showing the same guest over VNC, and the app's memory.

  first frame  Ctrl+R on a stopped VM (the display-bench guest, waiting on its serial port)
               -> the first frame the Screen page draws (the app logs each draw with
               CLOCK_MONOTONIC when DESKVM_TRACE_FRAMES is set; gui/screen-page.c), and
               Ctrl+R -> "display-bench: ready" in the VM's serial.log (the guest has set its
               video mode), against deskvm-vm alone spawned here: spawn -> "ready" on stdout.
  latency/fps  the display-bench guest (tests/guest/tests/display-bench.c, as bench/display.py
               uses it) at 1280x800 in the app's Screen page, scaled to fit (its default,
               "fit") and at 1:1 ("Scale to fit" clicked off; the box must then be 64 pixels
               wide on screen), and in gvncviewer (deskvm-vm --vnc, run here). One observer for both: this script reads, from the
               X server (XGetImage, ~1 kHz), a screen pixel inside the box the guest repaints
               at its (0,0); every frame has a colour of its own. latency = when frame N shows
               - when the guest's "f N" reached the host (the app: its serial.log, read every
               0.5 ms; the gvncviewer run: deskvm-vm's stdout). fps = colour changes per
               second there while the guest draws full frames as fast as it can.
  memory       RSS and PSS (/proc/PID/smaps_rollup) of the deskvm process with 1 and with 5
               demo VMs running (the Screen page showing one), and of gvncviewer processes
               showing 1 and 5 deskvm-vm demo guests.

Rounds alternate app (fit), app (1:1), gvncviewer; figures are medians [min-max]. The host is noisy (shared
cores): read ratios, not absolute figures. docs/benchmarks.md ("Desktop app") has results.

usage (repository root, after `ninja -C build`): bench/gui.py [--reps N] [--seconds S]
    [--count N] [--build DIR] [--json FILE]
"""

import argparse
import ctypes
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid as uuidlib

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "gui"))
from core import stats  # noqa: E402
from display import Serial, free_port  # noqa: E402
from gui_shots import find_window, focus, read_ppm, start_xvfb, xdo  # noqa: E402
from gui_shots import wait_for as wait  # noqa: E402

W, H = 1280, 800


def colour(n):
    """The guest's fill colour of frame n (display-bench.c colour())."""
    return ((n * 37) & 0xff) << 16 | ((n * 91) & 0xff) << 8 | ((n * 13 + 128) & 0xff)


class Observer(threading.Thread):
    """Polls one screen pixel through Xlib and records (time, value) at each change."""

    def __init__(self, display, x, y):
        super().__init__(daemon=True)
        self.x11 = ctypes.CDLL("libX11.so.6")
        self.x11.XOpenDisplay.restype = ctypes.c_void_p
        self.x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
        self.x11.XDefaultRootWindow.restype = ctypes.c_ulong
        self.x11.XDefaultRootWindow.argtypes = [ctypes.c_void_p]
        self.x11.XGetImage.restype = ctypes.c_void_p
        self.x11.XGetImage.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int,
                                       ctypes.c_int, ctypes.c_uint, ctypes.c_uint,
                                       ctypes.c_ulong, ctypes.c_int]
        self.x11.XGetPixel.restype = ctypes.c_ulong
        self.x11.XGetPixel.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int]
        self.x11.XDestroyImage.argtypes = [ctypes.c_void_p]
        self.dpy = self.x11.XOpenDisplay(display.encode())
        if not self.dpy:
            sys.exit("bench: cannot open display %s" % display)
        self.root = self.x11.XDefaultRootWindow(self.dpy)
        self.x, self.y = x, y
        self.changes = []
        self.stop = False

    def pixel(self):
        img = self.x11.XGetImage(self.dpy, self.root, self.x, self.y, 1, 1, 0xffffffff, 2)
        v = self.x11.XGetPixel(img, 0, 0) & 0xffffff
        self.x11.XDestroyImage(img)
        return v

    def run(self):
        last = None
        while not self.stop:
            v = self.pixel()
            if v != last:
                self.changes.append((time.monotonic(), v))
                last = v
            time.sleep(0.001)


COLOUR_TO_N = {colour(n): n for n in range(256)}  # colour() is one-to-one modulo 256


def locate(display, tmp, serial):
    """A screen point inside the 64x64 box the latency guest repaints at its (0,0): a pixel of
    a recent change's colour ("f n" on the serial port) with the same colour 30 pixels right
    and below (any scale of at least 1/2), moved 12 pixels in; and the box's width."""
    ppm = os.path.join(tmp, "locate.ppm")
    for _ in range(40):
        subprocess.run(["import", "-display", display, "-window", "root", "-depth", "8", ppm],
                       check=True, timeout=60)
        w, h, d = read_ppm(ppm)

        def at(x, y):
            k = (y * w + x) * 3
            return d[k] << 16 | d[k + 1] << 8 | d[k + 2] if 0 <= k < len(d) - 2 else -1
        sent = [int(line[2:]) for _, line in list(serial.lines) if line.startswith("f ")]
        last = max(sent, default=1)
        for n in range(max(1, last - 4), last + 2):
            c = colour(n)
            pat = bytes([c >> 16, c >> 8 & 0xff, c & 0xff])
            i = d.find(pat)
            while i != -1:
                x, y = (i // 3) % w, (i // 3) // w
                if i % 3 == 0 and at(x + 30, y) == c and at(x, y + 30) == c and \
                        at(x + 30, y + 30) == c:
                    # The box's width on screen (64 at 1:1), on a row below the counter.
                    left = right = x
                    while at(left - 1, y + 20) == c:
                        left -= 1
                    while at(right + 1, y + 20) == c:
                        right += 1
                    return x + 12, y + 12, right - left + 1
                i = d.find(pat, i + 1)
        time.sleep(0.1)
    shutil.copy(ppm, "/tmp/deskvm-bench-gui-locate.ppm")
    sys.exit("bench: the guest's box is not on the screen "
             "(last screenshot: /tmp/deskvm-bench-gui-locate.ppm)")


def latency_of(changes, sent, t_from):
    """Per change N sent after t_from: the first time a frame >= N was on screen - sent[N]
    (frames told apart by colour; runs have at most 255 changes)."""
    shown = [(t, COLOUR_TO_N[v]) for t, v in changes if v in COLOUR_TO_N]
    lat = []
    for n, t in sent.items():
        if t < t_from:
            continue
        seen = [tc for tc, m in shown if m >= n and tc >= t]
        if seen:
            lat.append(seen[0] - t)
    return lat


def fps_of(changes, t0, t1):
    """Frames shown per second: colour changes of the watched pixel (each frame has a colour
    of its own, frame n's differs from n+1's)."""
    return len([t for t, v in changes if t0 <= t < t1]) / (t1 - t0)


def mem_of(pid):
    """RSS and PSS in MiB (smaps_rollup)."""
    out = {}
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            k, _, rest = line.partition(":")
            if k in ("Rss", "Pss"):
                out[k.lower()] = int(rest.split()[0]) / 1024
    return out


class Session:
    """Xvfb, and a temporary XDG tree for the app."""

    def __init__(self, args):
        self.args = args
        b = args.build
        self.app = os.path.join(b, "gui", "deskvm")
        self.vm = os.path.abspath(os.path.join(b, "vmm", "deskvm-vm"))
        self.elf = os.path.abspath(os.path.join(b, "tests", "guest", "display-bench.elf"))
        for p in (self.app, self.vm, self.elf):
            if not os.path.exists(p):
                sys.exit(f"bench: {p} is missing: build first (ninja -C {b})")
        if shutil.which("gvncviewer") is None:
            sys.exit("bench: gvncviewer is not installed")
        self.xvfb, self.display = start_xvfb("1920x1200")
        self.tmp = tempfile.mkdtemp(prefix="deskvm-bench-gui-")
        env = dict(os.environ)
        for k in ("WAYLAND_DISPLAY", "DBUS_SESSION_BUS_ADDRESS"):
            env.pop(k, None)
        env.update({"DISPLAY": self.display, "GDK_BACKEND": "x11", "NO_AT_BRIDGE": "1",
                    "GSETTINGS_BACKEND": "memory", "GTK_A11Y": "none", "DESKVM_VM": self.vm})
        for k in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_RUNTIME_DIR"):
            env[k] = os.path.join(self.tmp, k.lower())
            os.makedirs(env[k], mode=0o700, exist_ok=True)
        self.env = env
        self.root = os.path.join(env["XDG_DATA_HOME"], "deskvm", "vms")
        self.trace = os.path.join(self.tmp, "frames.log")
        self.procs = []
        self.where = {}

    def close(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        self.xvfb.kill()
        self.xvfb.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def write_vm(self, name, append=None, memory_kib=262144):
        os.makedirs(os.path.join(self.root, name), exist_ok=True)
        os_extra = ""
        meta = ""
        if append is not None:
            os_extra = "<kernel>%s</kernel><cmdline>%s</cmdline>" % (self.elf, append)
        else:
            meta = ('<metadata><deskvm:guest xmlns:deskvm="https://deskvm.org/xmlns/domain/1.0"'
                    ' kind="demo"/></metadata>')
        path = os.path.join(self.root, name, "domain.xml")
        old = open(path).read() if os.path.exists(path) else ""
        m = re.search(r"<uuid>([0-9a-f-]+)</uuid>", old)
        with open(path, "w") as f:
            f.write('<domain type="kvm"><name>%s</name><uuid>%s</uuid>'
                    '<memory unit="KiB">%d</memory><vcpu>1</vcpu>'
                    '<os><type arch="x86_64">hvm</type>%s</os>%s</domain>\n' %
                    (name, m.group(1) if m else uuidlib.uuid4(), memory_kib, os_extra, meta))

    def start_app(self):
        log = open(os.path.join(self.tmp, "app.log"), "w")
        env = dict(self.env, DESKVM_TRACE_FRAMES=self.trace)
        p = subprocess.Popen([self.app], env=env, stdout=log, stderr=subprocess.STDOUT)
        self.procs.append(p)
        self.app_proc = p
        self.win = find_window(self.env, "^deskvm$")
        xdo(self.env, "windowsize", "--sync", self.win, "1880", "1150", check=False)
        time.sleep(0.5)
        focus(self.env, self.win)
        return p

    def engines(self):
        out = subprocess.run(["pgrep", "-P", str(self.app_proc.pid), "deskvm-vm"],
                             capture_output=True, text=True).stdout.split()
        return [int(x) for x in out]

    def key(self, *keys):
        focus(self.env, self.win)
        xdo(self.env, "key", "--clearmodifiers", *keys)

    def force_off(self):
        self.key("ctrl+shift+k")
        wait(lambda: not self.engines(), 20, "the engine to stop")

    def trace_lines(self):
        try:
            with open(self.trace) as f:
                return [ln.split() for ln in f if ln.startswith("draw ")]
        except OSError:
            return []

    # ---- (a) first frame ----------------------------------------------------------------

    def app_first_frame(self):
        self.write_vm("bench", "wait=1 mode=latency count=1")
        open(self.trace, "w").close()
        focus(self.env, self.win)
        t0 = time.monotonic()
        xdo(self.env, "key", "--clearmodifiers", "ctrl+r", "alt+2")
        def mode_frame():
            return next((ln for ln in self.trace_lines() if ln[3] == "%dx%d" % (W, H)), None)
        line = wait(mode_frame, 30, "a %dx%d frame drawn" % (W, H))
        first = self.trace_lines()[0]
        serial_log = os.path.join(self.root, "bench", "serial.log")

        def ready():
            try:
                with open(serial_log, "rb") as f:
                    return b"display-bench: ready" in f.read()
            except OSError:
                return False
        wait(ready, 60, "the guest's ready line in serial.log", 0.002)
        t_ready = time.monotonic() - t0
        self.force_off()
        return int(first[1]) / 1e6 - t0, t_ready

    def engine_ready(self):
        t0 = time.monotonic()
        p = subprocess.Popen([self.vm, "--kernel", self.elf, "--append",
                              "wait=1 mode=latency count=1", "--memory", "256", "--serial",
                              "stdio", "--display", "vga"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.procs.append(p)
        serial = Serial(p.stdout)
        serial.start()
        got = serial.wait("display-bench: ready", 60)
        p.kill()
        p.wait()
        if not got:
            sys.exit("bench: deskvm-vm: the guest never got ready")
        return got[0] - t0

    # ---- (b) latency and fps -------------------------------------------------------------

    def append(self, mode):
        """The guest's command line; it outlives the measurement (force off or kill ends it)
        so that the app never shows its exit as a crash (the info bar would move the page)."""
        if mode == "latency":
            return "wait=1 mode=latency count=%d gap_ms=40 linger_ms=60000" % self.args.count
        return "wait=1 mode=fps seconds=%d" % (self.args.seconds + 60)

    def toggle_fit(self):
        """Click "Scale to fit" on the Screen page: where the layout puts it in this window
        with no info bar shown (the runs never leave one); observe() checks the scale."""
        xdo(self.env, "mousemove", "--window", self.win, "320", "170")
        xdo(self.env, "click", "1")
        # Away from the button: its tooltip would cover the guest's box.
        xdo(self.env, "mousemove", "1915", "1195")
        time.sleep(0.3)

    def app_run(self, mode, unscaled=False):
        append = self.append(mode)
        self.write_vm("bench", append)
        vmdir = os.path.join(self.root, "bench")
        serial_log = os.path.join(vmdir, "serial.log")
        if os.path.exists(serial_log):
            os.unlink(serial_log)
        self.key("ctrl+r")
        wait(lambda: os.path.exists(serial_log) and "display-bench: ready" in
             open(serial_log, errors="replace").read(), 60, "the guest in the app")
        tail = SerialLog(serial_log)
        tail.start()
        xdo(self.env, "type", "g")  # the serial console has the focus after Start
        self.key("alt+2")  # the Screen page (scaled to fit)
        if unscaled:
            self.toggle_fit()
        try:
            return self.observe("app-1:1" if unscaled else "app", mode, tail)
        finally:
            tail.stop = True
            self.force_off()
            if unscaled:
                self.toggle_fit()

    def vnc_run(self, mode):
        append = self.append(mode)
        port = free_port()
        p = subprocess.Popen([self.vm, "--kernel", self.elf, "--append", append, "--memory",
                              "256", "--serial", "stdio", "--display", "vga", "--vnc",
                              "127.0.0.1:%d" % port], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self.procs.append(p)
        serial = Serial(p.stdout)
        serial.start()
        viewer = None
        try:
            if not serial.wait("display-bench: ready", 60):
                sys.exit("bench: deskvm-vm: the guest never got ready")
            viewer = subprocess.Popen(["gvncviewer", "127.0.0.1:%d" % (port - 5900)],
                                      env=self.env, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL)
            self.procs.append(viewer)
            wait(lambda: xdo(self.env, "search", "--onlyvisible", "--class", "gvncviewer",
                             check=False), 30, "the gvncviewer window", 0.3)
            time.sleep(1)
            p.stdin.write(b"g")
            p.stdin.flush()
            return self.observe("gvncviewer", mode, serial)
        finally:
            for q in (viewer, p):
                if q is not None:
                    q.kill()
                    q.wait()

    def observe(self, who, mode, serial):
        """latency runs locate the counter; the fps run of the same viewer (same window
        position) reuses the place."""
        if mode == "latency":
            self.where[who] = locate(self.display, self.tmp, serial)
        x, y, width = self.where[who]
        if who == "app-1:1" and width != 64:
            sys.exit("bench: the Screen page is not at 1:1 (the 64-pixel box is %d wide)" % width)
        obs = Observer(self.display, x, y)
        obs.start()
        t0 = time.monotonic()
        if mode == "fps":
            time.sleep(self.args.seconds + 0.5)
            obs.stop = True
            obs.join()
            fps = fps_of(obs.changes, t0 + 0.5, t0 + 0.5 + self.args.seconds)
            if fps == 0:
                sys.exit("bench: %s: no frames seen at %d,%d" % (who, x, y))
            return {"fps": fps}
        if not serial.wait("f %d" % self.args.count, self.args.count * 0.1 + 30):
            sys.exit("bench: the latency guest did not finish")
        time.sleep(0.5)  # the last change still has to reach the screen
        obs.stop = True
        obs.join()
        sent = {int(line[2:]): t for t, line in serial.lines if line.startswith("f ")}
        lat = latency_of(obs.changes, sent, t0 + 0.2)
        if len([t for t in sent.values() if t > t0 + 0.2]) < 10:
            sys.exit("bench: %s: the guest had sent its changes before the pixel was found "
                     "(a slow screenshot; try a larger --count)" % who)
        if len(lat) < 10:
            shutil.copy(os.path.join(self.tmp, "locate.ppm"), "/tmp/deskvm-bench-gui-locate.ppm")
            if who == "app" and os.path.exists(self.trace):
                shutil.copy(self.trace, "/tmp/deskvm-bench-gui-frames.log")
            sys.exit("bench: %s: only %d changes were seen at %d,%d (%d colour changes, %s...; "
                     "screenshot: /tmp/deskvm-bench-gui-locate.ppm)" % (
                         who, len(lat), x, y, len(obs.changes),
                         ["%06x" % v for _, v in obs.changes[:4]]))
        return {"latency_ms": statistics.median(lat) * 1e3,
                "latency_max_ms": max(lat) * 1e3, "changes": len(lat)}

    # ---- (c) memory ----------------------------------------------------------------------

    def app_memory(self):
        names = ["mem%d" % i for i in range(1, 6)]
        for n in names:
            self.write_vm(n, memory_kib=131072)
        p = self.start_app()  # a fresh app: the list is bench, mem1..mem5 (sorted)
        res = {}
        for i, n in enumerate(names):
            # Rows are 47 px high under the header bar; bench is row 0.
            xdo(self.env, "mousemove", "--window", self.win, "100", str(74 + 47 * (i + 1)))
            xdo(self.env, "click", "1")
            time.sleep(0.3)
            self.key("ctrl+r")
            wait(lambda: len(self.engines()) == i + 1, 30, "%d engines" % (i + 1))
            if i == 0:
                self.key("alt+2")
                time.sleep(3)
                res["app_1vm"] = mem_of(p.pid)
        time.sleep(3)
        res["app_5vm"] = mem_of(p.pid)
        for pid in self.engines():
            os.kill(pid, 9)
        p.kill()
        p.wait()
        # gvncviewer: one window per demo guest (deskvm-vm --vnc), 1 then 5.
        engines, viewers = [], []
        try:
            for i in range(5):
                port = free_port()
                e = subprocess.Popen([self.vm, "--kernel", os.path.join(
                    os.path.dirname(self.elf), "demo.elf"), "--memory", "128", "--serial",
                    "stdio", "--display", "vga", "--vnc", "127.0.0.1:%d" % port],
                    stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                engines.append(e)
                self.procs.append(e)
                time.sleep(1.5)
                v = subprocess.Popen(["gvncviewer", "127.0.0.1:%d" % (port - 5900)],
                                     env=self.env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
                viewers.append(v)
                self.procs.append(v)
                time.sleep(3)
                if i == 0:
                    res["vnc_1vm"] = mem_of(v.pid)
            time.sleep(2)
            tot = [mem_of(v.pid) for v in viewers]
            res["vnc_5vm"] = {k: sum(m[k] for m in tot) for k in ("rss", "pss")}
        finally:
            for q in viewers + engines:
                q.kill()
                q.wait()
        return res


class SerialLog(Serial):
    """Tails the app's serial.log, timestamping each line (bench/display.py's Serial, which
    reads a pipe, with the same lines and wait())."""

    def __init__(self, path):
        super().__init__(None)
        self.path, self.stop = path, False

    def run(self):
        with open(self.path, "rb") as f:
            buf = b""
            while not self.stop:
                chunk = f.read()
                if not chunk:
                    time.sleep(0.0005)
                    continue
                t = time.monotonic()
                buf += chunk
                *done, buf = buf.split(b"\n")
                with self.cond:
                    self.lines += [(t, ln.decode(errors="replace").rstrip()) for ln in done]
                    self.cond.notify_all()


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=5, help="fps window per run")
    ap.add_argument("--count", type=int, default=250, help="changes per latency run (<= 255)")
    ap.add_argument("--json")
    args = ap.parse_args()
    if not 10 <= args.count <= 255:
        sys.exit("bench: --count must be 10..255 (frames are told apart by colour)")
    s = Session(args)
    res = {"failed_runs": [], "first_frame_s": [], "app_ready_s": [], "engine_ready_s": [],
           "app": {"latency": [], "fps": []}, "app-1:1": {"latency": [], "fps": []},
           "gvncviewer": {"latency": [], "fps": []}}
    try:
        s.write_vm("bench", "wait=1 mode=latency count=1")
        s.start_app()
        for rep in range(args.reps):
            first, ready = s.app_first_frame()
            res["first_frame_s"].append(first)
            res["app_ready_s"].append(ready)
            res["engine_ready_s"].append(s.engine_ready())
            print("round %d app: first frame %.3f s, guest ready %.3f s; deskvm-vm alone: "
                  "guest ready %.3f s" % (rep + 1, first, ready, res["engine_ready_s"][-1]),
                  flush=True)
        for rep in range(args.reps):
            for who, run in (("app", s.app_run), ("app-1:1", lambda m: s.app_run(m, True)),
                             ("gvncviewer", s.vnc_run)):
                for mode in ("latency", "fps"):
                    for attempt in range(3):
                        try:
                            r = run(mode)
                            break
                        except SystemExit as e:  # counted and printed, then one more try
                            res["failed_runs"].append("%s %s: %s" % (who, mode, e))
                            print("round %d %s %s failed: %s" % (rep + 1, who, mode, e),
                                  flush=True)
                    else:
                        sys.exit("bench: %s %s failed three times" % (who, mode))
                    res[who][mode].append(r)
                    print(f"round {rep + 1} {who:10} {mode:7} " +
                          " ".join(f"{k}={v:.2f}" for k, v in r.items()), flush=True)
        s.app_proc.kill()
        s.app_proc.wait()
        res["memory"] = s.app_memory()
    finally:
        s.close()

    def fmt(st, unit):
        return "%.2f %s [%.2f-%.2f]" % (st["median"], unit, st["min"], st["max"])

    print("\n%-22s %-30s %-30s %s" % ("", "deskvm app", "reference", "ratio"))
    ff, ar = stats(res["first_frame_s"]), stats(res["app_ready_s"])
    er = stats(res["engine_ready_s"])
    print("%-22s %-30s" % ("start->first frame", fmt(ff, "s")))
    print("%-22s %-30s %-30s %.2f" % ("start->guest ready", fmt(ar, "s"),
                                     fmt(er, "s") + " (deskvm-vm alone)",
                                     ar["median"] / er["median"]))
    for key, mode, unit in (("latency_ms", "latency", "ms"), ("fps", "fps", "frames/s")):
        g = stats([r[key] for r in res["gvncviewer"][mode]])
        for who in ("app", "app-1:1"):
            a = stats([r[key] for r in res[who][mode]])
            print("%-22s %-30s %-30s %.2f" % (
                "%s %s" % (key, "(1:1)" if who == "app-1:1" else "(fit)"), fmt(a, unit),
                fmt(g, unit) + " (gvncviewer)", a["median"] / g["median"]))
    m = res["memory"]
    for n in ("1vm", "5vm"):
        for k in ("rss", "pss"):
            a, g = m["app_" + n][k], m["vnc_" + n][k]
            print("%-22s %-30s %-30s %.2f" % ("%s %s" % (k.upper(), n), "%.1f MiB" % a,
                                             "%.1f MiB (gvncviewer%s)" % (
                                                 g, " x5" if n == "5vm" else ""), a / g))
    if res["failed_runs"]:
        print("\n%d run(s) failed and were repeated:" % len(res["failed_runs"]))
        for line in res["failed_runs"]:
            print("  " + line)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
