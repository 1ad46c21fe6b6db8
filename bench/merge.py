#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The snapshot tree's merge on delete (block_stream_backing, docs/snapshots.md "Delete"),
deskvm vs QEMU, offline on the same chain: base.qcow2 (--mib MiB of data) <- mid.qcow2
(--mib MiB, every other 64 KiB cluster rewritten) <- top.qcow2 (a few MiB).

deskvm: `blocktool stream top mid-merged` (the function the engine runs in snapshot-delete:
a new image with top's and mid's clusters, backed by base, fsynced).
QEMU: `qemu-img rebase -b base.qcow2 -F qcow2 top.qcow2` on a fresh copy of top (QEMU's own
way to drop mid from the chain: it copies into top every cluster where mid's view differs
from base's), followed by a sync of the file so both figures include durability.
Both end with an image reading the same as top did (checked with qemu-img compare each run).
Runs alternate deskvm, QEMU; the files stay in the page cache (the host is shared, nothing
drops caches). Median [min-max] of --reps runs.

usage (from the repository root, after `ninja -C build`): bench/merge.py [--reps N]
    [--mib N] [--build DIR] [--json FILE]
"""

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time


def run(*cmd):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("%s: %s" % (" ".join(cmd), r.stderr.strip()))


def qemu_io(img, *cmds):
    args = ["qemu-io", "-f", "qcow2"]
    for c in cmds:
        args += ["-c", c]
    run(*args, img)


def timed(fn):
    t = time.monotonic()
    fn()
    return time.monotonic() - t


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--mib", type=int, default=256)
    ap.add_argument("--build", default="build")
    ap.add_argument("--json")
    a = ap.parse_args()
    json_path = os.path.abspath(a.json) if a.json else None
    tool = os.path.abspath(os.path.join(a.build, "tests", "blocktool"))
    for p in (tool, shutil.which("qemu-img"), shutil.which("qemu-io")):
        if not p or not os.path.exists(p):
            sys.exit("needs %s (ninja -C build; qemu-utils)" % (p or "qemu-img/qemu-io"))
    d = tempfile.mkdtemp(prefix="deskvm-bench-merge-")
    try:
        os.chdir(d)
        size = "%dM" % (2 * a.mib)
        run("qemu-img", "create", "-q", "-f", "qcow2", "base.qcow2", size)
        qemu_io("base.qcow2", "write -P 0x11 0 %dM" % a.mib)
        run("qemu-img", "create", "-q", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2",
            "mid.qcow2")
        qemu_io("mid.qcow2", *["write -P 0x22 %d 64k" % (i * 131072)
                               for i in range(a.mib * 1024 // 128)])
        run("qemu-img", "create", "-q", "-f", "qcow2", "-b", "mid.qcow2", "-F", "qcow2",
            "top0.qcow2")
        qemu_io("top0.qcow2", "write -P 0x33 1M 4M")
        ours, theirs = [], []
        for _ in range(a.reps):
            for f in ("out.qcow2", "top.qcow2"):
                if os.path.exists(f):
                    os.unlink(f)
            ours.append(timed(lambda: run(tool, "stream", "top0.qcow2", "out.qcow2")))
            run("qemu-img", "compare", "top0.qcow2", "out.qcow2")
            shutil.copyfile("top0.qcow2", "top.qcow2")

            def rebase():
                run("qemu-img", "rebase", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2",
                    "top.qcow2")
                fd = os.open("top.qcow2", os.O_RDONLY)
                os.fsync(fd)
                os.close(fd)
            theirs.append(timed(rebase))
            run("qemu-img", "compare", "top0.qcow2", "top.qcow2")
        m_o, m_t = statistics.median(ours), statistics.median(theirs)
        print("merge of %d MiB (mid) into its child, %d runs" % (a.mib, a.reps))
        print("  deskvm block_stream_backing  %.3f s [%.3f-%.3f]" % (m_o, min(ours), max(ours)))
        print("  qemu-img rebase + fsync      %.3f s [%.3f-%.3f]" % (m_t, min(theirs),
                                                                     max(theirs)))
        print("  ratio deskvm/QEMU            %.2f" % (m_o / m_t))
        if json_path:
            with open(json_path, "w") as f:
                json.dump({"mib": a.mib, "deskvm_s": ours, "qemu_s": theirs}, f)
    finally:
        os.chdir("/")
        shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    main()
