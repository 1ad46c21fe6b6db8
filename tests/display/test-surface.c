// SPDX-License-Identifier: GPL-2.0-or-later
/* Display surfaces: limits, damage and listeners, format conversion, text cells, PNG. */
#include <errno.h>
#include <png.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <cmocka.h>

#include "display/font.h"
#include "display/surface.h"

struct recorder {
    unsigned resizes, updates;
    uint64_t area;
    unsigned x0, y0, x1, y1; /* bounding box of the updates */
};

static void rec_resize(void *opaque, struct display *d)
{
    struct recorder *r = opaque;
    r->resizes++;
}

static void rec_update(void *opaque, struct display *d, unsigned x, unsigned y, unsigned w,
                       unsigned h)
{
    struct recorder *r = opaque;
    if (r->updates == 0) {
        r->x0 = x, r->y0 = y, r->x1 = x + w, r->y1 = y + h;
    }
    r->x0 = x < r->x0 ? x : r->x0;
    r->y0 = y < r->y0 ? y : r->y0;
    r->x1 = x + w > r->x1 ? x + w : r->x1;
    r->y1 = y + h > r->y1 ? y + h : r->y1;
    r->updates++;
    r->area += (uint64_t)w * h;
}

static const struct display_listener_ops rec_ops = {rec_resize, rec_update};

static void test_limits(void **state)
{
    struct display d;
    assert_int_equal(display_init(&d, 0, 10), -EINVAL);
    assert_int_equal(display_init(&d, DISPLAY_MAX_WIDTH + 1, 10), -EINVAL);
    assert_int_equal(display_init(&d, 640, 480), 0);
    assert_int_equal(display_resize(&d, 10, DISPLAY_MAX_HEIGHT + 1), -EINVAL);
    assert_int_equal(d.width, 640);
    assert_int_equal(display_resize(&d, 800, 600), 0);
    assert_int_equal(d.width, 800);
    assert_int_equal(d.stride, 3200);
    display_destroy(&d);
    display_destroy(&d); /* accepts a destroyed display */
}

static void test_damage_listeners(void **state)
{
    struct display d;
    struct recorder r = {0};
    assert_int_equal(display_init(&d, 100, 50), 0);
    assert_int_equal(display_add_listener(&d, &rec_ops, &r), 0);
    display_refresh(&d); /* the initial surface: resized, all damaged */
    assert_int_equal(r.resizes, 1);
    assert_int_equal(r.area, 100 * 50);
    r = (struct recorder){0};
    display_refresh(&d); /* nothing changed: nothing sent */
    assert_int_equal(r.updates, 0);
    display_damage(&d, 90, 40, 50, 50); /* clipped to the surface */
    display_damage(&d, 200, 0, 5, 5);   /* entirely outside */
    display_refresh(&d);
    assert_int_equal(r.area, 10 * 10);
    assert_int_equal(r.x0, 90);
    assert_int_equal(r.y1, 50);
    display_remove_listener(&d, &r);
    r = (struct recorder){0};
    display_damage(&d, 0, 0, 1, 1);
    display_refresh(&d);
    assert_int_equal(r.updates, 0);
    display_destroy(&d);
}

static void test_blit_formats(void **state)
{
    struct display d;
    assert_int_equal(display_init(&d, 8, 4), 0);
    /* One pure-red pixel per format at (1, 2), stride of 8 pixels. */
    uint8_t buf32[8 * 4 * 4] __attribute__((aligned(4))) = {0};
    buf32[(2 * 8 + 1) * 4 + 2] = 0xff;
    display_blit(&d, DISPLAY_FMT_X8R8G8B8, buf32, 32, 0, 0, 8, 4, NULL);
    assert_int_equal(display_pixel(&d, 1, 2), 0xff0000);
    assert_int_equal(display_pixel(&d, 0, 0), 0);

    uint16_t buf16[8 * 4] = {0};
    buf16[2 * 8 + 1] = 0x07e0; /* green, 565 */
    display_blit(&d, DISPLAY_FMT_R5G6B5, (uint8_t *)buf16, 16, 1, 2, 1, 1, NULL);
    assert_int_equal(display_pixel(&d, 1, 2), 0x00ff00);
    buf16[2 * 8 + 1] = 0x001f; /* blue, 555 */
    display_blit(&d, DISPLAY_FMT_X1R5G5B5, (uint8_t *)buf16, 16, 1, 2, 1, 1, NULL);
    assert_int_equal(display_pixel(&d, 1, 2), 0x0000ff);

    /* 24 bpp with an odd stride takes the byte-wise path. */
    uint8_t buf24[8 * 3 * 4 + 1] = {0};
    const size_t stride24 = 8 * 3 + 1;
    buf24[2 * stride24 + 3 * 3 + 0] = 0x11;
    buf24[2 * stride24 + 3 * 3 + 1] = 0x22;
    buf24[2 * stride24 + 3 * 3 + 2] = 0x33;
    display_blit(&d, DISPLAY_FMT_R8G8B8, buf24, stride24, 0, 0, 8, 3, NULL);
    assert_int_equal(display_pixel(&d, 3, 2), 0x332211);

    uint8_t buf8[8 * 4] = {0};
    uint32_t pal[256] = {0};
    pal[7] = 0xabcdef;
    buf8[3 * 8 + 7] = 7;
    display_blit(&d, DISPLAY_FMT_C8, buf8, 8, 0, 0, 8, 4, pal);
    assert_int_equal(display_pixel(&d, 7, 3), 0xabcdef);
    assert_int_equal(display_pixel(&d, 6, 3), 0);
    display_destroy(&d);
}

