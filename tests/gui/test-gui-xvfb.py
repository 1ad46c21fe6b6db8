#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""test-gui-xvfb: the deskvm application driven as a person would, under Xvfb with xdotool.

usage: test-gui-xvfb.py DESKVM DESKVM_VM ARTIFACT_DIR

With a temporary XDG data/runtime/config dir: open the app, create the demo VM through the
New-VM assistant (Ctrl+N, type a name, Enter), start it (Ctrl+R), type into the serial console
and see the guest's echo come back to the app (the VM's console transcript), save a window
screenshot to ARTIFACT_DIR/deskvm-serial.png, force the VM off and quit.
Exit 77 (skip) when Xvfb cannot start or /dev/kvm cannot be opened (docs/testing.md).
"""
import os
import re
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
