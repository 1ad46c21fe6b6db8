/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * One shape for every device: a name, reset, a state description, and its instance.
 * Two devices of one type register the same names: a checkpoint tells their sections apart
 * by the order of registration (snap_device_section_name()).
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
    /*
     * Devices with asynchronous I/O: finish everything in flight (completions pushed to
     * the guest) so that the state captured next is whole. Called with the vCPUs paused,
     * before a checkpoint is captured or loaded. NULL: nothing can be in flight.
     */
    void (*quiesce)(void *opaque);
};

#endif
