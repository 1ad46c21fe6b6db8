// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * VM settings dialog: memory, vCPUs, display, firmware boot and boot order, CD-ROM, disks (add
 * an image, create one, remove, grow), network cards (user NAT / tap) and VNC. It edits a copy
 * of the definition; Save validates with dv_vm_settings_validate (the field at fault gets the
 * focus) and writes domain.xml. Every control has a widget name ("settings-…") and an
 * accessible name, for the Xvfb and AT-SPI tests.
 */
#include "gui/settings-dialog.h"

#include "gui/dv-error.h"
#include "gui/vm-settings.h"

#include <string.h>

#define GIB (G_GUINT64_CONSTANT(1) << 30)

struct _DvSettingsDialog {
    GtkDialog parent;
    DvVm *vm;
    struct dv_vm_config *cfg; /* the edited copy */
    GtkWidget *hardware;      /* everything that needs a stopped VM */
    GtkSpinButton *memory, *vcpus, *disk_size, *vnc_port;
    GtkComboBoxText *display, *boot, *disk_format, *disk_bus, *net_type;
    GtkToggleButton *firmware, *vnc;
    GtkEntry *cdrom, *disk_path, *net_ifname, *vnc_listen, *vnc_password;
    GtkListBox *disks, *nets;
    GtkLabel *error_label;
    GtkWidget *cd_change, *cd_eject;
    gboolean opened_running; /* the OK button is "Close", not "Save" */
};

G_DEFINE_FINAL_TYPE(DvSettingsDialog, dv_settings_dialog, GTK_TYPE_DIALOG)

void dv_widget_set_names(GtkWidget *widget, const char *id, const char *accessible)
{
    gtk_widget_set_name(widget, id);
    AtkObject *a = gtk_widget_get_accessible(widget);
    if (a != NULL && accessible != NULL) {
        atk_object_set_name(a, accessible);
    }
}

static void show_error(DvSettingsDialog *self, const GError *error, GtkWidget *focus)
{
    const char *hint = dv_error_fix_hint(error);
    g_autofree char *text =
        g_strdup_printf("%s%s%s", error->message, hint ? "\n" : "", hint ? hint : "");
    gtk_label_set_text(self->error_label, text);
    if (focus != NULL) {
        gtk_widget_grab_focus(focus);
    }
}

static char *entry_text(GtkEntry *e)
{
    const char *t = gtk_entry_get_text(e);
    g_autofree char *s = g_strstrip(g_strdup(t));
    return *s ? g_steal_pointer(&s) : NULL;
}

/* One row of the grid: a mnemonic label and its control. */
static GtkWidget *add_row(GtkGrid *grid, int row, const char *label, GtkWidget *w, const char *id)
{
    GtkWidget *l = gtk_label_new_with_mnemonic(label);
    gtk_label_set_mnemonic_widget(GTK_LABEL(l), w);
    gtk_label_set_xalign(GTK_LABEL(l), 1);
    gtk_grid_attach(grid, l, 0, row, 1, 1);
    gtk_grid_attach(grid, w, 1, row, 1, 1);
    gtk_widget_set_hexpand(w, TRUE);
    g_autofree char *plain = g_strdup(label);
    char *u = strchr(plain, '_');
    if (u != NULL) {
        memmove(u, u + 1, strlen(u));
    }
    dv_widget_set_names(w, id, plain);
    return w;
}

static GtkWidget *button(const char *label, const char *id, GCallback cb, gpointer data)
{
    GtkWidget *b = gtk_button_new_with_mnemonic(label);
    g_autofree char *plain = g_strdup(label);
    char *u = strchr(plain, '_');
    if (u != NULL) {
        memmove(u, u + 1, strlen(u));
    }
    dv_widget_set_names(b, id, plain);
    g_signal_connect_swapped(b, "clicked", cb, data);
    return b;
}

static GtkComboBoxText *combo(const char *const *ids_and_labels)
{
    GtkComboBoxText *c = GTK_COMBO_BOX_TEXT(gtk_combo_box_text_new());
    for (const char *const *p = ids_and_labels; p[0] != NULL; p += 2) {
        gtk_combo_box_text_append(c, p[0], p[1]);
    }
    gtk_combo_box_set_active(GTK_COMBO_BOX(c), 0);
    return c;
}

