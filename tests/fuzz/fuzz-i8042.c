// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer harness for the i8042: data and command port accesses, raw and set 1 key events, mouse
 * motion, resets from the guest (the callback resets the device, as the machine will) and hostile
 * state loads.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/i8042.h"
#include "tests/helpers/fake_irq.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void machine_reset(void *opaque)
{
    i8042_reset(opaque);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fake_irq irq1, irq12;
    struct i8042 k;
    fake_irq_init(&irq1, 1);
    fake_irq_init(&irq12, 12);
    i8042_init(&k, &irq1.line, &irq12.line, machine_reset, &k);
    size_t i = 0;
    while (i + 2 <= size) {
        uint8_t op = data[i++];
        uint8_t arg = data[i++];
        switch (op % 8) {
        case 0:
            i8042_data_ops.read(&k, 0, 1);
            break;
        case 1:
            i8042_data_ops.write(&k, 0, arg, 1);
            break;
        case 2:
            i8042_ctrl_ops.read(&k, 0, 1);
            break;
        case 3:
            i8042_ctrl_ops.write(&k, 0, arg, 1);
            break;
        case 4: {
            size_t n = arg % 8;
            n = n > size - i ? size - i : n;
            i8042_key_event(&k, data + i, n);
            i += n;
            break;
        }
        case 6:
            i8042_key(&k, (op & 0x80 ? 0xe000u : 0) | arg, op & 0x40);
            break;
        case 7:
            i8042_mouse_event(&k, (int8_t)arg * 3, (int8_t)op, (op >> 4) - 8, arg >> 5);
            break;
        default: {
            uint8_t st[256];
            long n = vmstate_save(&i8042_vmstate, &k, st, sizeof(st));
            size_t m = arg % 8;
            for (size_t j = 0; j < m && i + 1 < size; j++, i += 2) {
                st[data[i] % n] ^= data[i + 1];
            }
            vmstate_load(&i8042_vmstate, &k, st, (size_t)n);
            break;
        }
        }
        if (k.q_count > I8042_QUEUE_SIZE) {
            abort();
        }
    }
    uint8_t a[256], b[256];
    long n = vmstate_save(&i8042_vmstate, &k, a, sizeof(a));
    struct i8042 fresh;
    i8042_init(&fresh, NULL, NULL, NULL, NULL);
    if (n <= 0 || vmstate_load(&i8042_vmstate, &fresh, a, (size_t)n) != 0 ||
        vmstate_save(&i8042_vmstate, &fresh, b, sizeof(b)) != n || memcmp(a, b, (size_t)n)) {
        abort();
    }
    i8042_destroy(&fresh);
    i8042_destroy(&k);
    return 0;
}
