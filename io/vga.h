/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The standard VGA PCI device (QEMU's "-device VGA", PCI 1234:1111): the VGA registers at
 * 0x3C0-0x3DF (IBM VGA Technical Reference), text and graphics modes through the legacy window
 * 0xA0000-0xBFFFF, and the Bochs VBE "dispi" interface (0x1CE/0x1CF and the MMIO BAR at
 * 0x500) with a linear framebuffer in the VRAM BAR. The model knows no addresses: the
 * machine glue (vmm/vga_machine.c) places it and maps VRAM as a KVM memory slot whose dirty
 * log it hands back through the sync_dirty hook. docs/display.md.
 */
#ifndef DESKVM_IO_VGA_H
#define DESKVM_IO_VGA_H

#include <stdbool.h>
#include <stdint.h>

#include "display/surface.h"
#include "io/pci.h"
#include "snapshots/vmstate.h"
#include "vmm/bus.h"

struct device;

#define VGA_VRAM_MIN (1u << 20)
#define VGA_VRAM_MAX (256u << 20)
#define VGA_VRAM_DEFAULT (16u << 20)
#define VGA_PAGE_SIZE 4096u

#define VGA_PCI_VENDOR 0x1234
#define VGA_PCI_DEVICE 0x1111
#define VGA_MMIO_BAR_SIZE 4096u
#define VGA_VRAM_BAR 0
#define VGA_MMIO_BAR 2

/* Legacy places, for the glue. */
#define VGA_LEGACY_BASE 0xa0000u
#define VGA_LEGACY_SIZE 0x20000u
#define VGA_PORT_BASE 0x3c0u
#define VGA_PORT_LEN 0x20u
#define VBE_PORT_BASE 0x1ceu
#define VBE_PORT_LEN 2u

/* Bochs dispi registers (index at 0x1CE, data at 0x1CF, or MMIO BAR offset 0x500 + 2 * i). */
enum vbe_index {
    VBE_INDEX_ID,
    VBE_INDEX_XRES,
    VBE_INDEX_YRES,
    VBE_INDEX_BPP,
    VBE_INDEX_ENABLE,
    VBE_INDEX_BANK,
    VBE_INDEX_VIRT_WIDTH,
    VBE_INDEX_VIRT_HEIGHT,
    VBE_INDEX_X_OFFSET,
    VBE_INDEX_Y_OFFSET,
    VBE_INDEX_VIDEO_MEMORY_64K,
    VBE_INDEX_COUNT,
};
#define VBE_ID0 0xb0c0
#define VBE_ID5 0xb0c5
#define VBE_ENABLED 0x01
#define VBE_GETCAPS 0x02
#define VBE_8BIT_DAC 0x20
#define VBE_LFB_ENABLED 0x40
#define VBE_NOCLEARMEM 0x80
#define VBE_MAX_XRES 2560u
#define VBE_MAX_YRES 1600u
#define VBE_MAX_BPP 32u

/* What the display shows now. */
enum vga_mode { VGA_MODE_TEXT, VGA_MODE_GRAPHICS, VGA_MODE_VBE, VGA_MODE_BLANK };

struct vga {
    /* Wiring, not saved. */
    uint8_t *vram;
    uint32_t vram_size; /* a power of two, VGA_VRAM_MIN..VGA_VRAM_MAX */
    struct pci_dev pci;
    /*
     * Copy KVM's dirty log of VRAM into bitmap (one bit per 4 KiB page, bit i of word i / 64)
     * and clear it. NULL (or a negative return): every page counts as dirty.
     * VGA_SYNC_COMPARE: the bitmap's pages may have changed; in 32 bpp VBE modes each of
     * their lines is compared with the surface and only lines that differ are redrawn (the
     * glue's answer while the guest rewrites most of VRAM every refresh, see
     * docs/display.md).
     */
    int (*sync_dirty)(void *opaque, uint64_t *bitmap);
#define VGA_SYNC_COMPARE 1
    void *sync_opaque;
    /*
     * vga_window_linear()'s answer changed (called with sync_opaque): the glue maps the
     * window onto VRAM as memory, or takes it back to the bus handlers. NULL: never mapped.
     */
    void (*window_changed)(void *opaque);
    uint32_t window_linear; /* the answer last given to window_changed */
    uint64_t *dirty;        /* pages changed since the last update */
    uint64_t clock_ns;      /* the time the glue passes to vga_update, for blinking */
    bool full_redraw;       /* repaint everything on the next update */
    enum vga_mode shown;    /* the mode the display shows */
    uint16_t *text_shadow;  /* char | attr << 8 per cell as last drawn */
    unsigned text_cols, text_rows;
    int cursor_drawn;    /* cell index where the cursor was drawn, -1 = none */
    bool blink_phase;    /* attribute blink state last drawn */
    uint64_t bad_vbe;    /* refused or clamped VBE writes */
    uint64_t bad_access; /* other malformed accesses */

    /* Guest-visible registers (saved). */
    uint8_t misc;
    uint8_t feature;
    uint8_t seq_index, seq[8];
    uint8_t gr_index, gr[16];
    uint8_t ar_index, ar[21];
    uint8_t ar_flip; /* 0: next 0x3C0 write is an index */
    uint8_t cr_index, cr[25];
    uint8_t dac_read, dac_write, dac_sub, dac_state, dac_mask;
    uint8_t dac_latch[3];
    uint8_t palette[768]; /* 6-bit (or 8-bit with VBE_8BIT_DAC) R, G, B */
    uint16_t vbe_index;
    uint16_t vbe_regs[VBE_INDEX_COUNT];
    uint32_t latch;      /* the four plane latches, plane p in byte p (state version 2) */
    uint32_t state_vram; /* vram_size, saved so that a restore can refuse another size */
};

/*
 * Set up the device with vram (vram_size bytes, zeroed by the caller or not). -EINVAL for a
 * size that is not a power of two in range, -ENOMEM. The PCI function is ready to attach
 * with BAR0 = VRAM (prefetchable) and BAR2 = the MMIO registers.
 */
__attribute__((warn_unused_result)) int vga_init(struct vga *vga, uint8_t *vram,
                                                 uint32_t vram_size);
void vga_destroy(struct vga *vga);
/* Power-on state as a BIOS leaves it for direct kernel boot: 80x25 colour text (mode 3). */
void vga_reset(struct vga *vga);
void vga_device(struct vga *vga, struct device *out);

/* Bring the display up to date (display_hw_ops.update with vga as opaque). */
extern const struct display_hw_ops vga_display_ops;
/* What the guest has selected now. */
enum vga_mode vga_current_mode(const struct vga *vga);
/* A VBE mode whose lines the update can compare with the surface (VGA_SYNC_COMPARE). */
bool vga_can_compare(const struct vga *vga);
/*
 * Bytes of the legacy window from 0xA0000 that are VRAM bytes 0.. unchanged in both
 * directions (chain-4 with every plane in the map mask, no VBE, the A0000 map): 0x20000 or
 * 0x10000; 0 when accesses must go through vga_legacy_ops. QEMU's "chain4 alias".
 */
uint32_t vga_window_linear(const struct vga *vga);
/* Mark VRAM bytes [off, off + len) changed (writes that did not go through KVM). */
void vga_mark_dirty(struct vga *vga, uint64_t off, uint64_t len);

/* Bus handlers, all with struct vga as opaque. Offsets from each range's base. */
extern const struct bus_ops vga_ioport_ops; /* 0x3C0-0x3DF, byte accesses */
extern const struct bus_ops vga_vbe_ops;    /* 0x1CE (index) and 0x1CF (data), 16 bits */
extern const struct bus_ops vga_legacy_ops; /* the 128 KiB window at 0xA0000 */
extern const struct bus_ops vga_mmio_ops;   /* BAR2 */
extern const struct bus_ops vga_vram_ops;   /* BAR0 while it is not a KVM slot */
extern const struct vmstate vga_vmstate;

#endif
