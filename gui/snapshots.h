// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The snapshot manager's view-model: a VM's snapshots as a GListModel (newest first), kept in
 * $VMDIR/snapshots/ as one checkpoint file per snapshot (<id>.dvs, QMP snapshot-save), a
 * thumbnail (<id>.png, QMP screendump) and index.json with names, descriptions and times.
 * No GTK. The flat list is what snapshot-save/snapshot-load give; when the engine keeps a tree
 * (snapshot-take, query-snapshots, ...) only the backend functions in snapshots.c change.
 */
#pragma once

#include "gui/qmp-client.h"

#include <gio/gio.h>

G_BEGIN_DECLS

#define DV_SNAPSHOT_NAME_MAX 64
#define DV_SNAPSHOT_DESCRIPTION_MAX 1024

#define DV_TYPE_SNAPSHOT (dv_snapshot_get_type())
G_DECLARE_FINAL_TYPE(DvSnapshot, dv_snapshot, DV, SNAPSHOT, GObject)

const char *dv_snapshot_get_id(DvSnapshot *self);
const char *dv_snapshot_get_name(DvSnapshot *self);
const char *dv_snapshot_get_description(DvSnapshot *self);
/* When it was taken, seconds since the epoch (UTC). */
gint64 dv_snapshot_get_time(DvSnapshot *self);
/* The checkpoint file, and the thumbnail PNG (NULL when the screendump failed). */
const char *dv_snapshot_get_file(DvSnapshot *self);
const char *dv_snapshot_get_thumbnail(DvSnapshot *self);

#define DV_TYPE_SNAPSHOT_STORE (dv_snapshot_store_get_type())
G_DECLARE_FINAL_TYPE(DvSnapshotStore, dv_snapshot_store, DV, SNAPSHOT_STORE, GObject)

/* The snapshots of the VM in @vm_dir; call dv_snapshot_store_load() next. */
DvSnapshotStore *dv_snapshot_store_new(const char *vm_dir);
/* Read index.json (none: no snapshots). A corrupt index is DV_ERROR_CORRUPT and the store then
 * refuses every change, so the files are left as they are. */
gboolean dv_snapshot_store_load(DvSnapshotStore *self, GError **error);
GListModel *dv_snapshot_store_get_model(DvSnapshotStore *self);
const char *dv_snapshot_store_get_dir(DvSnapshotStore *self);
/* TRUE while a take or revert is in flight (a second one is refused with DV_ERROR_BUSY). */
gboolean dv_snapshot_store_is_busy(DvSnapshotStore *self);

/* A snapshot name: 1 to DV_SNAPSHOT_NAME_MAX characters of UTF-8, no control characters, not
 * only spaces. Descriptions: at most DV_SNAPSHOT_DESCRIPTION_MAX characters, newlines allowed. */
gboolean dv_snapshot_validate(const char *name, const char *description, GError **error);

/* Take a snapshot of the running or paused VM behind @qmp: screendump for the thumbnail, then
 * snapshot-save, then the index entry. On failure no file of it stays behind. */
void dv_snapshot_store_take_async(DvSnapshotStore *self, DvQmpClient *qmp, const char *name,
                                  const char *description, GCancellable *cancellable,
                                  GAsyncReadyCallback callback, gpointer user_data);
DvSnapshot *dv_snapshot_store_take_finish(DvSnapshotStore *self, GAsyncResult *result,
                                          GError **error);

/* Put the VM back to @snap (snapshot-load); the run state is kept (docs/qmp.md). */
void dv_snapshot_store_revert_async(DvSnapshotStore *self, DvQmpClient *qmp, DvSnapshot *snap,
                                    GCancellable *cancellable, GAsyncReadyCallback callback,
                                    gpointer user_data);
gboolean dv_snapshot_store_revert_finish(DvSnapshotStore *self, GAsyncResult *result,
                                         GError **error);

/* Remove @snap from the index, then its files. Needs no engine. */
gboolean dv_snapshot_store_delete(DvSnapshotStore *self, DvSnapshot *snap, GError **error);

G_END_DECLS
