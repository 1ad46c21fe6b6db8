// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer harness for the 16550A UART: input bytes become register reads and writes,
 * host input, clock advances and hostile state loads. Checks the FIFO invariants and that
 * save → load → save is stable.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/uart16550.h"
#include "tests/helpers/fake_clock.h"
#include "tests/helpers/fake_irq.h"
#include "vmm/chardev.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static ssize_t discard(struct chardev *chr, const void *buf, size_t len)
{
    return (ssize_t)len;
}

static void check_round_trip(const struct uart16550 *u, struct fake_clock *fc)
{
    uint8_t a[256], b[256];
    long n = vmstate_save(&uart16550_vmstate, u, a, sizeof(a));
    if (n <= 0) {
        abort();
    }
    struct uart16550 fresh;
    if (uart16550_init(&fresh, NULL, &fc->clock, NULL) != 0) {
        abort();
    }
    if (vmstate_load(&uart16550_vmstate, &fresh, a, (size_t)n) != 0 ||
        vmstate_save(&uart16550_vmstate, &fresh, b, sizeof(b)) != n || memcmp(a, b, (size_t)n)) {
        abort(); /* a state the device produced must load back unchanged */
    }
    uart16550_destroy(&fresh);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fake_clock fc;
    struct fake_irq irq;
    struct chardev chr = {.write = discard, .in_fd = -1, .out_fd = -1};
    struct uart16550 u;
    fake_clock_init(&fc, 1700000000ll * 1000000000ll);
    fake_irq_init(&irq, 4);
    if (uart16550_init(&u, &chr, &fc.clock, &irq.line) != 0) {
        abort();
    }
    size_t i = 0;
    while (i + 2 <= size) {
        uint8_t op = data[i++];
        uint8_t arg = data[i++];
        switch (op % 6) {
        case 0:
            uart16550_ops.read(&u, arg % 9, 1); /* 8 is outside the range */
            break;
        case 1:
            if (i < size) {
                uart16550_ops.write(&u, arg % 9, data[i++], 1);
            }
            break;
        case 2: {
            size_t n = arg % 24;
            n = n > size - i ? size - i : n;
            size_t space = uart_rx_space(&u);
            size_t took = uart_receive(&u, data + i, n);
            if (took > space || took > n) {
                abort();
            }
            i += n;
            break;
        }
        case 3:
            fake_clock_advance(&fc, (uint64_t)arg << (op % 24));
            break;
        case 4: {
            /* Hostile state: a valid save with fuzz bytes xored in. */
            uint8_t st[256];
            long n = vmstate_save(&uart16550_vmstate, &u, st, sizeof(st));
            size_t m = arg % 8;
            for (size_t k = 0; k < m && i + 1 < size; k++, i += 2) {
                st[data[i] % n] ^= data[i + 1];
            }
            vmstate_load(&uart16550_vmstate, &u, st, (size_t)n);
            break;
        }
        default:
            uart16550_reset(&u);
            break;
        }
        if (u.rx_head >= UART_FIFO_SIZE || u.rx_count > UART_FIFO_SIZE) {
            abort();
        }
        if (irq.level != uart16550_irq_level(&u)) {
            abort(); /* the line always shows the computed level */
        }
    }
    check_round_trip(&u, &fc);
    uart16550_destroy(&u);
    return 0;
}
