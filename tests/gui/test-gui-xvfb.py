#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""test-gui-xvfb: the deskvm application driven as a person would, under Xvfb with xdotool.

usage: test-gui-xvfb.py DESKVM DESKVM_VM ARTIFACT_DIR

With a temporary XDG data/runtime/config dir: open the app, create the demo VM through the
New-VM assistant (Ctrl+N, type a name, Enter), start it (Ctrl+R), type into the serial console
and see the guest's echo come back to the app (the VM's console transcript), save a window
screenshot to ARTIFACT_DIR/deskvm-serial.png, force the VM off and quit.
Then the Screen page (Alt+2): a window screenshot must show the guest screen (compared with a
QMP screendump of the same VM), typing into the page must show the echo on the guest screen;
a snapshot is taken (Ctrl+T, name and description) and must appear in index.json with a PNG
thumbnail and a checkpoint file; typing more, then Ctrl+Shift+R (revert) must bring the
echo rows back as they were at the snapshot. The first start must have made the "Demo" VM.
Screenshots and dumps are kept in ARTIFACT_DIR.
Exit 77 (skip) when Xvfb cannot start or /dev/kvm cannot be opened (docs/testing.md).
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gui_shots import (SKIP, Screens, echo_rows, find_window, focus, green_in,  # noqa: E402
                       guest_box, log, read_ppm, start_xvfb, wait_for, xdo)

app_bin, engine_bin, artifacts = sys.argv[1], sys.argv[2], sys.argv[3]


