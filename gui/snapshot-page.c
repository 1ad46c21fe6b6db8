// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The "Snapshots" page (see snapshot-page.h): a tree view of DvSnapshotStore, which does the
 * work. The store follows the selected VM: while its engine runs, the tree is the engine's
 * answer to query-snapshots and take, revert and delete go to the engine; while it is stopped,
 * the tree is read from the engine's snapshots.json, and revert and delete of a tree snapshot
 * start the engine paused for the command (DvSnapshotStopped: the engine swaps disk overlays
 * and merges images); a revert leaves the VM Paused at the snapshot, a delete quits it again.
 * A legacy snapshot is deleted without an engine.
 */
#include "gui/snapshot-page.h"

#include "gui/snapshot-stopped.h"
#include "gui/snapshot-tree.h"
#include "gui/snapshots.h"

struct _DvSnapshotPage {
    GtkBox parent;
    DvVm *vm;
    gboolean live; /* the engine answered QMP when the store was last (re)loaded */
    DvSnapshotStore *store;
    GCancellable *cancel;
    GtkTreeStore *tree;
    GtkTreeView *view;
    GtkWidget *take, *revert, *remove;
    GtkLabel *status;
    gboolean disposed; /* a stopped-VM operation that ends later finds the widgets gone */
};

enum { SIG_ERROR, N_SIGNALS };
static guint signals[N_SIGNALS];

