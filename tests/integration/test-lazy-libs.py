#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""test-lazy-libs: deskvm-vm dlopen()s libvncserver, pixman, libslirp and libpng when an
option first needs them (vmm/lazy_lib.h). With the library hidden, the option must fail
cleanly: at start, one error line "... needs LIB (PACKAGE): reason" and exit status 1 for
--vnc, --display vga and --net user; a QMP error for a PNG screendump, with the engine still
running and PPM screendumps still working. With the library present the same options work.

The library is hidden by bind-mounting /dev/null over it in a private mount namespace
(unshare -m), which needs root or CAP_SYS_ADMIN: the test skips where that is refused.

usage: test-lazy-libs.py DESKVM_VM HELLO_ELF NAME=LIBRARY_PATH...
"""
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from deskvm_harness import Engine, SKIP, check, main, require_kvm  # noqa: E402

HIDE = 'mount --bind /dev/null "$0" && exec "$@"'
HELLO_PASS = 33  # the kit guest's PASS through isa-debug-exit: (0x10 << 1) | 1


def hidden(lib):
    """The command prefix that runs the rest with lib replaced by an empty file."""
    return ["unshare", "-m", "sh", "-c", HIDE, lib]


def run(cmd, timeout=30):
    p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.PIPE, timeout=timeout)
    return p.returncode, p.stderr.decode("utf-8", "replace")


def test():
    binary, elf = sys.argv[1], sys.argv[2]
    libs = dict(a.split("=", 1) for a in sys.argv[3:])
    require_kvm()
    for lib in libs.values():
        check(os.path.exists(lib), "%s: not installed (the build found it)" % lib)
    rc, err = run(hidden(libs["vncserver"]) + ["true"])
    if rc != 0:
        print("SKIP: cannot hide a library in a private mount namespace: %s" % err.strip())
        sys.exit(SKIP)
    tmp = tempfile.mkdtemp(prefix="deskvm-lazy-")
    hello = [binary, "--kernel", elf, "--memory", "64", "--serial", "null"]
    vnc = ["--vnc", "unix:" + os.path.join(tmp, "vnc.sock")]
    cases = [
        ("vncserver", vnc, "--vnc needs libvncserver (libvncserver1): "),
        ("pixman", ["--display", "vga"], "--display vga needs pixman (libpixman-1-0): "),
        ("pixman", vnc, "--vnc needs pixman (libpixman-1-0): "),
        ("slirp", ["--net", "user"], "--net user: needs libslirp (libslirp0): "),
    ]
    for name, opts, want in cases:
        # Present: the option works and the guest runs to its PASS.
        rc, err = run(hello + opts)
        check(rc == HELLO_PASS, "%s with %s present: status %d, %r" % (opts, name, rc, err))
        rc, err = run(hidden(libs[name]) + hello + opts)
        lines = err.strip().splitlines()
        check(rc == 1, "%s without %s: status %d (want 1), %r" % (opts, name, rc, err))
        check(len(lines) == 1 and lines[0].startswith("deskvm-vm: " + want),
              "%s without %s: stderr %r, want one line 'deskvm-vm: %s...'" % (opts, name, err,
                                                                                want))
        check(os.path.basename(libs[name]) in lines[0], "no library file named in %r" % lines[0])

    vm = Engine("unshare", ["-m", "sh", "-c", HIDE, libs["png"], binary, "--kernel", elf,
                            "--memory", "64", "--display", "vga", "--paused"])
    try:
        c = vm.qmp()
        png, ppm = os.path.join(vm.tmp, "s.png"), os.path.join(vm.tmp, "s.ppm")
        e = c.error("screendump", {"filename": png})
        check(e["class"] == "GenericError" and "needs libpng (libpng16-16): " in e["desc"],
              "PNG screendump without libpng: %r" % e)
        check(not os.path.exists(png), "a PNG file was written without libpng")
        check(c.cmd("screendump", {"filename": ppm, "format": "ppm"}) == {}, "PPM screendump")
        check(open(ppm, "rb").read(2) == b"P6", "the PPM screendump is not a PPM")
        check(c.status() in ("prelaunch", "paused"), "status %r" % c.status())
        c.cmd("quit")
        check(vm.wait_exit() == 0, "quit: status %r, %r" % (vm.proc.returncode, vm.stderr()))
    finally:
        vm.cleanup()
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main(test)
