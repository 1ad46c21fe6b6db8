// SPDX-License-Identifier: GPL-2.0-or-later
/* The VM settings dialog; the rules and the file writing are vm-settings.h's view-model. */
#pragma once

#include "gui/vm.h"

#include <gtk/gtk.h>

G_BEGIN_DECLS

#define DV_TYPE_SETTINGS_DIALOG (dv_settings_dialog_get_type())
G_DECLARE_FINAL_TYPE(DvSettingsDialog, dv_settings_dialog, DV, SETTINGS_DIALOG, GtkDialog)

/* Edits @vm's definition. Hardware fields are read-only while the VM runs; the CD-ROM's
 * "Change now" and "Eject" then act on the running drive. Emits "error" (GError *) for a
 * failure that happens after the dialog closed. */
GtkWidget *dv_settings_dialog_new(GtkWindow *parent, DvVm *vm);

/* Give @widget the name tests and assistive technologies find it by (GtkWidget name and ATK
 * accessible name). */
void dv_widget_set_names(GtkWidget *widget, const char *id, const char *accessible);

G_END_DECLS
