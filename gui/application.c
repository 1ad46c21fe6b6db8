// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * GtkApplication: loads the library ($XDG_DATA_HOME/deskvm/vms) at activation and opens the
 * window; a second launch raises the existing window (GApplication uniqueness).
 */
#include "gui/application.h"

#include "gui/library.h"
#include "gui/prefs.h"
#include "gui/window.h"

struct _DvApplication {
    GtkApplication parent;
    DvLibrary *library;
    GSettings *settings; /* NULL when the schema is not installed (uninstalled build) */
};

G_DEFINE_FINAL_TYPE(DvApplication, dv_application, GTK_TYPE_APPLICATION)

static void activate(GApplication *app)
{
    DvApplication *self = DV_APPLICATION(app);
    GtkWindow *win = gtk_application_get_active_window(GTK_APPLICATION(app));
    if (win == NULL) {
        g_autoptr(GError) error = NULL;
        struct dv_prefs prefs;
        dv_prefs_read(self->settings, &prefs);
        self->library = dv_library_new(prefs.vm_dir);
        gboolean ok = dv_library_load(self->library, &error);
        if (ok && dv_library_ensure_demo(self->library, &error) == NULL && error != NULL) {
            ok = FALSE;
        }
        if (ok) {
            dv_library_adopt_running(self->library);
        }
        DvWindow *w = dv_window_new(GTK_APPLICATION(app), self->library);
        if (!ok) {
            dv_window_notify_error(w, error);
        }
        win = GTK_WINDOW(w);
        gtk_window_set_default_size(win, prefs.window_width, prefs.window_height);
        if (prefs.window_maximized) {
            gtk_window_maximize(win);
        }
        dv_prefs_clear(&prefs);
    }
    gtk_window_present(win);
}

static void act_quit(GSimpleAction *a, GVariant *p, gpointer data)
{
    g_application_quit(data);
}

/* Before the windows go: the main window's size and state for the next start. */
static void shutdown(GApplication *app)
{
    DvApplication *self = DV_APPLICATION(app);
    GtkWindow *win = gtk_application_get_active_window(GTK_APPLICATION(app));
    if (win != NULL) {
        int w, h;
        gtk_window_get_size(win, &w, &h);
        dv_prefs_save_window(self->settings, w, h, gtk_window_is_maximized(win));
        g_settings_sync();
    }
    /* Like virt-manager, quitting leaves running VMs running; the next start re-attaches. */
    if (self->library != NULL) {
        dv_library_detach_all(self->library);
    }
    G_APPLICATION_CLASS(dv_application_parent_class)->shutdown(app);
}

static void startup(GApplication *app)
{
    G_APPLICATION_CLASS(dv_application_parent_class)->startup(app);
    DV_APPLICATION(app)->settings = dv_prefs_open(NULL);
    static const GActionEntry actions[] = {{"quit", act_quit}};
    g_action_map_add_action_entries(G_ACTION_MAP(app), actions, G_N_ELEMENTS(actions), app);
    static const struct {
        const char *action;
        const char *accel;
    } accels[] = {
        {"app.quit", "<Primary>q"},
        {"win.new", "<Primary>n"},
        {"win.import", "<Primary>o"},
        {"win.start", "<Primary>r"},
        {"win.shutdown", "<Primary><Shift>s"},
        {"win.force-off", "<Primary><Shift>k"},
        {"win.snapshot-take", "<Primary>t"},
        {"win.settings", "<Primary>e"},
        {"win.snapshot-revert", "<Primary><Shift>r"},
        {"win.page('serial')", "<Alt>1"},
        {"win.page('screen')", "<Alt>2"},
        {"win.page('snapshots')", "<Alt>3"},
        {"win.page('performance')", "<Alt>4"},
    };
    for (size_t i = 0; i < G_N_ELEMENTS(accels); i++) {
        const char *v[] = {accels[i].accel, NULL};
        gtk_application_set_accels_for_action(GTK_APPLICATION(app), accels[i].action, v);
    }
}

static void dv_application_dispose(GObject *obj)
{
    g_clear_object(&DV_APPLICATION(obj)->library);
    g_clear_object(&DV_APPLICATION(obj)->settings);
    G_OBJECT_CLASS(dv_application_parent_class)->dispose(obj);
}

static void dv_application_class_init(DvApplicationClass *klass)
{
    G_OBJECT_CLASS(klass)->dispose = dv_application_dispose;
    G_APPLICATION_CLASS(klass)->activate = activate;
    G_APPLICATION_CLASS(klass)->startup = startup;
    G_APPLICATION_CLASS(klass)->shutdown = shutdown;
}

static void dv_application_init(DvApplication *self)
{
}

DvApplication *dv_application_new(void)
{
    return g_object_new(DV_TYPE_APPLICATION, "application-id", DV_APPLICATION_ID, "flags",
                        G_APPLICATION_DEFAULT_FLAGS, NULL);
}
