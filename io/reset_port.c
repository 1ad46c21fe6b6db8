// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Reset control register (Intel PIIX4 / ICH "RST_CNT", I/O port 0xCF9), the register the
 * FADT's RESET_REG names (ACPI 6.x 4.8.3.6). Only one kind of reset exists here, so SYS_RST
 * and FULL_RST are stored for reads but every RST_CPU write resets the whole machine.
 */
#include "io/reset_port.h"

#include <errno.h>
#include <string.h>

#define RESET_PORT_KEPT (RESET_PORT_SYS_RST | RESET_PORT_FULL_RST)

static uint64_t reset_port_read(void *opaque, uint64_t off, unsigned size)
{
    struct reset_port *rp = opaque;
    /* guest-controlled: a single byte register */
    if (off != 0 || size != 1) {
        rp->bad_access++;
        return size >= 8 ? UINT64_MAX : (1ull << (8 * size)) - 1;
    }
    return rp->value; /* RST_CPU is self-clearing: it never reads back set */
}

static void reset_port_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    struct reset_port *rp = opaque;
    /* guest-controlled: a single byte register; unknown bits are dropped */
    if (off != 0 || size != 1) {
        rp->bad_access++;
        return;
    }
    rp->value = (uint8_t)(val & RESET_PORT_KEPT);
    /* Last: the callback resets the machine, this register included. */
    if ((val & RESET_PORT_RST_CPU) && rp->on_reset) {
        rp->on_reset(rp->opaque);
    }
}

const struct bus_ops reset_port_ops = {
    .read = reset_port_read,
    .write = reset_port_write,
    .min_size = 1,
    .max_size = 1,
};

void reset_port_reset(struct reset_port *rp)
{
    rp->value = 0;
}

void reset_port_init(struct reset_port *rp, reset_port_fn on_reset, void *opaque)
{
    memset(rp, 0, sizeof(*rp));
    rp->on_reset = on_reset;
    rp->opaque = opaque;
}

static int reset_port_post_load(void *opaque)
{
    struct reset_port *rp = opaque;
    return (rp->value & ~RESET_PORT_KEPT) ? -EINVAL : 0;
}

static const struct vmstate_field reset_port_fields[] = {
    VMSTATE_FIELD(struct reset_port, value),
    VMSTATE_END,
};

const struct vmstate reset_port_vmstate = {
    .name = "reset-port",
    .version = 1,
    .fields = reset_port_fields,
    .post_load = reset_port_post_load,
};

static void reset_port_reset_cb(void *opaque)
{
    reset_port_reset(opaque);
}

struct device reset_port_device(struct reset_port *rp)
{
    return (struct device){
        .name = "reset-port",
        .opaque = rp,
        .reset = reset_port_reset_cb,
        .state = &reset_port_vmstate,
    };
}
