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
dialog) must leave query-snapshots empty. The first start must have made the "Demo" VM. Screenshots and dumps are kept in ARTIFACT_DIR.
Exit 77 (skip) when Xvfb cannot start or /dev/kvm cannot be opened (docs/testing.md).
"""
import json
import os
import re
import socket
import shutil
import subprocess
import sys
import tempfile
import time

app_bin, engine_bin, artifacts = sys.argv[1], sys.argv[2], sys.argv[3]
SKIP = 77


def log(msg):
    print(msg, flush=True)


def wait_for(pred, timeout, what, interval=0.2):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        v = pred()
        if v:
            return v
        time.sleep(interval)
    raise SystemExit("FAIL: timed out waiting for %s" % what)


def start_xvfb():
    if shutil.which("Xvfb") is None or shutil.which("xdotool") is None:
        log("SKIP: Xvfb or xdotool not installed")
        sys.exit(SKIP)
    r, w = os.pipe()
    proc = subprocess.Popen(["Xvfb", "-displayfd", str(w), "-screen", "0", "1280x800x24",
                             "-nolisten", "tcp"], pass_fds=(w,), stderr=subprocess.DEVNULL)
    os.close(w)
    buf = b""
    end = time.monotonic() + 20
    while not buf.endswith(b"\n") and time.monotonic() < end:
        chunk = os.read(r, 16)
        if not chunk:
            break
        buf += chunk
    os.close(r)
    if not buf.strip():
        proc.kill()
        log("SKIP: Xvfb did not start")
        sys.exit(SKIP)
    return proc, ":" + buf.decode().strip()


def xdo(env, *args, check=True):
    p = subprocess.run(["xdotool"] + list(args), env=env, capture_output=True, text=True,
                       timeout=30)
    if check and p.returncode != 0:
        raise SystemExit("FAIL: xdotool %s: %s" % (" ".join(args), p.stderr.strip()))
    return p.stdout.strip()


def find_window(env, name, timeout=30):
    def look():
        out = xdo(env, "search", "--onlyvisible", "--name", name, check=False)
        ids = [i for i in out.split() if i]
        return ids[-1] if ids else None
    return wait_for(look, timeout, "window %r" % name, 0.5)


def focus(env, win):
    # No window manager: give the X input focus directly, then check it took.
    for _ in range(20):
        xdo(env, "windowfocus", "--sync", win, check=False)
        if xdo(env, "getwindowfocus", check=False) == win:
            return
        time.sleep(0.3)
    log("warning: focus on %s not confirmed" % win)


def read_ppm(path):
    """(width, height, bytes) of a binary PPM (P6, maxval 255)."""
    data = open(path, "rb").read()
    fields, pos = [], 0
    while len(fields) < 4:
        while data[pos:pos + 1].isspace():
            pos += 1
        if data[pos:pos + 1] == b"#":
            pos = data.index(b"\n", pos)
            continue
        end = pos
        while not data[end:end + 1].isspace():
            end += 1
        fields.append(data[pos:end])
        pos = end
    if fields[0] != b"P6" or int(fields[3]) != 255:
        raise SystemExit("FAIL: %s is not an 8-bit P6 PPM" % path)
    w, h = int(fields[1]), int(fields[2])
    return w, h, data[pos + 1:pos + 1 + w * h * 3]


def px(img, x, y):
    w, _, d = img
    i = (y * w + x) * 3
    return d[i], d[i + 1], d[i + 2]


def qmp(path, command, args=None):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(30)
    s.connect(path)
    f = s.makefile("rw")
    json.loads(f.readline())
    for cmd, a in (("qmp_capabilities", None), (command, args)):
        req = {"execute": cmd}
        if a:
            req["arguments"] = a
        f.write(json.dumps(req) + "\n")
        f.flush()
        while True:
            reply = json.loads(f.readline())
            if "return" in reply or "error" in reply:
                break
        if "error" in reply:
            raise SystemExit("FAIL: QMP %s: %s" % (cmd, reply["error"]))
    s.close()
    return reply["return"]


def engine_pid(app):
    """The deskvm-vm child of the app."""
    out = subprocess.run(["pgrep", "-P", str(app.pid), "deskvm-vm"], capture_output=True,
                         text=True).stdout.split()
    if not out:
        raise SystemExit("FAIL: no deskvm-vm child of the app")
    return int(out[0])


def dark(p):
    return max(p) < 48


def blue(p):
    return p[2] > 120 and p[0] < 60 and p[1] < 60


def guest_box(shot):
    """Where the window shows the guest screen, from its blue banner (text row 0, all 80
    columns): the banner's width is the screen's, its height one of the 25 rows."""
    w, h, _ = shot
    xs, ys = [], []
    for y in range(h):
        for x in range(0, w, 2):
            if blue(px(shot, x, y)):
                xs.append(x)
                ys.append(y)
    if len(xs) < 100:
        raise SystemExit("FAIL: no guest screen (its blue banner) in the window screenshot")
    x0, x1, y0 = min(xs), max(xs) + 2, min(ys)
    return x0, y0, x1, y0 + (max(ys) + 1 - y0) * 25


def compare_with_dump(shot, dump):
    """Fraction of the dump's non-black sample points whose colour the window shows at the
    matching place (the page scales the screen to fit), and that box."""
    x0, y0, x1, y1 = guest_box(shot)
    dw, dh, _ = dump
    total = match = 0
    for sy in range(2, dh, 3):
        for sx in range(2, dw, 3):
            d = px(dump, sx, sy)
            if dark(d):
                continue
            total += 1
            wx = x0 + sx * (x1 - x0) // dw
            wy = y0 + sy * (y1 - y0) // dh
            # Scaling blurs glyph edges: accept the colour anywhere in a 3x3 neighbourhood.
            for ox in (-1, 0, 1):
                for oy in (-1, 0, 1):
                    c = px(shot, min(max(wx + ox, 0), shot[0] - 1),
                           min(max(wy + oy, 0), shot[1] - 1))
                    if all(abs(a - b) < 64 for a, b in zip(c, d)):
                        match += 1
                        break
                else:
                    continue
                break
    return (match / total if total else 0.0), (x0, y0, x1, y1)


def echo_rows(dump):
    """The pixels of text rows 6..9, where the demo guest echoes (tests/guest/tests/demo.c)."""
    w, h, d = dump
    row = h // 25
    return d[6 * row * w * 3:10 * row * w * 3]


def green_in(data):
    return any(data[i + 1] > 200 and data[i] < 150 and data[i + 2] < 150
               for i in range(0, len(data), 3))


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

        def shot(name):
            png = os.path.join(artifacts, name + ".png")
            ppm = os.path.join(artifacts, name + ".ppm")
            for out in (png, ppm):
                subprocess.run(["import", "-display", display, "-window", main_win, "-depth",
                                "8", out], check=True, timeout=30, env=env)
            return read_ppm(ppm)

        def dump(name):
            out = os.path.join(artifacts, name + ".ppm")
            qmp(qmp_path, "screendump", {"filename": out, "format": "ppm"})
            return read_ppm(out)

        def screen_matches(name):
            frac, box = compare_with_dump(shot(name), dump(name + "-dump"))
            log("%s: guest screen at %s, %.0f%% of the dump's text pixels match" %
                (name, box, 100 * frac))
            return frac >= 0.8
        wait_for(lambda: screen_matches("deskvm-screen"), 20,
                 "the window to show the guest screen")

        # Type into the Screen page (a click focuses and grabs the keyboard).
        x0, y0, x1, y1 = guest_box(read_ppm(os.path.join(artifacts, "deskvm-screen.ppm")))
        before = echo_rows(dump("before-typing"))
        for attempt in range(3):
            xdo(env, "mousemove", "--window", main_win, str((x0 + x1) // 2), str((y0 + y1) // 2))
            xdo(env, "click", "1")
            xdo(env, "type", "--delay", "80", "abc")
            try:
                wait_for(lambda: green_in(echo_rows(dump("typed"))) and
                         echo_rows(dump("typed")) != before, 10, "the echo on the guest screen")
                break
            except SystemExit:
                log("no echo on the screen yet (attempt %d)" % (attempt + 1))
        else:
            raise SystemExit("FAIL: keys typed into the Screen page did not reach the guest")
        wait_for(lambda: screen_matches("deskvm-screen-echo"), 10,
                 "the window to show the echo")
        log("screen echo seen")

        # Snapshot (Ctrl+T: name, Tab, description, Enter); its thumbnail is a screendump.
        xdo(env, "key", "ctrl+alt")  # release the keyboard grab
        focus(env, main_win)
        at_snapshot = echo_rows(dump("at-snapshot"))
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
        wait_for(lambda: echo_rows(dump("typed-more")) != at_snapshot, 10,
                 "the echo of the keys typed after the snapshot")
        xdo(env, "key", "ctrl+alt")  # release the keyboard grab
        focus(env, main_win)
        xdo(env, "key", "--clearmodifiers", "ctrl+shift+r")
        wait_for(lambda: echo_rows(dump("reverted")) == at_snapshot, 20,
                 "the screen as it was at the snapshot after the revert")
        wait_for(lambda: screen_matches("deskvm-screen-reverted"), 10,
                 "the window to show the reverted screen")
        after = qmp(qmp_path, "query-snapshots")
        if len(after) != 1 or not after[0]["current"]:
            raise SystemExit("FAIL: after the revert query-snapshots lists %r" % after)
        log("revert seen")
        xdo(env, "key", "--clearmodifiers", "alt+3")
        time.sleep(0.5)
        closed = shot("deskvm-snapshots")

        # The VM toolbar fits the default width (960): its last button, More (Alt+M), opens
        # the Clone/Export/Delete menu, which must change the window's pixels right below it.
        focus(env, main_win)
        xdo(env, "key", "--clearmodifiers", "alt+m")
        time.sleep(1)
        opened = shot("deskvm-more-menu")
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
