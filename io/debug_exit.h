/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A debug exit port with QEMU's isa-debug-exit semantics: a write of V ends the VM with
 * status (V << 1) | 1, so test guests report pass/fail the same way on deskvm and QEMU.
 */
#ifndef DESKVM_IO_DEBUG_EXIT_H
#define DESKVM_IO_DEBUG_EXIT_H

#include "snapshots/vmstate.h"
#include "vmm/bus.h"

struct device;

/*
 * status is (V << 1) | 1 computed in 64 bits and truncated to int, as QEMU passes it to
 * exit(): the engine's process exit status is then (status & 0xff).
 */
typedef void (*debug_exit_fn)(void *opaque, int status);

struct debug_exit {
    debug_exit_fn on_exit;
    void *opaque;
};

void debug_exit_init(struct debug_exit *d, debug_exit_fn on_exit, void *opaque);
void debug_exit_destroy(struct debug_exit *d);
void debug_exit_reset(struct debug_exit *d);
void debug_exit_device(struct debug_exit *d, struct device *out);

/* Accesses of 1, 2 or 4 bytes; register as wide as the port (QEMU's default iosize is 2). */
extern const struct bus_ops debug_exit_ops;
extern const struct vmstate debug_exit_vmstate;

#endif
