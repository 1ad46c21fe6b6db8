// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Display surfaces: an x8r8g8b8 pixman image, damage as a pixman region, guest format
 * conversion, text cells and listener dispatch. docs/display.md.
 */
#include "display/surface.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "display/font.h"
#include "vmm/lazy_pixman.h"

unsigned display_format_bytes(enum display_format fmt)
{
    switch (fmt) {
    case DISPLAY_FMT_C8:
        return 1;
    case DISPLAY_FMT_X1R5G5B5:
    case DISPLAY_FMT_R5G6B5:
        return 2;
    case DISPLAY_FMT_R8G8B8:
        return 3;
    case DISPLAY_FMT_X8R8G8B8:
        return 4;
    }
    return 4;
}

int display_format_from_bpp(unsigned bpp, enum display_format *fmt)
{
    switch (bpp) {
    case 8:
        *fmt = DISPLAY_FMT_C8;
        return 0;
    case 15:
        *fmt = DISPLAY_FMT_X1R5G5B5;
        return 0;
    case 16:
        *fmt = DISPLAY_FMT_R5G6B5;
        return 0;
    case 24:
        *fmt = DISPLAY_FMT_R8G8B8;
        return 0;
    case 32:
        *fmt = DISPLAY_FMT_X8R8G8B8;
        return 0;
    default:
        return -EINVAL;
    }
}

static pixman_format_code_t pixman_format(enum display_format fmt)
{
    switch (fmt) {
    case DISPLAY_FMT_X1R5G5B5:
        return PIXMAN_x1r5g5b5;
    case DISPLAY_FMT_R5G6B5:
        return PIXMAN_r5g6b5;
    case DISPLAY_FMT_R8G8B8:
        return PIXMAN_r8g8b8;
    default:
        return PIXMAN_x8r8g8b8;
    }
}

static void free_pixels(struct display *d)
{
    if (d->data) {
        munmap(d->data, (size_t)d->stride * d->height);
        d->data = NULL;
    }
    if (d->fd >= 0) {
        close(d->fd);
    }
    d->fd = -1;
}

