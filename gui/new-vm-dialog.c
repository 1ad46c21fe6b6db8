// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * New-VM dialog: widgets <-> struct dv_new_vm. Validation is the view-model's; the dialog only
 * shows its message under the fields and focuses the field it names.
 */
#include "gui/new-vm-dialog.h"

#include "gui/dv-error.h"
#include "gui/new-vm.h"
#include "gui/prefs.h"

struct _DvNewVmDialog {
    GtkDialog parent;
    DvLibrary *library;
    GtkEntry *name_entry, *kernel_entry, *initrd_entry, *cmdline_entry, *iso_entry, *image_entry;
    GtkSpinButton *memory_spin, *vcpus_spin, *disk_spin;
    GtkToggleButton *demo_radio, *net_check, *iso_radio, *image_radio;
    GtkComboBox *image_mode_combo;
    GtkLabel *error_label;
};

G_DEFINE_FINAL_TYPE(DvNewVmDialog, dv_new_vm_dialog, GTK_TYPE_DIALOG)

enum { SIG_CREATED, N_SIGNALS };
static guint signals[N_SIGNALS];

static void on_boot_toggled(DvNewVmDialog *self)
{
    gboolean iso = gtk_toggle_button_get_active(self->iso_radio);
    gboolean image = gtk_toggle_button_get_active(self->image_radio);
    gboolean kernel = !gtk_toggle_button_get_active(self->demo_radio) && !iso && !image;
    gtk_widget_set_sensitive(GTK_WIDGET(self->kernel_entry), kernel);
    gtk_widget_set_sensitive(GTK_WIDGET(self->initrd_entry), kernel);
    gtk_widget_set_sensitive(GTK_WIDGET(self->cmdline_entry), kernel);
    gtk_widget_set_sensitive(GTK_WIDGET(self->iso_entry), iso);
    gtk_widget_set_sensitive(GTK_WIDGET(self->disk_spin), iso);
    gtk_widget_set_sensitive(GTK_WIDGET(self->image_entry), image);
    gtk_widget_set_sensitive(GTK_WIDGET(self->image_mode_combo), image);
}

static void read_fields(DvNewVmDialog *self, struct dv_new_vm *m)
{
    memset(m, 0, sizeof(*m));
    m->name = g_strdup(gtk_entry_get_text(self->name_entry));
    m->memory_mib = (guint64)gtk_spin_button_get_value_as_int(self->memory_spin);
    m->vcpus = (guint)gtk_spin_button_get_value_as_int(self->vcpus_spin);
    m->demo = gtk_toggle_button_get_active(self->demo_radio);
    m->kernel = g_strdup(gtk_entry_get_text(self->kernel_entry));
    m->initrd = g_strdup(gtk_entry_get_text(self->initrd_entry));
    m->cmdline = g_strdup(gtk_entry_get_text(self->cmdline_entry));
    m->user_net = gtk_toggle_button_get_active(self->net_check);
    if (gtk_toggle_button_get_active(self->iso_radio)) {
        m->iso = g_strstrip(g_strdup(gtk_entry_get_text(self->iso_entry)));
    }
    gtk_spin_button_update(self->disk_spin);
    m->disk_gib = (guint64)gtk_spin_button_get_value_as_int(self->disk_spin);
    if (gtk_toggle_button_get_active(self->image_radio)) {
        m->image = g_strstrip(g_strdup(gtk_entry_get_text(self->image_entry)));
    }
    const char *mode = gtk_combo_box_get_active_id(self->image_mode_combo);
    m->image_mode = g_strcmp0(mode, "copy") == 0  ? DV_IMAGE_COPY
                    : g_strcmp0(mode, "use") == 0 ? DV_IMAGE_USE
                                                  : DV_IMAGE_LINK;
}

static void show_error(DvNewVmDialog *self, const GError *error, const char *field)
{
    const char *hint = dv_error_fix_hint(error);
    g_autofree char *text =
        g_strdup_printf("%s%s%s", error->message, hint ? "\n" : "", hint ? hint : "");
    gtk_label_set_text(self->error_label, text);
    GtkWidget *w = g_strcmp0(field, "memory") == 0   ? GTK_WIDGET(self->memory_spin)
                   : g_strcmp0(field, "vcpus") == 0  ? GTK_WIDGET(self->vcpus_spin)
                   : g_strcmp0(field, "kernel") == 0 ? GTK_WIDGET(self->kernel_entry)
                   : g_strcmp0(field, "initrd") == 0 ? GTK_WIDGET(self->initrd_entry)
                   : g_strcmp0(field, "iso") == 0    ? GTK_WIDGET(self->iso_entry)
                   : g_strcmp0(field, "disk") == 0   ? GTK_WIDGET(self->disk_spin)
                   : g_strcmp0(field, "image") == 0  ? GTK_WIDGET(self->image_entry)
                                                     : GTK_WIDGET(self->name_entry);
    gtk_widget_grab_focus(w);
}

