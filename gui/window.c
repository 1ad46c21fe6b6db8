// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Main window. The list is bound to the library's GListModel; every action works on the
 * selected VM through dv_vm_* / dv_library_*, and each failure lands in the GtkInfoBar with
 * the hint from dv_error_fix_hint(). Console pages get the selected VM on every state change.
 */
#include "gui/window.h"

#include "gui/dv-error.h"
#include "gui/new-vm-dialog.h"
#include "gui/perf-page.h"
#include "gui/screen-page.h"
#include "gui/serial-console.h"
#include "gui/settings-dialog.h"
#include "gui/snapshot-page.h"

#include <string.h>

struct _DvWindow {
    GtkApplicationWindow parent;
    DvLibrary *library;
    DvVm *selected;
    GtkListBox *vm_list;
    GtkInfoBar *infobar;
    GtkLabel *info_message, *info_fix, *status_label;
    GtkNotebook *console_area;
    DvSerialConsole *serial;
    DvSnapshotPage *snapshots;
};

G_DEFINE_FINAL_TYPE(DvWindow, dv_window, GTK_TYPE_APPLICATION_WINDOW)

void dv_window_notify_error(DvWindow *self, const GError *error)
{
    const char *hint = dv_error_fix_hint(error);
    gtk_label_set_text(self->info_message, error->message);
    gtk_label_set_text(self->info_fix, hint ? hint : "");
    gtk_widget_set_visible(GTK_WIDGET(self->info_fix), hint != NULL);
    gtk_info_bar_set_message_type(self->infobar, GTK_MESSAGE_ERROR);
    gtk_widget_show(GTK_WIDGET(self->infobar));
}

static void on_infobar_response(GtkInfoBar *bar, int response, gpointer data)
{
    gtk_widget_hide(GTK_WIDGET(bar));
}

static void set_enabled(DvWindow *self, const char *name, gboolean on)
{
    GAction *a = g_action_map_lookup_action(G_ACTION_MAP(self), name);
    g_simple_action_set_enabled(G_SIMPLE_ACTION(a), on);
}

static void refresh(DvWindow *self)
{
    DvVm *vm = self->selected;
    DvVmState st = vm ? dv_vm_get_state(vm) : DV_VM_BROKEN;
    gboolean active = vm && dv_vm_is_active(vm);
    set_enabled(self, "start", vm && !active && st != DV_VM_BROKEN);
    set_enabled(self, "pause", st == DV_VM_RUNNING && active);
    set_enabled(self, "resume", st == DV_VM_PAUSED);
    set_enabled(self, "shutdown", st == DV_VM_RUNNING && active);
    set_enabled(self, "force-off", active);
    set_enabled(self, "reset", active);
    set_enabled(self, "delete", vm && !active);
    set_enabled(self, "clone", vm && !active && st != DV_VM_BROKEN);
    set_enabled(self, "export", vm && st != DV_VM_BROKEN);
    set_enabled(self, "settings", vm && st != DV_VM_BROKEN);
    if (vm == NULL) {
        gtk_label_set_text(self->status_label, "No VM selected");
    } else {
        const struct dv_vm_config *c = dv_vm_get_config(vm);
        const GError *e = dv_vm_get_error(vm);
        g_autofree char *text = NULL;
        if (c != NULL) {
            text = g_strdup_printf("%s — %s — %" G_GUINT64_FORMAT " MiB, %u vCPU%s, %s%s%s",
                                   dv_vm_get_name(vm), dv_vm_state_label(st), c->memory_mib,
                                   c->vcpus, c->vcpus == 1 ? "" : "s",
                                   c->demo     ? "demo guest"
                                   : c->kernel ? c->kernel
                                               : "firmware",
                                   e ? "\n" : "", e ? e->message : "");
        } else {
            text = g_strdup_printf("%s — %s\n%s", dv_vm_get_name(vm), dv_vm_state_label(st),
                                   e ? e->message : "");
        }
        gtk_label_set_text(self->status_label, text);
    }
    int n = gtk_notebook_get_n_pages(self->console_area);
    for (int i = 0; i < n; i++) {
        dv_console_page_set_vm(DV_CONSOLE_PAGE(gtk_notebook_get_nth_page(self->console_area, i)),
                               vm);
    }
}

