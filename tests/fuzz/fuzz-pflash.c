// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer harness for the CFI flash command parser (io/pflash.c): reads and writes of every
 * width at fuzzer-chosen offsets (also past the end, which the bus would never pass), and a
 * state load of fuzzer-chosen mode/status bytes. After every operation the machine's view of
 * the mapping (from the array-mode callback) must match the device's mode.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/pflash.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SIZE (4 * PFLASH_BLOCK_SIZE)

static bool mapped;

static void on_array(void *opaque, bool array)
{
    (void)opaque;
    mapped = array;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t flash[SIZE];
    struct pflash f;
    mapped = true;
    if (pflash_init(&f, flash, SIZE, on_array, NULL) != 0) {
        abort();
    }
    size_t i = 0;
    while (i + 3 <= size) {
        uint8_t op = data[i];
        uint64_t off = (uint64_t)(data[i + 1] | data[i + 2] << 8) * 3; /* reaches past SIZE */
        i += 3;
        unsigned width = 1u << ((op >> 1) % 3);
        if (op & 1) {
            uint32_t v = 0;
            size_t n = size - i < 4 ? size - i : 4;
            memcpy(&v, data + i, n);
            i += n;
            pflash_ops.write(&f, off, v, width);
        } else if ((op >> 3) == 0x1f && i + 2 <= size) {
            uint8_t mode = f.mode, status = f.status;
            f.mode = data[i];
            f.status = data[i + 1];
            i += 2;
            if (pflash_vmstate.post_load(&f) != 0) { /* the load fails: the old state stays */
                f.mode = mode;
                f.status = status;
            }
        } else {
            (void)pflash_ops.read(&f, off, width);
        }
        if (pflash_array_mode(&f) != mapped) {
            abort();
        }
    }
    return 0;
}
