// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vga-modes: programs the legacy VGA graphics modes 13h (320x200x256, chain-4), 12h
 * (640x480x16, planar), 0Dh (320x200x16, dots doubled) and 04h (320x200x4, CGA) by writing the
 * standard register tables through the ports, as a BIOS does, and draws a known pattern through the
 * 0xA0000 window. In mode 12h it first checks the graphics controller's write modes 0-3, read modes
 * 0/1, the latches, set/reset, rotate, logical functions, bit mask and map mask by reading planes
 * back (the same checks pass on QEMU's -device VGA). tests/integration/test-vga-modes.py checks
 * every pixel of each screen through QMP screendump, on deskvm and QEMU.
 *
 * Command line: interactive=1 waits after each mode for a key (press and release) from the
 * i8042, so that the host can take a screendump of it; vram_mib=N checks that the dispi
 * video memory register and BAR0 report N MiB of VRAM.
 */
#include "guest.h"
#include "vga_modes.h"

#define WIN ((volatile uint8_t *)0xa0000)
#define INPUT_POLLS 200000000u /* the harness times out first */

static void set_idx(uint16_t port, uint8_t i, uint8_t v)
{
    outb(port, i);
    outb(port + 1, v);
}

static void set_mode(const struct mode_regs *m)
{
    inb(0x3da);
    outb(0x3c0, 0x00); /* PAS off while the tables load */
    outb(0x3c2, m->misc);
    set_idx(0x3c4, 0x00, 0x01); /* synchronous reset */
    for (uint8_t i = 1; i < 5; i++) {
        set_idx(0x3c4, i, m->seq[i]);
    }
    set_idx(0x3c4, 0x00, m->seq[0]);
    set_idx(0x3d4, 0x11, m->cr[0x11] & 0x7f); /* unlock CR0-CR7 */
    for (uint8_t i = 0; i < 25; i++) {
        set_idx(0x3d4, i, m->cr[i]);
    }
    for (uint8_t i = 0; i < 9; i++) {
        set_idx(0x3ce, i, m->gr[i]);
    }
    inb(0x3da);
    for (uint8_t i = 0; i < 21; i++) {
        outb(0x3c0, i);
        outb(0x3c0, m->ar[i]);
    }
    outb(0x3c0, 0x20); /* PAS: the display runs */
    outb(0x3c6, 0xff);
}

/* The 256 DAC entries both screens use (6-bit): the integration test recomputes them. */
static void load_dac(void)
{
    outb(0x3c8, 0);
    for (unsigned i = 0; i < 256; i++) {
        outb(0x3c9, (uint8_t)(i & 0x3f));
        outb(0x3c9, (uint8_t)((i >> 2) & 0x3f));
        outb(0x3c9, (uint8_t)((255 - i) & 0x3f));
    }
}

static int kbc_read(void)
{
    for (unsigned i = 0; i < INPUT_POLLS; i++) {
        if (inb(0x64) & 1) {
            return inb(0x60);
        }
    }
    return -1;
}

static void wait_key(bool interactive)
{
    if (!interactive) {
        return;
    }
    for (unsigned n = 0; n < 2; n++) {
        CHECK(kbc_read() >= 0, "no key from the host");
    }
}

/* Plane p's byte at window offset off (read mode 0, read map select p). */
static uint8_t plane_byte(unsigned off, unsigned p)
{
    set_idx(0x3ce, 0x04, (uint8_t)p);
    return WIN[off];
}

static uint32_t planes(unsigned off)
{
    uint32_t v = 0;
    for (unsigned p = 0; p < 4; p++) {
        v |= (uint32_t)plane_byte(off, p) << (8 * p);
    }
    return v;
}

/* Off-screen (past 38400 bytes) checks of the graphics controller in mode 12h. */
static void check_write_modes(void)
{
    const unsigned a = 0xf000;
    set_idx(0x3ce, 0x05, 0x00);
    WIN[a] = 0xa5;
    CHECK(planes(a) == 0xa5a5a5a5u, "write mode 0: %08x", planes(a));
    set_idx(0x3ce, 0x00, 0x05); /* set/reset 0101 on every plane */
    set_idx(0x3ce, 0x01, 0x0f);
    WIN[a + 1] = 0x12;
    CHECK(planes(a + 1) == 0x00ff00ffu, "set/reset: %08x", planes(a + 1));
    set_idx(0x3ce, 0x01, 0x01); /* only plane 0 */
    set_idx(0x3ce, 0x00, 0x00);
    WIN[a + 2] = 0x3c;
    CHECK(planes(a + 2) == 0x3c3c3c00u, "enable set/reset: %08x", planes(a + 2));
    set_idx(0x3ce, 0x01, 0x00);
    set_idx(0x3ce, 0x03, 0x02); /* rotate right 2 */
    WIN[a + 3] = 0x81;
    CHECK(planes(a + 3) == 0x60606060u, "rotate: %08x", planes(a + 3));
    set_idx(0x3ce, 0x03, 0x00);
    set_idx(0x3c4, 0x02, 0x02); /* map mask: plane 1 */
    WIN[a + 3] = 0xff;
    set_idx(0x3c4, 0x02, 0x0f);
    CHECK(planes(a + 3) == 0x6060ff60u, "map mask: %08x", planes(a + 3));
    /* Latches ff 00 ff 00 (planes 0-3) from a + 1; bit mask 0x0f keeps their high nibble. */
    (void)WIN[a + 1];
    set_idx(0x3ce, 0x08, 0x0f);
    WIN[a + 4] = 0x33;
    set_idx(0x3ce, 0x08, 0xff);
    CHECK(planes(a + 4) == 0x03f303f3u, "bit mask: %08x", planes(a + 4));
    /* Logical functions against latches f3 03 f3 03 (from a + 4). */
    static const uint8_t func[3] = {0x08, 0x10, 0x18};
    static const uint32_t want[3] = {0x00300030u, 0x33f333f3u, 0x33c333c3u};
    for (unsigned k = 0; k < 3; k++) {
        (void)WIN[a + 4];
        set_idx(0x3ce, 0x03, func[k]);
        WIN[a + 5 + k] = 0x30;
        set_idx(0x3ce, 0x03, 0x00);
        CHECK(planes(a + 5 + k) == want[k], "function %u: %08x", k, planes(a + 5 + k));
    }
    /* Write mode 1 copies the latches: neither the function nor the bit mask apply. */
    set_idx(0x3ce, 0x05, 0x01);
    set_idx(0x3ce, 0x03, 0x18);
    set_idx(0x3ce, 0x08, 0x00);
    (void)WIN[a + 4];
    WIN[a + 8] = 0x00;
    set_idx(0x3ce, 0x05, 0x00);
    set_idx(0x3ce, 0x03, 0x00);
    set_idx(0x3ce, 0x08, 0xff);
    CHECK(planes(a + 8) == 0x03f303f3u, "write mode 1: %08x", planes(a + 8));
    /* Write mode 2: colour 1010 under bit mask 0x81, latches from a + 4. */
    set_idx(0x3ce, 0x05, 0x02);
    (void)WIN[a + 4];
    set_idx(0x3ce, 0x08, 0x81);
    WIN[a + 9] = 0x0a;
    set_idx(0x3ce, 0x08, 0xff);
    set_idx(0x3ce, 0x05, 0x00);
    CHECK(planes(a + 9) == 0x83728372u, "write mode 2: %08x", planes(a + 9));
    /* Write mode 3: set/reset 1100 as colour, rotated CPU byte ANDed into bit mask 0xf0. */
    set_idx(0x3ce, 0x05, 0x03);
    set_idx(0x3ce, 0x00, 0x0c);
    set_idx(0x3ce, 0x08, 0xf0);
    (void)WIN[a + 4];
    WIN[a + 10] = 0x3c;
    set_idx(0x3ce, 0x08, 0xff);
    set_idx(0x3ce, 0x00, 0x00);
    set_idx(0x3ce, 0x05, 0x00);
    CHECK(planes(a + 10) == 0x33f303c3u, "write mode 3: %08x", planes(a + 10));
    /* Read mode 1: colour compare against planes f3 03 f3 03 (a + 4). */
    set_idx(0x3ce, 0x05, 0x08);
    set_idx(0x3ce, 0x02, 0x0f);
    set_idx(0x3ce, 0x07, 0x0f);
    uint8_t cc = WIN[a + 4];
    set_idx(0x3ce, 0x07, 0x05); /* planes 0 and 2 only */
    uint8_t cc2 = WIN[a + 4];
    set_idx(0x3ce, 0x05, 0x00);
    set_idx(0x3ce, 0x02, 0x00);
    set_idx(0x3ce, 0x07, 0x0f);
    CHECK(cc == 0x03 && cc2 == 0xf3, "read mode 1: %02x %02x", cc, cc2);
    set_idx(0x3ce, 0x04, 0x00);
}

void test_main(void)
{
    bool interactive = cmdline_u64("interactive", 0) != 0;
    unsigned dev = 32;
    for (unsigned d = 0; d < 32; d++) {
        outl(0xcf8, 0x80000000u | d << 11);
        if (inl(0xcfc) == 0x11111234u) {
            dev = d;
            break;
        }
    }
    CHECK(dev < 32, "no VGA (1234:1111) on bus 0: run with display=vga");
    unsigned vram_mib = (unsigned)cmdline_u64("vram_mib", 0);
    if (vram_mib) {
        /* The VRAM size shows in the dispi video memory register and BAR0's size. */
        outw(0x1ce, 0x0a);
        unsigned units = inw(0x1cf);
        outl(0xcf8, 0x80000000u | dev << 11 | 0x10);
        uint32_t bar0 = inl(0xcfc);
        outl(0xcfc, 0xffffffffu);
        uint32_t size = ~(inl(0xcfc) & ~0xfu) + 1;
        outl(0xcfc, bar0);
        printf("vga-modes: VRAM %u x 64 KiB, BAR0 %u MiB\n", units, size >> 20);
        CHECK(units == vram_mib * 16 && size == vram_mib << 20, "want %u MiB of VRAM", vram_mib);
    }
    outl(0xcf8, 0x80000000u | dev << 11 | 4);
    outw(0xcfc, (uint16_t)(inw(0xcfc) | 0x3)); /* I/O + memory decode */
    if (interactive) {
        outb(0x64, 0x60); /* translation on: set 1 codes, as a BIOS leaves it */
        while (inb(0x64) & 2) {
            cpu_relax();
        }
        outb(0x60, 0x47);
        for (unsigned i = 0; i < 1000; i++) { /* what the firmware left in the buffer */
            if (inb(0x64) & 1) {
                (void)inb(0x60);
            }
        }
    }

    /* Mode 13h: pixel (x, y) is (x ^ y) + y / 8, a white box at (100..139, 50..89). */
    set_mode(&mode13);
    load_dac();
    uint64_t t0 = rdtsc();
    for (unsigned y = 0; y < 200; y++) {
        for (unsigned x = 0; x < 320; x++) {
            bool box = x >= 100 && x < 140 && y >= 50 && y < 90;
            WIN[y * 320 + x] = box ? 0x3f : (uint8_t)((x ^ y) + y / 8);
        }
    }
    CHECK(WIN[199 * 320 + 319] == (uint8_t)((319 ^ 199) + 24), "13h reads %02x",
          WIN[199 * 320 + 319]);
    uint64_t fill = rdtsc() - t0;
    printf("vga-modes: 13h ready\n");
    wait_key(interactive);
    /* A change after the screen was shown: only its damage tells the VMM to redraw it. */
    for (unsigned y = 0; y < 16; y++) {
        for (unsigned x = 0; x < 16; x++) {
            WIN[(150 + y) * 320 + 200 + x] = 0x10;
        }
    }
    printf("vga-modes: 13h changed\n");
    wait_key(interactive);

    /* Mode 12h: 8-pixel blocks of colour (x / 8 + y / 16) & 15 (write mode 2), a diagonal
     * of colour 15 from (80, 0) one pixel at a time (set/reset under the bit mask). */
    set_mode(&mode12);
    load_dac();
    check_write_modes();
    set_idx(0x3ce, 0x05, 0x02);
    for (unsigned y = 0; y < 480; y++) {
        for (unsigned xb = 0; xb < 80; xb++) {
            WIN[y * 80 + xb] = (uint8_t)((xb + y / 16) & 15);
        }
    }
    set_idx(0x3ce, 0x05, 0x00);
    set_idx(0x3ce, 0x00, 0x0f);
    set_idx(0x3ce, 0x01, 0x0f);
    for (unsigned y = 0; y < 480; y++) {
        unsigned x = 80 + y;
        set_idx(0x3ce, 0x08, (uint8_t)(0x80u >> (x & 7)));
        (void)WIN[y * 80 + x / 8]; /* load the latches: the other 7 pixels stay */
        WIN[y * 80 + x / 8] = 0;
    }
    set_idx(0x3ce, 0x01, 0x00);
    set_idx(0x3ce, 0x08, 0xff);
    CHECK((planes(479 * 80 + 559 / 8) & 0x01010101u) == 0x01010101u, "12h diagonal reads %08x",
          planes(479 * 80 + 559 / 8));
    printf("vga-modes: 12h ready\n");
    wait_key(interactive);

    /* Mode 0Dh: byte (xb, y) of the 40 per line has colour (xb + y / 8) & 15 (write mode 2). */
    set_mode(&mode0d);
    load_dac();
    set_idx(0x3ce, 0x05, 0x02);
    for (unsigned y = 0; y < 200; y++) {
        for (unsigned xb = 0; xb < 40; xb++) {
            WIN[y * 40 + xb] = (uint8_t)((xb + y / 8) & 15);
        }
    }
    set_idx(0x3ce, 0x05, 0x00);
    printf("vga-modes: 0dh ready\n");
    wait_key(interactive);

    /* Mode 04h: even rows at 0xB8000, odd ones at 0xBA000, 80 bytes of 4 pixels each; byte
     * xb of row y is xb * 7 + y. */
    set_mode(&mode04);
    load_dac();
    volatile uint8_t *cga = (volatile uint8_t *)0xb8000;
    for (unsigned y = 0; y < 200; y++) {
        for (unsigned xb = 0; xb < 80; xb++) {
            cga[(y & 1) * 0x2000 + (y >> 1) * 80 + xb] = (uint8_t)(xb * 7 + y);
        }
    }
    CHECK(cga[0x2000 + 99 * 80 + 79] == (uint8_t)(79 * 7 + 199), "04h reads %02x",
          cga[0x2000 + 99 * 80 + 79]);
    printf("vga-modes: 04h ready\n");
    wait_key(interactive);
    /* A figure, not a check: what one byte through the 0xA0000 window costs (an MMIO exit). */
    uint64_t us = fill * 1000000 / tsc_hz();
    printf("vga-modes: 13h fill: 64000 window writes in %lu us, %lu ns each\n", (unsigned long)us,
           (unsigned long)(us * 1000 / 64000));
    printf("vga-modes: done\n");
}
