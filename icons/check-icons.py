#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The icons as the icon theme spec and GNOME's symbolic icon rules want them:
   check-icons.py APP.svg SYMBOLIC.svg... PNG...
The application SVG is square; each PNG is a valid RGBA PNG whose size matches its hicolor
directory (NxN/org.deskvm.Deskvm.png); symbolic SVGs are 16x16 and use one colour with no
gradient, pattern, filter, raster image or text, so the theme can recolour them."""
import re
import struct
import sys
import xml.etree.ElementTree as ET
import zlib

SVG = '{http://www.w3.org/2000/svg}'
errors = []


def svg_size(path):
    root = ET.parse(path).getroot()
    if root.tag != SVG + 'svg':
        errors.append(f'{path}: root is {root.tag}, not svg')
        return root, None
    box = root.get('viewBox', '').split()
    if len(box) != 4:
        errors.append(f'{path}: no viewBox')
        return root, None
    return root, (float(box[2]), float(box[3]))


def check_app_svg(path):
    _, size = svg_size(path)
    if size and size[0] != size[1]:
        errors.append(f'{path}: not square ({size[0]}x{size[1]})')


def check_symbolic(path):
    root, size = svg_size(path)
    if size and size != (16.0, 16.0):
        errors.append(f'{path}: symbolic icons are 16x16, this is {size[0]}x{size[1]}')
    colours = set()
    for el in root.iter():
        tag = el.tag.replace(SVG, '')
        if tag in ('linearGradient', 'radialGradient', 'pattern', 'filter', 'image', 'text'):
            errors.append(f'{path}: <{tag}> in a symbolic icon')
        for attr in ('fill', 'stroke'):
            v = el.get(attr)
            if v and v != 'none':
                colours.add(v.lower())
        for m in re.finditer(r'(fill|stroke)\s*:\s*([^;]+)', el.get('style', '')):
            if m.group(2).strip() != 'none':
                colours.add(m.group(2).strip().lower())
    if len(colours) != 1:
        errors.append(f'{path}: symbolic icons use one colour, found {sorted(colours) or "none"}')


def check_png(path):
    m = re.search(r'(\d+)x(\d+)/org\.deskvm\.Deskvm\.png$', path)
    if not m:
        errors.append(f'{path}: not in an NxN directory')
        return
    want = int(m.group(1))
    data = open(path, 'rb').read()
    if data[:8] != b'\x89PNG\r\n\x1a\n' or data[12:16] != b'IHDR':
        errors.append(f'{path}: not a PNG')
        return
    length, = struct.unpack('>I', data[8:12])
    ihdr = data[16:16 + length]
    crc, = struct.unpack('>I', data[16 + length:20 + length])
    if zlib.crc32(b'IHDR' + ihdr) != crc:
        errors.append(f'{path}: IHDR checksum')
    w, h, depth, colour = struct.unpack('>IIBB', ihdr[:10])
    if (w, h) != (want, want):
        errors.append(f'{path}: {w}x{h}, its directory says {want}x{want}')
    if colour != 6 or depth != 8:
        errors.append(f'{path}: colour type {colour} depth {depth}, want 8-bit RGBA')


args = sys.argv[1:]
if not args:
    sys.exit('usage: check-icons.py APP.svg SYMBOLIC.svg... PNG...')
check_app_svg(args[0])
pngs = 0
for a in args[1:]:
    if a.endswith('-symbolic.svg'):
        check_symbolic(a)
    elif a.endswith('.png'):
        check_png(a)
        pngs += 1
    else:
        errors.append(f'{a}: neither a symbolic SVG nor a PNG')
for e in errors:
    print(e)
print(f'{len(args) - 1 - pngs} symbolic icons, {pngs} PNGs checked')
sys.exit(1 if errors else 0)
