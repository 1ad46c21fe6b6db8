// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer harness for virtio-gpu's checkpoint section (virtio_gpu_vmstate: the cursor
 * fields and the variable-length tail with scanout, resources, backing page lists and saved
 * rows). The input is the section payload; the harness adds the 8-byte vmstate header. A
 * state that vmstate_check_state() refuses must not load, and a loaded state must save again into
 * bytes that load again: so the check and the load agree. RAM is an exact-size heap buffer and the
 * surface a real one, so AddressSanitizer catches an access outside either. (post_load checks the
 * cursor fields only at load: vmstate_check_state() may accept a state the load then refuses, never
 * the reverse.) Seeds: tests/fuzz/corpus/virtio-gpu-state/.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "display/surface.h"
#include "io/virtio_gpu.h"
#include "snapshots/vmstate.h"
#include "vmm/memory.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RAM_SIZE 0x80000u

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > (4u << 20)) {
        return 0;
    }
    uint8_t *ram = malloc(RAM_SIZE), *buf = malloc(size + 8);
    struct guest_mem mem;
    struct display d;
    struct virtio_gpu *gpu = calloc(1, sizeof(*gpu));
    if (!ram || !buf || !gpu || display_init(&d, 64, 48) < 0) {
        abort();
    }
    for (size_t i = 0; i < RAM_SIZE; i++) {
        ram[i] = (uint8_t)(i * 131 + (i >> 9));
    }
    guest_mem_init_host(&mem, ram, RAM_SIZE);
    if (virtio_gpu_init(gpu, &mem, &d, 640, 480) < 0) {
        abort();
    }
    uint32_t hdr[2] = {1, (uint32_t)size};
    memcpy(buf, hdr, 8);
    memcpy(buf + 8, data, size);
    int checked = vmstate_check_state(&virtio_gpu_vmstate, gpu, buf, size + 8);
    int loaded = vmstate_load(&virtio_gpu_vmstate, gpu, buf, size + 8);
    if (loaded == 0 && checked != 0) {
        abort(); /* the load took what the check refuses (post_load may refuse more) */
    }
    if (loaded == 0) {
        size_t n = vmstate_saved_size(&virtio_gpu_vmstate, gpu);
        uint8_t *again = n ? malloc(n) : NULL;
        if (!again || vmstate_save(&virtio_gpu_vmstate, gpu, again, n) != (long)n ||
            vmstate_load(&virtio_gpu_vmstate, gpu, again, n) != 0) {
            abort();
        }
        free(again);
    }
    virtio_gpu_destroy(gpu);
    display_destroy(&d);
    free(gpu);
    free(buf);
    free(ram);
    return 0;
}
