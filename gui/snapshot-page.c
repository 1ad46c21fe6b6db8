// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The "Snapshots" page (see snapshot-page.h): a view of DvSnapshotStore, which does the work.
 * The store follows the selected VM; take and revert need its engine's QMP connection, delete
 * and the list do not (a stopped VM's snapshots are listed and can be deleted).
 */
#include "gui/snapshot-page.h"

#include "gui/snapshots.h"

#define THUMB_W 160
#define THUMB_H 100

struct _DvSnapshotPage {
    GtkBox parent;
    DvVm *vm;
    DvSnapshotStore *store;
    GCancellable *cancel;
    GtkListBox *list;
    GtkWidget *take, *revert, *remove;
    GtkLabel *status;
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

static DvSnapshot *selected(DvSnapshotPage *self)
{
    GtkListBoxRow *row = gtk_list_box_get_selected_row(self->list);
    return row ? g_object_get_data(G_OBJECT(row), "snapshot") : NULL;
}

static void update(DvSnapshotPage *self)
{
    gboolean busy = self->store && dv_snapshot_store_is_busy(self->store);
    gboolean live =
        qmp(self) != NULL && self->vm &&
        (dv_vm_get_state(self->vm) == DV_VM_RUNNING || dv_vm_get_state(self->vm) == DV_VM_PAUSED);
    guint n = self->store ? g_list_model_get_n_items(dv_snapshot_store_get_model(self->store)) : 0;
    gtk_widget_set_sensitive(self->take, live && !busy);
    gtk_widget_set_sensitive(self->revert, live && !busy && n > 0);
    gtk_widget_set_sensitive(self->remove, self->store && !busy && selected(self) != NULL);
    const char *text = self->vm == NULL ? "No VM selected"
                       : busy           ? "Working…"
                       : !live          ? "Start the VM to take or revert snapshots"
                       : n == 0         ? "No snapshots yet"
                                        : "";
    gtk_label_set_text(self->status, text);
}

static GtkWidget *create_row(gpointer item, gpointer data)
{
    DvSnapshot *s = item;
    GtkWidget *row = gtk_list_box_row_new();
    GtkWidget *box = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 12);
    g_object_set(box, "margin", 6, NULL);
    GtkWidget *image = gtk_image_new();
    gtk_widget_set_size_request(image, THUMB_W, THUMB_H);
    if (dv_snapshot_get_thumbnail(s) != NULL) {
        g_autoptr(GdkPixbuf) pb = gdk_pixbuf_new_from_file_at_scale(dv_snapshot_get_thumbnail(s),
                                                                    THUMB_W, THUMB_H, TRUE, NULL);
        if (pb != NULL) {
            gtk_image_set_from_pixbuf(GTK_IMAGE(image), pb);
        }
    }
    g_autoptr(GDateTime) utc = g_date_time_new_from_unix_utc(dv_snapshot_get_time(s));
    g_autoptr(GDateTime) local = utc ? g_date_time_to_local(utc) : NULL;
    g_autofree char *when = local ? g_date_time_format(local, "%Y-%m-%d %H:%M:%S") : NULL;
    g_autofree char *markup =
        g_markup_printf_escaped("<b>%s</b>\n<small>%s</small>\n%s", dv_snapshot_get_name(s),
                                when ? when : "", dv_snapshot_get_description(s));
    GtkWidget *label = gtk_label_new(NULL);
    gtk_label_set_markup(GTK_LABEL(label), markup);
    gtk_label_set_xalign(GTK_LABEL(label), 0);
    gtk_label_set_line_wrap(GTK_LABEL(label), TRUE);
    gtk_box_pack_start(GTK_BOX(box), image, FALSE, FALSE, 0);
    gtk_box_pack_start(GTK_BOX(box), label, TRUE, TRUE, 0);
    gtk_container_add(GTK_CONTAINER(row), box);
    g_object_set_data_full(G_OBJECT(row), "snapshot", g_object_ref(s), g_object_unref);
    gtk_widget_show_all(row);
    return row;
}

static void set_store(DvSnapshotPage *self, DvVm *vm)
{
    g_cancellable_cancel(self->cancel);
    g_clear_object(&self->cancel);
    g_clear_object(&self->store);
    gtk_list_box_bind_model(self->list, NULL, NULL, NULL, NULL);
    if (vm == NULL || dv_vm_get_config(vm) == NULL) {
        return;
    }
    self->cancel = g_cancellable_new();
    self->store = dv_snapshot_store_new(dv_vm_get_dir(vm));
    GError *error = NULL;
    if (!dv_snapshot_store_load(self->store, &error)) {
        report(self, error);
        g_error_free(error);
    }
    gtk_list_box_bind_model(self->list, dv_snapshot_store_get_model(self->store), create_row, self,
                            NULL);
}

static void set_vm(DvConsolePage *page, DvVm *vm)
{
    DvSnapshotPage *self = DV_SNAPSHOT_PAGE(page);
    if (vm != self->vm) {
        g_set_object(&self->vm, vm);
        set_store(self, vm);
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
        gtk_list_box_select_row(self->list, gtk_list_box_get_row_at_index(self->list, 0));
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
    gboolean ok = dv_snapshot_store_revert_finish(DV_SNAPSHOT_STORE(src), res, &error);
    if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
        return;
    }
    if (!ok) {
        report(data, error);
    }
    update(data);
}

void dv_snapshot_page_revert(DvSnapshotPage *self)
{
    if (!gtk_widget_get_sensitive(self->revert)) {
        return;
    }
    DvSnapshot *s = selected(self);
    g_autoptr(DvSnapshot) newest =
        s ? NULL : g_list_model_get_item(dv_snapshot_store_get_model(self->store), 0);
    dv_snapshot_store_revert_async(self->store, qmp(self), s ? s : newest, self->cancel, reverted,
                                   self);
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
    DvSnapshot *s = selected(self);
    GError *error = NULL;
    if (s != NULL && !dv_snapshot_store_delete(self->store, s, &error)) {
        report(self, error);
        g_error_free(error);
    }
    update(self);
}

static void on_selected(GtkListBox *box, GtkListBoxRow *row, gpointer data)
{
    update(data);
}

static void dv_snapshot_page_dispose(GObject *obj)
{
    DvSnapshotPage *self = DV_SNAPSHOT_PAGE(obj);
    g_cancellable_cancel(self->cancel);
    g_clear_object(&self->cancel);
    g_clear_object(&self->store);
    g_clear_object(&self->vm);
    G_OBJECT_CLASS(dv_snapshot_page_parent_class)->dispose(obj);
}

static void dv_snapshot_page_class_init(DvSnapshotPageClass *klass)
{
    G_OBJECT_CLASS(klass)->dispose = dv_snapshot_page_dispose;
    signals[SIG_ERROR] = g_signal_new("error", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL,
                                      NULL, NULL, G_TYPE_NONE, 1, G_TYPE_ERROR);
}

static GtkWidget *button(DvSnapshotPage *self, const char *label, const char *tip, GCallback cb)
{
    GtkWidget *b = gtk_button_new_with_mnemonic(label);
    gtk_widget_set_tooltip_text(b, tip);
    g_signal_connect(b, "clicked", cb, self);
    return b;
}

static void dv_snapshot_page_init(DvSnapshotPage *self)
{
    gtk_orientable_set_orientation(GTK_ORIENTABLE(self), GTK_ORIENTATION_VERTICAL);
    GtkWidget *bar = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 6);
    g_object_set(bar, "margin", 6, NULL);
    self->take = button(self, "_Take Snapshot…", "Take a snapshot (Ctrl+T)", G_CALLBACK(on_take));
    self->revert =
        button(self, "_Revert", "Put the VM back to the selected snapshot (Ctrl+Shift+R)",
               G_CALLBACK(on_revert));
    self->remove = button(self, "_Delete", "Delete the selected snapshot", G_CALLBACK(on_delete));
    self->status = GTK_LABEL(gtk_label_new(NULL));
    gtk_box_pack_start(GTK_BOX(bar), self->take, FALSE, FALSE, 0);
    gtk_box_pack_start(GTK_BOX(bar), self->revert, FALSE, FALSE, 0);
    gtk_box_pack_start(GTK_BOX(bar), self->remove, FALSE, FALSE, 0);
    gtk_box_pack_end(GTK_BOX(bar), GTK_WIDGET(self->status), FALSE, FALSE, 0);
    self->list = GTK_LIST_BOX(gtk_list_box_new());
    atk_object_set_name(gtk_widget_get_accessible(GTK_WIDGET(self->list)), "Snapshots");
    g_signal_connect(self->list, "row-selected", G_CALLBACK(on_selected), self);
    GtkWidget *scroll = gtk_scrolled_window_new(NULL, NULL);
    gtk_container_add(GTK_CONTAINER(scroll), GTK_WIDGET(self->list));
    gtk_box_pack_start(GTK_BOX(self), bar, FALSE, FALSE, 0);
    gtk_box_pack_start(GTK_BOX(self), scroll, TRUE, TRUE, 0);
    gtk_widget_show_all(GTK_WIDGET(self));
    update(self);
}

GtkWidget *dv_snapshot_page_new(void)
{
    return g_object_new(DV_TYPE_SNAPSHOT_PAGE, NULL);
}
