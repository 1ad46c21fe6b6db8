// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Screendump: the display surface as an 8-bit RGB PNG through libpng, or as a binary PPM
 * (QEMU's default format). Written to a temporary name and renamed, so a reader never sees
 * half a file.
 */
#include <errno.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "display/surface.h"
#include "vmm/lazy_pixman.h"
#include "vmm/lazy_png.h"

static void rgb_row(const struct display *d, unsigned y, uint8_t *row);

static int write_png_rows(FILE *f, const struct display *d, uint8_t *row)
{
    png_structp png = lazy_png.png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    if (!png) {
        return -ENOMEM;
    }
    png_infop info = lazy_png.png_create_info_struct(png);
    if (!info) {
        lazy_png.png_destroy_write_struct(&png, NULL);
        return -ENOMEM;
    }
    /* png_jmpbuf(png), which names png_set_longjmp_fn directly */
    if (setjmp(*lazy_png.png_set_longjmp_fn(png, longjmp, sizeof(jmp_buf)))) {
        lazy_png.png_destroy_write_struct(&png, &info);
        return -EIO;
    }
    lazy_png.png_init_io(png, f);
    lazy_png.png_set_IHDR(png, info, d->width, d->height, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                          PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    lazy_png.png_set_compression_level(png, 1); /* screendumps are taken often; size matters less */
    lazy_png.png_write_info(png, info);
    for (unsigned y = 0; y < d->height; y++) {
        rgb_row(d, y, row);
        lazy_png.png_write_row(png, row);
    }
    lazy_png.png_write_end(png, NULL);
    lazy_png.png_destroy_write_struct(&png, &info);
    return 0;
}

static void rgb_row(const struct display *d, unsigned y, uint8_t *row)
{
    const uint32_t *src = d->data + (size_t)y * d->width;
    for (unsigned x = 0; x < d->width; x++) {
        row[3 * x] = (uint8_t)(src[x] >> 16);
        row[3 * x + 1] = (uint8_t)(src[x] >> 8);
        row[3 * x + 2] = (uint8_t)src[x];
    }
}

static int write_ppm_rows(FILE *f, const struct display *d, uint8_t *row)
{
    fprintf(f, "P6\n%u %u\n255\n", d->width, d->height);
    for (unsigned y = 0; y < d->height; y++) {
        rgb_row(d, y, row);
        if (fwrite(row, 3, d->width, f) != d->width) {
            return -EIO;
        }
    }
    return 0;
}

static int write_file(const struct display *d, const char *path,
                      int (*rows)(FILE *f, const struct display *d, uint8_t *row))
{
    if (!d->data) {
        return -EINVAL;
    }
    size_t n = strlen(path) + 16;
    char *tmp = malloc(n);
    uint8_t *row = malloc((size_t)d->width * 3);
    int r = -ENOMEM;
    if (!tmp || !row) {
        goto out;
    }
    snprintf(tmp, n, "%s.tmp%d", path, (int)getpid());
    FILE *f = fopen(tmp, "wbx");
    if (!f) {
        r = -errno;
        goto out;
    }
    r = rows(f, d, row);
    if (fclose(f) != 0 && r == 0) {
        r = -errno;
    }
    if (r == 0 && rename(tmp, path) < 0) {
        r = -errno;
    }
    if (r < 0) {
        unlink(tmp);
    }
out:
    free(row);
    free(tmp);
    return r;
}

int display_write_png(const struct display *d, const char *path)
{
    if (lazy_png_load(NULL) < 0) {
        return -ENOPKG; /* display_qmp_screendump() asks lazy_png_load() why */
    }
    return write_file(d, path, write_png_rows);
}

void display_thumbnail_size(unsigned w, unsigned h, unsigned max_w, unsigned max_h, unsigned *tw,
                            unsigned *th)
{
    *tw = w;
    *th = h;
    if (w > max_w) {
        *tw = max_w;
        *th = (unsigned)(((uint64_t)h * max_w + w / 2) / w);
    }
    if (*th > max_h) {
        *th = max_h;
        *tw = (unsigned)(((uint64_t)w * max_h + h / 2) / h);
    }
    *tw = *tw ? *tw : 1;
    *th = *th ? *th : 1;
}

/*
 * Box-filtered downscale with pixman: each thumbnail pixel is the mean of the source pixels
 * its area covers (a separable convolution, impulse reconstruction and box sampling), so
 * text and thin lines fade instead of flickering as nearest or bilinear sampling would.
 */
int display_write_thumbnail_png(const struct display *d, const char *path, unsigned max_w,
                                unsigned max_h, unsigned *out_w, unsigned *out_h)
{
    if (!d->data || max_w == 0 || max_h == 0) {
        return -EINVAL;
    }
    if (lazy_png_load(NULL) < 0) {
        return -ENOPKG;
    }
    unsigned tw, th;
    display_thumbnail_size(d->width, d->height, max_w, max_h, &tw, &th);
    uint32_t *pixels = calloc((size_t)tw * th, 4);
    pixman_image_t *src = lazy_pixman.pixman_image_create_bits(
        PIXMAN_x8r8g8b8, (int)d->width, (int)d->height, d->data, (int)d->stride);
    pixman_image_t *dst = pixels ? lazy_pixman.pixman_image_create_bits(
                                       PIXMAN_x8r8g8b8, (int)tw, (int)th, pixels, (int)tw * 4)
                                 : NULL;
    int r = -ENOMEM, nparams = 0;
    pixman_fixed_t sx = pixman_double_to_fixed((double)d->width / tw);
    pixman_fixed_t sy = pixman_double_to_fixed((double)d->height / th);
    pixman_fixed_t *params = lazy_pixman.pixman_filter_create_separable_convolution(
        &nparams, sx, sy, PIXMAN_KERNEL_IMPULSE, PIXMAN_KERNEL_IMPULSE, PIXMAN_KERNEL_BOX,
        PIXMAN_KERNEL_BOX, 1, 1);
    if (src && dst && params) {
        struct pixman_transform t;
        lazy_pixman.pixman_transform_init_scale(&t, sx, sy);
        lazy_pixman.pixman_image_set_transform(src, &t);
        lazy_pixman.pixman_image_set_filter(src, PIXMAN_FILTER_SEPARABLE_CONVOLUTION, params,
                                            nparams);
        lazy_pixman.pixman_image_set_repeat(src, PIXMAN_REPEAT_PAD);
        lazy_pixman.pixman_image_composite32(PIXMAN_OP_SRC, src, NULL, dst, 0, 0, 0, 0, 0, 0,
                                             (int)tw, (int)th);
        struct display view = {.width = tw, .height = th, .stride = tw * 4, .data = pixels};
        r = write_file(&view, path, write_png_rows);
    }
    free(params);
    if (dst) {
        lazy_pixman.pixman_image_unref(dst);
    }
    if (src) {
        lazy_pixman.pixman_image_unref(src);
    }
    free(pixels);
    if (r == 0 && out_w) {
        *out_w = tw;
        *out_h = th;
    }
    return r;
}

int display_write_ppm(const struct display *d, const char *path)
{
    return write_file(d, path, write_ppm_rows);
}