static void test_text_cell(void **state)
{
    struct display d;
    assert_int_equal(display_init(&d, 640, 400), 0);
    display_text_cell(&d, 1, 1, 'A', 0xffffff, 0x0000aa, 1, 0);
    unsigned fg = 0, bg = 0;
    for (unsigned y = 16; y < 32; y++) {
        for (unsigned x = 8; x < 16; x++) {
            uint32_t p = display_pixel(&d, x, y);
            bool set = vga_font_8x16['A'][y - 16] & (0x80u >> (x - 8));
            assert_int_equal(p, set ? 0xffffff : 0x0000aa);
            fg += set;
            bg += !set;
        }
    }
    assert_true(fg > 10 && bg > 10); /* a real glyph, not blank or solid */
    /* The cursor fills its scan lines with the foreground. */
    display_text_cell(&d, 79, 24, ' ', 0x00ff00, 0, 14, 15);
    assert_int_equal(display_pixel(&d, 79 * 8, 24 * 16 + 14), 0x00ff00);
    assert_int_equal(display_pixel(&d, 79 * 8, 24 * 16 + 13), 0);
    display_text_cell(&d, 80, 0, 'A', 0xffffff, 0, 1, 0); /* off the surface: ignored */
    display_destroy(&d);
}

static void test_png(void **state)
{
    struct display d;
    assert_int_equal(display_init(&d, 33, 7), 0);
    display_fill(&d, 5, 3, 2, 2, 0x123456);
    char path[] = "/tmp/deskvm-test-png-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    assert_int_equal(display_write_png(&d, path), 0);
    png_image img = {.version = PNG_IMAGE_VERSION};
    assert_true(png_image_begin_read_from_file(&img, path));
    assert_int_equal(img.width, 33);
    assert_int_equal(img.height, 7);
    img.format = PNG_FORMAT_RGB;
    uint8_t *px = malloc(PNG_IMAGE_SIZE(img));
    assert_true(png_image_finish_read(&img, NULL, px, 0, NULL));
    assert_int_equal(px[(3 * 33 + 5) * 3], 0x12);
    assert_int_equal(px[(3 * 33 + 5) * 3 + 1], 0x34);
    assert_int_equal(px[(4 * 33 + 6) * 3 + 2], 0x56);
    assert_int_equal(px[0], 0);
    free(px);
    unlink(path);
    assert_int_equal(display_write_png(&d, "/nonexistent-dir/x.png"), -ENOENT);
    display_destroy(&d);
}

static void test_thumbnail_size(void **state)
{
    unsigned w, h;
    display_thumbnail_size(640, 400, 160, 120, &w, &h);
    assert_true(w == 160 && h == 100);
    display_thumbnail_size(640, 480, 160, 120, &w, &h);
    assert_true(w == 160 && h == 120);
    display_thumbnail_size(720, 400, 160, 120, &w, &h); /* 88.9 rounds up */
    assert_true(w == 160 && h == 89);
    display_thumbnail_size(300, 1200, 160, 120, &w, &h); /* tall: the height limits */
    assert_true(w == 30 && h == 120);
    display_thumbnail_size(100, 50, 160, 120, &w, &h); /* never enlarged */
    assert_true(w == 100 && h == 50);
    display_thumbnail_size(4000, 1, 160, 120, &w, &h);
    assert_true(w == 160 && h == 1);
}

/* 640x480 of 4x4 blocks: each thumbnail pixel must be the mean of its block. */
static void test_thumbnail_png(void **state)
{
    struct display d;
    assert_int_equal(display_init(&d, 640, 480), 0);
    for (unsigned y = 0; y < 480; y++) {
        for (unsigned x = 0; x < 640; x++) {
            /* red: a gradient by block; green: a checkerboard inside each block */
            uint32_t r = (x / 4) & 0xff, g = ((x ^ y) & 1) ? 200 : 100;
            display_fill(&d, x, y, 1, 1, r << 16 | g << 8 | (y / 4));
        }
    }
    char path[] = "/tmp/deskvm-test-thumb-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    unsigned tw = 0, th = 0;
    assert_int_equal(display_write_thumbnail_png(&d, path, 160, 120, &tw, &th), 0);
    assert_true(tw == 160 && th == 120);
    png_image img = {.version = PNG_IMAGE_VERSION};
    assert_true(png_image_begin_read_from_file(&img, path));
    assert_true(img.width == 160 && img.height == 120);
    img.format = PNG_FORMAT_RGB;
    uint8_t *px = malloc(PNG_IMAGE_SIZE(img));
    assert_true(png_image_finish_read(&img, NULL, px, 0, NULL));
    for (unsigned y = 0; y < 120; y++) {
        for (unsigned x = 0; x < 160; x++) {
            const uint8_t *p = px + (y * 160 + x) * 3;
            assert_true(abs((int)p[0] - (int)x) <= 1);
            assert_true(abs((int)p[1] - 150) <= 2);
            assert_true(abs((int)p[2] - (int)y) <= 1);
        }
    }
    free(px);
    unlink(path);
    assert_int_equal(
        display_write_thumbnail_png(&d, "/nonexistent-dir/x.png", 160, 120, NULL, NULL), -ENOENT);
    assert_int_equal(display_write_thumbnail_png(&d, path, 0, 120, NULL, NULL), -EINVAL);
    display_destroy(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_limits),        cmocka_unit_test(test_damage_listeners),
        cmocka_unit_test(test_blit_formats),  cmocka_unit_test(test_text_cell),
        cmocka_unit_test(test_png),           cmocka_unit_test(test_thumbnail_size),
        cmocka_unit_test(test_thumbnail_png),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