static void destroy_child(GtkWidget *w, gpointer data)
{
    gtk_widget_destroy(w);
}

static void refill_disks(DvSettingsDialog *self)
{
    gtk_container_foreach(GTK_CONTAINER(self->disks), destroy_child, NULL);
    for (guint i = 0; i < self->cfg->disks->len; i++) {
        const struct dv_disk *d = g_ptr_array_index(self->cfg->disks, i);
        guint64 size = dv_disk_image_size(d->path, NULL);
        g_autofree char *text = g_strdup_printf(
            "%s — %s, %s, %.1f GiB%s", d->path, d->format ? d->format : "probed",
            d->bus ? d->bus : "virtio", (double)size / GIB, d->readonly ? ", read-only" : "");
        GtkWidget *l = gtk_label_new(text);
        gtk_label_set_xalign(GTK_LABEL(l), 0);
        gtk_label_set_ellipsize(GTK_LABEL(l), PANGO_ELLIPSIZE_START);
        g_autofree char *id = g_strdup_printf("settings-disk-%u", i);
        dv_widget_set_names(l, id, text);
        gtk_list_box_insert(self->disks, l, -1);
    }
    gtk_widget_show_all(GTK_WIDGET(self->disks));
}

static void refill_nets(DvSettingsDialog *self)
{
    gtk_container_foreach(GTK_CONTAINER(self->nets), destroy_child, NULL);
    for (guint i = 0; i < self->cfg->nets->len; i++) {
        const struct dv_net *n = g_ptr_array_index(self->cfg->nets, i);
        g_autofree char *text = g_strdup_printf(
            "%s%s%s%s%s", g_str_equal(n->type, "tap") ? "tap" : "user NAT", n->ifname ? " " : "",
            n->ifname ? n->ifname : "", n->mac ? ", " : "", n->mac ? n->mac : "");
        GtkWidget *l = gtk_label_new(text);
        gtk_label_set_xalign(GTK_LABEL(l), 0);
        g_autofree char *id = g_strdup_printf("settings-net-%u", i);
        dv_widget_set_names(l, id, text);
        gtk_list_box_insert(self->nets, l, -1);
    }
    gtk_widget_show_all(GTK_WIDGET(self->nets));
}

static int selected_index(GtkListBox *box)
{
    GtkListBoxRow *row = gtk_list_box_get_selected_row(box);
    return row ? gtk_list_box_row_get_index(row) : -1;
}

static void on_disk_add(DvSettingsDialog *self)
{
    g_autofree char *path = entry_text(self->disk_path);
    g_autoptr(GError) e = NULL;
    const char *fmt = path ? dv_disk_image_probe(path, &e) : NULL;
    if (path == NULL || fmt == NULL) {
        if (e == NULL) {
            e = g_error_new(DV_ERROR, DV_ERROR_INVALID, "Type the path of a disk image first");
        }
        show_error(self, e, GTK_WIDGET(self->disk_path));
        return;
    }
    struct dv_disk *d = dv_vm_config_add_disk(self->cfg, path, fmt, false);
    d->bus = g_strdup(gtk_combo_box_get_active_id(GTK_COMBO_BOX(self->disk_bus)));
    gtk_label_set_text(self->error_label, "");
    refill_disks(self);
}

static void on_disk_create(DvSettingsDialog *self)
{
    g_autofree char *path = entry_text(self->disk_path);
    const char *fmt = gtk_combo_box_get_active_id(GTK_COMBO_BOX(self->disk_format));
    g_autoptr(GError) e = NULL;
    if (path == NULL) {
        /* A new image goes into the VM's directory. */
        for (guint i = 1; path == NULL || g_file_test(path, G_FILE_TEST_EXISTS); i++) {
            g_free(path);
            g_autofree char *file = g_strdup_printf("disk%u.%s", i, fmt);
            path = g_build_filename(dv_vm_get_dir(self->vm), file, NULL);
        }
    }
    guint64 size = (guint64)gtk_spin_button_get_value_as_int(self->disk_size) * GIB;
    if (!dv_disk_image_create(path, fmt, size, &e)) {
        show_error(self, e, GTK_WIDGET(self->disk_path));
        return;
    }
    struct dv_disk *d = dv_vm_config_add_disk(self->cfg, path, fmt, false);
    d->bus = g_strdup(gtk_combo_box_get_active_id(GTK_COMBO_BOX(self->disk_bus)));
    gtk_entry_set_text(self->disk_path, "");
    gtk_label_set_text(self->error_label, "");
    refill_disks(self);
}

