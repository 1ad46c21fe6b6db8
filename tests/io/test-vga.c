// SPDX-License-Identifier: GPL-2.0-or-later
/* VGA/VBE device: text mode through the legacy window, dispi modes, hostile values, state. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "display/font.h"
#include "display/surface.h"
#include "io/vga.h"
#include "../guest/include/vga_modes.h"

struct fixture {
    struct vga vga;
    struct display d;
    uint8_t *vram;
    uint64_t dirty_pages[64]; /* what the fake dirty log reports next */
    bool use_log;
    bool compare; /* answer VGA_SYNC_COMPARE with every page */
    unsigned nupdates, upd_y, upd_h;
    unsigned window_calls; /* window_changed hook */
};

static void fake_window(void *opaque)
{
    struct fixture *f = opaque;
    f->window_calls++;
}

static int fake_sync(void *opaque, uint64_t *bitmap)
{
    struct fixture *f = opaque;
    if (f->compare) {
        memset(bitmap, 0xff, 64 * sizeof(uint64_t));
        return VGA_SYNC_COMPARE;
    }
    if (!f->use_log) {
        return -ENOSYS;
    }
    for (unsigned i = 0; i < 64; i++) {
        bitmap[i] |= f->dirty_pages[i];
    }
    memset(f->dirty_pages, 0, sizeof(f->dirty_pages));
    return 0;
}

static int setup_size(void **state, uint32_t size)
{
    struct fixture *f = calloc(1, sizeof(*f));
    f->vram = calloc(1, size);
    assert_int_equal(vga_init(&f->vga, f->vram, size), 0);
    f->vga.sync_dirty = fake_sync;
    f->vga.sync_opaque = f;
    f->vga.window_changed = fake_window;
    assert_int_equal(display_init(&f->d, 640, 480), 0);
    display_set_hw(&f->d, &vga_display_ops, &f->vga);
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return setup_size(state, VGA_VRAM_DEFAULT);
}

static int setup_small(void **state)
{
    return setup_size(state, VGA_VRAM_MIN);
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    display_destroy(&f->d);
    vga_destroy(&f->vga);
    free(f->vram);
    free(f);
    return 0;
}

static void vbe_set(struct vga *vga, unsigned index, uint16_t val)
{
    vga_vbe_ops.write(vga, 0, index, 2);
    vga_vbe_ops.write(vga, 1, val, 2);
}

static uint16_t vbe_get(struct vga *vga, unsigned index)
{
    vga_vbe_ops.write(vga, 0, index, 2);
    return (uint16_t)vga_vbe_ops.read(vga, 1, 2);
}

static void port_out(struct vga *vga, unsigned port, uint8_t v)
{
    vga_ioport_ops.write(vga, port - VGA_PORT_BASE, v, 1);
}

static uint8_t port_in(struct vga *vga, unsigned port)
{
    return (uint8_t)vga_ioport_ops.read(vga, port - VGA_PORT_BASE, 1);
}

/* Does cell (col, row) show glyph ch in fg on bg? */
static void assert_cell(const struct display *d, unsigned col, unsigned row, uint8_t ch,
                        uint32_t fg, uint32_t bg)
{
    for (unsigned y = 0; y < VGA_FONT_HEIGHT; y++) {
        for (unsigned x = 0; x < VGA_FONT_WIDTH; x++) {
            bool set = vga_font_8x16[ch][y] & (0x80u >> x);
            assert_int_equal(display_pixel(d, col * 8 + x, row * 16 + y), set ? fg : bg);
        }
    }
}

static void test_text_mode_after_reset(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(vga_current_mode(&f->vga), VGA_MODE_TEXT);
    /* "Hi" in bright white on blue at row 1, column 2: 0xB8000 + (80 + 2) * 2. */
    uint64_t off = 0x18000 + (80 + 2) * 2;
    vga_legacy_ops.write(&f->vga, off, 'H', 1);
    vga_legacy_ops.write(&f->vga, off + 1, 0x1f, 1);
    vga_legacy_ops.write(&f->vga, off + 2, 'i', 1);
    vga_legacy_ops.write(&f->vga, off + 3, 0x4e, 1); /* yellow on red */
    assert_int_equal(vga_legacy_ops.read(&f->vga, off, 1), 'H');
    assert_int_equal(vga_legacy_ops.read(&f->vga, off + 3, 1), 0x4e);
    display_refresh(&f->d);
    assert_int_equal(f->d.width, 640);
    assert_int_equal(f->d.height, 400);
    assert_cell(&f->d, 2, 1, 'H', 0xffffff, 0x0000a8);
    assert_cell(&f->d, 3, 1, 'i', 0xffff57, 0xa80000);
    assert_cell(&f->d, 40, 20, ' ', 0xa8a8a8, 0x000000);
    /* Outside the selected B8000 window nothing is decoded. */
    assert_int_equal(vga_legacy_ops.read(&f->vga, 0x100, 1), 0xff);
}

