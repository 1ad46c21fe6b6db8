// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The snapshot page's tree model: a GtkTreeStore filled from DvSnapshotStore's list (tree
 * order, then legacy snapshots), each snapshot under its parent, with its thumbnail (the
 * engine's 160x120 PNG) and a label. GTK data only, no widget: unit-tested without a display.
 */
#pragma once

#include "gui/snapshots.h"

#include <gtk/gtk.h>

G_BEGIN_DECLS

enum {
    DV_SNAPSHOT_COL_SNAPSHOT,  /* DvSnapshot */
    DV_SNAPSHOT_COL_THUMBNAIL, /* GdkPixbuf, NULL without a picture */
    DV_SNAPSHOT_COL_MARKUP,    /* name, time, description (and "current" / "legacy") */
    DV_SNAPSHOT_N_COLS
};

GtkTreeStore *dv_snapshot_tree_new(void);
/* Replace the rows with @snapshots (a GListModel of DvSnapshot in dv_snapshot_parse_tree order:
 * parents first). A snapshot whose parent is not listed before it becomes a top-level row. */
void dv_snapshot_tree_fill(GtkTreeStore *tree, GListModel *snapshots);
/* The row of the snapshot with @id (legacy ones: @legacy TRUE), FALSE when there is none. */
gboolean dv_snapshot_tree_find(GtkTreeStore *tree, const char *id, gboolean legacy,
                               GtkTreeIter *iter);

G_END_DECLS
