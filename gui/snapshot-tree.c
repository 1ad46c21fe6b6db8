// SPDX-License-Identifier: GPL-2.0-or-later
/* The snapshot page's GtkTreeStore (see snapshot-tree.h). */
#include "gui/snapshot-tree.h"

#define THUMB_W 160
#define THUMB_H 120

GtkTreeStore *dv_snapshot_tree_new(void)
{
    return gtk_tree_store_new(DV_SNAPSHOT_N_COLS, DV_TYPE_SNAPSHOT, GDK_TYPE_PIXBUF, G_TYPE_STRING);
}

static char *markup(DvSnapshot *s)
{
    g_autoptr(GDateTime) utc = g_date_time_new_from_unix_utc(dv_snapshot_get_time(s));
    g_autoptr(GDateTime) local = utc ? g_date_time_to_local(utc) : NULL;
    g_autofree char *when = local ? g_date_time_format(local, "%Y-%m-%d %H:%M:%S") : NULL;
    const char *tag = dv_snapshot_is_legacy(s)    ? " (legacy: memory only)"
                      : dv_snapshot_is_current(s) ? " (current)"
                                                  : "";
    return g_markup_printf_escaped("<b>%s</b>%s\n<small>%s</small>\n%s", dv_snapshot_get_name(s),
                                   tag, when ? when : "", dv_snapshot_get_description(s));
}

void dv_snapshot_tree_fill(GtkTreeStore *tree, GListModel *snapshots)
{
    gtk_tree_store_clear(tree);
    /* id -> GtkTreeIter of the rows already added (parents come before children); a
     * GtkTreeStore's iters persist while rows are only added. */
    g_autoptr(GHashTable) rows =
        g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)gtk_tree_iter_free);
    guint n = g_list_model_get_n_items(snapshots);
    for (guint i = 0; i < n; i++) {
        g_autoptr(DvSnapshot) s = g_list_model_get_item(snapshots, i);
        GtkTreeIter iter, *parent = NULL;
        if (!dv_snapshot_is_legacy(s) && dv_snapshot_get_parent(s) != NULL) {
            parent = g_hash_table_lookup(rows, dv_snapshot_get_parent(s));
        }
        gtk_tree_store_append(tree, &iter, parent);
        g_autoptr(GdkPixbuf) pb = NULL;
        if (dv_snapshot_get_thumbnail(s) != NULL) {
            pb = gdk_pixbuf_new_from_file_at_scale(dv_snapshot_get_thumbnail(s), THUMB_W, THUMB_H,
                                                   TRUE, NULL);
        }
        g_autofree char *text = markup(s);
        gtk_tree_store_set(tree, &iter, DV_SNAPSHOT_COL_SNAPSHOT, s, DV_SNAPSHOT_COL_THUMBNAIL, pb,
                           DV_SNAPSHOT_COL_MARKUP, text, -1);
        if (!dv_snapshot_is_legacy(s)) {
            g_hash_table_replace(rows, g_strdup(dv_snapshot_get_id(s)), gtk_tree_iter_copy(&iter));
        }
    }
}

struct find {
    const char *id;
    gboolean legacy, found;
    GtkTreeIter iter;
};

static gboolean find_row(GtkTreeModel *model, GtkTreePath *path, GtkTreeIter *iter, gpointer data)
{
    struct find *f = data;
    g_autoptr(DvSnapshot) s = NULL;
    gtk_tree_model_get(model, iter, DV_SNAPSHOT_COL_SNAPSHOT, &s, -1);
    if (s != NULL && dv_snapshot_is_legacy(s) == f->legacy &&
        g_strcmp0(dv_snapshot_get_id(s), f->id) == 0) {
        f->iter = *iter;
        f->found = TRUE;
    }
    return f->found;
}

gboolean dv_snapshot_tree_find(GtkTreeStore *tree, const char *id, gboolean legacy,
                               GtkTreeIter *iter)
{
    struct find f = {.id = id, .legacy = legacy};
    gtk_tree_model_foreach(GTK_TREE_MODEL(tree), find_row, &f);
    if (f.found && iter != NULL) {
        *iter = f.iter;
    }
    return f.found;
}