static void test_text_cursor_and_start(void **state)
{
    struct fixture *f = *state;
    f->vga.clock_ns = 0; /* cursor phase: on */
    /* Cursor at cell 80 * 3 + 5, scan lines 14-15 (CR0A/CR0B). */
    unsigned pos = 80 * 3 + 5;
    port_out(&f->vga, 0x3d4, 0x0e);
    port_out(&f->vga, 0x3d5, (uint8_t)(pos >> 8));
    port_out(&f->vga, 0x3d4, 0x0f);
    port_out(&f->vga, 0x3d5, (uint8_t)pos);
    port_out(&f->vga, 0x3d4, 0x0a);
    port_out(&f->vga, 0x3d5, 14);
    port_out(&f->vga, 0x3d4, 0x0b);
    port_out(&f->vga, 0x3d5, 15);
    display_refresh(&f->d);
    assert_int_equal(display_pixel(&f->d, 5 * 8 + 3, 3 * 16 + 14), 0xa8a8a8);
    assert_int_equal(display_pixel(&f->d, 5 * 8 + 3, 3 * 16 + 10), 0);
    /* Disabling the cursor (CR0A bit 5) erases it. */
    port_out(&f->vga, 0x3d4, 0x0a);
    port_out(&f->vga, 0x3d5, 0x20);
    display_refresh(&f->d);
    assert_int_equal(display_pixel(&f->d, 5 * 8 + 3, 3 * 16 + 14), 0);
    /* Start address 80: row 1 of memory shows on row 0. */
    vga_legacy_ops.write(&f->vga, 0x18000 + 80 * 2, 'Z', 1);
    port_out(&f->vga, 0x3d4, 0x0d);
    port_out(&f->vga, 0x3d5, 80);
    display_refresh(&f->d);
    assert_cell(&f->d, 0, 0, 'Z', 0xa8a8a8, 0);
}

static void test_dac_and_palette(void **state)
{
    struct fixture *f = *state;
    port_out(&f->vga, 0x3c8, 1); /* colour 1 (blue) becomes 6-bit (63, 0, 63) */
    port_out(&f->vga, 0x3c9, 63);
    port_out(&f->vga, 0x3c9, 0);
    port_out(&f->vga, 0x3c9, 0xff); /* 6-bit DAC: masked */
    port_out(&f->vga, 0x3c7, 1);
    assert_int_equal(port_in(&f->vga, 0x3c9), 63);
    assert_int_equal(port_in(&f->vga, 0x3c9), 0);
    assert_int_equal(port_in(&f->vga, 0x3c9), 63);
    port_out(&f->vga, 0x3d4, 0x0a); /* no cursor over cell 0 */
    port_out(&f->vga, 0x3d5, 0x20);
    vga_legacy_ops.write(&f->vga, 0x18000, 'X', 1);
    vga_legacy_ops.write(&f->vga, 0x18001, 0x10, 1);
    display_refresh(&f->d);
    assert_cell(&f->d, 0, 0, 'X', 0x000000, 0xff00ff);
    /* The attribute controller: index, then data, flip-flop reset by reading 0x3DA. */
    port_in(&f->vga, 0x3da);
    port_out(&f->vga, 0x3c0, 0x20 | 0x01);
    port_out(&f->vga, 0x3c0, 0x02); /* attribute colour 1 now shows DAC entry 2 (green) */
    display_refresh(&f->d);
    assert_cell(&f->d, 0, 0, 'X', 0x000000, 0x00a800);
    /* Index without PAS blanks the display, as on real hardware. */
    port_in(&f->vga, 0x3da);
    port_out(&f->vga, 0x3c0, 0x00);
    assert_int_equal(vga_current_mode(&f->vga), VGA_MODE_BLANK);
    display_refresh(&f->d);
    assert_int_equal(display_pixel(&f->d, 0, 0), 0);
}

static void test_vbe_mode(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(vbe_get(&f->vga, VBE_INDEX_ID), VBE_ID5);
    assert_int_equal(vbe_get(&f->vga, VBE_INDEX_VIDEO_MEMORY_64K), VGA_VRAM_DEFAULT / 65536);
    vbe_set(&f->vga, VBE_INDEX_ENABLE, VBE_GETCAPS);
    assert_int_equal(vbe_get(&f->vga, VBE_INDEX_XRES), VBE_MAX_XRES);
    vbe_set(&f->vga, VBE_INDEX_ENABLE, 0);
    vbe_set(&f->vga, VBE_INDEX_XRES, 320);
    vbe_set(&f->vga, VBE_INDEX_YRES, 200);
    vbe_set(&f->vga, VBE_INDEX_BPP, 32);
    vbe_set(&f->vga, VBE_INDEX_ENABLE, VBE_ENABLED | VBE_LFB_ENABLED);
    assert_int_equal(vga_current_mode(&f->vga), VGA_MODE_VBE);
    assert_int_equal(vbe_get(&f->vga, VBE_INDEX_VIRT_WIDTH), 320);
    assert_int_equal(vbe_get(&f->vga, VBE_INDEX_VIRT_HEIGHT), VGA_VRAM_DEFAULT / (320 * 4));
    uint32_t *fb = (uint32_t *)f->vram;
    fb[10 * 320 + 7] = 0x00123456;
    display_refresh(&f->d);
    assert_int_equal(f->d.width, 320);
    assert_int_equal(f->d.height, 200);
    assert_int_equal(display_pixel(&f->d, 7, 10), 0x123456);

    /* With a dirty log, only lines on dirty pages are read again. */
    f->use_log = true;
    fb[0] = 0xff0000;             /* page 0 */
    fb[150 * 320 + 3] = 0x00ff00; /* line 150: byte 192012, page 46 */
    f->dirty_pages[0] = 1;        /* only page 0 reported */
    display_refresh(&f->d);
    assert_int_equal(display_pixel(&f->d, 0, 0), 0xff0000);
    assert_int_equal(display_pixel(&f->d, 3, 150), 0); /* not reported: not drawn */
    f->dirty_pages[0] = 1ull << 46;
    display_refresh(&f->d);
    assert_int_equal(display_pixel(&f->d, 3, 150), 0x00ff00);

    /* Panning: Y offset 1 shows line 1 of VRAM on line 0. */
    vbe_set(&f->vga, VBE_INDEX_Y_OFFSET, 1);
    fb[320] = 0x0000ff;
    display_refresh(&f->d);
    assert_int_equal(display_pixel(&f->d, 0, 0), 0x0000ff);

    /* The MMIO BAR reaches the same registers. */
    assert_int_equal(vga_mmio_ops.read(&f->vga, 0x500 + 2 * VBE_INDEX_XRES, 2), 320);
    vga_mmio_ops.write(&f->vga, 0x500 + 2 * VBE_INDEX_ENABLE, 0, 2);
    assert_int_equal(vga_current_mode(&f->vga), VGA_MODE_TEXT);
    /* ...and the VGA ports at 0x400. */
    vga_mmio_ops.write(&f->vga, 0x400 + 0x14, 0x0e, 1); /* 0x3D4 index */
    assert_int_equal(vga_mmio_ops.read(&f->vga, 0x400 + 0x14, 1), 0x0e);
}