static int alloc_surface(struct display *d, unsigned width, unsigned height)
{
    if (width == 0 || height == 0 || width > DISPLAY_MAX_WIDTH || height > DISPLAY_MAX_HEIGHT) {
        return -EINVAL;
    }
    /*
     * The pixels live in a memfd so the local display channel can hand them to the GUI, which
     * maps them and draws without a copy (docs/display-channel.md). A resize makes a new memfd:
     * a client keeps its old mapping valid until it has mapped the new one.
     */
    size_t size = (size_t)width * height * sizeof(uint32_t);
    int fd = memfd_create("deskvm-surface", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    if (fd < 0) {
        return -errno;
    }
    if (ftruncate(fd, (off_t)size) < 0) {
        int r = -errno;
        close(fd);
        return r;
    }
    /* Clients may map it, never grow or shrink it under the engine. */
    (void)fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
    uint32_t *data = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (data == MAP_FAILED) {
        close(fd);
        return -ENOMEM;
    }
    pixman_image_t *img = lazy_pixman.pixman_image_create_bits(PIXMAN_x8r8g8b8, (int)width,
                                                               (int)height, data, (int)width * 4);
    if (!img) {
        munmap(data, size);
        close(fd);
        return -ENOMEM;
    }
    if (d->image) {
        lazy_pixman.pixman_image_unref(d->image);
    }
    free_pixels(d);
    d->data = data;
    d->fd = fd;
    d->image = img;
    d->width = width;
    d->height = height;
    d->stride = width * 4;
    lazy_pixman.pixman_region32_fini(&d->damage);
    lazy_pixman.pixman_region32_init_rect(&d->damage, 0, 0, width, height);
    d->resized = true;
    return 0;
}

int display_init(struct display *d, unsigned width, unsigned height)
{
    memset(d, 0, sizeof(*d));
    d->fd = -1;
    if (lazy_pixman_load(NULL) < 0) {
        return -ENOPKG; /* the callers that name the option ask lazy_pixman_load() why */
    }
    lazy_pixman.pixman_region32_init(&d->damage);
    int r = alloc_surface(d, width, height);
    if (r < 0) {
        lazy_pixman.pixman_region32_fini(&d->damage);
    }
    return r;
}

void display_destroy(struct display *d)
{
    if (!d || !d->data) {
        return;
    }
    lazy_pixman.pixman_image_unref(d->image);
    free_pixels(d);
    lazy_pixman.pixman_region32_fini(&d->damage);
    memset(d, 0, sizeof(*d));
    d->fd = -1;
}

void display_set_hw(struct display *d, const struct display_hw_ops *hw, void *opaque)
{
    d->hw = hw;
    d->hw_opaque = opaque;
}

int display_resize(struct display *d, unsigned width, unsigned height)
{
    if (width == d->width && height == d->height) {
        return 0;
    }
    return alloc_surface(d, width, height);
}

/* Clip [x, x + w) x [y, y + h) to the surface; false when nothing is left. */
static bool clip(const struct display *d, unsigned x, unsigned y, unsigned *w, unsigned *h)
{
    if (x >= d->width || y >= d->height || *w == 0 || *h == 0) {
        return false;
    }
    if (*w > d->width - x) {
        *w = d->width - x;
    }
    if (*h > d->height - y) {
        *h = d->height - y;
    }
    return true;
}

void display_damage(struct display *d, unsigned x, unsigned y, unsigned w, unsigned h)
{
    if (clip(d, x, y, &w, &h)) {
        lazy_pixman.pixman_region32_union_rect(&d->damage, &d->damage, (int)x, (int)y, w, h);
    }
}

static uint32_t convert_pixel(enum display_format fmt, const uint8_t *p, const uint32_t *palette)
{
    uint32_t v, r, g, b;
    switch (fmt) {
    case DISPLAY_FMT_C8:
        return palette ? palette[p[0]] & 0xffffff : 0;
    case DISPLAY_FMT_X1R5G5B5:
        v = (uint32_t)p[0] | (uint32_t)p[1] << 8;
        r = (v >> 10) & 0x1f;
        g = (v >> 5) & 0x1f;
        b = v & 0x1f;
        return (r << 3 | r >> 2) << 16 | (g << 3 | g >> 2) << 8 | (b << 3 | b >> 2);
    case DISPLAY_FMT_R5G6B5:
        v = (uint32_t)p[0] | (uint32_t)p[1] << 8;
        r = (v >> 11) & 0x1f;
        g = (v >> 5) & 0x3f;
        b = v & 0x1f;
        return (r << 3 | r >> 2) << 16 | (g << 2 | g >> 4) << 8 | (b << 3 | b >> 2);
    case DISPLAY_FMT_R8G8B8:
    case DISPLAY_FMT_X8R8G8B8: /* bytes B, G, R (, X) */
        return (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
    }
    return 0;
}

void display_blit(struct display *d, enum display_format fmt, const uint8_t *src, size_t stride,
                  unsigned x, unsigned y, unsigned w, unsigned h, const uint32_t *palette)
{
    if (!clip(d, x, y, &w, &h)) {
        return;
    }
    unsigned bpp = display_format_bytes(fmt);
    if (fmt != DISPLAY_FMT_C8 && stride % 4 == 0 && (uintptr_t)src % 4 == 0 &&
        stride <= INT32_MAX) {
        /* pixman needs 32-bit aligned lines; it converts the common formats fast. */
        pixman_image_t *s = lazy_pixman.pixman_image_create_bits(
            pixman_format(fmt), (int)(x + w), (int)(y + h),
            (uint32_t *)(uintptr_t)src /* aligned: checked above */, (int)stride);
        if (s) {
            lazy_pixman.pixman_image_composite32(PIXMAN_OP_SRC, s, NULL, d->image, (int)x, (int)y,
                                                 0, 0, (int)x, (int)y, (int)w, (int)h);
            lazy_pixman.pixman_image_unref(s);
            display_damage(d, x, y, w, h);
            return;
        }
    }
    for (unsigned j = 0; j < h; j++) {
        const uint8_t *line = src + (size_t)(y + j) * stride + (size_t)x * bpp;
        uint32_t *dst = d->data + (size_t)(y + j) * d->width + x;
        for (unsigned i = 0; i < w; i++) {
            dst[i] = convert_pixel(fmt, line + (size_t)i * bpp, palette);
        }
    }
    display_damage(d, x, y, w, h);
}

void display_fill(struct display *d, unsigned x, unsigned y, unsigned w, unsigned h, uint32_t color)
{
    if (!clip(d, x, y, &w, &h)) {
        return;
    }
    for (unsigned j = 0; j < h; j++) {
        uint32_t *dst = d->data + (size_t)(y + j) * d->width + x;
        for (unsigned i = 0; i < w; i++) {
            dst[i] = color;
        }
    }
    display_damage(d, x, y, w, h);
}

void display_text_cell(struct display *d, unsigned col, unsigned row, uint8_t ch, uint32_t fg,
                       uint32_t bg, int cursor_start, int cursor_end)
{
    unsigned x0 = col * VGA_FONT_WIDTH, y0 = row * VGA_FONT_HEIGHT;
    if (x0 + VGA_FONT_WIDTH > d->width || y0 + VGA_FONT_HEIGHT > d->height) {
        return;
    }
    const uint8_t *glyph = vga_font_8x16[ch];
    for (int line = 0; line < VGA_FONT_HEIGHT; line++) {
        uint32_t *dst = d->data + (size_t)(y0 + (unsigned)line) * d->width + x0;
        bool cursor = cursor_start <= cursor_end && line >= cursor_start && line <= cursor_end;
        uint8_t bits = cursor ? 0xff : glyph[line];
        for (unsigned i = 0; i < VGA_FONT_WIDTH; i++) {
            dst[i] = (bits & (0x80u >> i)) ? fg : bg;
        }
    }
    display_damage(d, x0, y0, VGA_FONT_WIDTH, VGA_FONT_HEIGHT);
}

int display_add_listener(struct display *d, const struct display_listener_ops *ops, void *opaque)
{
    if (d->nlisteners >= DISPLAY_MAX_LISTENERS) {
        return -ENOSPC;
    }
    d->listeners[d->nlisteners++] = (struct display_listener){ops, opaque};
    return 0;
}

void display_remove_listener(struct display *d, void *opaque)
{
    for (unsigned i = 0; i < d->nlisteners; i++) {
        if (d->listeners[i].opaque == opaque) {
            memmove(&d->listeners[i], &d->listeners[i + 1],
                    (d->nlisteners - i - 1) * sizeof(d->listeners[0]));
            d->nlisteners--;
            return;
        }
    }
}

void display_refresh(struct display *d)
{
    if (d->hw && d->hw->update) {
        d->hw->update(d->hw_opaque, d);
    }
    if (d->resized) {
        d->resized = false;
        for (unsigned i = 0; i < d->nlisteners; i++) {
            if (d->listeners[i].ops->resize) {
                d->listeners[i].ops->resize(d->listeners[i].opaque, d);
            }
        }
    }
    if (!lazy_pixman.pixman_region32_not_empty(&d->damage)) {
        return;
    }
    d->updates++;
    int n;
    const pixman_box32_t *box = lazy_pixman.pixman_region32_rectangles(&d->damage, &n);
    for (int k = 0; k < n; k++) {
        for (unsigned i = 0; i < d->nlisteners; i++) {
            if (d->listeners[i].ops->update) {
                d->listeners[i].ops->update(d->listeners[i].opaque, d, (unsigned)box[k].x1,
                                            (unsigned)box[k].y1, (unsigned)(box[k].x2 - box[k].x1),
                                            (unsigned)(box[k].y2 - box[k].y1));
            }
        }
    }
    lazy_pixman.pixman_region32_clear(&d->damage);
}

uint32_t display_pixel(const struct display *d, unsigned x, unsigned y)
{
    if (x >= d->width || y >= d->height) {
        return 0;
    }
    return d->data[(size_t)y * d->width + x] & 0xffffff;
}
