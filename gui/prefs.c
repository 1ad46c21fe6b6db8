// SPDX-License-Identifier: GPL-2.0-or-later
/* Preferences from GSettings, with built-in defaults (see prefs.h). */
#include "gui/prefs.h"

#include <string.h>

/* The schema's defaults and ranges (packaging/org.deskvm.Deskvm.gschema.xml). */
#define DEFAULT_WIDTH 960
#define DEFAULT_HEIGHT 640
#define MIN_WIDTH 320
#define MIN_HEIGHT 240
#define MAX_SIZE 32767

GSettings *dv_prefs_open(GSettingsSchemaSource *source)
{
    if (source == NULL) {
        source = g_settings_schema_source_get_default();
    }
    g_autoptr(GSettingsSchema) schema =
        source ? g_settings_schema_source_lookup(source, DV_PREFS_SCHEMA, TRUE) : NULL;
    if (schema == NULL) {
        return NULL;
    }
    return g_settings_new_full(schema, NULL, NULL);
}

void dv_prefs_read(GSettings *settings, struct dv_prefs *p)
{
    memset(p, 0, sizeof(*p));
    p->window_width = DEFAULT_WIDTH;
    p->window_height = DEFAULT_HEIGHT;
    if (settings == NULL) {
        return;
    }
    p->window_width = g_settings_get_int(settings, "window-width");
    p->window_height = g_settings_get_int(settings, "window-height");
    p->window_maximized = g_settings_get_boolean(settings, "window-maximized");
    g_autofree char *dir = g_settings_get_string(settings, "vm-directory");
    p->vm_dir = dir[0] != '\0' ? g_steal_pointer(&dir) : NULL;
    p->memory_mib = g_settings_get_uint(settings, "default-memory-mib");
    p->cpus = g_settings_get_uint(settings, "default-cpus");
}

void dv_prefs_clear(struct dv_prefs *p)
{
    g_free(p->vm_dir);
    memset(p, 0, sizeof(*p));
}

void dv_prefs_save_window(GSettings *settings, int width, int height, gboolean maximized)
{
    if (settings == NULL) {
        return;
    }
    g_settings_set_boolean(settings, "window-maximized", maximized);
    if (!maximized) { /* keep the size to go back to */
        g_settings_set_int(settings, "window-width", CLAMP(width, MIN_WIDTH, MAX_SIZE));
        g_settings_set_int(settings, "window-height", CLAMP(height, MIN_HEIGHT, MAX_SIZE));
    }
}
