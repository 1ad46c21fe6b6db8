// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer harness for the VRAM window sections of a checkpoint (vmm/vram_state.c): the
 * input is a section payload for a 255-page window (the harness adds the vmstate header). A
 * state vmstate_check_state() refuses must not load, a refused load must leave VRAM as it was,
 * and a loaded window must save back into the same bytes (zero pages are never listed, so an
 * input that lists one is a state our writer never makes and must round-trip to the shorter
 * form: then only the loaded VRAM must match). VRAM is an exact-size heap buffer.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/vram_state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define WIN_BYTES (VRAM_WINDOW_PAGES * VGA_PAGE_SIZE)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > (2u << 20)) {
        return 0;
    }
    uint8_t *vram = malloc(WIN_BYTES), *before = malloc(WIN_BYTES), *buf = malloc(size + 8);
    struct vram_window w;
    if (!vram || !before || !buf || vram_windows_init(&w, 1, NULL, vram, WIN_BYTES) != 1) {
        abort();
    }
    memset(vram, 0xa5, WIN_BYTES);
    memcpy(before, vram, WIN_BYTES);
    uint32_t hdr[2] = {2, (uint32_t)size};
    memcpy(buf, hdr, 8);
    memcpy(buf + 8, data, size);
    int checked = vmstate_check_state(&vram_window_vmstate, &w, buf, size + 8);
    int loaded = vmstate_load(&vram_window_vmstate, &w, buf, size + 8);
    if ((checked == 0) != (loaded == 0) || (loaded != 0 && memcmp(vram, before, WIN_BYTES) != 0)) {
        abort();
    }
    if (loaded == 0) {
        memcpy(before, vram, WIN_BYTES);
        size_t n = vmstate_saved_size(&vram_window_vmstate, &w);
        uint8_t *again = malloc(n);
        if (!again || vmstate_save(&vram_window_vmstate, &w, again, n) != (long)n) {
            abort();
        }
        memset(vram, 0x5a, WIN_BYTES);
        if (vmstate_load(&vram_window_vmstate, &w, again, n) != 0 ||
            memcmp(vram, before, WIN_BYTES) != 0) {
            abort();
        }
        free(again);
    }
    free(buf);
    free(before);
    free(vram);
    return 0;
}