static void page_iface_init(DvConsolePageInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE(DvSnapshotPage, dv_snapshot_page, GTK_TYPE_BOX,
                              G_IMPLEMENT_INTERFACE(DV_TYPE_CONSOLE_PAGE, page_iface_init))

static void report(DvSnapshotPage *self, GError *error)
{
    g_signal_emit(self, signals[SIG_ERROR], 0, error);
}

static DvQmpClient *qmp(DvSnapshotPage *self)
{
    DvEngine *e = self->vm ? dv_vm_get_engine(self->vm) : NULL;
    return e ? dv_engine_get_qmp(e) : NULL;
}

static gboolean is_live(DvSnapshotPage *self)
{
    return qmp(self) != NULL && self->vm &&
           (dv_vm_get_state(self->vm) == DV_VM_RUNNING ||
            dv_vm_get_state(self->vm) == DV_VM_PAUSED);
}

/* The selected snapshot (a new reference), or NULL. */
static DvSnapshot *selected(DvSnapshotPage *self)
{
    GtkTreeIter iter;
    GtkTreeModel *model;
    DvSnapshot *s = NULL;
    if (gtk_tree_selection_get_selected(gtk_tree_view_get_selection(self->view), &model, &iter)) {
        gtk_tree_model_get(model, &iter, DV_SNAPSHOT_COL_SNAPSHOT, &s, -1);
    }
    return s;
}

/* What Revert acts on: the selection, else the current snapshot, else the newest. */
static DvSnapshot *revert_target(DvSnapshotPage *self)
{
    DvSnapshot *s = selected(self);
    GListModel *m = self->store ? dv_snapshot_store_get_model(self->store) : NULL;
    guint n = m ? g_list_model_get_n_items(m) : 0;
    for (guint i = 0; s == NULL && i < n; i++) {
        g_autoptr(DvSnapshot) c = g_list_model_get_item(m, i);
        if (dv_snapshot_is_current(c)) {
            s = g_object_ref(c);
        }
    }
    for (guint i = 0; s == NULL && i < n; i++) {
        g_autoptr(DvSnapshot) c = g_list_model_get_item(m, i);
        if (!dv_snapshot_is_legacy(c) &&
            (s == NULL || dv_snapshot_get_time(c) >= dv_snapshot_get_time(s))) {
            g_set_object(&s, c);
        }
    }
    return s;
}

/* No engine runs: a tree snapshot's revert or delete starts one paused (snapshot-stopped.h). */
static gboolean is_stopped(DvSnapshotPage *self)
{
    return self->vm != NULL && !dv_vm_is_active(self->vm) &&
           (dv_vm_get_state(self->vm) == DV_VM_STOPPED ||
            dv_vm_get_state(self->vm) == DV_VM_CRASHED);
}

static void update(DvSnapshotPage *self)
{
    gboolean busy = self->store && (dv_snapshot_store_is_busy(self->store) ||
                                    dv_snapshot_stopped_is_busy(self->vm));
    gboolean live = is_live(self);
    gboolean stopped = is_stopped(self);
    guint n = self->store ? g_list_model_get_n_items(dv_snapshot_store_get_model(self->store)) : 0;
    g_autoptr(DvSnapshot) sel = selected(self);
    g_autoptr(DvSnapshot) target = n > 0 ? revert_target(self) : NULL;
    gboolean tree_target = target != NULL && !dv_snapshot_is_legacy(target);
    gtk_widget_set_sensitive(self->take, live && !busy);
    gtk_widget_set_sensitive(self->revert, !busy && n > 0 && (live || (stopped && tree_target)));
    gtk_widget_set_tooltip_text(self->revert,
                                !stopped ? "Put the VM back to the selected snapshot (Ctrl+Shift+R)"
                                : target != NULL && !tree_target
                                    ? "Start the VM to revert to a legacy snapshot"
                                    : "Start the VM paused at this snapshot (Ctrl+Shift+R)");
    gboolean can_delete = sel != NULL && !busy && (live || dv_snapshot_is_legacy(sel) || stopped);
    gtk_widget_set_sensitive(self->remove, self->store && can_delete);
    gtk_widget_set_tooltip_text(self->remove,
                                sel != NULL && stopped && !dv_snapshot_is_legacy(sel)
                                    ? "Delete the selected snapshot: the engine starts paused to "
                                      "merge its disk image, then stops"
                                    : "Delete the selected snapshot");
    const char *text = self->vm == NULL ? "No VM selected"
                       : busy           ? "Working…"
                       : !live          ? "Start the VM to take snapshots"
                       : n == 0         ? "No snapshots yet"
                                        : "";
    gtk_label_set_text(self->status, text);
}

static void select_snapshot(DvSnapshotPage *self, DvSnapshot *s)
{
    GtkTreeIter iter;
    if (s != NULL &&
        dv_snapshot_tree_find(self->tree, dv_snapshot_get_id(s), dv_snapshot_is_legacy(s), &iter)) {
        g_autoptr(GtkTreePath) path = gtk_tree_model_get_path(GTK_TREE_MODEL(self->tree), &iter);
        gtk_tree_view_expand_to_path(self->view, path);
        gtk_tree_selection_select_iter(gtk_tree_view_get_selection(self->view), &iter);
    }
}

/* The store's list changed: rebuild the rows, keeping the selection. */
static void on_items_changed(GListModel *m, guint pos, guint removed, guint added, gpointer data)
{
    DvSnapshotPage *self = data;
    g_autoptr(DvSnapshot) sel = selected(self);
    dv_snapshot_tree_fill(self->tree, m);
    gtk_tree_view_expand_all(self->view);
    select_snapshot(self, sel);
    update(self);
}

/* The end of a revert, delete or refresh: an error goes to the window's info bar (the engine's
 * refusal included); a cancelled one belonged to the VM the page showed before. */
static void finished(DvSnapshotPage *self, gboolean ok, GError *error)
{
    if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
        return;
    }
    if (!ok) {
        report(self, error);
    }
    update(self);
}

static void refreshed(GObject *src, GAsyncResult *res, gpointer data)
{
    g_autoptr(GError) error = NULL;
    finished(data, dv_snapshot_store_refresh_finish(DV_SNAPSHOT_STORE(src), res, &error), error);
}

/* Read the tree: from the engine when it runs, else from the files it left. */
static void reload(DvSnapshotPage *self)
{
    self->live = is_live(self);
    if (self->store == NULL) {
        return;
    }
    GError *error = NULL;
    if (!dv_snapshot_store_load(self->store, &error)) {
        report(self, error);
        g_error_free(error);
    }
    if (self->live) {
        dv_snapshot_store_refresh_async(self->store, qmp(self), self->cancel, refreshed, self);
    }
}

