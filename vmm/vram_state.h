/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * VRAM in checkpoints (docs/snapshot-format.md, "vga-vram"): VRAM is no guest RAM, so its
 * contents go in device sections of their own, one per window of VRAM_WINDOW_PAGES pages
 * ("vga-vram", "vga-vram#1", ...), each holding only the window's non-zero pages, as the RAM
 * section skips zero pages. A window section fits the 1 MiB device-section limit even when
 * every page is in use.
 */
#ifndef DESKVM_VMM_VRAM_STATE_H
#define DESKVM_VMM_VRAM_STATE_H

#include <stdint.h>

#include "io/vga.h"
#include "snapshots/vmstate.h"

#define VRAM_WINDOW_PAGES 255u
/* VRAM past this is not saved (docs/display.md): the largest VBE mode's frame fits in it. */
#define VRAM_STATE_MAX_BYTES (16u << 20)
#define VRAM_STATE_MAX_WINDOWS                                                                     \
    ((VRAM_STATE_MAX_BYTES / VGA_PAGE_SIZE + VRAM_WINDOW_PAGES - 1) / VRAM_WINDOW_PAGES)

struct vram_window {
    struct vga *vga; /* its VRAM is marked dirty after a load (NULL: none) */
    uint8_t *vram;   /* the start of VRAM */
    uint32_t first;  /* the window's first page */
    uint32_t npages;
    uint32_t rest; /* pages after the window that no window saves (the last window only): a
                    * save fails while any is in use, a load clears them */
};

/* max windows over the first min(size, VRAM_STATE_MAX_BYTES) bytes of VRAM (those past a
 * smaller VRAM hold no pages); returns max.
 * VRAM past that must be all zero when a checkpoint is taken (-EFBIG otherwise). */
unsigned vram_windows_init(struct vram_window *w, unsigned max, struct vga *vga, uint8_t *vram,
                           uint32_t size);

/* The state of one window (opaque: its struct vram_window): no fields, a tail. */
extern const struct vmstate vram_window_vmstate;

#endif
