// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * vga: finds the standard VGA (PCI 1234:1111) on bus 0, checks that it is in 80x25 colour
 * text mode as a BIOS leaves it, writes text to 0xB8000, then sets a 640x480x32 Bochs VBE
 * mode and draws a pattern into the linear framebuffer (BAR0), reading back through the
 * dispi ports and the MMIO BAR (BAR2 + 0x500). The same ELF runs on QEMU with -device VGA.
 * tests/integration/test-vga-display.py checks the pixels through QMP screendump and VNC.
 *
 * Command line: interactive=1 waits after each stage for input from the host (keys=N bytes
 * from the keyboard, default 2: a press and a release; then packets=N three-byte mouse
 * packets, default 1) and prints what arrived; deskvm:strict_vbe=1 checks that bad dispi values
 * are refused (QEMU clamps them instead).
 */
#include "guest.h"

#define VGA_W 640
#define VGA_H 480
#define INPUT_POLLS 3000000u /* ~90 s of port reads here */

static uint32_t cf8_read32(unsigned dev, unsigned reg)
{
    outl(0xcf8, 0x80000000u | dev << 11 | (reg & 0xfc));
    return inl(0xcfc);
}

static void cf8_write16(unsigned dev, unsigned reg, uint16_t v)
{
    outl(0xcf8, 0x80000000u | dev << 11 | (reg & 0xfc));
    outw(0xcfc + (reg & 2), v);
}

static uint8_t crtc(uint8_t index)
{
    outb(0x3d4, index);
    return inb(0x3d5);
}

static void set_crtc(uint8_t index, uint8_t v)
{
    outb(0x3d4, index);
    outb(0x3d5, v);
}

static uint16_t vbe_read(uint16_t index)
{
    outw(0x1ce, index);
    return inw(0x1cf);
}

static void vbe_write(uint16_t index, uint16_t v)
{
    outw(0x1ce, index);
    outw(0x1cf, v);
}

/* The pattern the integration test recomputes for every pixel. */
static uint32_t pattern(unsigned x, unsigned y)
{
    if (x >= 100 && x < 200 && y >= 100 && y < 150) {
        return 0xffffff;
    }
    return (x * 255 / (VGA_W - 1)) << 16 | (y * 255 / (VGA_H - 1)) << 8 | ((x ^ y) & 0xff);
}

static void text_at(volatile uint16_t *text, unsigned row, unsigned col, const char *s,
                    uint8_t attr)
{
    for (unsigned i = 0; s[i]; i++) {
        text[row * 80 + col + i] = (uint16_t)((uint8_t)s[i] | attr << 8);
    }
}

/* One byte from the i8042 (aux set when it came from the mouse), or -1 after the timeout. */
static int kbc_read(bool *aux)
{
    for (unsigned i = 0; i < INPUT_POLLS; i++) {
        uint8_t st = inb(0x64);
        if (st & 1) {
            *aux = st & 0x20;
            return inb(0x60);
        }
    }
    return -1;
}

static void kbc_command(uint8_t cmd, int data)
{
    while (inb(0x64) & 2) {
        cpu_relax();
    }
    outb(0x64, cmd);
    if (data >= 0) {
        while (inb(0x64) & 2) {
            cpu_relax();
        }
        outb(0x60, (uint8_t)data);
    }
}

