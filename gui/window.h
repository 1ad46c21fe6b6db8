// SPDX-License-Identifier: GPL-2.0-or-later
/* The main window: the VM library list, the actions, the console area and notifications. */
#pragma once

#include "gui/console-page.h"
#include "gui/library.h"

#include <gtk/gtk.h>

G_BEGIN_DECLS

#define DV_TYPE_WINDOW (dv_window_get_type())
G_DECLARE_FINAL_TYPE(DvWindow, dv_window, DV, WINDOW, GtkApplicationWindow)

DvWindow *dv_window_new(GtkApplication *app, DvLibrary *library);
/* Add a page to the console area (the display view and the snapshot manager plug in here). */
void dv_window_add_console_page(DvWindow *self, DvConsolePage *page);
/* Show @error in the notification bar with its fix hint. */
void dv_window_notify_error(DvWindow *self, const GError *error);

G_END_DECLS