static void on_state(DvVm *vm, GParamSpec *pspec, gpointer data)
{
    DvWindow *self = data;
    if (vm == self->selected) {
        refresh(self);
    }
}

static void on_vm_error(DvVm *vm, GError *error, gpointer data)
{
    dv_window_notify_error(data, error);
}

static void row_state(DvVm *vm, GParamSpec *pspec, GtkLabel *label)
{
    g_autofree char *markup = g_markup_printf_escaped(
        "<b>%s</b>\n<small>%s</small>", dv_vm_get_name(vm), dv_vm_state_label(dv_vm_get_state(vm)));
    gtk_label_set_markup(label, markup);
}

static GtkWidget *create_row(gpointer item, gpointer data)
{
    DvWindow *self = data;
    DvVm *vm = item;
    GtkWidget *row = gtk_list_box_row_new();
    GtkWidget *label = gtk_label_new(NULL);
    gtk_label_set_xalign(GTK_LABEL(label), 0);
    g_object_set(label, "margin", 6, NULL);
    gtk_container_add(GTK_CONTAINER(row), label);
    g_object_set_data_full(G_OBJECT(row), "vm", g_object_ref(vm), g_object_unref);
    row_state(vm, NULL, GTK_LABEL(label));
    g_signal_connect_object(vm, "notify::state", G_CALLBACK(row_state), label, 0);
    g_signal_connect_object(vm, "notify::state", G_CALLBACK(on_state), self, 0);
    g_signal_connect_object(vm, "error", G_CALLBACK(on_vm_error), self, 0);
    gtk_widget_show_all(row);
    return row;
}

static void on_row_selected(GtkListBox *box, GtkListBoxRow *row, gpointer data)
{
    DvWindow *self = data;
    g_set_object(&self->selected, row ? g_object_get_data(G_OBJECT(row), "vm") : NULL);
    refresh(self);
}

static void select_vm(DvWindow *self, DvVm *vm)
{
    guint pos;
    if (g_list_store_find(G_LIST_STORE(dv_library_get_model(self->library)), vm, &pos)) {
        gtk_list_box_select_row(self->vm_list,
                                gtk_list_box_get_row_at_index(self->vm_list, (int)pos));
    }
}

/* Call as `ok = call(..., &e); report(self, ok, e)`: in `report(self, call(&e), e)` the
 * compiler may read e before the call sets it, and the error is then never shown. */
static gboolean report(DvWindow *self, gboolean ok, GError *error)
{
    if (!ok && error != NULL) {
        dv_window_notify_error(self, error);
        g_error_free(error);
    }
    refresh(self);
    return ok;
}

static void on_created(DvNewVmDialog *dialog, DvVm *vm, gpointer data)
{
    select_vm(data, vm);
}

static void act_new(GSimpleAction *a, GVariant *p, gpointer data)
{
    DvWindow *self = data;
    GtkWidget *dialog = dv_new_vm_dialog_new(GTK_WINDOW(self), self->library);
    g_signal_connect_object(dialog, "created", G_CALLBACK(on_created), self, 0);
    gtk_widget_show(dialog);
}

static void act_start(GSimpleAction *a, GVariant *p, gpointer data)
{
    DvWindow *self = data;
    GError *e = NULL;
    gboolean ok = self->selected != NULL && dv_vm_start(self->selected, &e);
    if (self->selected != NULL && report(self, ok, e)) {
        int page = gtk_notebook_page_num(self->console_area, GTK_WIDGET(self->serial));
        gtk_notebook_set_current_page(self->console_area, page);
        dv_serial_console_focus(self->serial);
    }
}