static void on_disk_remove(DvSettingsDialog *self)
{
    int i = selected_index(self->disks);
    if (i >= 0) {
        /* The image file stays: removing a disk from a VM never deletes data. */
        g_ptr_array_remove_index(self->cfg->disks, (guint)i);
        refill_disks(self);
    }
}

static void on_disk_resize(DvSettingsDialog *self)
{
    int i = selected_index(self->disks);
    if (i < 0) {
        return;
    }
    const struct dv_disk *d = g_ptr_array_index(self->cfg->disks, (guint)i);
    guint64 size = (guint64)gtk_spin_button_get_value_as_int(self->disk_size) * GIB;
    g_autoptr(GError) e = NULL;
    if (!dv_disk_image_resize(d->path, size, &e)) {
        show_error(self, e, GTK_WIDGET(self->disk_size));
        return;
    }
    refill_disks(self);
}

static void on_net_add(DvSettingsDialog *self)
{
    const char *type = gtk_combo_box_get_active_id(GTK_COMBO_BOX(self->net_type));
    g_autofree char *ifname = entry_text(self->net_ifname);
    dv_vm_config_add_net(self->cfg, type, g_str_equal(type, "tap") ? ifname : NULL, NULL);
    refill_nets(self);
}

static void on_net_remove(DvSettingsDialog *self)
{
    int i = selected_index(self->nets);
    if (i >= 0) {
        g_ptr_array_remove_index(self->cfg->nets, (guint)i);
        refill_nets(self);
    }
}

static void cdrom_done(GObject *src, GAsyncResult *res, gpointer data)
{
    DvSettingsDialog *self = data; /* our reference; vm is NULL once the dialog is destroyed */
    g_autoptr(GError) e = NULL;
    gboolean ok = dv_vm_settings_change_cdrom_finish(DV_VM(src), res, &e);
    if (self->vm == NULL) {
        if (!ok) {
            g_warning("%s", e->message); /* the dialog is gone: nowhere else to show it */
        }
    } else {
        if (ok) {
            gtk_label_set_text(self->error_label, "The CD-ROM was changed.");
            g_free(self->cfg->cdrom);
            self->cfg->cdrom = g_strdup(dv_vm_get_config(self->vm)->cdrom);
        } else {
            show_error(self, e, GTK_WIDGET(self->cdrom));
        }
    }
    g_object_unref(self);
}

static void change_cdrom(DvSettingsDialog *self, gboolean eject)
{
    g_autofree char *iso = eject ? NULL : entry_text(self->cdrom);
    if (eject) {
        gtk_entry_set_text(self->cdrom, "");
    }
    dv_vm_settings_change_cdrom(self->vm, iso, FALSE, NULL, cdrom_done, g_object_ref(self));
}

static void on_cd_change(DvSettingsDialog *self)
{
    change_cdrom(self, FALSE);
}

static void on_cd_eject(DvSettingsDialog *self)
{
    change_cdrom(self, TRUE);
}

