// SPDX-License-Identifier: GPL-2.0-or-later
/* The serial console page: a VTE terminal showing the guest's COM1 and sending what is typed. */
#pragma once

#include "gui/console-page.h"

G_BEGIN_DECLS

#define DV_TYPE_SERIAL_CONSOLE (dv_serial_console_get_type())
G_DECLARE_FINAL_TYPE(DvSerialConsole, dv_serial_console, DV, SERIAL_CONSOLE, GtkBin)

GtkWidget *dv_serial_console_new(void);
/* Give the terminal the keyboard focus. */
void dv_serial_console_focus(DvSerialConsole *self);

G_END_DECLS