static void set_store(DvSnapshotPage *self, DvVm *vm)
{
    g_cancellable_cancel(self->cancel);
    g_clear_object(&self->cancel);
    if (self->store != NULL) {
        g_signal_handlers_disconnect_by_data(dv_snapshot_store_get_model(self->store), self);
    }
    g_clear_object(&self->store);
    gtk_tree_store_clear(self->tree);
    if (vm == NULL || dv_vm_get_config(vm) == NULL) {
        return;
    }
    self->cancel = g_cancellable_new();
    self->store = dv_snapshot_store_new(dv_vm_get_dir(vm));
    g_signal_connect(dv_snapshot_store_get_model(self->store), "items-changed",
                     G_CALLBACK(on_items_changed), self);
    reload(self);
}

static void set_vm(DvConsolePage *page, DvVm *vm)
{
    DvSnapshotPage *self = DV_SNAPSHOT_PAGE(page);
    if (vm != self->vm) {
        g_set_object(&self->vm, vm);
        set_store(self, vm);
    } else if (self->live != is_live(self)) {
        reload(self); /* started or stopped: the engine's view or the files' */
    }
    update(self);
}

static const char *get_title(DvConsolePage *page)
{
    return "Snapshots";
}

static void page_iface_init(DvConsolePageInterface *iface)
{
    iface->get_title = get_title;
    iface->set_vm = set_vm;
}

static void took(GObject *src, GAsyncResult *res, gpointer data)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(DvSnapshot) s = dv_snapshot_store_take_finish(DV_SNAPSHOT_STORE(src), res, &error);
    if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
        return; /* the page moved to another VM */
    }
    DvSnapshotPage *self = data;
    if (s == NULL) {
        report(self, error);
    } else {
        select_snapshot(self, s);
    }
    update(self);
}

static void take_response(GtkDialog *dialog, int response, gpointer data)
{
    DvSnapshotPage *self = data;
    GtkEntry *name = g_object_get_data(G_OBJECT(dialog), "name");
    GtkEntry *desc = g_object_get_data(G_OBJECT(dialog), "description");
    if (response != GTK_RESPONSE_ACCEPT) {
        gtk_widget_destroy(GTK_WIDGET(dialog));
        return;
    }
    GError *error = NULL;
    if (!dv_snapshot_validate(gtk_entry_get_text(name), gtk_entry_get_text(desc), &error)) {
        /* Stay open, the message next to the fields. */
        GtkLabel *msg = g_object_get_data(G_OBJECT(dialog), "message");
        gtk_label_set_text(msg, error->message);
        gtk_widget_show(GTK_WIDGET(msg));
        g_error_free(error);
        return;
    }
    if (self->store != NULL && qmp(self) != NULL) {
        dv_snapshot_store_take_async(self->store, qmp(self), gtk_entry_get_text(name),
                                     gtk_entry_get_text(desc), self->cancel, took, self);
    }
    gtk_widget_destroy(GTK_WIDGET(dialog));
    update(self);
}

