// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The snapshot manager's view-model: a VM's snapshots as a GListModel. The engine keeps them
 * as a tree in $VMDIR/snapshots/ (--snapshot-dir; snapshots.json, snap-ID.dvs, snap-ID.png,
 * frozen qcow2 overlays: docs/snapshots.md); the GUI takes, lists, reverts and deletes them
 * with QMP snapshot-take / query-snapshots / snapshot-revert / snapshot-delete, and reads
 * snapshots.json (read-only) while the VM is stopped. The model holds the tree depth-first
 * (a parent before its children, siblings oldest first), then the "legacy" snapshots an
 * earlier version of the app kept in the same directory (<id>.dvs from snapshot-save,
 * <id>.png, index.json): still listed, reverted with snapshot-load and deleted here. No GTK.
 */
#pragma once

#include "gui/qmp-client.h"

#include <gio/gio.h>
#include <json-glib/json-glib.h>

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
/* The checkpoint file, and the thumbnail PNG (NULL when there is none). */
const char *dv_snapshot_get_file(DvSnapshot *self);
const char *dv_snapshot_get_thumbnail(DvSnapshot *self);
/* The parent snapshot's id (NULL for a root and for legacy snapshots). */
const char *dv_snapshot_get_parent(DvSnapshot *self);
/* TRUE for the snapshot the VM last took or reverted to (the engine's "current"). */
gboolean dv_snapshot_is_current(DvSnapshot *self);
/* TRUE for a snapshot of the app's old index.json (no disk state: memory only). */
gboolean dv_snapshot_is_legacy(DvSnapshot *self);

#define DV_TYPE_SNAPSHOT_STORE (dv_snapshot_store_get_type())
G_DECLARE_FINAL_TYPE(DvSnapshotStore, dv_snapshot_store, DV, SNAPSHOT_STORE, GObject)

/* The snapshots of the VM in @vm_dir; call dv_snapshot_store_load() next. */
DvSnapshotStore *dv_snapshot_store_new(const char *vm_dir);
/* Read the engine's snapshots.json and the legacy index.json (neither there: no snapshots),
 * without an engine. A corrupt legacy index is DV_ERROR_CORRUPT and the store then refuses
 * every legacy change, so the files are left as they are; a corrupt snapshots.json is
 * DV_ERROR_CORRUPT too (the engine refuses it as well). */
gboolean dv_snapshot_store_load(DvSnapshotStore *self, GError **error);

/* Parse a query-snapshots answer (or snapshots.json's "snapshots" with @thumb_dir set: the
 * thumbnails there are file names in that directory) into DvSnapshots in tree order. Hostile
 * input: ids are decimal numbers of at most 9 digits, unique; a parent must be listed; no
 * cycles; names and descriptions as dv_snapshot_validate(). @current_id (may be NULL) marks
 * the current snapshot when the entries carry no "current". */
GPtrArray *dv_snapshot_parse_tree(JsonNode *list, const char *thumb_dir, const char *current_id,
                                  GError **error);

/* Replace the tree part of the model with the engine's answer to query-snapshots. */
void dv_snapshot_store_refresh_async(DvSnapshotStore *self, DvQmpClient *qmp,
                                     GCancellable *cancellable, GAsyncReadyCallback callback,
                                     gpointer user_data);
gboolean dv_snapshot_store_refresh_finish(DvSnapshotStore *self, GAsyncResult *result,
                                          GError **error);

/* The engine's active image of each disk as snapshots.json in @snapshot_dir records them
 * (NULL, no error, when there is no index yet). A VM with snapshots must start on these:
 * the images it was created with are frozen (docs/snapshots.md, "Restart"). */
GStrv dv_snapshot_active_disks(const char *snapshot_dir, GError **error);
GListModel *dv_snapshot_store_get_model(DvSnapshotStore *self);
const char *dv_snapshot_store_get_dir(DvSnapshotStore *self);
/* TRUE while a take or revert is in flight (a second one is refused with DV_ERROR_BUSY). */
gboolean dv_snapshot_store_is_busy(DvSnapshotStore *self);

/* A snapshot name: 1 to DV_SNAPSHOT_NAME_MAX characters of UTF-8, no control characters, not
 * only spaces. Descriptions: at most DV_SNAPSHOT_DESCRIPTION_MAX characters, newlines allowed. */
gboolean dv_snapshot_validate(const char *name, const char *description, GError **error);

/* Take a snapshot of the running or paused VM behind @qmp: snapshot-take (the engine writes
 * the checkpoint, freezes the disks, writes the thumbnail), then query-snapshots. */
void dv_snapshot_store_take_async(DvSnapshotStore *self, DvQmpClient *qmp, const char *name,
                                  const char *description, GCancellable *cancellable,
                                  GAsyncReadyCallback callback, gpointer user_data);
DvSnapshot *dv_snapshot_store_take_finish(DvSnapshotStore *self, GAsyncResult *result,
                                          GError **error);

/* Put the VM back to @snap: snapshot-revert (memory and disks), or snapshot-load for a legacy
 * snapshot (memory only); then query-snapshots. The run state is kept (docs/qmp.md). */
void dv_snapshot_store_revert_async(DvSnapshotStore *self, DvQmpClient *qmp, DvSnapshot *snap,
                                    GCancellable *cancellable, GAsyncReadyCallback callback,
                                    gpointer user_data);
gboolean dv_snapshot_store_revert_finish(DvSnapshotStore *self, GAsyncResult *result,
                                         GError **error);

/* Delete @snap: snapshot-delete then query-snapshots (the engine merges the disk images; it
 * may refuse, DV_ERROR_QMP); a legacy snapshot leaves index.json, then its files go, with no
 * engine (@qmp may be NULL for it). */
void dv_snapshot_store_delete_async(DvSnapshotStore *self, DvQmpClient *qmp, DvSnapshot *snap,
                                    GCancellable *cancellable, GAsyncReadyCallback callback,
                                    gpointer user_data);
gboolean dv_snapshot_store_delete_finish(DvSnapshotStore *self, GAsyncResult *result,
                                         GError **error);

G_END_DECLS
