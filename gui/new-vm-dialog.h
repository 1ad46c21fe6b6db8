// SPDX-License-Identifier: GPL-2.0-or-later
/* The New-VM assistant dialog; the fields, defaults and checks are new-vm.h's view-model. */
#pragma once

#include "gui/library.h"

#include <gtk/gtk.h>

G_BEGIN_DECLS

#define DV_TYPE_NEW_VM_DIALOG (dv_new_vm_dialog_get_type())
G_DECLARE_FINAL_TYPE(DvNewVmDialog, dv_new_vm_dialog, DV, NEW_VM_DIALOG, GtkDialog)

/* Emits "created" (DvVm *) once the VM is in @library; stays open while the input is invalid. */
GtkWidget *dv_new_vm_dialog_new(GtkWindow *parent, DvLibrary *library);

G_END_DECLS
