#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Helpers of the Xvfb GUI tests (test-gui-xvfb.py, test-gui-atspi.py) and bench/gui.py: an
Xvfb on a free display, binary PPM reading, a one-shot QMP client, and the comparison of a
window screenshot with the engine's screendump of the demo guest's VGA text screen."""
import json
import os
import random
import socket
import shutil
import subprocess
import sys
import time

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


def start_xvfb(size="1280x800", log_path=None):
    """An Xvfb on a free display, and that display. Displays are tried from a random number in
    100..899: other sessions on a shared host start theirs at :0 and up, and a server sharing
    (or reusing) a low number can take the socket away mid-test. -noreset: by default the
    server resets when its last client leaves, and a client connecting during the reset is
    refused (the AT-SPI bus launcher connects and leaves while the app starts). Its messages
    go to log_path. Xvfb gets its own process group, so a test that kills the app's group
    (with the engines in it) leaves the server alone."""
    if shutil.which("Xvfb") is None or shutil.which("xdotool") is None:
        log("SKIP: Xvfb or xdotool not installed")
        sys.exit(SKIP)
    err = open(log_path, "w") if log_path else subprocess.DEVNULL
    first = random.randrange(100, 900)
    for n in range(first, first + 20):
        if os.path.exists("/tmp/.X%d-lock" % n) or os.path.exists("/tmp/.X11-unix/X%d" % n):
            continue
        r, w = os.pipe()
        proc = subprocess.Popen(["Xvfb", ":%d" % n, "-displayfd", str(w), "-screen", "0",
                                 size + "x24", "-nolisten", "tcp", "-noreset"], pass_fds=(w,),
                                stderr=err, start_new_session=True)
        os.close(w)
        buf = b""
        end = time.monotonic() + 20
        while not buf.endswith(b"\n") and time.monotonic() < end:
            chunk = os.read(r, 16)
            if not chunk:
                break
            buf += chunk
        os.close(r)
        if buf.strip():
            return proc, ":" + buf.decode().strip()
        proc.kill()
        proc.wait()
    log("SKIP: Xvfb did not start")
    sys.exit(SKIP)


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


def app_env(display, tmp, engine_bin, accessible=False):
    """The environment the app runs in: DISPLAY on X11, GSettings in memory, XDG data,
    config, cache and runtime directories made under tmp, DESKVM_VM = engine_bin. Without
    accessible, the AT-SPI bridge is off and the session bus is dropped; with it, the
    bridge is on and the test's own session bus (dbus-run-session) is kept."""
    env = dict(os.environ)
    drop = ("WAYLAND_DISPLAY", "NO_AT_BRIDGE", "GTK_A11Y") if accessible else \
        ("WAYLAND_DISPLAY", "DBUS_SESSION_BUS_ADDRESS")
    for k in drop:
        env.pop(k, None)
    env.update({
        "DISPLAY": display, "GDK_BACKEND": "x11", "GSETTINGS_BACKEND": "memory",
        "XDG_DATA_HOME": os.path.join(tmp, "data"),
        "XDG_CONFIG_HOME": os.path.join(tmp, "config"),
        "XDG_CACHE_HOME": os.path.join(tmp, "cache"),
        "XDG_RUNTIME_DIR": os.path.join(tmp, "run"), "DESKVM_VM": engine_bin,
    })
    if not accessible:
        env.update({"NO_AT_BRIDGE": "1", "GTK_A11Y": "none"})
    for k in ("XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_RUNTIME_DIR"):
        os.makedirs(env[k], mode=0o700, exist_ok=True)
    return env


def count_pixels(path, pred, step=1):
    """How many pixels (every step-th) of the PPM at path satisfy pred((r, g, b))."""
    _, _, data = read_ppm(path)
    return sum(1 for i in range(0, len(data) - 2, 3 * step) if pred(data[i:i + 3]))


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


class Screens:
    """Window screenshots (PNG to keep, PPM to compare) and QMP screendumps of one VM, all
    written to an artifact directory under the name given."""

    def __init__(self, env, window, qmp_path, artifacts):
        self.env, self.window, self.qmp_path, self.artifacts = env, window, qmp_path, artifacts

    def shot(self, name, window=None):
        png = os.path.join(self.artifacts, name + ".png")
        ppm = os.path.join(self.artifacts, name + ".ppm")
        for out in (png, ppm):
            subprocess.run(["import", "-display", self.env["DISPLAY"], "-window",
                            window or self.window, "-depth", "8", out], check=True, timeout=30,
                           env=self.env)
        return read_ppm(ppm)

    def dump(self, name):
        out = os.path.join(self.artifacts, name + ".ppm")
        qmp(self.qmp_path, "screendump", {"filename": out, "format": "ppm"})
        return read_ppm(out)

    def matches(self, name):
        """The window shows the guest screen: >= 80 % of the dump's text pixels match."""
        frac, box = compare_with_dump(self.shot(name), self.dump(name + "-dump"))
        log("%s: guest screen at %s, %.0f%% of the dump's text pixels match" %
            (name, box, 100 * frac))
        return frac >= 0.8
