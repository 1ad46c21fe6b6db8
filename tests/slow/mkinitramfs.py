#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Build the slow suite's initramfs: a newc ("070701") cpio archive (the format the kernel
unpacks, Documentation/driver-api/early-userspace/buffer-format.rst) holding a static busybox,
/dev/console and an /init script that prints a marker line and powers the machine off.

    mkinitramfs.py OUTPUT MARKER [BUSYBOX]

BUSYBOX defaults to /bin/busybox (Debian package busybox-static). It must be a statically
linked ELF: the initramfs has no dynamic loader. Exit status 0, 1 on a bad busybox, 77 when
there is no busybox at all (the test then skips).
"""
import os
import stat
import struct
import sys

SKIP = 77


def is_static_elf(data):
    """True for an ELF64 little-endian executable without a PT_INTERP program header."""
    if len(data) < 64 or data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        return False
    phoff, = struct.unpack_from("<Q", data, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", data, 0x36)
    if phentsize < 4 or phoff + phnum * phentsize > len(data):
        return False
    for i in range(phnum):
        p_type, = struct.unpack_from("<I", data, phoff + i * phentsize)
        if p_type == 3:  # PT_INTERP
            return False
    return True


class Cpio:
    """newc writer: 110-byte ASCII header, name and data each padded to 4 bytes."""

    def __init__(self):
        self.out = bytearray()
        self.ino = 1

    def _pad(self):
        self.out += b"\0" * (-len(self.out) % 4)

    def add(self, name, mode, data=b"", rdev=(0, 0)):
        name_b = name.encode() + b"\0"
        fields = (self.ino, mode, 0, 0, 2 if stat.S_ISDIR(mode) else 1, 0, len(data), 0, 0,
                  rdev[0], rdev[1], len(name_b), 0)
        self.out += b"070701" + b"".join(b"%08X" % f for f in fields)
        self.out += name_b
        self._pad()
        self.out += data
        self._pad()
        self.ino += 1

    def finish(self):
        self.ino = 0
        self.add("TRAILER!!!", 0)
        return bytes(self.out)


def init_script(marker):
    # Everything through busybox by absolute path: no PATH, no applet links needed. The
    # marker goes to /dev/console (COM1 with console=ttyS0), then an immediate ACPI power-off.
    return ("#!/bin/busybox sh\n"
            "/bin/busybox mount -t proc proc /proc\n"
            "echo \"%s kernel $(/bin/busybox uname -r)\"\n"
            "/bin/busybox poweroff -f\n" % marker).encode()


def main(argv):
    if len(argv) not in (3, 4):
        print(__doc__.strip().splitlines()[3].strip(), file=sys.stderr)
        return 1
    out, marker = argv[1], argv[2]
    busybox = argv[3] if len(argv) == 4 else "/bin/busybox"
    if not os.path.exists(busybox):
        print("SKIP: %s not found (install busybox-static)" % busybox)
        return SKIP
    with open(busybox, "rb") as f:
        bb = f.read()
    if not is_static_elf(bb):
        print("%s: not a static x86-64 ELF (install busybox-static)" % busybox, file=sys.stderr)
        return 1
    c = Cpio()
    for d in ("bin", "dev", "proc"):
        c.add(d, stat.S_IFDIR | 0o755)
    c.add("dev/console", stat.S_IFCHR | 0o600, rdev=(5, 1))
    c.add("bin/busybox", stat.S_IFREG | 0o755, bb)
    c.add("bin/sh", stat.S_IFLNK | 0o777, b"busybox")
    c.add("init", stat.S_IFREG | 0o755, init_script(marker))
    with open(out, "wb") as f:
        f.write(c.finish())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
