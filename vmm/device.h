/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One shape for every device: a name, reset, a state description, and its instance.
 * Bus handlers are registered separately by the glue that places the device (ISA port,
 * PCI BAR, MMIO window), so the device core knows no bus.
 */
#ifndef DESKVM_VMM_DEVICE_H
#define DESKVM_VMM_DEVICE_H

#include "snapshots/vmstate.h"

struct device {
    const char *name;
    void *opaque;
    void (*reset)(void *opaque);
    /* NULL means the device cannot be snapshotted: snapshots of its VM fail loudly. */
    const struct vmstate *state;
};

#endif