static void record_update(void *opaque, struct display *d, unsigned x, unsigned y, unsigned w,
                          unsigned h)
{
    struct fixture *f = opaque;
    f->nupdates++;
    f->upd_y = y;
    f->upd_h = h;
}

static const struct display_listener_ops record_ops = {.update = record_update};

/* VGA_SYNC_COMPARE: every page may be dirty, only lines that differ are drawn and damaged. */
static void test_vbe_compare(void **state)
{
    struct fixture *f = *state;
    assert_false(vga_can_compare(&f->vga)); /* text mode */
    vbe_set(&f->vga, VBE_INDEX_XRES, 320);
    vbe_set(&f->vga, VBE_INDEX_YRES, 200);
    vbe_set(&f->vga, VBE_INDEX_BPP, 32);
    vbe_set(&f->vga, VBE_INDEX_ENABLE, VBE_ENABLED | VBE_LFB_ENABLED);
    assert_true(vga_can_compare(&f->vga));
    assert_int_equal(display_add_listener(&f->d, &record_ops, f), 0);
    uint32_t *fb = (uint32_t *)f->vram;
    for (unsigned i = 0; i < 320 * 200; i++) {
        fb[i] = i * 2654435761u & 0xffffff;
    }
    display_refresh(&f->d);
    assert_int_equal(display_pixel(&f->d, 319, 199), fb[199 * 320 + 319]);
    f->compare = true;
    f->nupdates = 0;
    display_refresh(&f->d); /* all pages "dirty", nothing changed */
    assert_int_equal(f->nupdates, 0);
    fb[5 * 320 + 1] = fb[5 * 320 + 1]; /* rewritten with the same value */
    fb[9 * 320 + 300] = 0x00abcdef;
    fb[10 * 320 + 0] = 0x00123456;
    display_refresh(&f->d);
    assert_int_equal(f->nupdates, 1);
    assert_int_equal(f->upd_y, 9);
    assert_int_equal(f->upd_h, 2);
    assert_int_equal(display_pixel(&f->d, 300, 9), 0xabcdef);
    assert_int_equal(display_pixel(&f->d, 0, 10), 0x123456);
    /* Other depths are not compared: every reported line is drawn again. */
    vbe_set(&f->vga, VBE_INDEX_ENABLE, 0);
    vbe_set(&f->vga, VBE_INDEX_BPP, 16);
    vbe_set(&f->vga, VBE_INDEX_ENABLE, VBE_ENABLED | VBE_LFB_ENABLED | VBE_NOCLEARMEM);
    assert_false(vga_can_compare(&f->vga));
    display_refresh(&f->d);
    f->nupdates = 0;
    display_refresh(&f->d);
    assert_int_equal(f->nupdates, 1);
    assert_int_equal(f->upd_y, 0);
    assert_int_equal(f->upd_h, 200);
    display_remove_listener(&f->d, f);
}

static void test_vbe_8bpp_banked(void **state)
{
    struct fixture *f = *state;
    vbe_set(&f->vga, VBE_INDEX_XRES, 640);
    vbe_set(&f->vga, VBE_INDEX_YRES, 480);
    vbe_set(&f->vga, VBE_INDEX_BPP, 8);
    vbe_set(&f->vga, VBE_INDEX_ENABLE, VBE_ENABLED | VBE_8BIT_DAC);
    port_out(&f->vga, 0x3c8, 9);
    port_out(&f->vga, 0x3c9, 0xfe); /* 8-bit DAC keeps all bits */
    port_out(&f->vga, 0x3c9, 0x80);
    port_out(&f->vga, 0x3c9, 0x01);
    /* Bank 2 of the 0xA0000 window: VRAM 128 KiB + offset, i.e. line 204, column 512. */
    vbe_set(&f->vga, VBE_INDEX_BANK, 2);
    vga_legacy_ops.write(&f->vga, 0x200, 9, 1);
    assert_int_equal(f->vram[0x20200], 9);
    display_refresh(&f->d);
    assert_int_equal(display_pixel(&f->d, 0x20200 % 640, 0x20200 / 640), 0xfe8001);
}

