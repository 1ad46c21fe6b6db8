#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""deskvm-vm dlopen()s some libraries (docs/lazy-libs.md), which dh_shlibdeps cannot see: the
binary package must list their runtime packages in Depends by hand.
   check-deb-depends.py debian/control PACKAGE...
The packages come from vmm/meson.build's lazy_libs and capstone's major version."""
import re
import sys


def paragraphs(text):
    """debian/control as a list of {field: value} (continuation lines folded)."""
    out = []
    for block in re.split(r'\n\s*\n', text):
        fields, name = {}, None
        for line in block.splitlines():
            if line.startswith('#'):
                continue
            if line[:1] in (' ', '\t') and name:
                fields[name] += ' ' + line.strip()
            elif ':' in line:
                name, value = line.split(':', 1)
                name = name.strip().lower()
                fields[name] = value.strip()
        if fields:
            out.append(fields)
    return out


control, wanted = sys.argv[1], sys.argv[2:]
if not wanted:
    sys.exit('usage: check-deb-depends.py debian/control PACKAGE...')
binaries = [p for p in paragraphs(open(control).read()) if p.get('package') == 'deskvm']
if len(binaries) != 1:
    sys.exit(f'{control}: no binary package deskvm')
depends = set()
for alt in binaries[0].get('depends', '').split(','):
    for name in alt.split('|'):
        name = re.sub(r'\(.*?\)|\[.*?\]|<.*?>', '', name).strip()
        if name:
            depends.add(name.split(':')[0])
missing = [w for w in wanted if w not in depends]
for m in missing:
    print(f'{control}: deskvm does not depend on {m}, which deskvm-vm dlopen()s')
print(f'{len(wanted) - len(missing)} of {len(wanted)} dlopen()ed libraries in Depends')
sys.exit(1 if missing else 0)
