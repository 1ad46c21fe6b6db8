#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""test-snapshot-thumb: snapshot-take writes a thumbnail of the screen (docs/snapshots.md,
"Thumbnails") on the vga guest (tests/guest/tests/vga.c) with --display vga.

usage: test-snapshot-thumb.py DESKVM_VM VGA_ELF

Proves: for the 640x400 text screen and the 640x480 VBE pattern, the tree's index names a
PNG next to the checkpoint, query-snapshots returns its path, the file is a valid PNG of the
size the aspect-keeping rule gives (160x100, 160x120), and each thumbnail pixel is the mean
of the screendump's pixels it covers, within a small error (the test recomputes the box
average from a QMP screendump of the same screen); snapshot-delete removes the thumbnail; an
engine without a display takes snapshots with "thumbnail": null; a checkpoint of the
640x480x32 VBE screen (more than 1 MiB of VRAM) restored in a fresh engine shows the same
screen.
"""
import json
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from deskvm_harness import Engine, check, main, require_kvm  # noqa: E402
from screen import read_png  # noqa: E402

MAX_W, MAX_H = 160, 120


def thumb_size(w, h):
    """The rule of display_thumbnail_size(): fit MAX_W x MAX_H, aspect kept, rounded."""
    tw, th = w, h
    if w > MAX_W:
        tw, th = MAX_W, (h * MAX_W + w // 2) // w
    if th > MAX_H:
        tw, th = (w * MAX_H + h // 2) // h, MAX_H
    return max(tw, 1), max(th, 1)


def box_average(w, h, px, tw, th):
    """Each thumbnail pixel: the area-weighted mean of the source pixels under it."""
    sx, sy = w / tw, h / th
    out = []
    for ty in range(th):
        y0, y1 = ty * sy, (ty + 1) * sy
        for tx in range(tw):
            x0, x1 = tx * sx, (tx + 1) * sx
            acc, area = [0.0, 0.0, 0.0], 0.0
            for y in range(int(y0), min(h, int(y1 + 0.999999))):
                wy = min(y + 1, y1) - max(y, y0)
                for x in range(int(x0), min(w, int(x1 + 0.999999))):
                    wgt = wy * (min(x + 1, x1) - max(x, x0))
                    i = (y * w + x) * 3
                    for c in range(3):
                        acc[c] += wgt * px[i + c]
                    area += wgt
            out.append(tuple(a / area for a in acc))
    return out


def check_thumbnail(c, vm, snapdir, tmp, what):
    dump = os.path.join(tmp, "screen.png")
    c.cmd("stop")  # the screen the thumbnail shows and the screendump are the same
    c.cmd("screendump", {"filename": dump})
    sid = c.cmd("snapshot-take", {"name": what}, timeout=60)["id"]
    snap = [s for s in c.cmd("query-snapshots") if s["id"] == sid][0]
    with open(os.path.join(snapdir, "snapshots.json")) as f:
        entry = [s for s in json.load(f)["snapshots"] if s["id"] == sid][0]
    check(entry["thumbnail"] == "snap-%s.png" % sid, "%s: index entry %r" % (what, entry))
    path = snap["thumbnail"]
    check(path and os.path.realpath(path) == os.path.realpath(os.path.join(snapdir,
                                                                           entry["thumbnail"])),
          "%s: query-snapshots thumbnail %r" % (what, path))
    w, h, px = read_png(dump)
    tw, th, tpx = read_png(path)
    check((w, h) == {"text": (640, 400), "vbe": (640, 480)}[what], "%s screen is %dx%d"
          % (what, w, h))
    check((tw, th) == thumb_size(w, h), "%s: thumbnail %dx%d for a %dx%d screen"
          % (what, tw, th, w, h))
    want = box_average(w, h, px, tw, th)
    errs = [abs(tpx[i * 3 + ch] - want[i][ch]) for i in range(tw * th) for ch in range(3)]
    mean, worst = sum(errs) / len(errs), max(errs)
    check(mean < 2.0 and worst <= 12, "%s: thumbnail differs from the scaled screendump: mean "
          "%.2f, worst %.1f per channel" % (what, mean, worst))
    print("%s: %dx%d -> %dx%d thumbnail, mean error %.2f, worst %.1f per channel"
          % (what, w, h, tw, th, mean, worst))
    c.cmd("cont")
    return sid, path


def run():
    require_kvm()
    binary, elf = sys.argv[1], sys.argv[2]
    tmp = tempfile.mkdtemp(prefix="deskvm-snapshot-thumb-")
    snapdir = os.path.join(tmp, "snaps")
    try:
        vm = Engine(binary, ["--kernel", elf, "--append", "interactive=1 keys=2 packets=1",
                             "--display", "vga", "--snapshot-dir", snapdir],
                    tmp=tempfile.mkdtemp(dir=tmp))
        try:
            c = vm.qmp()
            vm.wait_serial("vga: text ready", timeout=60)
            check_thumbnail(c, vm, snapdir, tmp, "text")  # the guest waits for a key
            c.cmd("send-key", {"keys": [{"type": "qcode", "data": "a"}]})
            vm.wait_serial("vga: vbe ready", timeout=60)
            sid, path = check_thumbnail(c, vm, snapdir, tmp, "vbe")
            c.cmd("snapshot-delete", {"id": sid})
            check(not os.path.exists(path), "the deleted snapshot's thumbnail is still there")
            # The 640x480x32 frame (1.2 MB of the 16 MiB VRAM) in a checkpoint.
            c.cmd("stop")
            dump = os.path.join(tmp, "vbe-saved.png")
            c.cmd("screendump", {"filename": dump})
            ckpt = os.path.join(tmp, "vbe.dvs")
            c.cmd("snapshot-save", {"file": ckpt}, timeout=60)
            c.cmd("quit")
            vm.wait_exit(30)
        finally:
            vm.cleanup()
        vm = Engine(binary, ["--paused", "--restore", ckpt, "--display", "vga"],
                    tmp=tempfile.mkdtemp(dir=tmp))
        try:
            c = vm.qmp()
            again = os.path.join(tmp, "vbe-restored.png")
            c.cmd("screendump", {"filename": again})
            check(read_png(again) == read_png(dump), "the restored VBE screen differs")
            print("vbe: --restore shows the same 640x480x32 screen (VRAM past 1 MiB saved)")
        finally:
            vm.cleanup()

        nodisp = os.path.join(tmp, "nodisp")
        # Paused: this guest stops at once without its VGA.
        vm = Engine(binary, ["--paused", "--kernel", elf, "--display", "none",
                             "--snapshot-dir", nodisp],
                    tmp=tempfile.mkdtemp(dir=tmp))
        try:
            c = vm.qmp()
            c.cmd("snapshot-take", {"name": "blind"}, timeout=60)
            snaps = c.cmd("query-snapshots")
            check(snaps[0]["thumbnail"] is None, "no display, thumbnail %r" % snaps[0])
            check([f for f in os.listdir(nodisp) if f.endswith(".png")] == [],
                  "a thumbnail without a display")
        finally:
            vm.cleanup()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main(run)