#define SIMPLE_ACTION(fn, call)                                                                    \
    static void fn(GSimpleAction *a, GVariant *p, gpointer data)                                   \
    {                                                                                              \
        DvWindow *self = data;                                                                     \
        GError *e = NULL;                                                                          \
        if (self->selected != NULL) {                                                              \
            gboolean ok = call(self->selected, &e);                                                \
            report(self, ok, e);                                                                   \
        }                                                                                          \
    }
SIMPLE_ACTION(act_pause, dv_vm_pause)
SIMPLE_ACTION(act_resume, dv_vm_resume)
SIMPLE_ACTION(act_shutdown, dv_vm_shutdown)
SIMPLE_ACTION(act_force_off, dv_vm_force_off)
SIMPLE_ACTION(act_reset, dv_vm_reset)

static void delete_response(GtkDialog *dialog, int response, gpointer data)
{
    DvWindow *self = data;
    gtk_widget_destroy(GTK_WIDGET(dialog));
    if (response == GTK_RESPONSE_ACCEPT && self->selected != NULL) {
        GError *e = NULL;
        g_autoptr(DvVm) vm = g_object_ref(self->selected);
        gboolean ok = dv_library_delete(self->library, vm, &e);
        report(self, ok, e);
    }
}

static void act_delete(GSimpleAction *a, GVariant *p, gpointer data)
{
    DvWindow *self = data;
    if (self->selected == NULL) {
        return;
    }
    GtkWidget *d = gtk_message_dialog_new(GTK_WINDOW(self), GTK_DIALOG_MODAL, GTK_MESSAGE_QUESTION,
                                          GTK_BUTTONS_NONE, "Move %s to the trash?",
                                          dv_vm_get_name(self->selected));
    gtk_message_dialog_format_secondary_text(
        GTK_MESSAGE_DIALOG(d),
        "Its directory (%s), disks inside it included, goes to the trash, "
        "from where it can be restored.",
        dv_vm_get_dir(self->selected));
    gtk_dialog_add_buttons(GTK_DIALOG(d), "_Cancel", GTK_RESPONSE_CANCEL, "Move to _Trash",
                           GTK_RESPONSE_ACCEPT, NULL);
    g_signal_connect(d, "response", G_CALLBACK(delete_response), self);
    gtk_widget_show(d);
}

static void clone_response(GtkDialog *dialog, int response, gpointer data)
{
    DvWindow *self = data;
    GtkEntry *entry = g_object_get_data(G_OBJECT(dialog), "entry");
    g_autofree char *name = g_strdup(gtk_entry_get_text(entry));
    gtk_widget_destroy(GTK_WIDGET(dialog));
    if (response != GTK_RESPONSE_ACCEPT || self->selected == NULL) {
        return;
    }
    GError *e = NULL;
    DvVm *copy = dv_library_clone(self->library, self->selected, name, &e);
    if (report(self, copy != NULL, e)) {
        select_vm(self, copy);
    }
}

static void act_clone(GSimpleAction *a, GVariant *p, gpointer data)
{
    DvWindow *self = data;
    if (self->selected == NULL) {
        return;
    }
    GtkWidget *d =
        gtk_dialog_new_with_buttons("Clone VM", GTK_WINDOW(self), GTK_DIALOG_MODAL, "_Cancel",
                                    GTK_RESPONSE_CANCEL, "_Clone", GTK_RESPONSE_ACCEPT, NULL);
    GtkWidget *entry = gtk_entry_new();
    g_autofree char *name = g_strdup_printf("%s-clone", dv_vm_get_name(self->selected));
    gtk_entry_set_text(GTK_ENTRY(entry), name);
    gtk_entry_set_activates_default(GTK_ENTRY(entry), TRUE);
    g_object_set(entry, "margin", 12, NULL);
    gtk_container_add(GTK_CONTAINER(gtk_dialog_get_content_area(GTK_DIALOG(d))), entry);
    gtk_dialog_set_default_response(GTK_DIALOG(d), GTK_RESPONSE_ACCEPT);
    g_object_set_data(G_OBJECT(d), "entry", entry);
    g_signal_connect(d, "response", G_CALLBACK(clone_response), self);
    gtk_widget_show_all(d);
}

