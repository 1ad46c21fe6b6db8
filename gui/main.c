// SPDX-License-Identifier: GPL-2.0-or-later
/* deskvm: the desktop application (docs/gui.md). */
#include "gui/application.h"

int main(int argc, char **argv)
{
    g_autoptr(DvApplication) app = dv_application_new();
    g_set_application_name("deskvm");
    return g_application_run(G_APPLICATION(app), argc, argv);
}
