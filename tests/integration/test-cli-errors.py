#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""test-cli-errors: bad command lines and bad kernel files end deskvm-vm quickly with one
error line naming the problem and the status docs/exit-status.md gives (1 bad arguments or
files, 2 KVM unusable), never with a signal or a sanitizer report.

usage: test-cli-errors.py DESKVM_VM GUEST_ELF

A case that needs KVM (the kernel is read after /dev/kvm is opened) is skipped without
/dev/kvm; the test fails if any case that ran failed, and skips if none could run.
"""
import os
import shutil
import struct
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from deskvm_harness import SKIP  # noqa: E402

HINT = "Try 'deskvm-vm --help' for more information."


def elf_first_load(path):
    """(offset, filesz) of the first PT_LOAD of a 64-bit little-endian ELF."""
    with open(path, "rb") as f:
        data = f.read()
    phoff, = struct.unpack_from("<Q", data, 32)
    phentsize, phnum = struct.unpack_from("<HH", data, 54)
    for i in range(phnum):
        p_type, _, p_offset, _, _, p_filesz = struct.unpack_from("<IIQQQQ", data,
                                                                 phoff + i * phentsize)
        if p_type == 1:
            return p_offset, p_filesz
    raise RuntimeError("no PT_LOAD in " + path)


def main():
    binary, elf = sys.argv[1], sys.argv[2]
    tmp = tempfile.mkdtemp(prefix="deskvm-cli-")
    have_kvm = os.access("/dev/kvm", os.R_OK | os.W_OK)

    def make(name, data):
        p = os.path.join(tmp, name)
        with open(p, "wb") as f:
            f.write(data)
        return p

    with open(elf, "rb") as f:
        elf_bytes = f.read()
    off, filesz = elf_first_load(elf)
    empty = make("empty", b"")
    text = make("notes.txt", b"this is not a kernel\n" * 10)
    plain = make("plain-file", b"not a socket\n")
    trunc100 = make("trunc100.elf", elf_bytes[:100])
    # A bzImage header (setup_sects 4, "HdrS", boot protocol 2.04, loaded high) too old for
    # the firmware path.
    bz = bytearray(8192)
    bz[0x1f1] = 4
    struct.pack_into("<HHIH", bz, 0x1fe, 0xAA55, 0, 0x53726448, 0x0204)
    bz[0x211] = 1
    old_bz = make("old-proto.bzImage", bytes(bz))
    # Half of the file can still hold the whole segment (debug info follows it): cut the
    # loadable segment itself in half, and also try the plain first half of the file.
    trunc_seg = make("trunc-seg.elf", elf_bytes[: off + filesz // 2])
    half = make("half.elf", elf_bytes[: len(elf_bytes) // 2])
    half_ok = len(elf_bytes) // 2 >= off + filesz

    zeros1m = make("zeros-1m.fd", bytes(1 << 20))
    # (name, args, status, words the error line must contain, needs KVM)
    cases = [
        ("nonexistent kernel", ["--kernel", "/nonexistent/vmlinuz"], 1,
         ["/nonexistent/vmlinuz", "No such file"], True),
        ("directory as kernel", ["--kernel", tmp], 1, [tmp, "not a regular file"], True),
        ("empty kernel", ["--kernel", empty], 1, [empty, "empty"], True),
        ("text file as kernel", ["--kernel", text], 1, [text, "not a"], True),
        ("ELF cut at 100 bytes", ["--kernel", trunc100], 1, [trunc100], True),
        ("ELF cut inside its segment", ["--kernel", trunc_seg], 1, [trunc_seg, "outside"],
         True),
        ("--memory 100000G", ["--memory", "100000G"], 1, ["--memory"], False),
        ("--memory 1M", ["--memory", "1M"], 1, ["--memory", "2 MiB"], False),
        ("--memory 0", ["--memory", "0"], 1, ["--memory"], False),
        ("--memory abc", ["--memory", "abc"], 1, ["--memory", "abc"], False),
        ("--cpus 0", ["--cpus", "0"], 1, ["--cpus 0"], False),
        ("--cpus 100000", ["--cpus", "100000"], 1, ["--cpus 100000", "1 to 255"], False),
        ("--cpus abc", ["--cpus", "abc"], 1, ["--cpus abc"], False),
        ("--cpus 300", ["--cpus", "300"], 1, ["--cpus 300"], True),
        ("--qmp in a missing directory", ["--qmp", "unix:/nonexistent-dir/q.sock"], 1,
         ["/nonexistent-dir/q.sock", "No such file"], True),
        ("--qmp without unix:", ["--qmp", "/tmp/q.sock"], 1, ["--qmp", "unix:"], False),
        ("--kvm-device /nonexistent", ["--kvm-device", "/nonexistent"], 2,
         ["/nonexistent", "firmware"], False),
        ("--kvm-device /dev/null", ["--kvm-device", "/dev/null"], 2,
         ["/dev/null", "not a KVM device"], False),
        ("unknown option", ["--frobnicate"], 1, ["--frobnicate"], False),
        ("option without its value", ["--memory"], 1, ["--memory"], False),
        ("stray argument", ["vmlinuz"], 1, ["vmlinuz"], False),
        ("option of a later version", ["--config", "vm.xml"], 1, ["--config"], False),
        ("--cdrom missing", ["--cdrom", "/nonexistent/x.iso"], 1,
         ["--cdrom", "/nonexistent/x.iso", "No such file"], True),
        ("--disk on an unknown bus", ["--disk", "file=x.img,bus=scsi"], 1,
         ["bus=scsi", "sata"], False),
        ("--display vga,vram=3", ["--display", "vga,vram=3"], 1,
         ["vga,vram=3", "power of two", "256"], False),
        ("--display vga,vram=512", ["--display", "vga,vram=512"], 1, ["vram=512"], False),
        ("--display vga,size=8", ["--display", "vga,size=8"], 1, ["size=8", "vram=MIB"], False),
        ("--boot without --firmware", ["--cdrom", "x.iso", "--boot", "cdrom"], 1,
         ["--boot", "--firmware"], False),
        ("--firmware missing", ["--firmware", "/nonexistent/bios.bin"], 1,
         ["/nonexistent/bios.bin", "No such file"], True),
        ("--firmware not a BIOS", ["--firmware", "/etc/passwd"], 1,
         ["/etc/passwd", "not a BIOS image"], True),
        ("--firmware 1 MiB of zeros", ["--firmware", zeros1m], 1,
         [zeros1m, "not a BIOS image", "_FVH"], True),
        ("--firmware uefi,vars= empty", ["--firmware", "uefi,vars="], 1,
         ["vars=", "path"], False),
        ("--firmware bios with a text file as kernel",
         ["--firmware", "bios", "--kernel", text], 1, [text, "not a Linux bzImage"], True),
        ("--firmware bios with an ELF kernel", ["--firmware", "bios", "--kernel", elf], 1,
         [elf, "ELF kernel", "bzImage"], True),
        ("--firmware bios with a protocol 2.04 bzImage",
         ["--firmware", "bios", "--kernel", old_bz], 1, [old_bz, "2.04", "2.06"], True),
        ("--firmware with --kernel and --boot",
         ["--firmware", "bios", "--cdrom", "x.iso", "--boot", "cdrom", "--kernel", "x"], 1,
         ["--boot", "--kernel"], False),
        ("--disk without file=", ["--disk", "x.img"], 1, ["--disk", "file=PATH"], False),
        ("--disk with a bad cache mode", ["--disk", "file=x.img,cache=fast"], 1,
         ["cache=fast", "writeback"], False),
        ("--append without --kernel", ["--append", "quiet"], 1, ["--kernel"], False),
        ("--serial in a missing directory", ["--serial", "file:/nonexistent-dir/x"], 1,
         ["/nonexistent-dir/x", "No such file"], True),
        ("--serial nonsense", ["--serial", "bogus"], 1, ["--serial bogus", "file:"], True),
        ("--serial unix: path too long", ["--serial", "unix:/tmp/" + "x" * 120], 1,
         ["--serial unix:/tmp/xxx", "too long", "107"], True),
        ("--serial unix: in a missing directory", ["--serial", "unix:/nonexistent-dir/s"], 1,
         ["/nonexistent-dir/s", "No such file"], True),
        ("--serial unix: on a regular file", ["--serial", "unix:" + plain], 1,
         [plain, "not a socket"], True),
        ("--device unknown", ["--device", "virtio-gpu"], 1, ["virtio-gpu", "unknown device"],
         False),
        ("--device bad chardev", ["--device", "virtio-console,chardev=tcp:1"], 1,
         ["chardev=tcp:1", "file:PATH"], False),
        ("--device console file in a missing directory",
         ["--device", "virtio-console,chardev=file:/nonexistent-dir/c"], 1,
         ["/nonexistent-dir/c", "No such file"], True),
        ("--device console socket in a missing directory",
         ["--device", "virtio-console,chardev=unix:/nonexistent-dir/c"], 1,
         ["/nonexistent-dir/c", "No such file"], True),
    ]
    if os.geteuid() != 0:
        locked = make("kvm-locked", b"")
        os.chmod(locked, 0)
        cases.append(("--kvm-device without permission", ["--kvm-device", locked], 2,
                      [locked, "kvm group"], False))
    if os.path.exists("/usr/share/OVMF/OVMF_CODE_4M.fd"):  # package ovmf
        cases += [
            ("--firmware uefi, vars not a store", ["--firmware", "uefi,vars=" + text], 1,
             [text, "not a UEFI variable store"], True),
            ("--firmware uefi, vars in a missing directory",
             ["--firmware", "uefi,vars=/nonexistent-dir/v.fd"], 1,
             ["/nonexistent-dir/v.fd", "No such file"], True),
        ]
    if half_ok:
        cases.append(("first half of the ELF (whole segment inside)", ["--kernel", half], None,
                      [], True))
    vmlinuz = sorted(p for p in os.listdir("/boot") if p.startswith("vmlinuz-")) \
        if os.path.isdir("/boot") else []
    for name in vmlinuz[:1]:
        try:
            with open(os.path.join("/boot", name), "rb") as f:
                head = f.read(4096)
        except OSError:
            break
        bz = make("bzImage-4k", head)
        cases.append(("bzImage cut at 4 KiB", ["--kernel", bz], 1, [bz, "past the end"], True))

    failures, ran, skipped = [], 0, 0
    for name, args, status, words, needs_kvm in cases:
        if needs_kvm and not have_kvm:
            skipped += 1
            continue
        ran += 1
        cmd = [binary] + ([] if "--serial" in args else ["--serial", "null"]) + args
        try:
            p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=10)
        except subprocess.TimeoutExpired:
            failures.append("%s: still running after 10 s" % name)
            continue
        err = p.stderr.decode("utf-8", "replace")
        lines = [ln for ln in err.splitlines() if ln.strip() and ln != HINT]
        problems = []
        if p.returncode < 0:
            problems.append("killed by signal %d" % -p.returncode)
        if "Sanitizer" in err or "runtime error" in err:
            problems.append("sanitizer report")
        if status is None:
            # A file that holds all the loader needs may boot; it must not crash.
            if p.returncode not in (1, 33):
                problems.append("exit status %d, want 1 (refused) or 33 (it booted)"
                                % p.returncode)
        else:
            if p.returncode != status:
                problems.append("exit status %d, want %d" % (p.returncode, status))
            if len(lines) != 1:
                problems.append("%d error lines, want 1" % len(lines))
            elif not lines[0].startswith("deskvm-vm: "):
                problems.append("error line does not start with 'deskvm-vm: '")
            for w in words:
                if lines and w not in lines[0]:
                    problems.append("error line does not mention %r" % w)
        if problems:
            failures.append("%s: %s\n    stderr: %r" % (name, "; ".join(problems), err))
        else:
            print("ok: %-45s %d  %s" % (name, p.returncode, lines[0] if lines else ""))

    shutil.rmtree(tmp, ignore_errors=True)
    if skipped:
        print("skipped %d cases that need /dev/kvm" % skipped)
    if failures:
        for f in failures:
            print("FAIL: " + f)
        return 1
    if ran == 0:
        print("SKIP: no case could run")
        return SKIP
    print("PASS (%d cases)" % ran)
    return 0


sys.exit(main())
