// SPDX-License-Identifier: GPL-2.0-or-later
/* The "Performance" console page: graphs of DvPerfMonitor's series (perf.h). */
#pragma once

#include "gui/console-page.h"

G_BEGIN_DECLS

#define DV_TYPE_PERF_PAGE (dv_perf_page_get_type())
G_DECLARE_FINAL_TYPE(DvPerfPage, dv_perf_page, DV, PERF_PAGE, GtkBox)

GtkWidget *dv_perf_page_new(void);

G_END_DECLS
