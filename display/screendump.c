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

int display_write_ppm(const struct display *d, const char *path)
{
    return write_file(d, path, write_ppm_rows);
}