static void test_vbe_hostile_values(void **state)
{
    struct fixture *f = *state; /* 1 MiB of VRAM */
    uint64_t bad = f->vga.bad_vbe;
    vbe_set(&f->vga, VBE_INDEX_XRES, 5000);
    vbe_set(&f->vga, VBE_INDEX_YRES, 0);
    vbe_set(&f->vga, VBE_INDEX_BPP, 7);
    vbe_set(&f->vga, VBE_INDEX_BANK, 16); /* 16 x 64 KiB = 1 MiB: past the end */
    vbe_set(&f->vga, VBE_INDEX_ID, 0x1234);
    vbe_set(&f->vga, VBE_INDEX_VIDEO_MEMORY_64K, 1);
    vbe_set(&f->vga, 0x7777, 1);
    assert_int_equal(f->vga.bad_vbe, bad + 7);
    assert_int_equal(vbe_get(&f->vga, VBE_INDEX_XRES), 640);
    assert_int_equal(vbe_get(&f->vga, VBE_INDEX_BPP), 8);
    assert_int_equal(vbe_get(&f->vga, 0x7777), 0);
    /* 1024 x 768 x 32 needs 3 MiB: enabling it is refused and the text mode stays. */
    vbe_set(&f->vga, VBE_INDEX_XRES, 1024);
    vbe_set(&f->vga, VBE_INDEX_YRES, 768);
    vbe_set(&f->vga, VBE_INDEX_BPP, 32);
    vbe_set(&f->vga, VBE_INDEX_ENABLE, VBE_ENABLED);
    assert_int_equal(vga_current_mode(&f->vga), VGA_MODE_TEXT);
    assert_int_equal(f->vga.bad_vbe, bad + 8);
    /* 640 x 400 x 32 (1000 KiB) fits; panning past the end is refused. */
    vbe_set(&f->vga, VBE_INDEX_XRES, 640);
    vbe_set(&f->vga, VBE_INDEX_YRES, 400);
    vbe_set(&f->vga, VBE_INDEX_ENABLE, VBE_ENABLED);
    assert_int_equal(vga_current_mode(&f->vga), VGA_MODE_VBE);
    vbe_set(&f->vga, VBE_INDEX_Y_OFFSET, 10);
    vbe_set(&f->vga, VBE_INDEX_X_OFFSET, 0xffff);
    vbe_set(&f->vga, VBE_INDEX_VIRT_WIDTH, 0xffff);
    vbe_set(&f->vga, VBE_INDEX_XRES, 800); /* fixed while enabled */
    assert_int_equal(vbe_get(&f->vga, VBE_INDEX_Y_OFFSET), 0);
    assert_int_equal(vbe_get(&f->vga, VBE_INDEX_X_OFFSET), 0);
    assert_int_equal(vbe_get(&f->vga, VBE_INDEX_VIRT_WIDTH), 640);
    assert_int_equal(vbe_get(&f->vga, VBE_INDEX_XRES), 640);
    assert_int_equal(f->vga.bad_vbe, bad + 12);
    display_refresh(&f->d);
    assert_int_equal(f->d.width, 640);
    /* Out-of-range CRTC and attribute indices are ignored. */
    port_out(&f->vga, 0x3d4, 0xff);
    port_out(&f->vga, 0x3d5, 1);
    assert_int_equal(port_in(&f->vga, 0x3d5), 0xff);
}

static void test_state_round_trip(void **state)
{
    struct fixture *f = *state;
    vbe_set(&f->vga, VBE_INDEX_XRES, 800);
    vbe_set(&f->vga, VBE_INDEX_YRES, 600);
    vbe_set(&f->vga, VBE_INDEX_BPP, 16);
    vbe_set(&f->vga, VBE_INDEX_ENABLE, VBE_ENABLED);
    port_out(&f->vga, 0x3c8, 3);
    port_out(&f->vga, 0x3c9, 7);
    size_t n = vmstate_size(&vga_vmstate);
    uint8_t *a = malloc(n), *b = malloc(n);
    assert_int_equal(vmstate_save(&vga_vmstate, &f->vga, a, n), (long)n);
    uint8_t *vram2 = calloc(1, VGA_VRAM_DEFAULT);
    /* Heap, not stack: a struct vga holds a whole PCI function. */
    struct vga *v2 = calloc(1, sizeof(*v2)), *hostile = calloc(1, sizeof(*hostile));
    assert_int_equal(vga_init(v2, vram2, VGA_VRAM_DEFAULT), 0);
    assert_int_equal(vmstate_load(&vga_vmstate, v2, a, n), 0);
    assert_int_equal(vmstate_save(&vga_vmstate, v2, b, n), (long)n);
    assert_memory_equal(a, b, n);
    assert_int_equal(vga_current_mode(v2), VGA_MODE_VBE);
    /* A state whose mode does not fit VRAM is refused and changes nothing. */
    *hostile = f->vga;
    hostile->vbe_regs[VBE_INDEX_YRES] = 0xffff;
    assert_int_equal(vmstate_save(&vga_vmstate, hostile, b, n), (long)n);
    assert_int_equal(vmstate_load(&vga_vmstate, v2, b, n), -EINVAL);
    assert_int_equal(v2->vbe_regs[VBE_INDEX_YRES], 600);
    *hostile = f->vga;
    hostile->dac_sub = 3;
    assert_int_equal(vmstate_save(&vga_vmstate, hostile, b, n), (long)n);
    assert_int_equal(vmstate_load(&vga_vmstate, v2, b, n), -EINVAL);
    vga_destroy(v2);
    free(v2);
    free(hostile);
    free(vram2);
    free(a);
    free(b);
}