/* The widgets' values into the edited copy. */
static void read_fields(DvSettingsDialog *self)
{
    struct dv_vm_config *c = self->cfg;
    gtk_spin_button_update(self->memory);
    gtk_spin_button_update(self->vcpus);
    gtk_spin_button_update(self->vnc_port);
    c->memory_mib = (guint64)gtk_spin_button_get_value_as_int(self->memory);
    c->vcpus = (guint)gtk_spin_button_get_value_as_int(self->vcpus);
    const char *display = gtk_combo_box_get_active_id(GTK_COMBO_BOX(self->display));
    g_free(c->display);
    c->display = g_strcmp0(display, "virtio-gpu") == 0 ? g_strdup(display) : NULL;
    g_free(c->firmware);
    c->firmware = gtk_toggle_button_get_active(self->firmware) ? g_strdup("bios") : NULL;
    const char *boot = gtk_combo_box_get_active_id(GTK_COMBO_BOX(self->boot));
    g_free(c->boot);
    c->boot = c->firmware && g_strcmp0(boot, "default") != 0 ? g_strdup(boot) : NULL;
    g_free(c->cdrom);
    c->cdrom = entry_text(self->cdrom);
    c->vnc = gtk_toggle_button_get_active(self->vnc);
    g_free(c->vnc_listen);
    c->vnc_listen = entry_text(self->vnc_listen);
    c->vnc_port = (guint)gtk_spin_button_get_value_as_int(self->vnc_port);
    g_free(c->vnc_password);
    c->vnc_password = entry_text(self->vnc_password);
}

static GtkWidget *field_widget(DvSettingsDialog *self, const char *field)
{
    static const struct {
        const char *field;
        size_t offset;
    } map[] = {
        {"memory", G_STRUCT_OFFSET(DvSettingsDialog, memory)},
        {"vcpus", G_STRUCT_OFFSET(DvSettingsDialog, vcpus)},
        {"display", G_STRUCT_OFFSET(DvSettingsDialog, display)},
        {"disk", G_STRUCT_OFFSET(DvSettingsDialog, disk_path)},
        {"cdrom", G_STRUCT_OFFSET(DvSettingsDialog, cdrom)},
        {"boot", G_STRUCT_OFFSET(DvSettingsDialog, boot)},
        {"net", G_STRUCT_OFFSET(DvSettingsDialog, net_ifname)},
        {"vnc-listen", G_STRUCT_OFFSET(DvSettingsDialog, vnc_listen)},
        {"vnc-port", G_STRUCT_OFFSET(DvSettingsDialog, vnc_port)},
        {"vnc-password", G_STRUCT_OFFSET(DvSettingsDialog, vnc_password)},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(map); i++) {
        if (g_strcmp0(field, map[i].field) == 0) {
            return G_STRUCT_MEMBER(GtkWidget *, self, map[i].offset);
        }
    }
    return NULL;
}

static void on_response(GtkDialog *dialog, int response)
{
    DvSettingsDialog *self = DV_SETTINGS_DIALOG(dialog);
    if (response != GTK_RESPONSE_OK || self->opened_running) {
        gtk_widget_destroy(GTK_WIDGET(dialog));
        return;
    }
    read_fields(self);
    const char *field = NULL;
    g_autoptr(GError) e = NULL;
    if (!dv_vm_settings_validate(self->cfg, 0, &field, &e) ||
        !dv_vm_settings_save(self->vm, self->cfg, &e)) {
        show_error(self, e, field_widget(self, field));
        return;
    }
    gtk_widget_destroy(GTK_WIDGET(dialog));
}

static void dv_settings_dialog_dispose(GObject *obj)
{
    DvSettingsDialog *self = DV_SETTINGS_DIALOG(obj);
    g_clear_object(&self->vm);
    g_clear_pointer(&self->cfg, dv_vm_config_free);
    G_OBJECT_CLASS(dv_settings_dialog_parent_class)->dispose(obj);
}

static void dv_settings_dialog_class_init(DvSettingsDialogClass *klass)
{
    G_OBJECT_CLASS(klass)->dispose = dv_settings_dialog_dispose;
    GTK_DIALOG_CLASS(klass)->response = on_response;
}

static void dv_settings_dialog_init(DvSettingsDialog *self)
{
}

static GtkWidget *frame(const char *title, GtkWidget *child)
{
    GtkWidget *f = gtk_frame_new(title);
    g_object_set(child, "margin", 6, NULL);
    gtk_container_add(GTK_CONTAINER(f), child);
    return f;
}

static GtkGrid *new_grid(void)
{
    GtkGrid *g = GTK_GRID(gtk_grid_new());
    gtk_grid_set_row_spacing(g, 6);
    gtk_grid_set_column_spacing(g, 12);
    return g;
}

