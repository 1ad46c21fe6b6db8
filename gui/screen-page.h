// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The "Screen" console page: the running VM's framebuffer through the local display channel
 * (docs/display-channel.md), mapped from the engine's memfd and drawn with cairo without a
 * copy; keyboard, pointer and a send-key menu go back over the same channel.
 */
#pragma once

#include "gui/console-page.h"

G_BEGIN_DECLS

#define DV_TYPE_SCREEN_PAGE (dv_screen_page_get_type())
G_DECLARE_FINAL_TYPE(DvScreenPage, dv_screen_page, DV, SCREEN_PAGE, GtkBox)

GtkWidget *dv_screen_page_new(void);

G_END_DECLS
