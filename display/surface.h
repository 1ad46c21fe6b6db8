/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A display: the surface a device draws into (always x8r8g8b8, the host's format), the
 * damage accumulated since the last refresh, and its listeners (VNC, the local display
 * channel, screendump). Devices render guest formats into the surface through
 * display_blit(); listeners only ever see the surface and damage rectangles (the QEMU
 * DisplayChangeListener shape, made smaller). docs/display.md.
 */
#ifndef DESKVM_DISPLAY_SURFACE_H
#define DESKVM_DISPLAY_SURFACE_H

#include <pixman.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The largest surface any device may ask for (4096 x 4096 x 4 bytes = 64 MiB). */
#define DISPLAY_MAX_WIDTH 4096u
#define DISPLAY_MAX_HEIGHT 4096u
#define DISPLAY_MAX_LISTENERS 8

/* Guest pixel formats a device can hand to display_blit(). */
enum display_format {
    DISPLAY_FMT_C8,       /* 8-bit index into a 256-entry x8r8g8b8 palette */
    DISPLAY_FMT_X1R5G5B5, /* 15 bpp in 16 bits */
    DISPLAY_FMT_R5G6B5,   /* 16 bpp */
    DISPLAY_FMT_R8G8B8,   /* 24 bpp, bytes B, G, R */
    DISPLAY_FMT_X8R8G8B8, /* 32 bpp, bytes B, G, R, X: the surface's own format */
};

/* Bytes per pixel of a format. */
unsigned display_format_bytes(enum display_format fmt);
/* The format for a VBE/VGA depth (8, 15, 16, 24, 32); -EINVAL for others. */
int display_format_from_bpp(unsigned bpp, enum display_format *fmt);

struct display;

struct display_listener_ops {
    /* The surface changed size: everything is damaged, the next update covers it. */
    void (*resize)(void *opaque, struct display *d);
    /* [x, x + w) x [y, y + h) of the surface changed. */
    void (*update)(void *opaque, struct display *d, unsigned x, unsigned y, unsigned w, unsigned h);
};

struct display_listener {
    const struct display_listener_ops *ops;
    void *opaque;
};

/* The device behind the display: brings the surface up to date with guest memory. */
struct display_hw_ops {
    void (*update)(void *opaque, struct display *d);
};

struct display {
    uint32_t width, height, stride; /* stride in bytes, width * 4 */
    uint32_t *data;                 /* a shared mapping of fd */
    int fd; /* the memfd holding the pixels (stride * height bytes), sealed size */
    pixman_image_t *image;
    pixman_region32_t damage;
    bool resized; /* listeners have not been told of the last resize yet */
    const struct display_hw_ops *hw;
    void *hw_opaque;
    struct display_listener listeners[DISPLAY_MAX_LISTENERS];
    unsigned nlisteners;
    uint64_t updates; /* refreshes that carried damage */
};

/* A black width x height surface. -EINVAL beyond the limits, -ENOMEM. */
__attribute__((warn_unused_result)) int display_init(struct display *d, unsigned width,
                                                     unsigned height);
void display_destroy(struct display *d);
void display_set_hw(struct display *d, const struct display_hw_ops *hw, void *opaque);

/*
 * Change the size (contents become black, all damaged). A no-op when the size is the same.
 * -EINVAL for 0 or beyond DISPLAY_MAX_*; the old surface stays.
 */
int display_resize(struct display *d, unsigned width, unsigned height);
/* Mark a rectangle changed; clipped to the surface. */
void display_damage(struct display *d, unsigned x, unsigned y, unsigned w, unsigned h);
/*
 * Convert the w x h rectangle at (x, y) of a guest framebuffer (src points at its pixel
 * (0, 0), stride bytes per line, format fmt) into the same place of the surface and mark
 * it damaged. palette is for DISPLAY_FMT_C8 (256 entries). The rectangle is clipped to the
 * surface; the caller checks that src covers it.
 */
void display_blit(struct display *d, enum display_format fmt, const uint8_t *src, size_t stride,
                  unsigned x, unsigned y, unsigned w, unsigned h, const uint32_t *palette);
/* Fill a rectangle with one colour (x8r8g8b8), damaged. */
void display_fill(struct display *d, unsigned x, unsigned y, unsigned w, unsigned h,
                  uint32_t color);
/*
 * Draw one 8x16 text cell at column col, row row from the CP437 font: fg where the glyph
 * has a bit set, bg elsewhere; scan lines cursor_start..cursor_end (inclusive) in fg when
 * cursor_start <= cursor_end. Damaged.
 */
void display_text_cell(struct display *d, unsigned col, unsigned row, uint8_t ch, uint32_t fg,
                       uint32_t bg, int cursor_start, int cursor_end);

/* Listeners. -ENOSPC when full. */
__attribute__((warn_unused_result)) int
display_add_listener(struct display *d, const struct display_listener_ops *ops, void *opaque);
void display_remove_listener(struct display *d, void *opaque);

/*
 * Pull the device's changes (hw->update) and hand the damage to every listener, resize
 * first. Listeners are told nothing when nothing changed.
 */
void display_refresh(struct display *d);

/* Pixel at (x, y), for tests and screendump; 0 outside. */
uint32_t display_pixel(const struct display *d, unsigned x, unsigned y);

/* Write the surface as an 8-bit RGB PNG (libpng). 0 or -errno (-EIO for libpng errors). */
__attribute__((warn_unused_result)) int display_write_png(const struct display *d,
                                                          const char *path);
/*
 * The size of a thumbnail of a w x h surface that fits max_w x max_h: the aspect kept
 * (rounded to the nearest pixel, at least 1), never larger than the surface.
 */
void display_thumbnail_size(unsigned w, unsigned h, unsigned max_w, unsigned max_h, unsigned *tw,
                            unsigned *th);
/*
 * The surface scaled down (box filter, pixman) to display_thumbnail_size() as an 8-bit RGB
 * PNG, written like display_write_png(). The size written goes to *out_w x *out_h (may be
 * NULL). 0, -ENOPKG without libpng, or -errno.
 */
__attribute__((warn_unused_result)) int
display_write_thumbnail_png(const struct display *d, const char *path, unsigned max_w,
                            unsigned max_h, unsigned *out_w, unsigned *out_h);
/* The same as a binary PPM (P6), QEMU's default screendump format. */
__attribute__((warn_unused_result)) int display_write_ppm(const struct display *d,
                                                          const char *path);

#endif