/* ---- graphics modes: the BIOS register tables, written through the ports ---------------- */

static void set_idx(struct vga *vga, unsigned port, unsigned i, uint8_t v)
{
    port_out(vga, port, (uint8_t)i);
    port_out(vga, port + 1, v);
}

static void set_mode(struct vga *vga, const struct mode_regs *m)
{
    port_out(vga, 0x3c2, m->misc);
    for (unsigned i = 0; i < 5; i++) {
        set_idx(vga, 0x3c4, i, m->seq[i]);
    }
    set_idx(vga, 0x3d4, 0x11, m->cr[0x11] & 0x7f); /* unlock CR0-7 */
    for (unsigned i = 0; i < 25; i++) {
        set_idx(vga, 0x3d4, i, m->cr[i]);
    }
    for (unsigned i = 0; i < 9; i++) {
        set_idx(vga, 0x3ce, i, m->gr[i]);
    }
    port_in(vga, 0x3da);
    for (unsigned i = 0; i < 21; i++) {
        port_out(vga, 0x3c0, (uint8_t)i);
        port_out(vga, 0x3c0, m->ar[i]);
    }
    port_out(vga, 0x3c0, 0x20); /* PAS: the display runs */
}

static void win_w(struct vga *vga, uint64_t off, uint8_t v)
{
    vga_legacy_ops.write(vga, off, v, 1);
}

static uint8_t win_r(struct vga *vga, uint64_t off)
{
    return (uint8_t)vga_legacy_ops.read(vga, off, 1);
}

/* The four planes of VRAM address a as one word, plane p in byte p. */
static uint32_t planes_at(const struct fixture *f, unsigned a)
{
    uint32_t v;
    memcpy(&v, &f->vram[4 * a], 4);
    return v;
}

/* A 6-bit DAC entry as the surface shows it. */
static uint32_t dac6(const struct vga *vga, unsigned i)
{
    uint32_t c = 0;
    for (unsigned k = 0; k < 3; k++) {
        unsigned v = vga->palette[i * 3 + k] & 0x3f;
        c = c << 8 | v << 2 | (v & 1) * 3;
    }
    return c;
}

/* Write modes 0-3, set/reset, rotate, logical functions, bit mask, map mask, read modes. */
static void test_planar_memory(void **state)
{
    struct fixture *f = *state;
    struct vga *vga = &f->vga;
    set_mode(vga, &mode12);
    memset(f->vram, 0, 4 * 65536);
    /* Write mode 0, everything plain: every plane gets the byte. */
    win_w(vga, 0, 0xa5);
    assert_int_equal(planes_at(f, 0), 0xa5a5a5a5);
    /* Set/reset on all planes: the CPU byte no longer matters. */
    set_idx(vga, 0x3ce, 0x00, 0x05);
    set_idx(vga, 0x3ce, 0x01, 0x0f);
    win_w(vga, 1, 0x12);
    assert_int_equal(planes_at(f, 1), 0x00ff00ff);
    /* Enable set/reset on plane 0 only. */
    set_idx(vga, 0x3ce, 0x00, 0x00);
    set_idx(vga, 0x3ce, 0x01, 0x01);
    win_w(vga, 2, 0x3c);
    assert_int_equal(planes_at(f, 2), 0x3c3c3c00);
    set_idx(vga, 0x3ce, 0x01, 0x00);
    /* Rotate right by 2. */
    set_idx(vga, 0x3ce, 0x03, 0x02);
    win_w(vga, 3, 0x81);
    assert_int_equal(planes_at(f, 3), 0x60606060);
    /* Map mask: only plane 1. */
    set_idx(vga, 0x3ce, 0x03, 0x00);
    set_idx(vga, 0x3c4, 0x02, 0x02);
    win_w(vga, 3, 0xff);
    assert_int_equal(planes_at(f, 3), 0x6060ff60);
    set_idx(vga, 0x3c4, 0x02, 0x0f);
    /* Read mode 0 loads the latches and returns the plane GR04 picks. */
    f->vram[4 * 5 + 0] = 0x11;
    f->vram[4 * 5 + 1] = 0x22;
    f->vram[4 * 5 + 2] = 0xf0;
    f->vram[4 * 5 + 3] = 0x0f;
    set_idx(vga, 0x3ce, 0x04, 2);
    assert_int_equal(win_r(vga, 5), 0xf0);
    /* Bit mask: masked-off bits come from the latches (plane values at 5). */
    set_idx(vga, 0x3ce, 0x08, 0x0f);
    win_w(vga, 5, 0xff);
    assert_int_equal(planes_at(f, 5), 0x0fff2f1f);
    set_idx(vga, 0x3ce, 0x08, 0xff);
    /* Logical functions against the latches: AND, OR, XOR. */
    assert_int_equal(win_r(vga, 5), 0xff); /* latches: 1f 2f ff 0f */
    set_idx(vga, 0x3ce, 0x03, 0x08);
    win_w(vga, 6, 0x3c);
    assert_int_equal(planes_at(f, 6), 0x0c3c2c1c);
    set_idx(vga, 0x3ce, 0x03, 0x10);
    win_w(vga, 7, 0x3c);
    assert_int_equal(planes_at(f, 7), 0x3fff3f3f);
    set_idx(vga, 0x3ce, 0x03, 0x18);
    win_w(vga, 8, 0xff);
    assert_int_equal(planes_at(f, 8), 0xf000d0e0);
    set_idx(vga, 0x3ce, 0x03, 0x00);
    /* Write mode 1 copies the latches (a screen-to-screen copy), map mask still applies. */
    set_idx(vga, 0x3ce, 0x05, 0x01);
    set_idx(vga, 0x3c4, 0x02, 0x07);
    win_r(vga, 5);
    win_w(vga, 9, 0x00);
    assert_int_equal(planes_at(f, 9), 0x00ff2f1f);
    set_idx(vga, 0x3ce, 0x03, 0x18); /* neither the function nor the bit mask apply */
    set_idx(vga, 0x3ce, 0x08, 0x00);
    set_idx(vga, 0x3c4, 0x02, 0x0f);
    win_w(vga, 12, 0x55);
    assert_int_equal(planes_at(f, 12), 0x0fff2f1f);
    set_idx(vga, 0x3ce, 0x03, 0x00);
    set_idx(vga, 0x3ce, 0x08, 0xff);
    set_idx(vga, 0x3c4, 0x02, 0x0f);
    /* Write mode 2: the CPU byte's low nibble is the colour, under the bit mask. */
    set_idx(vga, 0x3ce, 0x05, 0x02);
    win_r(vga, 10); /* latches 0 */
    set_idx(vga, 0x3ce, 0x08, 0x81);
    win_w(vga, 10, 0x0a);
    assert_int_equal(planes_at(f, 10), 0x81008100);
    /* Write mode 3: set/reset is the colour, the rotated CPU byte ANDs the bit mask. */
    set_idx(vga, 0x3ce, 0x05, 0x03);
    set_idx(vga, 0x3ce, 0x00, 0x0c);
    set_idx(vga, 0x3ce, 0x08, 0xf0);
    win_r(vga, 11);
    win_w(vga, 11, 0x3c);
    assert_int_equal(planes_at(f, 11), 0x30300000);
    /* Read mode 1: colour compare with don't care. Pixels of address 5: planes 1f 2f ff 0f. */
    set_idx(vga, 0x3ce, 0x05, 0x08);
    set_idx(vga, 0x3ce, 0x02, 0x0b); /* colour 1011: planes 0, 1, 3 set, 2 clear */
    set_idx(vga, 0x3ce, 0x07, 0x0f);
    assert_int_equal(win_r(vga, 5), 0x00);
    set_idx(vga, 0x3ce, 0x07, 0x01); /* only plane 0 compared */
    assert_int_equal(win_r(vga, 5), 0x1f);
    set_idx(vga, 0x3ce, 0x07, 0x00); /* nothing compared: every pixel matches */
    assert_int_equal(win_r(vga, 5), 0xff);
    /* The latches are state. */
    assert_int_equal(vga->latch, 0x0fff2f1f);
}

