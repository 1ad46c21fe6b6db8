#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
# Turn a binary file (the demo guest ELF) into a C source with NAME[] and NAME_len.
import sys

src, dst, name = sys.argv[1], sys.argv[2], sys.argv[3]
data = open(src, 'rb').read()
with open(dst, 'w') as out:
    out.write('/* Generated from %s by embed-blob.py. */\n#include <stddef.h>\n' % src.split('/')[-1])
    out.write('const unsigned char %s[%d] __attribute__((aligned(16))) = {\n' % (name, len(data)))
    for i in range(0, len(data), 16):
        out.write('    ' + ', '.join('0x%02x' % b for b in data[i:i + 16]) + ',\n')
    out.write('};\nconst size_t %s_len = %d;\n' % (name, len(data)))
