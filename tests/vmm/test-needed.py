#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""test-needed: deskvm-vm has no DT_NEEDED entry on the libraries it dlopen()s on first use
(vmm/lazy_lib.h, vmm/capstone_lazy.c), nor on what those pull in. Linking one again would
make every VM pay for it at start-up (docs/benchmarks.md, "Optimisations made").

usage: test-needed.py DESKVM_VM SONAME...

A SONAME also matches its longer versions: libglib-2.0.so matches libglib-2.0.so.0.
"""
import re
import shutil
import subprocess
import sys


def needed(binary):
    out = subprocess.run(["readelf", "-d", "-W", binary], check=True, capture_output=True,
                         text=True).stdout
    return re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", out)


def main():
    binary, forbidden = sys.argv[1], sys.argv[2:]
    if not shutil.which("readelf"):
        print("SKIP: readelf (binutils) not found")
        return 77
    entries = needed(binary)
    # A binary that parses to no entries at all means this test reads readelf wrongly.
    if not any(e.startswith("libc.so") for e in entries):
        print("FAIL: no DT_NEEDED on libc in %s: %r" % (binary, entries))
        return 1
    bad = [e for e in entries if any(e == f or e.startswith(f + ".") for f in forbidden)]
    print("DT_NEEDED: " + " ".join(entries))
    if bad:
        print("FAIL: deskvm-vm links %s; these are dlopen()ed on first use "
              "(vmm/lazy_lib.h): use the headers-only partial_dependency" % " ".join(bad))
        return 1
    print("PASS: none of " + " ".join(forbidden))
    return 0


if __name__ == "__main__":
    sys.exit(main())