static GtkWidget *build_general(DvSettingsDialog *self)
{
    GtkGrid *g = new_grid();
    self->memory =
        GTK_SPIN_BUTTON(gtk_spin_button_new_with_range(DV_MEMORY_MIN_MIB, DV_MEMORY_MAX_MIB, 64));
    gtk_entry_set_activates_default(GTK_ENTRY(self->memory), TRUE);
    add_row(g, 0, "_Memory (MiB)", GTK_WIDGET(self->memory), "settings-memory");
    self->vcpus = GTK_SPIN_BUTTON(gtk_spin_button_new_with_range(1, DV_VCPUS_MAX, 1));
    gtk_entry_set_activates_default(GTK_ENTRY(self->vcpus), TRUE);
    add_row(g, 1, "_vCPUs", GTK_WIDGET(self->vcpus), "settings-vcpus");
    static const char *const displays[] = {"vga", "VGA", "virtio-gpu", "virtio-gpu", NULL};
    self->display = combo(displays);
    add_row(g, 2, "_Display", GTK_WIDGET(self->display), "settings-display");
    self->firmware = GTK_TOGGLE_BUTTON(gtk_check_button_new_with_mnemonic("_BIOS (SeaBIOS)"));
    add_row(g, 3, "Firmware", GTK_WIDGET(self->firmware), "settings-firmware");
    static const char *const boots[] = {
        "default",    "BIOS default",      "cdrom,disk", "CD-ROM, then disk",
        "disk,cdrom", "Disk, then CD-ROM", "disk",       "Disk only",
        "cdrom",      "CD-ROM only",       NULL};
    self->boot = combo(boots);
    add_row(g, 4, "Boot _order", GTK_WIDGET(self->boot), "settings-boot");
    return frame("General", GTK_WIDGET(g));
}

static GtkWidget *build_cdrom(DvSettingsDialog *self)
{
    GtkGrid *g = new_grid();
    self->cdrom = GTK_ENTRY(gtk_entry_new());
    gtk_entry_set_placeholder_text(self->cdrom, "/path/to/image.iso (empty: no CD-ROM drive)");
    add_row(g, 0, "_ISO image", GTK_WIDGET(self->cdrom), "settings-cdrom");
    GtkWidget *box = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 6);
    self->cd_change =
        button("C_hange now", "settings-cdrom-change", G_CALLBACK(on_cd_change), self);
    self->cd_eject = button("_Eject", "settings-cdrom-eject", G_CALLBACK(on_cd_eject), self);
    gtk_container_add(GTK_CONTAINER(box), self->cd_change);
    gtk_container_add(GTK_CONTAINER(box), self->cd_eject);
    gtk_grid_attach(g, box, 1, 1, 1, 1);
    return frame("CD-ROM (can be changed while the VM runs)", GTK_WIDGET(g));
}

static GtkWidget *build_disks(DvSettingsDialog *self)
{
    GtkGrid *g = new_grid();
    self->disks = GTK_LIST_BOX(gtk_list_box_new());
    dv_widget_set_names(GTK_WIDGET(self->disks), "settings-disks", "Disks");
    gtk_grid_attach(g, GTK_WIDGET(self->disks), 0, 0, 2, 1);
    self->disk_path = GTK_ENTRY(gtk_entry_new());
    gtk_entry_set_placeholder_text(self->disk_path, "image path (empty with Create: in the VM)");
    add_row(g, 1, "Image _path", GTK_WIDGET(self->disk_path), "settings-disk-path");
    self->disk_size = GTK_SPIN_BUTTON(gtk_spin_button_new_with_range(1, 64 * 1024, 1));
    gtk_spin_button_set_value(self->disk_size, 16);
    add_row(g, 2, "_Size (GiB)", GTK_WIDGET(self->disk_size), "settings-disk-size");
    static const char *const formats[] = {"qcow2", "qcow2", "raw", "raw", NULL};
    self->disk_format = combo(formats);
    add_row(g, 3, "_Format", GTK_WIDGET(self->disk_format), "settings-disk-format");
    static const char *const buses[] = {"virtio", "virtio-blk", "sata", "SATA (AHCI)", NULL};
    self->disk_bus = combo(buses);
    add_row(g, 4, "_Bus", GTK_WIDGET(self->disk_bus), "settings-disk-bus");
    GtkWidget *box = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 6);
    gtk_container_add(GTK_CONTAINER(box),
                      button("_Add image", "settings-disk-add", G_CALLBACK(on_disk_add), self));
    gtk_container_add(GTK_CONTAINER(box), button("Create _new", "settings-disk-create",
                                                 G_CALLBACK(on_disk_create), self));
    gtk_container_add(GTK_CONTAINER(box),
                      button("_Remove", "settings-disk-remove", G_CALLBACK(on_disk_remove), self));
    gtk_container_add(GTK_CONTAINER(box), button("_Grow to size", "settings-disk-resize",
                                                 G_CALLBACK(on_disk_resize), self));
    gtk_grid_attach(g, box, 0, 5, 2, 1);
    return frame("Disks", GTK_WIDGET(g));
}

