// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Debug exit port (QEMU isa-debug-exit convention, port 0xf4 on our machines): guest tests
 * end the VM with a status through it. Stateless: reads return 0 like QEMU's.
 */
#include "io/debug_exit.h"

#include <stddef.h>
#include <stdint.h>

#include "vmm/device.h"

static uint64_t debug_exit_read(void *opaque, uint64_t off, unsigned size)
{
    /* QEMU reads as 0; guests probe for the port by that value. */
    return 0;
}

static void debug_exit_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    struct debug_exit *d = opaque;
    /* guest-controlled: the bus limits size to 1..4, mask anyway so V is what was written. */
    uint64_t mask = size >= 8 ? UINT64_MAX : ((1ull << (size * 8)) - 1);
    uint64_t status = ((val & mask) << 1) | 1;
    /* Like QEMU, any offset inside the registered range exits. Truncate as exit(int) would. */
    if (d->on_exit) {
        d->on_exit(d->opaque, (int)(uint32_t)status);
    }
}

const struct bus_ops debug_exit_ops = {
    .read = debug_exit_read,
    .write = debug_exit_write,
    .min_size = 1,
    .max_size = 4,
};

void debug_exit_init(struct debug_exit *d, debug_exit_fn on_exit, void *opaque)
{
    d->on_exit = on_exit;
    d->opaque = opaque;
}

void debug_exit_destroy(struct debug_exit *d)
{
    /* Owns nothing; kept so every device has the same life cycle. */
}

void debug_exit_reset(struct debug_exit *d)
{
    /* No guest-visible state. */
}

static void debug_exit_reset_cb(void *opaque)
{
    debug_exit_reset(opaque);
}

static int debug_exit_post_load(void *opaque)
{
    return 0;
}

static const struct vmstate_field debug_exit_fields[] = {
    VMSTATE_END,
};

/* An empty but present description: the device has no state, and snapshots must not fail. */
const struct vmstate debug_exit_vmstate = {
    .name = "debug-exit",
    .version = 1,
    .fields = debug_exit_fields,
    .post_load = debug_exit_post_load,
};

void debug_exit_device(struct debug_exit *d, struct device *out)
{
    *out = (struct device){
        .name = "debug-exit",
        .opaque = d,
        .reset = debug_exit_reset_cb,
        .state = &debug_exit_vmstate,
    };
}
