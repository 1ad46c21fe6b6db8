// SPDX-License-Identifier: GPL-2.0-or-later
/* The deskvm GtkApplication: one library, one main window, the keyboard shortcuts. */
#pragma once

#include <gtk/gtk.h>

G_BEGIN_DECLS

#define DV_APPLICATION_ID "org.deskvm.Deskvm"
#define DV_TYPE_APPLICATION (dv_application_get_type())
G_DECLARE_FINAL_TYPE(DvApplication, dv_application, DV, APPLICATION, GtkApplication)

DvApplication *dv_application_new(void);

G_END_DECLS
