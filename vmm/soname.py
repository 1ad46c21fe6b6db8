#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""soname.py LIBRARY: print the DT_SONAME of a 64-bit little-endian ELF shared library (the
-dev package's lib*.so link), so the engine can dlopen() what it was built against
(vmm/lazy_lib.h). Standard library only: runs at meson configure time."""
import struct
import sys

DT_NULL, DT_STRTAB, DT_SONAME = 0, 5, 14
PT_LOAD, PT_DYNAMIC = 1, 2


def soname(path):
    with open(path, "rb") as f:
        data = f.read()
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        raise ValueError(path + ": not a 64-bit little-endian ELF file")
    phoff, = struct.unpack_from("<Q", data, 32)
    phentsize, phnum = struct.unpack_from("<HH", data, 54)
    loads, dynamic = [], None
    for i in range(phnum):
        p_type, _, p_offset, p_vaddr, _, p_filesz = struct.unpack_from(
            "<IIQQQQ", data, phoff + i * phentsize)
        if p_type == PT_LOAD:
            loads.append((p_vaddr, p_offset, p_filesz))
        elif p_type == PT_DYNAMIC:
            dynamic = (p_offset, p_filesz)
    if dynamic is None:
        raise ValueError(path + ": no dynamic section")

    def file_offset(vaddr):
        for v, o, n in loads:
            if v <= vaddr < v + n:
                return o + vaddr - v
        raise ValueError(path + ": address 0x%x outside the file" % vaddr)

    strtab = name = None
    for off in range(dynamic[0], dynamic[0] + dynamic[1], 16):
        tag, val = struct.unpack_from("<qQ", data, off)
        if tag == DT_NULL:
            break
        if tag == DT_STRTAB:
            strtab = file_offset(val)
        elif tag == DT_SONAME:
            name = val
    if strtab is None or name is None:
        raise ValueError(path + ": no DT_SONAME")
    start = strtab + name
    return data[start:data.index(b"\0", start)].decode()


if __name__ == "__main__":
    print(soname(sys.argv[1]))
