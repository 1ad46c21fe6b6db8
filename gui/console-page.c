// SPDX-License-Identifier: GPL-2.0-or-later
/* The console-area page interface (see console-page.h). */
#include "gui/console-page.h"

G_DEFINE_INTERFACE(DvConsolePage, dv_console_page, GTK_TYPE_WIDGET)

static void dv_console_page_default_init(DvConsolePageInterface *iface)
{
}

const char *dv_console_page_get_title(DvConsolePage *self)
{
    return DV_CONSOLE_PAGE_GET_IFACE(self)->get_title(self);
}

void dv_console_page_set_vm(DvConsolePage *self, DvVm *vm)
{
    DV_CONSOLE_PAGE_GET_IFACE(self)->set_vm(self, vm);
}
