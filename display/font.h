/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The 8x16 text-mode font in code page 437 order, as a VGA BIOS loads it into plane 2. The
 * table is generated at build time from a kbd console font (display/gen-font.py).
 */
#ifndef DESKVM_DISPLAY_FONT_H
#define DESKVM_DISPLAY_FONT_H

#include <stdint.h>

#define VGA_FONT_WIDTH 8
#define VGA_FONT_HEIGHT 16

/* One byte per scan line, most significant bit leftmost. */
extern const uint8_t vga_font_8x16[256][16];

#endif
