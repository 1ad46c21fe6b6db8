// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The "Snapshots" console page: the selected VM's snapshots (DvSnapshotStore) with thumbnails,
 * names, times and descriptions; take (a dialog asking name and description), revert, delete.
 */
#pragma once

#include "gui/console-page.h"

G_BEGIN_DECLS

#define DV_TYPE_SNAPSHOT_PAGE (dv_snapshot_page_get_type())
G_DECLARE_FINAL_TYPE(DvSnapshotPage, dv_snapshot_page, DV, SNAPSHOT_PAGE, GtkBox)

GtkWidget *dv_snapshot_page_new(void);
/* The window's actions (win.snapshot-take, win.snapshot-revert) call these. Take opens the
 * dialog; revert puts the VM back to the selected snapshot (the newest when none is); on a
 * stopped VM it starts the engine paused at that snapshot (snapshot-stopped.h). Errors are
 * reported by the "error" signal (GError *). */
void dv_snapshot_page_take(DvSnapshotPage *self);
void dv_snapshot_page_revert(DvSnapshotPage *self);

G_END_DECLS
