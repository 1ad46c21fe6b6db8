// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The application's preferences: the GSettings schema org.deskvm.Deskvm (packaging/), read
 * when it is installed, else built-in defaults (an uninstalled build has no schema; GSettings
 * would abort on g_settings_new, so the schema is looked up first). No GTK.
 */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define DV_PREFS_SCHEMA "org.deskvm.Deskvm"

struct dv_prefs {
    int window_width;
    int window_height;
    gboolean window_maximized;
    char *vm_dir;     /* NULL: $XDG_DATA_HOME/deskvm/vms */
    guint memory_mib; /* 0: from the host's size */
    guint cpus;       /* 0: from the host's size */
};

/* The schema's settings, or NULL when source (NULL: the default source) lacks the schema. */
GSettings *dv_prefs_open(GSettingsSchemaSource *source);
/* Fill p from settings, or with the schema's defaults when settings is NULL. */
void dv_prefs_read(GSettings *settings, struct dv_prefs *p);
void dv_prefs_clear(struct dv_prefs *p);
/* Save the window's size and state; nothing when settings is NULL. Sizes are clamped to the
 * schema's ranges. */
void dv_prefs_save_window(GSettings *settings, int width, int height, gboolean maximized);

G_END_DECLS