static void on_response(GtkDialog *dialog, int response)
{
    DvNewVmDialog *self = DV_NEW_VM_DIALOG(dialog);
    if (response != GTK_RESPONSE_OK) {
        gtk_widget_destroy(GTK_WIDGET(dialog));
        return;
    }
    struct dv_new_vm m;
    read_fields(self, &m);
    const char *field = NULL;
    g_autoptr(GError) error = NULL;
    DvVm *vm = dv_new_vm_create(&m, self->library, &field, &error);
    dv_new_vm_clear(&m);
    if (vm == NULL) {
        show_error(self, error, field);
        return;
    }
    g_signal_emit(self, signals[SIG_CREATED], 0, vm);
    gtk_widget_destroy(GTK_WIDGET(dialog));
}

static void dv_new_vm_dialog_dispose(GObject *obj)
{
    g_clear_object(&DV_NEW_VM_DIALOG(obj)->library);
    G_OBJECT_CLASS(dv_new_vm_dialog_parent_class)->dispose(obj);
}

static void dv_new_vm_dialog_class_init(DvNewVmDialogClass *klass)
{
    GtkWidgetClass *wc = GTK_WIDGET_CLASS(klass);
    G_OBJECT_CLASS(klass)->dispose = dv_new_vm_dialog_dispose;
    GTK_DIALOG_CLASS(klass)->response = on_response;
    gtk_widget_class_set_template_from_resource(wc, "/org/deskvm/Deskvm/new-vm-dialog.ui");
    gtk_widget_class_bind_template_child(wc, DvNewVmDialog, name_entry);
    gtk_widget_class_bind_template_child(wc, DvNewVmDialog, kernel_entry);
    gtk_widget_class_bind_template_child(wc, DvNewVmDialog, initrd_entry);
    gtk_widget_class_bind_template_child(wc, DvNewVmDialog, cmdline_entry);
    gtk_widget_class_bind_template_child(wc, DvNewVmDialog, memory_spin);
    gtk_widget_class_bind_template_child(wc, DvNewVmDialog, vcpus_spin);
    gtk_widget_class_bind_template_child(wc, DvNewVmDialog, demo_radio);
    gtk_widget_class_bind_template_child(wc, DvNewVmDialog, net_check);
    gtk_widget_class_bind_template_child(wc, DvNewVmDialog, iso_entry);
    gtk_widget_class_bind_template_child(wc, DvNewVmDialog, image_entry);
    gtk_widget_class_bind_template_child(wc, DvNewVmDialog, disk_spin);
    gtk_widget_class_bind_template_child(wc, DvNewVmDialog, iso_radio);
    gtk_widget_class_bind_template_child(wc, DvNewVmDialog, image_radio);
    gtk_widget_class_bind_template_child(wc, DvNewVmDialog, image_mode_combo);
    gtk_widget_class_bind_template_child(wc, DvNewVmDialog, error_label);
    gtk_widget_class_bind_template_callback(wc, on_boot_toggled);
    signals[SIG_CREATED] = g_signal_new("created", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0,
                                        NULL, NULL, NULL, G_TYPE_NONE, 1, DV_TYPE_VM);
}

static void dv_new_vm_dialog_init(DvNewVmDialog *self)
{
    gtk_widget_init_template(GTK_WIDGET(self));
}

GtkWidget *dv_new_vm_dialog_new(GtkWindow *parent, DvLibrary *library)
{
    DvNewVmDialog *self =
        g_object_new(DV_TYPE_NEW_VM_DIALOG, "transient-for", parent, "use-header-bar", FALSE, NULL);
    self->library = g_object_ref(library);
    struct dv_new_vm m;
    dv_new_vm_init_defaults(&m, library);
    g_autoptr(GSettings) settings = dv_prefs_open(NULL);
    struct dv_prefs prefs;
    dv_prefs_read(settings, &prefs);
    dv_new_vm_use_prefs(&m, prefs.memory_mib, prefs.cpus);
    dv_prefs_clear(&prefs);
    gtk_entry_set_text(self->name_entry, m.name);
    gtk_spin_button_set_value(self->memory_spin, (double)m.memory_mib);
    gtk_spin_button_set_value(self->vcpus_spin, m.vcpus);
    gtk_toggle_button_set_active(self->demo_radio, m.demo);
    gtk_spin_button_set_value(self->disk_spin, (double)m.disk_gib);
    dv_new_vm_clear(&m);
    on_boot_toggled(self);
    gtk_dialog_set_default_response(GTK_DIALOG(self), GTK_RESPONSE_OK);
    return GTK_WIDGET(self);
}