static GtkWidget *build_net_vnc(DvSettingsDialog *self)
{
    GtkGrid *g = new_grid();
    self->nets = GTK_LIST_BOX(gtk_list_box_new());
    dv_widget_set_names(GTK_WIDGET(self->nets), "settings-nets", "Network cards");
    gtk_grid_attach(g, GTK_WIDGET(self->nets), 0, 0, 2, 1);
    static const char *const types[] = {"user", "User NAT", "tap", "Host tap device", NULL};
    self->net_type = combo(types);
    add_row(g, 1, "_Type", GTK_WIDGET(self->net_type), "settings-net-type");
    self->net_ifname = GTK_ENTRY(gtk_entry_new());
    gtk_entry_set_placeholder_text(self->net_ifname, "tap0 (tap only; empty: the engine picks)");
    add_row(g, 2, "Tap _interface", GTK_WIDGET(self->net_ifname), "settings-net-ifname");
    GtkWidget *box = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 6);
    gtk_container_add(GTK_CONTAINER(box),
                      button("Add _card", "settings-net-add", G_CALLBACK(on_net_add), self));
    gtk_container_add(GTK_CONTAINER(box), button("Remove ca_rd", "settings-net-remove",
                                                 G_CALLBACK(on_net_remove), self));
    gtk_grid_attach(g, box, 0, 3, 2, 1);
    self->vnc = GTK_TOGGLE_BUTTON(gtk_check_button_new_with_mnemonic("VNC _server"));
    dv_widget_set_names(GTK_WIDGET(self->vnc), "settings-vnc", "VNC server");
    gtk_grid_attach(g, GTK_WIDGET(self->vnc), 1, 4, 1, 1);
    self->vnc_listen = GTK_ENTRY(gtk_entry_new());
    gtk_entry_set_placeholder_text(self->vnc_listen, "127.0.0.1");
    add_row(g, 5, "VNC _address", GTK_WIDGET(self->vnc_listen), "settings-vnc-listen");
    self->vnc_port = GTK_SPIN_BUTTON(gtk_spin_button_new_with_range(1, 65535, 1));
    add_row(g, 6, "VNC _port", GTK_WIDGET(self->vnc_port), "settings-vnc-port");
    self->vnc_password = GTK_ENTRY(gtk_entry_new());
    gtk_entry_set_visibility(self->vnc_password, FALSE);
    gtk_entry_set_max_length(self->vnc_password, DV_VNC_PASSWORD_MAX);
    add_row(g, 7, "VNC pass_word", GTK_WIDGET(self->vnc_password), "settings-vnc-password");
    return frame("Network and remote display", GTK_WIDGET(g));
}