def main():
    try:
        fd = os.open("/dev/kvm", os.O_RDWR)
        os.close(fd)
    except OSError as e:
        log("SKIP: /dev/kvm: %s" % e)
        return SKIP
    os.makedirs(artifacts, exist_ok=True)
    xvfb, display = start_xvfb()
    tmp = tempfile.mkdtemp(prefix="deskvm-gui-xvfb-")
    app = None
    try:
        env = dict(os.environ)
        for k in ("WAYLAND_DISPLAY", "DBUS_SESSION_BUS_ADDRESS"):
            env.pop(k, None)
        env.update({
            "DISPLAY": display, "GDK_BACKEND": "x11", "NO_AT_BRIDGE": "1",
            "GSETTINGS_BACKEND": "memory", "XDG_DATA_HOME": os.path.join(tmp, "data"),
            "XDG_CONFIG_HOME": os.path.join(tmp, "config"),
            "XDG_CACHE_HOME": os.path.join(tmp, "cache"),
            "XDG_RUNTIME_DIR": os.path.join(tmp, "run"), "DESKVM_VM": engine_bin,
            "GTK_A11Y": "none",
        })
        for k in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_RUNTIME_DIR"):
            os.makedirs(env[k], mode=0o700, exist_ok=True)
        app_log = open(os.path.join(artifacts, "deskvm-app.log"), "w")
        app = subprocess.Popen([app_bin], env=env, stdout=app_log, stderr=subprocess.STDOUT)
        main_win = find_window(env, "^deskvm$")
        log("main window %s" % main_win)
        demo_xml = os.path.join(env["XDG_DATA_HOME"], "deskvm", "vms", "Demo", "domain.xml")
        wait_for(lambda: os.path.exists(demo_xml), 10, "the Demo VM made at first start")
        if 'kind="demo"' not in open(demo_xml).read():
            raise SystemExit("FAIL: the Demo VM is not the demo guest")
        focus(env, main_win)

        # The assistant: Ctrl+N, replace the proposed name, Enter (demo guest is the default).
        vm_dir = os.path.join(env["XDG_DATA_HOME"], "deskvm", "vms", "xvfbdemo")
        for attempt in range(3):
            xdo(env, "key", "--clearmodifiers", "ctrl+n")
            try:
                dialog = find_window(env, "^New Virtual Machine$", 10)
                break
            except SystemExit:
                focus(env, main_win)
        else:
            raise SystemExit("FAIL: the New-VM assistant did not open")
        focus(env, dialog)
        xdo(env, "key", "--clearmodifiers", "ctrl+a")
        xdo(env, "type", "--delay", "30", "xvfbdemo")
        xdo(env, "key", "Return")
        wait_for(lambda: os.path.exists(os.path.join(vm_dir, "domain.xml")), 15,
                 "the VM's domain.xml")
        xml = open(os.path.join(vm_dir, "domain.xml")).read()
        if "<name>xvfbdemo</name>" not in xml or 'kind="demo"' not in xml:
            raise SystemExit("FAIL: unexpected domain.xml:\n" + xml)
        log("created %s" % vm_dir)

        # Start it: the new VM is selected; Ctrl+R starts it and focuses the serial console.
        focus(env, main_win)
        xdo(env, "key", "--clearmodifiers", "ctrl+r")
        transcript = os.path.join(vm_dir, "serial.log")
        wait_for(lambda: os.path.exists(transcript) and
                 "deskvm demo guest" in open(transcript, errors="replace").read(), 30,
                 "the demo guest's banner in the console")
        log("guest booted")

        # Type into the console; the guest echoes each byte. The clock rewrites its line every
        # second ("\rHH:MM:SS"), which may land between echoed letters: strip it to compare.
        def echoed():
            text = open(transcript, errors="replace").read()
            after = text.split("deskvm demo guest", 1)[1]
            return "hello" in re.sub(r"\r\d\d:\d\d:\d\d", "", after)
        for attempt in range(3):
            focus(env, main_win)
            xdo(env, "type", "--delay", "50", "hello")
            try:
                wait_for(echoed, 10, "the echo of 'hello'")
                break
            except SystemExit:
                log("no echo yet (attempt %d)" % (attempt + 1))
        else:
            raise SystemExit("FAIL: typed text did not come back from the guest")
        log("echo seen")
        time.sleep(0.5)  # let VTE paint the echo before the screenshot
        png = os.path.join(artifacts, "deskvm-serial.png")
        subprocess.run(["import", "-display", display, "-window", main_win, png], check=True,
                       timeout=30, env=env)
        if os.path.getsize(png) < 1000:
            raise SystemExit("FAIL: screenshot too small")
        log("screenshot %s" % png)

        # The Screen page (Alt+2): the window shows what the engine's screendump shows.
        uuid = re.search(r"<uuid>([0-9a-f-]+)</uuid>", xml).group(1)
        qmp_path = os.path.join(env["XDG_RUNTIME_DIR"], "deskvm", uuid + ".qmp")
        focus(env, main_win)
        xdo(env, "key", "--clearmodifiers", "alt+2")
        time.sleep(1.5)

        scr = Screens(env, main_win, qmp_path, artifacts)
        wait_for(lambda: scr.matches("deskvm-screen"), 20,
                 "the window to show the guest screen")

        # Type into the Screen page (a click focuses and grabs the keyboard).
        x0, y0, x1, y1 = guest_box(read_ppm(os.path.join(artifacts, "deskvm-screen.ppm")))
        before = echo_rows(scr.dump("before-typing"))
        for attempt in range(3):
            xdo(env, "mousemove", "--window", main_win, str((x0 + x1) // 2), str((y0 + y1) // 2))
            xdo(env, "click", "1")
            xdo(env, "type", "--delay", "80", "abc")
            try:
                wait_for(lambda: green_in(echo_rows(scr.dump("typed"))) and
                         echo_rows(scr.dump("typed")) != before, 10,
                         "the echo on the guest screen")
                break
            except SystemExit:
                log("no echo on the screen yet (attempt %d)" % (attempt + 1))
        else:
            raise SystemExit("FAIL: keys typed into the Screen page did not reach the guest")
        wait_for(lambda: scr.matches("deskvm-screen-echo"), 10,
                 "the window to show the echo")
        log("screen echo seen")

        # Snapshot (Ctrl+T: name, Tab, description, Enter); its thumbnail is a screendump.
        xdo(env, "key", "ctrl+alt")  # release the keyboard grab
        focus(env, main_win)
        at_snapshot = echo_rows(scr.dump("at-snapshot"))
        xdo(env, "key", "--clearmodifiers", "ctrl+t")
        snap_dialog = find_window(env, "^Take Snapshot$", 10)
        focus(env, snap_dialog)
        xdo(env, "key", "--clearmodifiers", "ctrl+a")
        xdo(env, "type", "--delay", "30", "xvfb-snap")
        xdo(env, "key", "Tab")
        xdo(env, "type", "--delay", "30", "after abc")
        xdo(env, "key", "Return")
        snapdir = os.path.join(vm_dir, "snapshots")
        index = os.path.join(snapdir, "index.json")
        wait_for(lambda: os.path.exists(index) and "xvfb-snap" in open(index).read(), 30,
                 "the snapshot in index.json")
        entry = json.load(open(index))["snapshots"][0]
        if entry["name"] != "xvfb-snap" or entry["description"] != "after abc":
            raise SystemExit("FAIL: unexpected index entry %r" % entry)
        thumb = os.path.join(snapdir, entry["id"] + ".png")
        if open(thumb, "rb").read(8) != b"\x89PNG\r\n\x1a\n":
            raise SystemExit("FAIL: no PNG thumbnail at %s" % thumb)
        if not os.path.getsize(os.path.join(snapdir, entry["id"] + ".dvs")):
            raise SystemExit("FAIL: empty checkpoint file")
        shutil.copy(thumb, os.path.join(artifacts, "snapshot-thumbnail.png"))
        log("snapshot taken")

        # Type more, then revert (Ctrl+Shift+R, the newest snapshot): the echo rows must be
        # back as they were at the snapshot, in the dump and in the window.
        focus(env, main_win)
        xdo(env, "mousemove", "--window", main_win, str((x0 + x1) // 2), str((y0 + y1) // 2))
        xdo(env, "click", "1")
        xdo(env, "type", "--delay", "80", "xyz")
        wait_for(lambda: echo_rows(scr.dump("typed-more")) != at_snapshot, 10,
                 "the echo of the keys typed after the snapshot")
        xdo(env, "key", "ctrl+alt")  # release the keyboard grab
        focus(env, main_win)
        xdo(env, "key", "--clearmodifiers", "ctrl+shift+r")
        wait_for(lambda: echo_rows(scr.dump("reverted")) == at_snapshot, 20,
                 "the screen as it was at the snapshot after the revert")
        wait_for(lambda: scr.matches("deskvm-screen-reverted"), 10,
                 "the window to show the reverted screen")
        log("revert seen")
        xdo(env, "key", "--clearmodifiers", "alt+3")
        time.sleep(0.5)
        scr.shot("deskvm-snapshots")

        # Force off (Ctrl+Shift+K): the engine goes away, the app stays.
        focus(env, main_win)
        xdo(env, "key", "--clearmodifiers", "ctrl+shift+k")
        wait_for(lambda: subprocess.run(["pgrep", "-f", "-P", str(app.pid), "deskvm-vm"],
                                        capture_output=True).returncode != 0, 15,
                 "the engine to stop")
        if app.poll() is not None:
            raise SystemExit("FAIL: the app exited (status %s)" % app.returncode)
        xdo(env, "key", "--clearmodifiers", "ctrl+q")
        wait_for(lambda: app.poll() is not None, 15, "the app to quit")
        log("PASS")
        return 0
    finally:
        if app is not None and app.poll() is None:
            app.kill()
            app.wait()
        xvfb.kill()
        xvfb.wait()
        shutil.rmtree(tmp, ignore_errors=True)


sys.exit(main())