/* Mode 13h: chain-4, 256 colours, each byte two dots wide, each row two scan lines. */
static void test_mode13h(void **state)
{
    struct fixture *f = *state;
    struct vga *vga = &f->vga;
    assert_int_equal(vga_window_linear(vga), 0); /* mode 3: odd/even */
    set_mode(vga, &mode13);
    assert_int_equal(vga_current_mode(vga), VGA_MODE_GRAPHICS);
    /* Chain-4 at A0000/64K with every plane: the window may become plain VRAM. */
    assert_int_equal(vga_window_linear(vga), 0x10000);
    assert_int_equal(f->window_calls, 1);
    set_idx(vga, 0x3c4, 0x02, 0x01); /* a map mask needs the handlers */
    assert_int_equal(vga_window_linear(vga), 0);
    set_idx(vga, 0x3c4, 0x02, 0x0f);
    set_idx(vga, 0x3ce, 0x06, 0x01); /* A0000/128K */
    assert_int_equal(vga_window_linear(vga), 0x20000);
    set_idx(vga, 0x3ce, 0x06, 0x05);
    assert_int_equal(f->window_calls, 5);
    set_idx(vga, 0x3ce, 0x06, 0x05); /* no change, no call */
    assert_int_equal(f->window_calls, 5);
    for (unsigned y = 0; y < 200; y++) {
        for (unsigned x = 0; x < 320; x++) {
            win_w(vga, y * 320 + x, (uint8_t)(x + y));
        }
    }
    port_out(vga, 0x3c8, 200);
    port_out(vga, 0x3c9, 0x3f);
    port_out(vga, 0x3c9, 0x20);
    port_out(vga, 0x3c9, 0x01);
    assert_int_equal(win_r(vga, 5 * 320 + 7), 12);
    display_refresh(&f->d);
    assert_int_equal(f->d.width, 640);
    assert_int_equal(f->d.height, 400);
    for (unsigned y = 0; y < 400; y++) {
        for (unsigned x = 0; x < 640; x++) {
            unsigned c = (x / 2 + y / 2) & 0xff;
            assert_int_equal(display_pixel(&f->d, x, y), dac6(vga, c));
        }
    }
    assert_int_equal(display_pixel(&f->d, 2 * 199, 2 * 1), 0xff8007);
    /* The DAC pixel mask applies. */
    port_out(vga, 0x3c6, 0x0f);
    display_refresh(&f->d);
    assert_int_equal(display_pixel(&f->d, 2 * 200, 0), dac6(vga, 200 & 0x0f));
    port_out(vga, 0x3c6, 0xff);
    display_refresh(&f->d);

    /* Damage: one byte written redraws and sends only its two scan lines. */
    assert_int_equal(display_add_listener(&f->d, &record_ops, f), 0);
    f->use_log = true;
    display_refresh(&f->d);
    f->nupdates = 0;
    display_refresh(&f->d);
    assert_int_equal(f->nupdates, 0);
    win_w(vga, 100 * 320 + 10, 200);
    display_refresh(&f->d);
    assert_int_equal(f->nupdates, 1);
    assert_true(f->upd_y <= 200 && f->upd_y + f->upd_h >= 202);
    /* One 4 KiB page (bytes 28672-32767): rows 89-102 of 320 bytes, two lines each. */
    assert_int_equal(f->upd_y, 178);
    assert_int_equal(f->upd_h, 28);
    assert_int_equal(display_pixel(&f->d, 20, 200), 0xff8007);
    assert_int_equal(display_pixel(&f->d, 21, 201), 0xff8007);

    /* Start address (in units of 4 bytes here) and line compare. */
    set_idx(vga, 0x3d4, 0x0c, 0x00);
    set_idx(vga, 0x3d4, 0x0d, 80); /* one row of 320 bytes */
    display_refresh(&f->d);
    assert_int_equal(display_pixel(&f->d, 0, 0), dac6(vga, 1));
    set_idx(vga, 0x3d4, 0x18, 99);   /* after scan line 99, address 0 again */
    set_idx(vga, 0x3d4, 0x07, 0x0f); /* line compare bit 8 clear */
    set_idx(vga, 0x3d4, 0x09, 0x01); /* bit 9 clear */
    display_refresh(&f->d);
    assert_int_equal(display_pixel(&f->d, 0, 99), dac6(vga, 50));
    assert_int_equal(display_pixel(&f->d, 0, 100), dac6(vga, 0));
    /* Panning (AR13) is ignored: nothing moves. */
    port_in(vga, 0x3da);
    port_out(vga, 0x3c0, 0x33);
    port_out(vga, 0x3c0, 0x02);
    display_refresh(&f->d);
    assert_int_equal(display_pixel(&f->d, 0, 100), dac6(vga, 0));
}