void dv_snapshot_page_take(DvSnapshotPage *self)
{
    if (!gtk_widget_get_sensitive(self->take)) {
        return;
    }
    GtkWidget *top = gtk_widget_get_toplevel(GTK_WIDGET(self));
    GtkWidget *d = gtk_dialog_new_with_buttons(
        "Take Snapshot", GTK_IS_WINDOW(top) ? GTK_WINDOW(top) : NULL, GTK_DIALOG_MODAL, "_Cancel",
        GTK_RESPONSE_CANCEL, "_Take", GTK_RESPONSE_ACCEPT, NULL);
    GtkWidget *grid = gtk_grid_new();
    g_object_set(grid, "margin", 12, "row-spacing", 6, "column-spacing", 12, NULL);
    GtkWidget *name = gtk_entry_new(), *desc = gtk_entry_new(), *msg = gtk_label_new(NULL);
    g_autoptr(GDateTime) now = g_date_time_new_now_local();
    g_autofree char *proposed = g_date_time_format(now, "Snapshot %Y-%m-%d %H:%M");
    gtk_entry_set_text(GTK_ENTRY(name), proposed);
    gtk_entry_set_max_length(GTK_ENTRY(name), DV_SNAPSHOT_NAME_MAX);
    gtk_entry_set_max_length(GTK_ENTRY(desc), DV_SNAPSHOT_DESCRIPTION_MAX);
    gtk_entry_set_activates_default(GTK_ENTRY(name), TRUE);
    gtk_entry_set_activates_default(GTK_ENTRY(desc), TRUE);
    /* The mnemonic widget makes Alt+N work and names the entry for screen readers (AT-SPI). */
    GtkWidget *name_label = gtk_label_new_with_mnemonic("_Name");
    GtkWidget *desc_label = gtk_label_new_with_mnemonic("_Description");
    gtk_label_set_mnemonic_widget(GTK_LABEL(name_label), name);
    gtk_label_set_mnemonic_widget(GTK_LABEL(desc_label), desc);
    gtk_grid_attach(GTK_GRID(grid), name_label, 0, 0, 1, 1);
    gtk_grid_attach(GTK_GRID(grid), name, 1, 0, 1, 1);
    gtk_grid_attach(GTK_GRID(grid), desc_label, 0, 1, 1, 1);
    gtk_grid_attach(GTK_GRID(grid), desc, 1, 1, 1, 1);
    gtk_grid_attach(GTK_GRID(grid), msg, 0, 2, 2, 1);
    gtk_widget_set_hexpand(name, TRUE);
    gtk_container_add(GTK_CONTAINER(gtk_dialog_get_content_area(GTK_DIALOG(d))), grid);
    gtk_dialog_set_default_response(GTK_DIALOG(d), GTK_RESPONSE_ACCEPT);
    g_object_set_data(G_OBJECT(d), "name", name);
    g_object_set_data(G_OBJECT(d), "description", desc);
    g_object_set_data(G_OBJECT(d), "message", msg);
    g_signal_connect_object(d, "response", G_CALLBACK(take_response), self, 0);
    gtk_widget_show_all(d);
    gtk_widget_hide(msg);
    gtk_widget_grab_focus(name);
}

static void reverted(GObject *src, GAsyncResult *res, gpointer data)
{
    g_autoptr(GError) error = NULL;
    finished(data, dv_snapshot_store_revert_finish(DV_SNAPSHOT_STORE(src), res, &error), error);
}

/* The end of a revert or delete of a stopped VM. It is not cancelled when the page moves to
 * another VM (the engine is never left half-way, and its error still reaches the info bar), so
 * the page holds a reference; the buttons come back whichever VM the page now shows. */
static void stopped_finished(DvSnapshotPage *self, gboolean ok, GError *error)
{
    if (!self->disposed) {
        finished(self, ok, error);
    }
    g_object_unref(self);
}

static void reverted_stopped(GObject *src, GAsyncResult *res, gpointer data)
{
    g_autoptr(GError) error = NULL;
    stopped_finished(data, dv_snapshot_revert_stopped_finish(DV_VM(src), res, &error), error);
}

void dv_snapshot_page_revert(DvSnapshotPage *self)
{
    if (!gtk_widget_get_sensitive(self->revert)) {
        return;
    }
    g_autoptr(DvSnapshot) s = revert_target(self);
    if (s != NULL && is_live(self)) {
        dv_snapshot_store_revert_async(self->store, qmp(self), s, self->cancel, reverted, self);
    } else if (s != NULL && is_stopped(self)) {
        dv_snapshot_revert_stopped_async(self->vm, self->store, s, NULL, reverted_stopped,
                                         g_object_ref(self));
    }
    update(self);
}

static void deleted(GObject *src, GAsyncResult *res, gpointer data)
{
    g_autoptr(GError) error = NULL;
    finished(data, dv_snapshot_store_delete_finish(DV_SNAPSHOT_STORE(src), res, &error), error);
}

