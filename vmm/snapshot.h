/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Checkpoints of a running VM (docs/snapshot-format.md, docs/qmp.md): capture every vCPU,
 * the in-kernel irqchip, PIT and clock, each device's vmstate and the RAM into a
 * checkpoint file, and put one back, either into this VM (snapshot-load) or into a fresh
 * one built from the file's configuration (deskvm-vm --restore).
 */
#ifndef DESKVM_VMM_SNAPSHOT_H
#define DESKVM_VMM_SNAPSHOT_H

#include <stddef.h>

#include "snapshots/snapfile.h"

struct vm;

#define VM_SNAPSHOT_ZSTD 1u      /* save: compress the RAM (restore then copies it) */
#define VM_SNAPSHOT_NO_VERIFY 2u /* load: skip the RAM data checksum (lazy restore, fast) */
#define VM_SNAPSHOT_LIVE 4u      /* save: write the RAM while the guest runs (dirty logging) */
#define VM_SNAPSHOT_VERIFY_BG 8u /* load: check the RAM checksum after resuming, in a thread */

/*
 * Save the VM to path: pause (if running), write, resume. A device without a state
 * description fails the save before anything is written. Loop thread, dev_lock held.
 * VM_SNAPSHOT_LIVE (running VM, no zstd): the RAM is written while the guest runs, with
 * dev_lock dropped meanwhile, and the guest pauses only for the last dirty pages.
 */
int vm_snapshot_save(struct vm *vm, const char *path, unsigned flags, char *err, size_t errlen);

/*
 * Replace the VM's state with the checkpoint at path. The whole file is validated first
 * (checksums, host features, configuration and device list against this VM); a refused
 * file leaves the VM as it was, and so does a device that refuses its state (the state
 * taken just before is put back). The RAM is mapped from the file (lazy restore) when the
 * file allows it, else copied. The run state is kept. Loop thread, dev_lock held.
 * VM_SNAPSHOT_VERIFY_BG: the RAM checksum is checked by a thread once the guest runs again;
 * a mismatch stops the VM with an internal error (vm_request_internal_error()).
 */
int vm_snapshot_load(struct vm *vm, const char *path, unsigned flags, char *err, size_t errlen);

/* The machine configuration stored in the checkpoint at path (for --restore). */
int vm_snapshot_read_config(const char *path, struct snap_config *cfg, char *err, size_t errlen);

#endif
