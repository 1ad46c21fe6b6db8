// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A page of the console area (a GtkNotebook in the window): the serial console today; the
 * framebuffer display and the snapshot manager plug in the same way. The window hands every
 * page the selected VM and nothing else; pages talk to the VM and its engine themselves.
 */
#pragma once

#include "gui/vm.h"

#include <gtk/gtk.h>

G_BEGIN_DECLS

#define DV_TYPE_CONSOLE_PAGE (dv_console_page_get_type())
G_DECLARE_INTERFACE(DvConsolePage, dv_console_page, DV, CONSOLE_PAGE, GtkWidget)

struct _DvConsolePageInterface {
    GTypeInterface parent;
    const char *(*get_title)(DvConsolePage *self);
    /* @vm may be NULL (nothing selected). Called again when the VM's state changes. */
    void (*set_vm)(DvConsolePage *self, DvVm *vm);
};

const char *dv_console_page_get_title(DvConsolePage *self);
void dv_console_page_set_vm(DvConsolePage *self, DvVm *vm);

G_END_DECLS
