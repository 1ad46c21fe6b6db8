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
a snapshot is taken (Ctrl+T, name and description) and must appear in the engine's tree: QMP
query-snapshots lists it (name, description, current) with a PNG thumbnail of at most 160x120
and a checkpoint file in VMDIR/snapshots (the engine was started with --snapshot-dir there),
and snapshots.json names it; typing more, then Ctrl+Shift+R (snapshot-revert) must bring the
echo rows back as they were at the snapshot. The demo VM has no disk, so no guest disk write is
checked here (tests/integration/test-snapshot-tree.py checks the disks behind the same commands).
The More menu (Alt+M) must open at the default width, and Delete (Alt+D, confirmed in its
dialog) must leave query-snapshots empty. The first start must have made the "Demo" VM.
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
from gui_shots import (SKIP, Screens, app_env, echo_rows, find_window, focus, green_in,  # noqa: E402
                       guest_box, log, px, qmp, read_ppm, start_xvfb, wait_for, xdo)

app_bin, engine_bin, artifacts = sys.argv[1], sys.argv[2], sys.argv[3]


def engine_pid(app):
    """The deskvm-vm child of the app."""
    out = subprocess.run(["pgrep", "-P", str(app.pid), "deskvm-vm"], capture_output=True,
                         text=True).stdout.split()
    if not out:
        raise SystemExit("FAIL: no deskvm-vm child of the app")
    return int(out[0])

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
        env = app_env(display, tmp, engine_bin)
        app_log = open(os.path.join(artifacts, "deskvm-app.log"), "w")
        # Its own process group: the engines it spawns are in it too, so the cleanup below
        # kills them with the app (running VMs outlive the app by design, docs/gui.md).
        app = subprocess.Popen([app_bin], env=env, stdout=app_log, stderr=subprocess.STDOUT,
                               start_new_session=True)
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
                         echo_rows(scr.dump("typed")) != before, 10, "the echo on the guest screen")
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
        index = os.path.join(snapdir, "snapshots.json")
        wait_for(lambda: os.path.exists(index) and "xvfb-snap" in open(index).read(), 30,
                 "the snapshot in the engine's snapshots.json")
        cmdline = open("/proc/%d/cmdline" % engine_pid(app), "rb").read().split(b"\0")
        if cmdline[cmdline.index(b"--snapshot-dir") + 1].decode() != snapdir:
            raise SystemExit("FAIL: the engine's --snapshot-dir is not %s: %r" % (snapdir, cmdline))
        tree = qmp(qmp_path, "query-snapshots")
        if len(tree) != 1:
            raise SystemExit("FAIL: query-snapshots lists %r" % tree)
        entry = tree[0]
        if (entry["name"] != "xvfb-snap" or entry["description"] != "after abc" or
                not entry["current"] or entry["parent"] is not None):
            raise SystemExit("FAIL: unexpected query-snapshots entry %r" % entry)
        thumb = entry["thumbnail"]
        if not thumb or os.path.dirname(thumb) != snapdir:
            raise SystemExit("FAIL: no thumbnail in %s: %r" % (snapdir, entry))
        head = open(thumb, "rb").read(24)
        if head[:8] != b"\x89PNG\r\n\x1a\n":
            raise SystemExit("FAIL: no PNG thumbnail at %s" % thumb)
        w, h = int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
        if not (0 < w <= 160 and 0 < h <= 120):
            raise SystemExit("FAIL: thumbnail %dx%d is not within 160x120" % (w, h))
        if not os.path.getsize(entry["checkpoint"]):
            raise SystemExit("FAIL: empty checkpoint file")
        if os.path.exists(os.path.join(snapdir, "index.json")):
            raise SystemExit("FAIL: the app still wrote its own index.json")
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
        after = qmp(qmp_path, "query-snapshots")
        if len(after) != 1 or not after[0]["current"]:
            raise SystemExit("FAIL: after the revert query-snapshots lists %r" % after)
        log("revert seen")
        xdo(env, "key", "--clearmodifiers", "alt+3")
        time.sleep(0.5)
        closed = scr.shot("deskvm-snapshots")

        # The VM toolbar fits the default width (960): its last button, More (Alt+M), opens
        # the Clone/Export/Delete menu, which must change the window's pixels right below it.
        focus(env, main_win)
        xdo(env, "key", "--clearmodifiers", "alt+m")
        time.sleep(1)
        opened = scr.shot("deskvm-more-menu")
        xdo(env, "key", "Escape")
        w = closed[0]
        changed = sum(1 for y in range(60, min(closed[1], 260)) for x in range(w // 2, w)
                      if px(closed, x, y) != px(opened, x, y))
        if changed < 2000:
            raise SystemExit("FAIL: Alt+M opened no More menu (%d pixels changed)" % changed)
        log("More menu seen (%d pixels changed)" % changed)

        # Delete (Alt+D on the Snapshots page; the snapshot is still selected), confirmed in
        # its dialog: the engine's tree is empty, the checkpoint and thumbnail are gone.
        focus(env, main_win)
        xdo(env, "key", "--clearmodifiers", "alt+3")
        xdo(env, "key", "--clearmodifiers", "alt+d")
        confirm = find_window(env, "^Delete Snapshot$", 10)
        focus(env, confirm)
        xdo(env, "key", "--clearmodifiers", "alt+d")
        wait_for(lambda: qmp(qmp_path, "query-snapshots") == [], 20,
                 "the snapshot deleted through the confirm dialog")
        for gone in (thumb, entry["checkpoint"]):
            if os.path.exists(gone):
                raise SystemExit("FAIL: %s still there after the delete" % gone)
        log("snapshot deleted")

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
        if app is not None:
            try:
                os.killpg(app.pid, 9)
            except ProcessLookupError:
                pass
            app.wait()
        xvfb.kill()
        xvfb.wait()
        shutil.rmtree(tmp, ignore_errors=True)


sys.exit(main())
