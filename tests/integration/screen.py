# SPDX-License-Identifier: GPL-2.0-or-later
"""Screen images for the integration tests: the PNGs that QMP screendump writes, the VGA font
deskvm renders text mode with (display/vga_font.c), and reading the text of an 80x25 text
screen back from a screendump by matching each 8x16 cell against that font."""
import os
import re
import struct
import zlib

from deskvm_harness import check


def read_png(path):
    """An 8-bit RGB, non-interlaced PNG (what deskvm and QEMU write), unfiltered."""
    data = open(path, "rb").read()
    check(data[:8] == b"\x89PNG\r\n\x1a\n", "%s: not a PNG" % path)
    pos, idat, w = 8, b"", None
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + n]
        check(zlib.crc32(kind + body) == struct.unpack(">I", data[pos + 8 + n:pos + 12 + n])[0],
              "%s: bad CRC in %r" % (path, kind))
        if kind == b"IHDR":
            w, h, depth, ctype, _, _, interlace = struct.unpack(">IIBBBBB", body)
            check(depth == 8 and ctype == 2 and interlace == 0, "PNG type %d/%d" % (depth, ctype))
        elif kind == b"IDAT":
            idat += body
        pos += 12 + n
    raw = zlib.decompress(idat)
    stride, out, prev = w * 3, bytearray(), bytearray(w * 3)
    for y in range(h):
        f, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - 3] if i >= 3 else 0
            b, c = prev[i], prev[i - 3] if i >= 3 else 0
            if f == 1:
                line[i] = (line[i] + a) & 0xff
            elif f == 2:
                line[i] = (line[i] + b) & 0xff
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 0xff
            elif f == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 0xff
        out += line
        prev = line
    return w, h, bytes(out)


def read_ppm(path):
    """A binary (P6) PPM with maxval 255, as (width, height, rgb bytes) like read_png."""
    data = open(path, "rb").read()
    m = re.match(rb"P6\s+(?:#[^\n]*\n\s*)*(\d+)\s+(\d+)\s+(\d+)\s", data)
    check(m is not None and m.group(3) == b"255", "%s: not an 8-bit P6 PPM" % path)
    w, h = int(m.group(1)), int(m.group(2))
    rgb = data[m.end():m.end() + w * h * 3]
    check(len(rgb) == w * h * 3, "%s: %d bytes of pixels for %dx%d" % (path, len(rgb), w, h))
    return w, h, rgb


def load_font(path):
    rows = re.findall(r"\{((?:0x[0-9a-f]{2},? ?){16})\}", open(path).read())
    check(len(rows) == 256, "%s: %d glyphs" % (path, len(rows)))
    return [[int(x, 16) for x in r.replace(",", " ").split()] for r in rows]


def glyph_table(font):
    """Bitmap rows -> character code; blank glyphs (0x00, 0xff) give way to the space."""
    table = {}
    for code in range(254, 0, -1):
        table.setdefault(tuple(font[code]), code)
    table[tuple(font[0x20])] = 0x20
    return table


def nearest_glyph(font, px, colours, limit):
    """The printable ASCII glyph closest to a two-colour cell (fewest differing pixels in
    either colour assignment), if it differs in at most limit pixels and no other glyph is
    as close; else None."""
    best, second, code = 129, 129, None
    for bg in colours:
        bits = [sum(0x80 >> x for x in range(8) if r[x] != bg) for r in px]
        for c in range(0x21, 0x7f):
            d = sum(bin(a ^ b).count("1") for a, b in zip(bits, font[c]))
            if d < best:
                best, second, code = d, best, c
            elif d < second and c != code:
                second = d
    return code if best <= limit and second > best else None


def screen_text(image, font, cols=80, rows=25, fuzzy=0):
    """The text of a cols x rows screen of 8x16 cells (what deskvm draws for text mode), one
    string per row; a cell that matches no glyph in either colour assignment reads '?',
    a glyph outside printable ASCII reads '#'. 9-pixel-wide cells (QEMU's VGA draws the
    9-dot text mode) are read from their first 8 columns. fuzzy > 0 reads a cell that
    matches no glyph exactly as the nearest printable one within fuzzy pixels (another
    VMM's VGA font: QEMU draws some letters differently from deskvm's)."""
    w, h, rgb = image
    check(w in (cols * 8, cols * 9) and h == rows * 16,
          "a %dx%d screen is not %dx%d text" % (w, h, cols, rows))
    cw = w // cols
    table = glyph_table(font)
    lines = []
    for row in range(rows):
        line = []
        for col in range(cols):
            px = [[rgb[((row * 16 + y) * w + col * cw + x) * 3:((row * 16 + y) * w + col * cw + x) * 3 + 3]
                   for x in range(8)] for y in range(16)]
            colours = sorted({p for r in px for p in r})
            code = None
            for bg in colours[:2]:
                bits = tuple(sum(0x80 >> x for x in range(8) if r[x] != bg) for r in px)
                code = table.get(bits)
                if code is not None:
                    break
            if code is None and len(colours) == 2 and fuzzy:
                code = nearest_glyph(font, px, colours, fuzzy)
            if len(colours) > 2 or code is None:
                line.append("?")
            else:
                line.append(chr(code) if 0x20 <= code < 0x7f else "#")
        lines.append("".join(line))
    return lines


def screendump(c, tmp, name):
    png, ppm = os.path.join(tmp, name + ".png"), os.path.join(tmp, name + ".ppm")
    check(c.cmd("screendump", {"filename": png}) == {}, "screendump png")
    check(c.cmd("screendump", {"filename": ppm, "format": "ppm"}) == {}, "screendump ppm")
    a, b = read_png(png), read_ppm(ppm)
    check(a == b, "the PNG and PPM screendumps differ")
    return a


def first_difference(w, got, want):
    for i in range(0, len(want), 3):
        if got[i:i + 3] != want[i:i + 3]:
            return "pixel (%d, %d) is %s, want %s" % ((i // 3) % w, (i // 3) // w,
                                                      got[i:i + 3].hex(), want[i:i + 3].hex())
    return "sizes %d and %d" % (len(got), len(want))


def qmp_screen(qmp, path, font, cols=80, rows=25, fuzzy=0, cache=None):
    """The text rows of the screen now, through QMP screendump (PPM, which deskvm and QEMU
    both write) into path; [] while the screen is not a cols x rows text screen (a mode
    change, a graphics mode). With a dict as cache, an unchanged screen is not read again
    (reading one takes about half a second of CPU)."""
    check(qmp.cmd("screendump", {"filename": path, "format": "ppm"}) == {}, "screendump")
    img = read_ppm(path)
    if img[0] not in (cols * 8, cols * 9) or img[1] != rows * 16:
        return []
    if cache is not None and cache.get("img") == img:
        return cache["lines"]
    lines = screen_text(img, font, cols, rows, fuzzy)
    if cache is not None:
        cache.update(img=img, lines=lines)
    return lines


# What Debian's grub-rescue-cdrom.iso shows once its menu is drawn (it is drawn in pieces:
# the header, the help and the entries; the last entry is "Memtest86+", whose M QEMU's font
# draws too far from deskvm's for the fuzzy reading).
GRUB_MENU = ("GNU GRUB  version", "entry is highlighted", "*GNU/Linux", "emtest86+")


def grub_menu_shown(lines):
    """Whether the text rows hold the whole GRUB menu of grub-rescue-cdrom.iso."""
    joined = "\n".join(lines)
    return all(t in joined for t in GRUB_MENU)
