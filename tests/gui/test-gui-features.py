#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""test-gui-features: the settings editor, the ISO install and engine re-adoption, driven under
Xvfb with xdotool (the flows of issue 7's second part; test-gui-xvfb.py covers the first).

usage: test-gui-features.py DESKVM DESKVM_VM ARTIFACT_DIR

1. Settings: Ctrl+E on the Demo VM, memory set to 192 MiB, Enter: domain.xml must say so.
2. Re-adoption: start Demo, SIGKILL the app (only the app: the engine must survive), start the
   app again: the Screen page must show the guest again (its display channel reconnected), text
   typed into the serial console (Alt+1) must come back from the guest into serial.log (the
   console socket reconnected; the engine's replayed history not written twice: one banner),
   the Performance page (Alt+4) must draw its graphs, and 'q' typed on the Screen page powers the
   guest off: the engine ends and the new app notices (it removes the VM's pid file).
3. ISO install: the assistant (Ctrl+N, Alt+O, Alt+F, path, Enter) makes a VM whose engine, once
   started (Ctrl+R), runs with --firmware bios --cdrom ISO.
4. CD-ROM change while that VM runs: Ctrl+E, a second ISO's path, Alt+H ("Change now"):
   domain.xml names the new ISO. Force off (Ctrl+Shift+K), quit.
Screenshots go to ARTIFACT_DIR (features-*.png). Every app runs in its own process group and
every group is killed at the end, so no engine outlives the test. Exit 77 (skip) without Xvfb,
xdotool or /dev/kvm.
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gui_shots import SKIP, app_env, count_pixels, log, start_xvfb, wait_for  # noqa: E402

app_bin, engine_bin, artifacts = sys.argv[1], sys.argv[2], sys.argv[3]


class Session:
    def __init__(self, env, display):
        self.env, self.display = env, display
        self.apps = []  # every app started, each the leader of its own process group

    def xdo(self, *args, check=True):
        p = subprocess.run(["xdotool"] + list(args), env=self.env, capture_output=True,
                           text=True, timeout=30)
        if check and p.returncode != 0:
            raise SystemExit("FAIL: xdotool %s: %s" % (" ".join(args), p.stderr.strip()))
        return p.stdout.strip()

    def find_window(self, name, timeout=30):
        def look():
            out = self.xdo("search", "--onlyvisible", "--name", name, check=False)
            ids = [i for i in out.split() if i]
            return ids[-1] if ids else None
        return wait_for(look, timeout, "window %r" % name, 0.5)

    def focus(self, win):
        for _ in range(20):
            self.xdo("windowfocus", "--sync", win, check=False)
            if self.xdo("getwindowfocus", check=False) == win:
                return
            time.sleep(0.3)
        log("warning: focus on %s not confirmed" % win)

    def key(self, *keys):
        self.xdo("key", "--clearmodifiers", *keys)

    def type(self, text):
        self.xdo("type", "--delay", "40", text)

    def shot(self, win, name):
        png = os.path.join(artifacts, "features-%s.png" % name)
        ppm = os.path.join(artifacts, "features-%s.ppm" % name)
        for out in (png, ppm):
            subprocess.run(["import", "-display", self.display, "-window", win, "-depth", "8",
                            out], check=True, timeout=30, env=self.env)
        return ppm

    def start_app(self, tag):
        out = open(os.path.join(artifacts, "features-app-%s.log" % tag), "w")
        app = subprocess.Popen([app_bin], env=self.env, stdout=out, stderr=subprocess.STDOUT,
                               start_new_session=True)
        self.apps.append(app)
        win = self.find_window("^deskvm$")
        self.focus(win)
        return app, win

    def open_dialog(self, main_win, keys, title):
        for _ in range(3):
            self.focus(main_win)
            self.key(keys)
            try:
                win = self.find_window(title, 10)
                self.focus(win)
                return win
            except SystemExit:
                pass
        raise SystemExit("FAIL: %s did not open the %r window" % (keys, title))

    def cleanup(self):
        for app in self.apps:
            try:
                os.killpg(app.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            app.wait()


def blue_pixels(ppm):
    """Pixels (every other one) of the demo guest's banner blue."""
    return count_pixels(ppm, lambda p: p[2] > 120 and p[0] < 60 and p[1] < 60, step=2)


def graph_pixels(ppm):
    """Pixels of the performance graphs' green line (cairo 0.36, 0.75, 0.36)."""
    return count_pixels(ppm, lambda p: abs(p[0] - 92) < 20 and abs(p[1] - 191) < 20 and
                        abs(p[2] - 92) < 20)


def alive(pid):
    try:
        stat = open("/proc/%d/stat" % pid).read()
    except OSError:
        return False
    return stat[stat.rindex(")") + 2] != "Z"


def cmdline(pid):
    return open("/proc/%d/cmdline" % pid, "rb").read().split(b"\0")


def main():
    try:
        os.close(os.open("/dev/kvm", os.O_RDWR))
    except OSError as e:
        log("SKIP: /dev/kvm: %s" % e)
        return SKIP
    os.makedirs(artifacts, exist_ok=True)
    xvfb, display = start_xvfb("1280x1000")
    tmp = tempfile.mkdtemp(prefix="deskvm-gui-features-")
    env = app_env(display, tmp, engine_bin)
    s = Session(env, display)
    vms = os.path.join(env["XDG_DATA_HOME"], "deskvm", "vms")
    try:
        app, main_win = s.start_app("first")
        demo_xml = os.path.join(vms, "Demo", "domain.xml")
        wait_for(lambda: os.path.exists(demo_xml), 10, "the Demo VM made at first start")
        uuid = re.search(r"<uuid>([0-9a-f-]+)</uuid>", open(demo_xml).read()).group(1)
        rundir = os.path.join(env["XDG_RUNTIME_DIR"], "deskvm")

        # 1. Settings (Demo is selected at start): memory 192 MiB, Enter saves.
        dlg = s.open_dialog(main_win, "ctrl+e", "^VM Settings$")
        s.key("ctrl+a")
        s.type("192")
        time.sleep(0.3)
        s.shot(dlg, "settings")
        s.key("Return")
        wait_for(lambda: ">196608</memory>" in open(demo_xml).read(), 10,
                 "memory 192 MiB in domain.xml")
        if not os.path.exists(demo_xml + ".bak"):
            raise SystemExit("FAIL: no domain.xml.bak after saving the settings")
        log("settings saved to domain.xml")

        # 2. Start Demo, kill the app (not its process group), start a new app.
        s.focus(main_win)
        s.key("ctrl+r")
        transcript = os.path.join(vms, "Demo", "serial.log")
        wait_for(lambda: os.path.exists(transcript) and
                 "deskvm demo guest" in open(transcript, errors="replace").read(), 30,
                 "the demo guest's banner")
        pidfile = os.path.join(rundir, uuid + ".pid")
        engine = int(open(pidfile).read())
        args = cmdline(engine)
        if b"--memory" not in args or args[args.index(b"--memory") + 1] != b"192M":
            raise SystemExit("FAIL: the engine does not run with the saved memory: %r" % args)
        os.kill(app.pid, signal.SIGKILL)
        app.wait()
        time.sleep(1)
        if not alive(engine):
            raise SystemExit("FAIL: the engine died with the app")
        log("app killed, engine %d runs on" % engine)
        app, main_win = s.start_app("second")
        s.focus(main_win)
        s.key("alt+2")

        def screen_back():
            s.focus(main_win)
            return blue_pixels(s.shot(main_win, "readopted")) > 1000
        wait_for(screen_back, 30, "the re-adopted guest's screen in the new app", 1)
        log("re-adopted: the Screen page shows the guest")
        # The serial console works again: the new app is attached to the engine's console
        # socket. The clock rewrites its line every second ("\rHH:MM:SS"), which may land
        # between echoed letters: strip it to compare.
        def readopt_echoed():
            text = open(transcript, errors="replace").read()
            after = text.split("deskvm demo guest", 1)[-1]
            return "readopted" in re.sub(r"\r\d\d:\d\d:\d\d", "", after)
        s.focus(main_win)
        s.key("alt+1")
        for attempt in range(3):
            s.focus(main_win)
            s.type("readopted")
            try:
                wait_for(readopt_echoed, 10, "the echo of 'readopted' in serial.log")
                break
            except SystemExit:
                log("no serial echo yet (attempt %d)" % (attempt + 1))
        else:
            raise SystemExit("FAIL: text typed into the re-adopted VM's serial console did not "
                             "come back")
        banners = open(transcript, errors="replace").read().count("deskvm demo guest")
        if banners != 1:
            raise SystemExit("FAIL: serial.log holds the banner %d times after re-adoption "
                             "(the replayed history was written again)" % banners)
        s.shot(main_win, "readopted-serial")
        log("re-adopted: the serial console echoes typed text")
        # The Performance page (Alt+4) draws the re-adopted engine's graphs once a second.
        s.focus(main_win)
        s.key("alt+4")
        wait_for(lambda: graph_pixels(s.shot(main_win, "performance")) > 50, 20,
                 "the performance graphs to show a line")
        log("performance graphs drawn")
        s.focus(main_win)
        s.key("alt+2")
        wait_for(screen_back, 20, "the Screen page again", 1)
        x = int(s.xdo("getwindowgeometry", main_win).split("Geometry: ")[1].split("x")[0])
        for attempt in range(3):
            s.xdo("mousemove", "--window", main_win, str(x * 2 // 3), "300")
            s.xdo("click", "1")
            s.xdo("type", "--delay", "80", "q")
            try:
                wait_for(lambda: not alive(engine), 15, "the guest to power off")
                break
            except SystemExit:
                log("no power-off yet (attempt %d)" % (attempt + 1))
        else:
            raise SystemExit("FAIL: 'q' on the re-adopted VM's screen did not power it off")
        wait_for(lambda: not os.path.exists(pidfile), 10,
                 "the new app to see the engine end (pid file removed)")
        if app.poll() is not None:
            raise SystemExit("FAIL: the app exited (status %s)" % app.returncode)
        s.xdo("key", "ctrl+alt")  # release the keyboard grab
        s.shot(main_win, "readopted-stopped")
        log("re-adopted VM powered off, the app saw it")

        # 3. ISO install through the assistant.
        iso = os.path.join(tmp, "installer.iso")
        with open(iso, "wb") as f:
            f.truncate(1 << 20)
        dlg = s.open_dialog(main_win, "ctrl+n", "^New Virtual Machine$")
        s.key("ctrl+a")
        s.type("isovm")
        s.key("alt+o")
        s.key("alt+f")
        s.type(iso)
        time.sleep(0.3)
        s.shot(dlg, "assistant-iso")
        s.key("Return")
        iso_xml = os.path.join(vms, "isovm", "domain.xml")
        wait_for(lambda: os.path.exists(iso_xml), 15, "the ISO VM's domain.xml")
        xml = open(iso_xml).read()
        for want in ('firmware="bios"', 'device="cdrom"', iso, "disk0.qcow2", 'bus="sata"'):
            if want not in xml:
                raise SystemExit("FAIL: %r not in the ISO VM's domain.xml:\n%s" % (want, xml))
        if not os.path.exists(os.path.join(vms, "isovm", "disk0.qcow2")):
            raise SystemExit("FAIL: the assistant made no disk")
        iso_uuid = re.search(r"<uuid>([0-9a-f-]+)</uuid>", xml).group(1)
        s.focus(main_win)
        s.key("ctrl+r")
        iso_pidfile = os.path.join(rundir, iso_uuid + ".pid")
        wait_for(lambda: os.path.exists(iso_pidfile) and open(iso_pidfile).read().strip(), 15,
                 "the ISO VM's engine")
        iso_engine = int(open(iso_pidfile).read())
        args = cmdline(iso_engine)
        log("ISO VM engine: %s" % b" ".join(args).decode(errors="replace"))
        ok = (b"--firmware" in args and args[args.index(b"--firmware") + 1] == b"bios" and
              b"--cdrom" in args and args[args.index(b"--cdrom") + 1] == iso.encode() and
              b"--boot" in args and args[args.index(b"--boot") + 1] == b"cdrom,disk")
        if not ok:
            raise SystemExit("FAIL: the ISO VM's engine lacks --firmware bios --cdrom ISO "
                             "--boot cdrom,disk")
        time.sleep(1)
        s.shot(main_win, "iso-running")

        # 4. CD-ROM change while it runs: Ctrl+E (the ISO field has the focus), a new path,
        # Alt+H ("Change now"): QMP blockdev-change-medium, then domain.xml names the new ISO.
        iso2 = os.path.join(tmp, "second.iso")
        with open(iso2, "wb") as f:
            f.truncate(1 << 20)
        dlg = s.open_dialog(main_win, "ctrl+e", "^VM Settings$")
        s.key("ctrl+a")
        s.type(iso2)
        s.key("alt+h")
        wait_for(lambda: iso2 in open(iso_xml).read(), 15, "the new ISO in domain.xml")
        if iso in open(iso_xml).read():
            raise SystemExit("FAIL: the old ISO is still in domain.xml")
        s.shot(dlg, "cdrom-changed")
        s.key("Escape")
        log("CD-ROM changed while running")
        s.focus(main_win)
        s.key("ctrl+shift+k")
        wait_for(lambda: not alive(iso_engine), 15, "the ISO VM to be forced off")
        s.focus(main_win)
        s.key("ctrl+q")
        wait_for(lambda: app.poll() is not None, 15, "the app to quit")
        log("PASS")
        return 0
    finally:
        s.cleanup()
        os.killpg(xvfb.pid, signal.SIGKILL)
        xvfb.wait()
        shutil.rmtree(tmp, ignore_errors=True)


sys.exit(main())