void test_main(void)
{
    bool interactive = cmdline_u64("interactive", 0) != 0;
    bool strict = cmdline_u64("strict_vbe", 0) != 0;
    unsigned keys = (unsigned)cmdline_u64("keys", 2), packets = (unsigned)cmdline_u64("packets", 1);
    unsigned dev = 32;
    for (unsigned d = 0; d < 32; d++) {
        if (cf8_read32(d, 0) == 0x11111234u) {
            dev = d;
            break;
        }
    }
    CHECK(dev < 32, "no VGA (1234:1111) on bus 0: run with display=vga");
    CHECK(cf8_read32(dev, 8) >> 8 == 0x030000, "VGA class %06x", cf8_read32(dev, 8) >> 8);
    uint32_t bar0 = cf8_read32(dev, 0x10), bar2 = cf8_read32(dev, 0x18);
    CHECK((bar0 & 0x9) == 0x8, "BAR0 %08x: want prefetchable 32-bit memory", bar0);
    uintptr_t fb_base = bar0 & ~0xfu, mmio_base = bar2 & ~0xfu;
    CHECK(fb_base && mmio_base, "BARs not assigned: %08x %08x", bar0, bar2);
    cf8_write16(dev, 4, (uint16_t)(cf8_read32(dev, 4) | 0x3)); /* I/O + memory decode */
    printf("vga: 00:%02x.0 VRAM at %#lx, MMIO at %#lx\n", dev, fb_base, mmio_base);

    /* What the BIOS leaves: colour text, 80 columns, 400 lines, 16-line characters. */
    CHECK(inb(0x3cc) & 1, "misc output %02x: not colour", inb(0x3cc));
    CHECK(crtc(0x01) == 79, "CR01 %02x: not 80 columns", crtc(0x01));
    CHECK((crtc(0x09) & 0x1f) == 15, "CR09 %02x: not 16-line characters", crtc(0x09));
    set_crtc(0x0a, 0x20); /* no cursor: screendumps must not depend on its blink phase */
    set_crtc(0x0c, 0);
    set_crtc(0x0d, 0);
    volatile uint16_t *text = (volatile uint16_t *)0xb8000;
    for (unsigned i = 0; i < 80 * 25; i++) {
        text[i] = 0x0720;
    }
    text_at(text, 0, 0, "deskvm VGA text mode", 0x1f);
    text_at(text, 2, 4, "0123456789 ABCDEF", 0x4e);
    text_at(text, 24, 79, "Z", 0x2f);
    CHECK(text[0] == (0x1f00 | 'd'), "0xB8000 reads %04x", text[0]);
    CHECK(text[24 * 80 + 79] == (0x2f00 | 'Z'), "last cell reads %04x", text[24 * 80 + 79]);
    printf("vga: text ready\n");

    if (interactive) {
        kbc_command(0x60, 0x47); /* translation on: set 1 codes, as a BIOS leaves it */
        kbc_command(0xd4, 0xf4); /* mouse: enable reporting */
        bool aux;
        int ack = kbc_read(&aux);
        CHECK(ack == 0xfa && aux, "mouse enable answered %x", ack);
        for (unsigned n = 0; n < keys; n++) {
            int b = kbc_read(&aux);
            CHECK(b >= 0, "no key from the host");
            printf("vga: key %02x%s\n", b, aux ? " (aux)" : "");
        }
    }

    uint16_t id = vbe_read(0);
    CHECK(id >= 0xb0c0 && id <= 0xb0c5, "dispi ID %04x", id);
    uint32_t vram = (uint32_t)vbe_read(0x0a) << 16;
    CHECK(vram >= VGA_W * VGA_H * 4, "VRAM %u bytes", vram);
    vbe_write(4, 0);
    vbe_write(1, VGA_W);
    vbe_write(2, VGA_H);
    vbe_write(3, 32);
    vbe_write(4, 0x41); /* enabled, linear framebuffer */
    CHECK(vbe_read(1) == VGA_W && vbe_read(2) == VGA_H && vbe_read(3) == 32, "mode reads %ux%ux%u",
          vbe_read(1), vbe_read(2), vbe_read(3));
    CHECK(vbe_read(6) == VGA_W, "virtual width %u", vbe_read(6));
    volatile uint16_t *mmio_dispi = (volatile uint16_t *)(mmio_base + 0x500);
    CHECK(mmio_dispi[1] == VGA_W, "MMIO XRES %u", mmio_dispi[1]);
    if (strict) {
        vbe_write(1, 800);    /* fixed while enabled */
        vbe_write(9, 0xffff); /* Y offset past VRAM */
        vbe_write(5, 0xffff); /* bank past VRAM */
        CHECK(vbe_read(1) == VGA_W && vbe_read(9) == 0 && vbe_read(5) == 0,
              "bad values taken: xres %u yoff %u bank %u", vbe_read(1), vbe_read(9), vbe_read(5));
    }
    volatile uint32_t *fb = (volatile uint32_t *)fb_base;
    for (unsigned y = 0; y < VGA_H; y++) {
        for (unsigned x = 0; x < VGA_W; x++) {
            fb[y * VGA_W + x] = pattern(x, y);
        }
    }
    CHECK(fb[479 * VGA_W + 639] == pattern(639, 479), "LFB reads %08x", fb[479 * VGA_W + 639]);
    printf("vga: vbe ready\n");

    if (interactive) {
        bool aux;
        for (unsigned n = 0; n < 3 * packets; n++) { /* three-byte mouse packets */
            int b = kbc_read(&aux);
            CHECK(b >= 0, "no mouse packet from the host");
            printf("vga: mouse %02x%s\n", b, aux ? " (aux)" : "");
        }
    }
    printf("vga: done\n");
}
