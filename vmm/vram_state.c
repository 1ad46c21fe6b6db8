// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * VRAM windows in checkpoints (vram_state.h). A window's tail: u32 count, count u32 page
 * indices inside the window (strictly increasing), then the count pages. Pages not listed are
 * zero. Saved state is hostile input: the count, every index and the length are checked
 * before VRAM is touched.
 */
#include "vmm/vram_state.h"

#include <errno.h>
#include <string.h>

unsigned vram_windows_init(struct vram_window *w, unsigned max, struct vga *vga, uint8_t *vram,
                           uint32_t size)
{
    uint32_t pages = (size < VRAM_STATE_MAX_BYTES ? size : VRAM_STATE_MAX_BYTES) / VGA_PAGE_SIZE;
    uint32_t all = size / VGA_PAGE_SIZE;
    unsigned n = 0;
    /* Always max windows, those past a small VRAM empty: the sections of a checkpoint do not
     * depend on the VRAM size, so a restore into another size reaches the VGA's own check. */
    for (uint32_t p = 0; n < max; p += VRAM_WINDOW_PAGES, n++) {
        uint32_t first = p < pages ? p : pages;
        w[n] = (struct vram_window){
            .vga = vga,
            .vram = vram,
            .first = first,
            .npages = pages - first < VRAM_WINDOW_PAGES ? pages - first : VRAM_WINDOW_PAGES,
        };
    }
    if (n > 0 && w[n - 1].first + w[n - 1].npages == pages) {
        w[n - 1].rest = all - pages;
    }
    return n;
}

static bool page_zero(const uint8_t *p)
{
    uint64_t acc = 0;
    for (size_t i = 0; i < VGA_PAGE_SIZE; i += 8) {
        uint64_t v;
        memcpy(&v, p + i, 8);
        acc |= v;
    }
    return acc == 0;
}

static long window_save(const void *opaque, void *buf, size_t len)
{
    const struct vram_window *w = opaque;
    const uint8_t *base = w->vram + (size_t)w->first * VGA_PAGE_SIZE;
    const uint8_t *after = base + (size_t)w->npages * VGA_PAGE_SIZE;
    for (uint32_t i = 0; i < w->rest; i++) {
        if (!page_zero(after + (size_t)i * VGA_PAGE_SIZE)) {
            return -EFBIG; /* the guest uses VRAM that checkpoints do not hold */
        }
    }
    uint32_t count = 0;
    for (uint32_t i = 0; i < w->npages; i++) {
        count += !page_zero(base + (size_t)i * VGA_PAGE_SIZE);
    }
    size_t need = 4 + (size_t)count * (4 + VGA_PAGE_SIZE);
    if (!buf) {
        return (long)need;
    }
    if (len < need) {
        return -ENOSPC;
    }
    uint8_t *out = buf, *idx = out + 4, *data = out + 4 + (size_t)count * 4;
    memcpy(out, &count, 4);
    for (uint32_t i = 0, k = 0; i < w->npages && k < count; i++) {
        const uint8_t *page = base + (size_t)i * VGA_PAGE_SIZE;
        if (!page_zero(page)) {
            memcpy(idx + (size_t)k * 4, &i, 4);
            memcpy(data + (size_t)k * VGA_PAGE_SIZE, page, VGA_PAGE_SIZE);
            k++;
        }
    }
    return (long)need;
}

static int window_check(const void *opaque, const void *buf, size_t len)
{
    const struct vram_window *w = opaque;
    const uint8_t *in = buf;
    uint32_t count, prev = 0;
    if (len < 4) {
        return -EINVAL;
    }
    memcpy(&count, in, 4);
    if (count > w->npages || len != 4 + (size_t)count * (4 + VGA_PAGE_SIZE)) {
        return -EINVAL;
    }
    for (uint32_t k = 0; k < count; k++) {
        uint32_t i;
        memcpy(&i, in + 4 + (size_t)k * 4, 4);
        if (i >= w->npages || (k > 0 && i <= prev)) {
            return -EINVAL;
        }
        prev = i;
    }
    return 0;
}

static int window_load(void *opaque, const void *buf, size_t len)
{
    struct vram_window *w = opaque;
    if (window_check(opaque, buf, len) < 0) {
        return -EINVAL;
    }
    const uint8_t *in = buf;
    uint32_t count;
    memcpy(&count, in, 4);
    uint8_t *base = w->vram + (size_t)w->first * VGA_PAGE_SIZE;
    memset(base, 0, ((size_t)w->npages + w->rest) * VGA_PAGE_SIZE);
    for (uint32_t k = 0; k < count; k++) {
        uint32_t i;
        memcpy(&i, in + 4 + (size_t)k * 4, 4);
        memcpy(base + (size_t)i * VGA_PAGE_SIZE,
               in + 4 + (size_t)count * 4 + (size_t)k * VGA_PAGE_SIZE, VGA_PAGE_SIZE);
    }
    if (w->vga) {
        vga_mark_dirty(w->vga, (uint64_t)w->first * VGA_PAGE_SIZE,
                       ((uint64_t)w->npages + w->rest) * VGA_PAGE_SIZE);
    }
    return 0;
}

static const struct vmstate_field no_fields[] = {VMSTATE_END};

const struct vmstate vram_window_vmstate = {
    .name = "vga-vram",
    .version = 2, /* 1: the first 1 MiB - 4 KiB of VRAM as one field */
    .fields = no_fields,
    .tail_save = window_save,
    .tail_check = window_check,
    .tail_load = window_load,
};