static void fill(DvSettingsDialog *self)
{
    const struct dv_vm_config *c = self->cfg;
    gtk_spin_button_set_value(self->memory, (double)c->memory_mib);
    gtk_spin_button_set_value(self->vcpus, c->vcpus);
    gtk_combo_box_set_active_id(GTK_COMBO_BOX(self->display), dv_vm_config_display(c));
    gtk_toggle_button_set_active(self->firmware, c->firmware != NULL);
    gtk_combo_box_set_active_id(GTK_COMBO_BOX(self->boot), c->boot ? c->boot : "default");
    gtk_entry_set_text(self->cdrom, c->cdrom ? c->cdrom : "");
    gtk_toggle_button_set_active(self->vnc, c->vnc);
    gtk_entry_set_text(self->vnc_listen, c->vnc_listen ? c->vnc_listen : "");
    gtk_spin_button_set_value(self->vnc_port, c->vnc_port ? c->vnc_port : 5900);
    gtk_entry_set_text(self->vnc_password, c->vnc_password ? c->vnc_password : "");
    refill_disks(self);
    refill_nets(self);
}

GtkWidget *dv_settings_dialog_new(GtkWindow *parent, DvVm *vm)
{
    g_autofree char *title = g_strdup_printf("Settings of %s", dv_vm_get_name(vm));
    DvSettingsDialog *self =
        g_object_new(DV_TYPE_SETTINGS_DIALOG, "transient-for", parent, "use-header-bar", FALSE,
                     "modal", TRUE, "title", "VM Settings", NULL);
    dv_widget_set_names(GTK_WIDGET(self), "settings-dialog", title);
    self->vm = g_object_ref(vm);
    self->cfg = dv_vm_config_copy(dv_vm_get_config(vm));
    gboolean running = dv_vm_is_active(vm);
    self->opened_running = running; /* a VM started later makes Save fail with a message */

    GtkWidget *columns = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 12);
    GtkWidget *left = gtk_box_new(GTK_ORIENTATION_VERTICAL, 12);
    GtkWidget *right = gtk_box_new(GTK_ORIENTATION_VERTICAL, 12);
    self->hardware = gtk_box_new(GTK_ORIENTATION_VERTICAL, 12);
    gtk_container_add(GTK_CONTAINER(self->hardware), build_general(self));
    gtk_container_add(GTK_CONTAINER(self->hardware), build_disks(self));
    gtk_container_add(GTK_CONTAINER(left), self->hardware);
    gtk_container_add(GTK_CONTAINER(right), build_cdrom(self));
    GtkWidget *netvnc = build_net_vnc(self);
    gtk_container_add(GTK_CONTAINER(right), netvnc);
    gtk_container_add(GTK_CONTAINER(columns), left);
    gtk_container_add(GTK_CONTAINER(columns), right);
    g_object_set(columns, "margin", 12, NULL);
    GtkWidget *content = gtk_dialog_get_content_area(GTK_DIALOG(self));
    gtk_container_add(GTK_CONTAINER(content), columns);
    self->error_label = GTK_LABEL(gtk_label_new(running ? "The VM is running: only the CD-ROM "
                                                          "can be changed now."
                                                        : ""));
    gtk_label_set_line_wrap(self->error_label, TRUE);
    gtk_label_set_xalign(self->error_label, 0);
    g_object_set(self->error_label, "margin", 12, NULL);
    dv_widget_set_names(GTK_WIDGET(self->error_label), "settings-message", "Message");
    gtk_container_add(GTK_CONTAINER(content), GTK_WIDGET(self->error_label));

    gtk_dialog_add_button(GTK_DIALOG(self), "_Cancel", GTK_RESPONSE_CANCEL);
    GtkWidget *save =
        gtk_dialog_add_button(GTK_DIALOG(self), running ? "_Close" : "_Save", GTK_RESPONSE_OK);
    dv_widget_set_names(save, "settings-save", running ? "Close" : "Save");
    gtk_dialog_set_default_response(GTK_DIALOG(self), GTK_RESPONSE_OK);

    fill(self);
    gtk_widget_set_sensitive(self->hardware, !running);
    gtk_widget_set_sensitive(netvnc, !running);
    gtk_widget_set_sensitive(self->cd_change, running && self->cfg->cdrom != NULL);
    gtk_widget_set_sensitive(self->cd_eject, running && self->cfg->cdrom != NULL);
    gtk_widget_show_all(columns);
    gtk_widget_show(GTK_WIDGET(self->error_label));
    gtk_widget_grab_focus(GTK_WIDGET(running ? self->cdrom : GTK_ENTRY(self->memory)));
    return GTK_WIDGET(self);
}
