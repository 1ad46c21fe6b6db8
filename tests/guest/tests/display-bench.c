// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * display-bench: bench/display.py's guest. Sets a 1280x800x32 Bochs VBE mode on the standard
 * VGA (PCI 1234:1111) and animates it at CPL3. Pixel (0,0) always holds the number of the
 * last completed frame (written after the rest of the frame), so a VNC client can tell which
 * frame it received. The same ELF runs on deskvm (--display vga) and QEMU (-device VGA).
 *
 * Command line:
 *   mode=fps      full-screen frames as fast as the guest can draw them, for seconds=N
 *                 (or frames=N); prints "display-bench: frames N in T us" at the end.
 *   mode=latency  count=N changes of a 64x64 box (and the counter) at (0,0), gap_ms=G apart
 *                 plus up to G/2 ms of jitter; after each change prints "f N" to the serial
 *                 port, which the host timestamps on arrival; then linger_ms=L (1000) of
 *                 no change, so that the last one reaches the client before the guest ends.
 *   wait=1        print "display-bench: ready" and wait for a byte on the serial port first
 *                 (the host connects its VNC client before the animation starts).
 *   progress=1    with mode=fps, print "f N" after every frame too (the host watches the vCPU
 *                 make progress: tests/integration/test-vnc-slow-client.py).
 * Every frame is read back from the framebuffer (a few pixels), so the guest checks itself.
 */
#include "guest.h"

#define W 1280
#define H 800

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

/* The colour of frame n: changes every channel so each frame differs from the last. */
static uint32_t colour(uint32_t n)
{
    return ((n * 37u) & 0xff) << 16 | ((n * 91u) & 0xff) << 8 | ((n * 13u + 128u) & 0xff);
}

/* Everything but pixel (0,0), which only ever holds a frame number. */
static void fill(volatile uint32_t *fb, unsigned w, unsigned h, uint32_t v)
{
    uint64_t two = (uint64_t)v << 32 | v;
    for (unsigned y = 1; y < h; y++) {
        volatile uint64_t *row = (volatile uint64_t *)(fb + (uintptr_t)y * W);
        for (unsigned x = 0; x < w / 2; x++) {
            row[x] = two;
        }
    }
    fb[1] = v;
    volatile uint64_t *row0 = (volatile uint64_t *)fb;
    for (unsigned x = 1; x < w / 2; x++) {
        row0[x] = two;
    }
}

void test_main(void)
{
    char mode[16] = "fps";
    cmdline_get("mode", mode, sizeof(mode));
    bool latency = strncmp(mode, "latency", 8) == 0;
    CHECK(latency || strncmp(mode, "fps", 4) == 0, "mode=%s: want fps or latency", mode);
    uint64_t seconds = cmdline_u64("seconds", 5), frames = cmdline_u64("frames", 0);
    uint64_t count = cmdline_u64("count", 50), gap_ms = cmdline_u64("gap_ms", 40);
    bool progress = latency || cmdline_u64("progress", 0) != 0;
    unsigned dev = 32;
    for (unsigned d = 0; d < 32; d++) {
        if (cf8_read32(d, 0) == 0x11111234u) {
            dev = d;
            break;
        }
    }
    CHECK(dev < 32, "no VGA (1234:1111) on bus 0: run with display=vga");
    uint32_t bar0 = cf8_read32(dev, 0x10);
    CHECK((bar0 & ~0xfu) != 0, "BAR0 not assigned: %08x", bar0);
    cf8_write16(dev, 4, (uint16_t)(cf8_read32(dev, 4) | 0x3));
    CHECK(((uint32_t)vbe_read(0x0a) << 16) >= W * H * 4, "VRAM too small for %ux%u", W, H);
    vbe_write(4, 0);
    vbe_write(1, W);
    vbe_write(2, H);
    vbe_write(3, 32);
    vbe_write(4, 0x41); /* enabled, linear framebuffer, cleared */
    CHECK(vbe_read(1) == W && vbe_read(2) == H && vbe_read(3) == 32, "mode reads %ux%ux%u",
          vbe_read(1), vbe_read(2), vbe_read(3));
    volatile uint32_t *fb = (volatile uint32_t *)(uintptr_t)(bar0 & ~0xfu);
    uint64_t hz = tsc_hz();
    CHECK(hz > 0, "no TSC frequency");
    if (cmdline_u64("wait", 0)) {
        printf("display-bench: ready %ux%u\n", W, H);
        while (!uart_rx_ready()) {
            cpu_relax();
        }
        (void)uart_getc();
    }
    uint64_t start = rdtsc(), rng = 12345;
    uint32_t n = 0;
    for (;;) {
        if (latency) {
            if (n >= count) {
                break;
            }
            rng = rng * 6364136223846793005ull + 1442695040888963407ull;
            udelay(gap_ms * 1000 + (rng >> 33) % (gap_ms * 500 + 1));
        } else if ((frames && n >= frames) || (!frames && rdtsc() - start >= seconds * hz)) {
            break;
        }
        n++;
        uint32_t c = colour(n);
        fill(fb, latency ? 64 : W, latency ? 64 : H, c);
        fb[0] = n & 0xffffff; /* last: the frame is complete */
        CHECK(fb[1] == c && fb[63 * W + 63] == c, "frame %u reads back %08x", n, fb[1]);
        if (progress) {
            printf("f %u\n", n);
        }
    }
    uint64_t us = (rdtsc() - start) * 1000000 / hz;
    if (latency) {
        udelay(cmdline_u64("linger_ms", 1000) * 1000); /* the last change still has to go out */
    }
    printf("display-bench: frames %u in %lu us\n", n, (unsigned long)us);
}