/* Mode 12h: 640x480, four planes through the attribute palette and the DAC. */
static void test_mode12h(void **state)
{
    struct fixture *f = *state;
    struct vga *vga = &f->vga;
    set_mode(vga, &mode12);
    memset(f->vram, 0, 4 * 65536); /* the BIOS clears the screen */
    /* Write mode 2 with the bit mask: pixel x of row y has colour (x / 8 + y) & 15. */
    set_idx(vga, 0x3ce, 0x05, 0x02);
    for (unsigned y = 0; y < 480; y += 37) {
        for (unsigned x = 0; x < 640; x++) {
            set_idx(vga, 0x3ce, 0x08, (uint8_t)(0x80u >> (x & 7)));
            win_r(vga, y * 80 + x / 8);
            win_w(vga, y * 80 + x / 8, (uint8_t)((x / 8 + y) & 15));
        }
    }
    display_refresh(&f->d);
    assert_int_equal(f->d.width, 640);
    assert_int_equal(f->d.height, 480);
    for (unsigned y = 0; y < 480; y++) {
        for (unsigned x = 0; x < 640; x++) {
            unsigned c = (y % 37) ? 0 : (x / 8 + y) & 15;
            assert_int_equal(display_pixel(&f->d, x, y), dac6(vga, mode12.ar[c]));
        }
    }
    /* Colour plane enable: without plane 0, colour 1 shows as colour 0. */
    port_in(vga, 0x3da);
    port_out(vga, 0x3c0, 0x32);
    port_out(vga, 0x3c0, 0x0e);
    display_refresh(&f->d);
    assert_int_equal(display_pixel(&f->d, 8, 0), dac6(vga, mode12.ar[0]));
    assert_int_equal(display_pixel(&f->d, 16, 0), dac6(vga, mode12.ar[2]));
    port_out(vga, 0x3c0, 0x32);
    port_out(vga, 0x3c0, 0x0f);
    /* P5-4 select (AR10 bit 7) and colour select (AR14): bits 4-7 from AR14. */
    port_out(vga, 0x3c0, 0x30);
    port_out(vga, 0x3c0, 0x81);
    port_out(vga, 0x3c0, 0x34);
    port_out(vga, 0x3c0, 0x0b);
    display_refresh(&f->d);
    assert_int_equal(display_pixel(&f->d, 8 * 6, 0), dac6(vga, 0xb0 | (mode12.ar[6] & 0x0f)));
    port_out(vga, 0x3c0, 0x30);
    port_out(vga, 0x3c0, 0x01);
    display_refresh(&f->d);
    assert_int_equal(display_pixel(&f->d, 8 * 6, 0), dac6(vga, 0x80 | mode12.ar[6]));
    /* Mode 0Dh's dot clock / 2: every pixel twice as wide. */
    set_idx(vga, 0x3c4, 0x01, 0x09);
    display_refresh(&f->d);
    assert_int_equal(f->d.width, 1280);
    assert_int_equal(display_pixel(&f->d, 16, 0), display_pixel(&f->d, 31, 0));
}

