/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The PIIX/ICH reset control register (port 0xCF9 on a PC, the FADT's RESET_REG): one byte,
 * bit 1 SYS_RST (hard reset), bit 2 RST_CPU (do it), bit 3 FULL_RST. Writing RST_CPU resets
 * the machine through a callback; the register itself knows no port.
 */
#ifndef DESKVM_IO_RESET_PORT_H
#define DESKVM_IO_RESET_PORT_H

#include <stdint.h>

#include "vmm/bus.h"
#include "vmm/device.h"

#define RESET_PORT_SYS_RST (1u << 1)
#define RESET_PORT_RST_CPU (1u << 2)
#define RESET_PORT_FULL_RST (1u << 3)

typedef void (*reset_port_fn)(void *opaque);

struct reset_port {
    uint8_t value; /* saved: SYS_RST and FULL_RST as last written */

    reset_port_fn on_reset; /* wiring, not saved */
    void *opaque;
    uint64_t bad_access; /* accesses other than one byte at offset 0: counted, ignored */
};

void reset_port_init(struct reset_port *rp, reset_port_fn on_reset, void *opaque);
void reset_port_reset(struct reset_port *rp);

/* One byte at offset 0. */
extern const struct bus_ops reset_port_ops;
extern const struct vmstate reset_port_vmstate;
struct device reset_port_device(struct reset_port *rp);

#endif