static void deleted_stopped(GObject *src, GAsyncResult *res, gpointer data)
{
    g_autoptr(GError) error = NULL;
    stopped_finished(data, dv_snapshot_delete_stopped_finish(DV_VM(src), res, &error), error);
}

static void delete_response(GtkDialog *dialog, int response, gpointer data)
{
    DvSnapshotPage *self = data;
    DvSnapshot *s = g_object_get_data(G_OBJECT(dialog), "snapshot");
    if (response != GTK_RESPONSE_ACCEPT || self->store == NULL) {
        /* cancelled, or the page moved on */
    } else if (!dv_snapshot_is_legacy(s) && is_stopped(self)) {
        dv_snapshot_delete_stopped_async(self->vm, self->store, s, NULL, deleted_stopped,
                                         g_object_ref(self));
    } else {
        dv_snapshot_store_delete_async(self->store, qmp(self), s, self->cancel, deleted, self);
    }
    gtk_widget_destroy(GTK_WIDGET(dialog));
    update(self);
}

static void on_take(GtkButton *b, gpointer data)
{
    dv_snapshot_page_take(data);
}

static void on_revert(GtkButton *b, gpointer data)
{
    dv_snapshot_page_revert(data);
}

static void on_delete(GtkButton *b, gpointer data)
{
    DvSnapshotPage *self = data;
    g_autoptr(DvSnapshot) s = selected(self);
    if (s == NULL) {
        return;
    }
    GtkWidget *top = gtk_widget_get_toplevel(GTK_WIDGET(self));
    GtkWidget *d = gtk_message_dialog_new(GTK_IS_WINDOW(top) ? GTK_WINDOW(top) : NULL,
                                          GTK_DIALOG_MODAL, GTK_MESSAGE_QUESTION, GTK_BUTTONS_NONE,
                                          "Delete the snapshot “%s”?", dv_snapshot_get_name(s));
    gtk_message_dialog_format_secondary_text(
        GTK_MESSAGE_DIALOG(d), "%s",
        dv_snapshot_is_legacy(s) ? "Its checkpoint file and picture are removed."
        : is_stopped(self)
            ? "Its children keep their state; its disk image is merged into its child's. The "
              "engine starts paused to merge, then stops again."
            : "Its children keep their state; its disk image is merged into its child's. The "
              "VM is paused while the engine merges.");
    gtk_dialog_add_buttons(GTK_DIALOG(d), "_Cancel", GTK_RESPONSE_CANCEL, "_Delete",
                           GTK_RESPONSE_ACCEPT, NULL);
    gtk_widget_set_name(d, "snapshot-delete-confirm");
    gtk_window_set_title(GTK_WINDOW(d), "Delete Snapshot");
    gtk_dialog_set_default_response(GTK_DIALOG(d), GTK_RESPONSE_CANCEL);
    g_object_set_data_full(G_OBJECT(d), "snapshot", g_object_ref(s), g_object_unref);
    g_signal_connect_object(d, "response", G_CALLBACK(delete_response), self, 0);
    gtk_widget_show_all(d);
}

static void on_selected(GtkTreeSelection *sel, gpointer data)
{
    update(data);
}

static void dv_snapshot_page_dispose(GObject *obj)
{
    DvSnapshotPage *self = DV_SNAPSHOT_PAGE(obj);
    self->disposed = TRUE;
    g_cancellable_cancel(self->cancel);
    g_clear_object(&self->cancel);
    if (self->store != NULL) {
        g_signal_handlers_disconnect_by_data(dv_snapshot_store_get_model(self->store), self);
    }
    g_clear_object(&self->store);
    g_clear_object(&self->tree);
    g_clear_object(&self->vm);
    G_OBJECT_CLASS(dv_snapshot_page_parent_class)->dispose(obj);
}

static void dv_snapshot_page_class_init(DvSnapshotPageClass *klass)
{
    G_OBJECT_CLASS(klass)->dispose = dv_snapshot_page_dispose;
    signals[SIG_ERROR] = g_signal_new("error", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL,
                                      NULL, NULL, G_TYPE_NONE, 1, G_TYPE_ERROR);
}

