# SPDX-License-Identifier: GPL-2.0-or-later
"""Helpers for the Xvfb GUI tests: an X server, xdotool, screenshots as PPM, waiting.

test-gui-features.py uses it; test-gui-xvfb.py still has its own copies of the same helpers
(kept as they are while the AT-SPI work on that file lands; it can import these instead).
"""
import os
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


def start_xvfb(size="1280x1000x24"):
    """(process, DISPLAY); exits 77 when Xvfb or xdotool is missing or Xvfb does not start.
    Xvfb gets its own process group so that killing the test's groups leaves it alone."""
    if shutil.which("Xvfb") is None or shutil.which("xdotool") is None:
        log("SKIP: Xvfb or xdotool not installed")
        sys.exit(SKIP)
    r, w = os.pipe()
    proc = subprocess.Popen(["Xvfb", "-displayfd", str(w), "-screen", "0", size,
                             "-nolisten", "tcp"], pass_fds=(w,), stderr=subprocess.DEVNULL,
                            start_new_session=True)
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


def count_pixels(path, pred, step=1):
    """How many pixels (every step-th) of the PPM at path satisfy pred((r, g, b))."""
    _, _, px = read_ppm(path)
    return sum(1 for i in range(0, len(px) - 2, 3 * step) if pred(px[i:i + 3]))