/* Mode 04h: CGA 320x200x4, odd/even at 0xB8000, odd rows in the bank at +8 KiB. */
static void test_mode04h(void **state)
{
    struct fixture *f = *state;
    struct vga *vga = &f->vga;
    set_mode(vga, &mode04);
    /* Row 0 starts 0xE4 (pixels 3 2 1 0), row 1 (bank 2) starts 0x1B (0 1 2 3). */
    win_w(vga, 0x18000, 0xe4);
    win_w(vga, 0x18001, 0x40); /* pixels 4-7: 1 0 0 0 */
    win_w(vga, 0x18000 + 0x2000, 0x1b);
    win_w(vga, 0x18000 + 80, 0xff); /* row 2: all colour 3 */
    display_refresh(&f->d);
    assert_int_equal(f->d.width, 640);
    assert_int_equal(f->d.height, 400);
    static const unsigned row0[8] = {3, 2, 1, 0, 1, 0, 0, 0}, row1[4] = {0, 1, 2, 3};
    for (unsigned k = 0; k < 8; k++) {
        for (unsigned y = 0; y < 2; y++) {
            assert_int_equal(display_pixel(&f->d, 2 * k, y), dac6(vga, mode04.ar[row0[k]]));
            assert_int_equal(display_pixel(&f->d, 2 * k + 1, y), dac6(vga, mode04.ar[row0[k]]));
        }
    }
    for (unsigned k = 0; k < 4; k++) {
        assert_int_equal(display_pixel(&f->d, 2 * k, 2), dac6(vga, mode04.ar[row1[k]]));
        assert_int_equal(display_pixel(&f->d, 2 * k, 3), dac6(vga, mode04.ar[row1[k]]));
    }
    assert_int_equal(display_pixel(&f->d, 0, 4), dac6(vga, mode04.ar[3]));
    assert_int_equal(display_pixel(&f->d, 0, 6), dac6(vga, mode04.ar[0]));
    assert_int_equal(win_r(vga, 0x18000 + 0x2000), 0x1b);
}

/* Mode 06h: 640x200x2, plane 0 only (byte mode), odd rows in the bank at +8 KiB. */
static void test_mode06h(void **state)
{
    struct fixture *f = *state;
    struct vga *vga = &f->vga;
    set_mode(vga, &mode06);
    memset(f->vram, 0, 4 * 65536);
    win_w(vga, 0x18000, 0x81);          /* row 0: pixels 0 and 7 */
    win_w(vga, 0x18000 + 0x2000, 0x40); /* row 1: pixel 1 */
    win_w(vga, 0x18000 + 80, 0x01);     /* row 2: pixel 7 */
    display_refresh(&f->d);
    assert_int_equal(f->d.width, 640);
    assert_int_equal(f->d.height, 400);
    uint32_t on = dac6(vga, 0x17), off = dac6(vga, 0);
    for (unsigned y = 0; y < 8; y++) {
        unsigned row = y / 2;
        for (unsigned x = 0; x < 16; x++) {
            bool set =
                (row == 0 && (x == 0 || x == 7)) || (row == 1 && x == 1) || (row == 2 && x == 7);
            assert_int_equal(display_pixel(&f->d, x, y), set ? on : off);
        }
    }
}

/* The VRAM size is in the state: a state saved with another size is refused. */
static void test_state_vram_size(void **state)
{
    struct fixture *f = *state;
    size_t n = vmstate_size(&vga_vmstate);
    uint8_t *a = malloc(n);
    f->vga.latch = 0x12345678;
    assert_int_equal(vmstate_save(&vga_vmstate, &f->vga, a, n), (long)n);
    uint8_t *vram2 = calloc(1, VGA_VRAM_MIN);
    struct vga *v2 = calloc(1, sizeof(*v2));
    assert_int_equal(vga_init(v2, vram2, VGA_VRAM_MIN), 0);
    assert_int_equal(vmstate_load(&vga_vmstate, v2, a, n), -EMEDIUMTYPE);
    assert_int_equal(v2->latch, 0);
    assert_int_equal(vbe_get(v2, VBE_INDEX_VIDEO_MEMORY_64K), VGA_VRAM_MIN / 65536);
    f->vga.latch = 0;
    assert_int_equal(vmstate_load(&vga_vmstate, &f->vga, a, n), 0);
    assert_int_equal(f->vga.latch, 0x12345678);
    vga_destroy(v2);
    free(v2);
    free(vram2);
    free(a);
}

static void test_init_limits(void **state)
{
    struct vga *v = calloc(1, sizeof(*v));
    uint8_t buf[16];
    assert_int_equal(vga_init(v, buf, 3u << 20), -EINVAL);
    assert_int_equal(vga_init(v, buf, VGA_VRAM_MAX * 2u), -EINVAL);
    assert_int_equal(vga_init(v, NULL, VGA_VRAM_DEFAULT), -EINVAL);
    vga_destroy(v);
    free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_text_mode_after_reset, setup, teardown),
        cmocka_unit_test_setup_teardown(test_text_cursor_and_start, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dac_and_palette, setup, teardown),
        cmocka_unit_test_setup_teardown(test_vbe_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_vbe_compare, setup, teardown),
        cmocka_unit_test_setup_teardown(test_vbe_8bpp_banked, setup, teardown),
        cmocka_unit_test_setup_teardown(test_vbe_hostile_values, setup_small, teardown),
        cmocka_unit_test_setup_teardown(test_state_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_planar_memory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mode13h, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mode12h, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mode04h, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mode06h, setup, teardown),
        cmocka_unit_test_setup_teardown(test_state_vram_size, setup, teardown),
        cmocka_unit_test(test_init_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
