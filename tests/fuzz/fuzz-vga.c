// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer harness for the VGA/VBE device: every byte pair is a register access on the VGA
 * ports, the dispi ports, the MMIO BAR, the legacy window or VRAM, a display refresh (which
 * renders whatever mode the registers describe, with the dirty-log hook answering "no log",
 * "exact log" or VGA_SYNC_COMPARE), or a hostile state load.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "display/surface.h"
#include "io/vga.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t vram[VGA_VRAM_MIN];
static int sync_answer;

static int fuzz_sync(void *opaque, uint64_t *bitmap)
{
    if (sync_answer == VGA_SYNC_COMPARE) {
        memset(bitmap, 0xff, VGA_VRAM_MIN / VGA_PAGE_SIZE / 8);
    }
    return sync_answer;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct vga vga;
    struct display d;
    memset(vram, 0, sizeof(vram));
    if (vga_init(&vga, vram, sizeof(vram)) < 0 || display_init(&d, 640, 480) < 0) {
        abort();
    }
    display_set_hw(&d, &vga_display_ops, &vga);
    vga.sync_dirty = fuzz_sync;
    size_t i = 0;
    while (i + 4 <= size) {
        uint8_t op = data[i];
        uint16_t off = (uint16_t)(data[i + 1] | data[i + 2] << 8);
        uint16_t val = (uint16_t)(data[i + 3] | (i + 5 <= size ? data[i + 4] << 8 : 0));
        i += 4;
        unsigned sz = 1u << ((op >> 4) & 1);
        switch (op % 11) {
        case 0:
            vga_ioport_ops.write(&vga, off % VGA_PORT_LEN, val & 0xff, 1);
            break;
        case 1:
            vga_ioport_ops.read(&vga, off % VGA_PORT_LEN, 1);
            break;
        case 2:
            vga_vbe_ops.write(&vga, off % 3, val, sz);
            break;
        case 3:
            vga_vbe_ops.read(&vga, off % 3, sz);
            break;
        case 4:
            /* Odd offsets too (bit 5 of op): chain-4 and odd/even pick planes by them. */
            vga_legacy_ops.write(&vga, ((uint64_t)off * 2 + ((op >> 5) & 1)) % VGA_LEGACY_SIZE,
                                 val & 0xff, 1);
            break;
        case 5:
            vga_legacy_ops.read(&vga, ((uint64_t)off * 2 + ((op >> 5) & 1)) % VGA_LEGACY_SIZE, 1);
            break;
        case 6:
            vga_mmio_ops.write(&vga, off % (VGA_MMIO_BAR_SIZE - 1), val, sz);
            break;
        case 7:
            vga_mmio_ops.read(&vga, off % (VGA_MMIO_BAR_SIZE - 1), sz);
            break;
        case 8:
            vga_vram_ops.write(&vga, (uint64_t)off * 16, val, 2);
            break;
        case 9:
            vga.clock_ns = (uint64_t)(val & 0x3fff) * 1000000;
            sync_answer = (int)(val >> 14) == 1 ? VGA_SYNC_COMPARE : (int)(val >> 14) == 2 ? -1 : 0;
            display_refresh(&d);
            break;
        default: {
            static uint8_t st[2048];
            long n = vmstate_save(&vga_vmstate, &vga, st, sizeof(st));
            if (n > 0) {
                st[off % (size_t)n] ^= (uint8_t)val;
                st[(off >> 3) % (size_t)n] ^= (uint8_t)(val >> 8);
                vmstate_load(&vga_vmstate, &vga, st, (size_t)n);
            }
            break;
        }
        }
    }
    display_refresh(&d);
    display_destroy(&d);
    vga_destroy(&vga);
    return 0;
}