static void file_response(GtkNativeDialog *native, int response, gpointer data)
{
    DvWindow *self = data;
    gboolean save =
        gtk_file_chooser_get_action(GTK_FILE_CHOOSER(native)) == GTK_FILE_CHOOSER_ACTION_SAVE;
    g_autofree char *path = gtk_file_chooser_get_filename(GTK_FILE_CHOOSER(native));
    g_object_unref(native);
    if (response != GTK_RESPONSE_ACCEPT || path == NULL) {
        return;
    }
    GError *e = NULL;
    if (save) {
        if (self->selected != NULL) {
            gboolean ok = dv_library_export(self->library, self->selected, path, &e);
            report(self, ok, e);
        }
    } else {
        DvVm *vm = dv_library_import(self->library, path, NULL, &e);
        if (report(self, vm != NULL, e)) {
            select_vm(self, vm);
        }
    }
}

static void act_import(GSimpleAction *a, GVariant *p, gpointer data)
{
    GtkFileChooserNative *n = gtk_file_chooser_native_new(
        "Import a libvirt domain XML", GTK_WINDOW(data), GTK_FILE_CHOOSER_ACTION_OPEN, NULL, NULL);
    g_signal_connect(n, "response", G_CALLBACK(file_response), data);
    gtk_native_dialog_show(GTK_NATIVE_DIALOG(n));
}

static void act_export(GSimpleAction *a, GVariant *p, gpointer data)
{
    DvWindow *self = data;
    if (self->selected == NULL) {
        return;
    }
    GtkFileChooserNative *n = gtk_file_chooser_native_new("Export the domain XML", GTK_WINDOW(self),
                                                          GTK_FILE_CHOOSER_ACTION_SAVE, NULL, NULL);
    g_autofree char *name = g_strdup_printf("%s.xml", dv_vm_get_name(self->selected));
    gtk_file_chooser_set_current_name(GTK_FILE_CHOOSER(n), name);
    gtk_file_chooser_set_do_overwrite_confirmation(GTK_FILE_CHOOSER(n), TRUE);
    g_signal_connect(n, "response", G_CALLBACK(file_response), self);
    gtk_native_dialog_show(GTK_NATIVE_DIALOG(n));
}

static void act_settings(GSimpleAction *a, GVariant *p, gpointer data)
{
    DvWindow *self = data;
    if (self->selected != NULL && dv_vm_get_config(self->selected) != NULL) {
        gtk_widget_show(dv_settings_dialog_new(GTK_WINDOW(self), self->selected));
    }
}

static void act_snapshot_take(GSimpleAction *a, GVariant *p, gpointer data)
{
    DvWindow *self = data;
    dv_snapshot_page_take(self->snapshots);
}

static void act_snapshot_revert(GSimpleAction *a, GVariant *p, gpointer data)
{
    DvWindow *self = data;
    dv_snapshot_page_revert(self->snapshots);
}

/* win.page('serial'|'screen'|'snapshots'): show that console page (Alt+1..3). */
static void act_page(GSimpleAction *a, GVariant *p, gpointer data)
{
    DvWindow *self = data;
    const char *want = g_variant_get_string(p, NULL);
    int n = gtk_notebook_get_n_pages(self->console_area);
    for (int i = 0; i < n; i++) {
        DvConsolePage *page = DV_CONSOLE_PAGE(gtk_notebook_get_nth_page(self->console_area, i));
        if (g_ascii_strncasecmp(dv_console_page_get_title(page), want, strlen(want)) == 0) {
            gtk_notebook_set_current_page(self->console_area, i);
            gtk_widget_child_focus(GTK_WIDGET(page), GTK_DIR_TAB_FORWARD);
        }
    }
}

