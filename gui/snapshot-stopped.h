// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Revert and delete tree snapshots of a stopped VM. Only the engine can do either (a revert
 * swaps the disk overlays and loads the checkpoint, a delete merges qcow2 images:
 * docs/snapshots.md), so the VM's engine is started paused (deskvm-vm --paused), the command
 * goes through DvSnapshotStore once QMP answers, and then the VM is left Paused at the
 * snapshot (revert) or quit again (delete). No GTK (docs/gui.md, "Stopped VM.").
 */
#pragma once

#include "gui/snapshots.h"
#include "gui/vm.h"

G_BEGIN_DECLS

/* Put the stopped @vm back to the tree snapshot @snap: start its engine paused, then
 * snapshot-revert and query-snapshots through @store. Done when the VM is Paused at @snap
 * (memory and disks as they were; dv_vm_resume runs it). When the engine refuses or ends, it is
 * forced off, the VM is Stopped again and @store has re-read snapshots.json before the error
 * (the engine's text, as dv_snapshot_store_revert_async gives it) comes back. @vm must have no
 * engine (else DV_ERROR_BUSY). @cancellable only drops the result (G_IO_ERROR_CANCELLED): the
 * VM's engine is never left half-way. */
void dv_snapshot_revert_stopped_async(DvVm *vm, DvSnapshotStore *store, DvSnapshot *snap,
                                      GCancellable *cancellable, GAsyncReadyCallback callback,
                                      gpointer user_data);
gboolean dv_snapshot_revert_stopped_finish(DvVm *vm, GAsyncResult *result, GError **error);

/* Delete the tree snapshot @snap of the stopped @vm: start its engine paused, snapshot-delete
 * (it may merge images: it can take a while), then QMP quit, whether the engine refused or
 * not. Done when the VM is Stopped again and @store has re-read snapshots.json. */
void dv_snapshot_delete_stopped_async(DvVm *vm, DvSnapshotStore *store, DvSnapshot *snap,
                                      GCancellable *cancellable, GAsyncReadyCallback callback,
                                      gpointer user_data);
gboolean dv_snapshot_delete_stopped_finish(DvVm *vm, GAsyncResult *result, GError **error);

/* TRUE while one of the above runs on @vm (a second one is refused with DV_ERROR_BUSY). */
gboolean dv_snapshot_stopped_is_busy(DvVm *vm);

G_END_DECLS