static GtkWidget *button(DvSnapshotPage *self, const char *label, const char *name, const char *tip,
                         GCallback cb)
{
    GtkWidget *b = gtk_button_new_with_mnemonic(label);
    gtk_widget_set_name(b, name);
    gtk_widget_set_tooltip_text(b, tip);
    g_signal_connect(b, "clicked", cb, self);
    return b;
}

static void dv_snapshot_page_init(DvSnapshotPage *self)
{
    gtk_orientable_set_orientation(GTK_ORIENTABLE(self), GTK_ORIENTATION_VERTICAL);
    GtkWidget *bar = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 6);
    g_object_set(bar, "margin", 6, NULL);
    self->take = button(self, "_Take Snapshot…", "snapshot-take", "Take a snapshot (Ctrl+T)",
                        G_CALLBACK(on_take));
    self->revert =
        button(self, "_Revert", "snapshot-revert",
               "Put the VM back to the selected snapshot (Ctrl+Shift+R)", G_CALLBACK(on_revert));
    self->remove = button(self, "_Delete", "snapshot-delete", "Delete the selected snapshot",
                          G_CALLBACK(on_delete));
    self->status = GTK_LABEL(gtk_label_new(NULL));
    gtk_widget_set_name(GTK_WIDGET(self->status), "snapshot-status");
    gtk_box_pack_start(GTK_BOX(bar), self->take, FALSE, FALSE, 0);
    gtk_box_pack_start(GTK_BOX(bar), self->revert, FALSE, FALSE, 0);
    gtk_box_pack_start(GTK_BOX(bar), self->remove, FALSE, FALSE, 0);
    gtk_box_pack_end(GTK_BOX(bar), GTK_WIDGET(self->status), FALSE, FALSE, 0);

    self->tree = dv_snapshot_tree_new();
    self->view = GTK_TREE_VIEW(gtk_tree_view_new_with_model(GTK_TREE_MODEL(self->tree)));
    gtk_widget_set_name(GTK_WIDGET(self->view), "snapshot-tree");
    atk_object_set_name(gtk_widget_get_accessible(GTK_WIDGET(self->view)), "Snapshots");
    gtk_tree_view_set_headers_visible(self->view, FALSE);
    GtkTreeViewColumn *col = gtk_tree_view_column_new();
    GtkCellRenderer *pic = gtk_cell_renderer_pixbuf_new();
    gtk_cell_renderer_set_fixed_size(pic, 160 + 12, 120 + 12);
    GtkCellRenderer *text = gtk_cell_renderer_text_new();
    g_object_set(text, "wrap-mode", PANGO_WRAP_WORD_CHAR, "wrap-width", 480, NULL);
    gtk_tree_view_column_pack_start(col, pic, FALSE);
    gtk_tree_view_column_pack_start(col, text, TRUE);
    gtk_tree_view_column_add_attribute(col, pic, "pixbuf", DV_SNAPSHOT_COL_THUMBNAIL);
    gtk_tree_view_column_add_attribute(col, text, "markup", DV_SNAPSHOT_COL_MARKUP);
    gtk_tree_view_append_column(self->view, col);
    g_signal_connect(gtk_tree_view_get_selection(self->view), "changed", G_CALLBACK(on_selected),
                     self);
    GtkWidget *scroll = gtk_scrolled_window_new(NULL, NULL);
    gtk_container_add(GTK_CONTAINER(scroll), GTK_WIDGET(self->view));
    gtk_box_pack_start(GTK_BOX(self), bar, FALSE, FALSE, 0);
    gtk_box_pack_start(GTK_BOX(self), scroll, TRUE, TRUE, 0);
    gtk_widget_show_all(GTK_WIDGET(self));
    update(self);
}

GtkWidget *dv_snapshot_page_new(void)
{
    return g_object_new(DV_TYPE_SNAPSHOT_PAGE, NULL);
}