static void on_page_error(DvSnapshotPage *page, GError *error, gpointer data)
{
    dv_window_notify_error(data, error);
}

static const GActionEntry win_actions[] = {
    {"new", act_new},
    {"import", act_import},
    {"start", act_start},
    {"pause", act_pause},
    {"resume", act_resume},
    {"shutdown", act_shutdown},
    {"force-off", act_force_off},
    {"reset", act_reset},
    {"delete", act_delete},
    {"clone", act_clone},
    {"export", act_export},
    {"settings", act_settings},
    {"snapshot-take", act_snapshot_take},
    {"snapshot-revert", act_snapshot_revert},
    {"page", act_page, "s"},
};

void dv_window_add_console_page(DvWindow *self, DvConsolePage *page)
{
    gtk_notebook_append_page(self->console_area, GTK_WIDGET(page),
                             gtk_label_new(dv_console_page_get_title(page)));
    gtk_widget_show(GTK_WIDGET(page));
    dv_console_page_set_vm(page, self->selected);
}

static void dv_window_dispose(GObject *obj)
{
    DvWindow *self = DV_WINDOW(obj);
    g_clear_object(&self->selected);
    g_clear_object(&self->library);
    G_OBJECT_CLASS(dv_window_parent_class)->dispose(obj);
}

static void dv_window_class_init(DvWindowClass *klass)
{
    GtkWidgetClass *wc = GTK_WIDGET_CLASS(klass);
    G_OBJECT_CLASS(klass)->dispose = dv_window_dispose;
    gtk_widget_class_set_template_from_resource(wc, "/org/deskvm/Deskvm/window.ui");
    gtk_widget_class_bind_template_child(wc, DvWindow, vm_list);
    gtk_widget_class_bind_template_child(wc, DvWindow, infobar);
    gtk_widget_class_bind_template_child(wc, DvWindow, info_message);
    gtk_widget_class_bind_template_child(wc, DvWindow, info_fix);
    gtk_widget_class_bind_template_child(wc, DvWindow, status_label);
    gtk_widget_class_bind_template_child(wc, DvWindow, console_area);
    gtk_widget_class_bind_template_callback(wc, on_infobar_response);
    gtk_widget_class_bind_template_callback(wc, on_row_selected);
}

static void dv_window_init(DvWindow *self)
{
    gtk_widget_init_template(GTK_WIDGET(self));
    g_action_map_add_action_entries(G_ACTION_MAP(self), win_actions, G_N_ELEMENTS(win_actions),
                                    self);
    self->serial = DV_SERIAL_CONSOLE(dv_serial_console_new());
}

DvWindow *dv_window_new(GtkApplication *app, DvLibrary *library)
{
    DvWindow *self = g_object_new(DV_TYPE_WINDOW, "application", app, NULL);
    self->library = g_object_ref(library);
    gtk_list_box_bind_model(self->vm_list, dv_library_get_model(library), create_row, self, NULL);
    dv_window_add_console_page(self, DV_CONSOLE_PAGE(self->serial));
    dv_window_add_console_page(self, DV_CONSOLE_PAGE(dv_screen_page_new()));
    self->snapshots = DV_SNAPSHOT_PAGE(dv_snapshot_page_new());
    g_signal_connect_object(self->snapshots, "error", G_CALLBACK(on_page_error), self, 0);
    dv_window_add_console_page(self, DV_CONSOLE_PAGE(self->snapshots));
    dv_window_add_console_page(self, DV_CONSOLE_PAGE(dv_perf_page_new()));
    GtkListBoxRow *first = gtk_list_box_get_row_at_index(self->vm_list, 0);
    if (first != NULL) {
        gtk_list_box_select_row(self->vm_list, first);
    }
    refresh(self);
    return self;
}
