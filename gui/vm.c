// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A library VM and its run state. Start derives deskvm-vm's arguments from domain.xml (read
 * again at each start, so an edit made while stopped counts), with the QMP socket in
 * $XDG_RUNTIME_DIR/deskvm/UUID.qmp and the engine's stderr in the VM directory's engine.log.
 */
#include "gui/vm.h"

#include "gui/snapshots.h"

#include "gui/dv-error.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <stdio.h>

struct _DvVm {
    GObject parent;
    char *dir;
    char *name;
    struct dv_vm_config *config;
    DvVmState state;
    GError *error;
    DvEngine *engine;
    char *display_path; /* the engine's display channel socket while it runs */
    FILE *transcript;   /* serial.log in the VM directory: the console's output while it ran */
    gboolean vnc_password_sent;
};

G_DEFINE_FINAL_TYPE(DvVm, dv_vm, G_TYPE_OBJECT)

enum { PROP_0, PROP_STATE, N_PROPS };
static GParamSpec *props[N_PROPS];
enum { SIG_ERROR, N_SIGNALS };
static guint signals[N_SIGNALS];

static void set_state(DvVm *self, DvVmState state)
{
    if (self->state != state) {
        self->state = state;
        g_object_notify_by_pspec(G_OBJECT(self), props[PROP_STATE]);
    }
}

static void set_error(DvVm *self, GError *error)
{
    g_clear_error(&self->error);
    self->error = error;
}

/* $XDG_RUNTIME_DIR/deskvm/<uuid><ext>: the engine's sockets and pid file. */
static char *runtime_path(DvVm *self, const char *ext)
{
    g_autofree char *file = g_strdup_printf(
        "%s%s", self->config && self->config->uuid ? self->config->uuid : self->name, ext);
    return g_build_filename(g_get_user_runtime_dir(), "deskvm", file, NULL);
}

static void drop_engine(DvVm *self)
{
    if (self->transcript != NULL) {
        fclose(self->transcript);
        self->transcript = NULL;
    }
    if (self->engine != NULL) {
        g_signal_handlers_disconnect_by_data(self->engine, self);
        g_clear_object(&self->engine);
    }
}

static void dv_vm_dispose(GObject *obj)
{
    DvVm *self = DV_VM(obj);
    if (self->engine != NULL) {
        /* The engine's pending callbacks hold references to it: dispose it now, which kills
         * the process unless the app detached it (dv_vm_detach). */
        g_signal_handlers_disconnect_by_data(self->engine, self);
        g_object_run_dispose(G_OBJECT(self->engine));
    }
    drop_engine(self);
    G_OBJECT_CLASS(dv_vm_parent_class)->dispose(obj);
}

static void dv_vm_finalize(GObject *obj)
{
    DvVm *self = DV_VM(obj);
    g_free(self->dir);
    g_free(self->display_path);
    g_free(self->name);
    dv_vm_config_free(self->config);
    g_clear_error(&self->error);
    G_OBJECT_CLASS(dv_vm_parent_class)->finalize(obj);
}

static void dv_vm_get_property(GObject *obj, guint id, GValue *value, GParamSpec *pspec)
{
    switch (id) {
    case PROP_STATE:
        g_value_set_int(value, DV_VM(obj)->state);
        break;
    default:
        G_OBJECT_WARN_INVALID_PROPERTY_ID(obj, id, pspec);
    }
}

static void dv_vm_class_init(DvVmClass *klass)
{
    GObjectClass *oc = G_OBJECT_CLASS(klass);
    oc->dispose = dv_vm_dispose;
    oc->finalize = dv_vm_finalize;
    oc->get_property = dv_vm_get_property;
    props[PROP_STATE] = g_param_spec_int("state", NULL, NULL, DV_VM_STOPPED, DV_VM_BROKEN,
                                         DV_VM_STOPPED, G_PARAM_READABLE | G_PARAM_STATIC_STRINGS);
    g_object_class_install_properties(oc, N_PROPS, props);
    signals[SIG_ERROR] = g_signal_new("error", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL,
                                      NULL, NULL, G_TYPE_NONE, 1, G_TYPE_ERROR);
}

static void dv_vm_init(DvVm *self)
{
}

/* Read domain.xml again; on failure the VM turns BROKEN and keeps the reason. */
static gboolean reload_config(DvVm *self, GError **error)
{
    g_autofree char *path = dv_vm_get_xml_path(self);
    g_autofree char *xml = NULL;
    GError *local = NULL;
    struct dv_vm_config *cfg = NULL;
    if (!g_file_get_contents(path, &xml, NULL, &local)) {
        GError *e =
            g_error_new(DV_ERROR, DV_ERROR_CORRUPT, "Cannot read %s: %s", path, local->message);
        g_error_free(local);
        local = e;
    } else {
        cfg = dv_vm_config_from_xml(xml, &local);
        if (cfg != NULL && g_strcmp0(cfg->name, self->name) != 0) {
            local = g_error_new(DV_ERROR, DV_ERROR_CORRUPT,
                                "%s names the VM \"%s\" but lives in the directory \"%s\"", path,
                                cfg->name, self->name);
            dv_vm_config_free(g_steal_pointer(&cfg));
        } else if (cfg == NULL) {
            g_prefix_error(&local, "%s: ", path);
        }
    }
    if (cfg == NULL) {
        if (error != NULL) {
            *error = g_error_copy(local);
        }
        set_error(self, local);
        set_state(self, DV_VM_BROKEN);
        return FALSE;
    }
    dv_vm_config_free(self->config);
    self->config = cfg;
    if (self->state == DV_VM_BROKEN) {
        set_error(self, NULL);
        set_state(self, DV_VM_STOPPED);
    }
    return TRUE;
}

gboolean dv_vm_reload(DvVm *self, GError **error)
{
    if (!reload_config(self, error)) {
        return FALSE;
    }
    g_object_notify_by_pspec(G_OBJECT(self), props[PROP_STATE]); /* the window shows the sizes */
    return TRUE;
}

DvVm *dv_vm_load(const char *dir)
{
    DvVm *self = g_object_new(DV_TYPE_VM, NULL);
    self->dir = g_strdup(dir);
    self->name = g_path_get_basename(dir);
    reload_config(self, NULL);
    return self;
}

const char *dv_vm_get_name(DvVm *self)
{
    return self->name;
}

const char *dv_vm_get_dir(DvVm *self)
{
    return self->dir;
}

char *dv_vm_get_xml_path(DvVm *self)
{
    return g_build_filename(self->dir, "domain.xml", NULL);
}

DvVmState dv_vm_get_state(DvVm *self)
{
    return self->state;
}

const char *dv_vm_state_label(DvVmState state)
{
    switch (state) {
    case DV_VM_STOPPED:
        return "Stopped";
    case DV_VM_STARTING:
        return "Starting";
    case DV_VM_RUNNING:
        return "Running";
    case DV_VM_PAUSED:
        return "Paused";
    case DV_VM_STOPPING:
        return "Shutting down";
    case DV_VM_CRASHED:
        return "Crashed";
    case DV_VM_GUEST_ERROR:
        return "Guest error";
    case DV_VM_BROKEN:
        return "Cannot load";
    }
    return "?";
}

const struct dv_vm_config *dv_vm_get_config(DvVm *self)
{
    return self->config;
}

const GError *dv_vm_get_error(DvVm *self)
{
    return self->error;
}

const char *dv_vm_get_display_path(DvVm *self)
{
    return self->engine != NULL ? self->display_path : NULL;
}

DvEngine *dv_vm_get_engine(DvVm *self)
{
    return self->engine;
}

gboolean dv_vm_is_active(DvVm *self)
{
    return self->engine != NULL;
}

static void password_done(GObject *src, GAsyncResult *res, gpointer data)
{
    DvVm *self = data;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) ret = dv_qmp_client_execute_finish(DV_QMP_CLIENT(src), res, &error);
    if (ret == NULL && !g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
        g_prefix_error(&error,
                       "%s: the VNC password was not set (VNC refuses every client): ", self->name);
        g_signal_emit(self, signals[SIG_ERROR], 0, error);
    }
    g_object_unref(self);
}

/* The first run state means QMP answers: give the VNC server its password (never passed on the
 * command line, where every local user could read it). */
static void send_vnc_password(DvVm *self, DvEngine *engine)
{
    DvQmpClient *qmp = dv_engine_get_qmp(engine);
    if (self->vnc_password_sent || qmp == NULL || self->config == NULL || !self->config->vnc ||
        self->config->vnc_password == NULL) {
        return;
    }
    self->vnc_password_sent = TRUE;
    g_autoptr(JsonObject) args = json_object_new();
    json_object_set_string_member(args, "protocol", "vnc");
    json_object_set_string_member(args, "password", self->config->vnc_password);
    dv_qmp_client_execute_async(qmp, "set_password", args, NULL, password_done, g_object_ref(self));
}

static void on_run_state(DvEngine *engine, const char *status, gpointer data)
{
    DvVm *self = data;
    send_vnc_password(self, engine);
    if (g_str_equal(status, "running")) {
        if (self->state != DV_VM_STOPPING) {
            set_state(self, DV_VM_RUNNING);
        }
    } else if (g_str_equal(status, "paused") || g_str_equal(status, "prelaunch")) {
        set_state(self, DV_VM_PAUSED);
    } else if (g_str_equal(status, "shutdown")) {
        set_state(self, DV_VM_STOPPING);
    } else if (g_str_equal(status, "internal-error") || g_str_equal(status, "guest-panicked")) {
        set_error(self, g_error_new(DV_ERROR, DV_ERROR_ENGINE,
                                    "The guest stopped on an internal error (%s); force it off "
                                    "or reset it",
                                    status));
        set_state(self, DV_VM_GUEST_ERROR);
        g_signal_emit(self, signals[SIG_ERROR], 0, self->error);
    }
}

static void on_exited(DvEngine *engine, gboolean crashed, const char *message, gpointer data)
{
    DvVm *self = data;
    g_object_ref(self);
    drop_engine(self);
    g_autofree char *pidfile = runtime_path(self, ".pid");
    g_unlink(pidfile);
    if (crashed) {
        set_error(self, g_error_new(DV_ERROR, DV_ERROR_ENGINE, "%s: %s", self->name, message));
        set_state(self, DV_VM_CRASHED);
        g_signal_emit(self, signals[SIG_ERROR], 0, self->error);
    } else {
        set_error(self, NULL);
        set_state(self, DV_VM_STOPPED);
    }
    g_object_unref(self);
}

static void on_command_failed(DvEngine *engine, const char *command, const char *message,
                              gpointer data)
{
    DvVm *self = data;
    g_autoptr(GError) e =
        g_error_new(DV_ERROR, DV_ERROR_QMP, "%s: %s failed: %s", self->name, command, message);
    g_signal_emit(self, signals[SIG_ERROR], 0, e);
}

static void on_serial(DvEngine *engine, GBytes *bytes, gpointer data)
{
    DvVm *self = data;
    if (self->transcript != NULL) {
        gsize len;
        const void *p = g_bytes_get_data(bytes, &len);
        fwrite(p, 1, len, self->transcript);
        fflush(self->transcript);
    }
}

static void attach_engine(DvVm *self, DvEngine *engine)
{
    self->engine = engine;
    self->vnc_password_sent = FALSE;
    g_signal_connect(engine, "run-state", G_CALLBACK(on_run_state), self);
    g_signal_connect(engine, "exited", G_CALLBACK(on_exited), self);
    g_signal_connect(engine, "command-failed", G_CALLBACK(on_command_failed), self);
    g_signal_connect(engine, "serial-output", G_CALLBACK(on_serial), self);
}

/* The end of serial.log, as much as the engine's replayed history could repeat: 64 KiB of
 * guest output, doubled by the \n -> \r\n translation at worst. NULL when there is none. */
static GBytes *transcript_tail(const char *path)
{
    enum { TAIL_MAX = 128 * 1024 };
    FILE *f = fopen(path, "rbe");
    if (f == NULL) {
        return NULL;
    }
    GBytes *tail = NULL;
    if (fseeko(f, 0, SEEK_END) == 0) {
        off_t size = ftello(f);
        off_t from = size > TAIL_MAX ? size - TAIL_MAX : 0;
        if (size > 0 && fseeko(f, from, SEEK_SET) == 0) {
            gsize want = (gsize)(size - from);
            guint8 *buf = g_malloc(want);
            gsize got = fread(buf, 1, want, f);
            tail = g_bytes_new_take(buf, got);
        }
    }
    fclose(f);
    return tail;
}

gboolean dv_vm_adopt(DvVm *self)
{
    if (self->engine != NULL || self->config == NULL || self->config->uuid == NULL) {
        return FALSE;
    }
    g_autofree char *pidfile = runtime_path(self, ".pid");
    g_autofree char *text = NULL;
    if (!g_file_get_contents(pidfile, &text, NULL, NULL)) {
        return FALSE;
    }
    char *end = NULL;
    gint64 pid = g_ascii_strtoll(text, &end, 10);
    g_autofree char *qmp = runtime_path(self, ".qmp");
    g_autofree char *log = g_build_filename(self->dir, "engine.log", NULL);
    g_autofree char *transcript = g_build_filename(self->dir, "serial.log", NULL);
    g_autoptr(GBytes) seen = transcript_tail(transcript);
    DvEngine *engine = NULL;
    if (end != text && pid > 0 && pid <= G_MAXINT) {
        engine = dv_engine_adopt((GPid)pid, qmp, log, seen, NULL);
    }
    if (engine == NULL) {
        g_unlink(pidfile); /* stale: that engine is gone (or the pid is someone else's now) */
        return FALSE;
    }
    attach_engine(self, engine);
    /* The same run goes on: its transcript too (the engine's replay adds only what is new). */
    self->transcript = fopen(transcript, "ae");
    g_free(self->display_path);
    self->display_path = runtime_path(self, ".display");
    set_error(self, NULL);
    set_state(self, DV_VM_STARTING);
    return TRUE;
}

void dv_vm_detach(DvVm *self)
{
    if (self->engine != NULL) {
        dv_engine_detach(self->engine);
    }
}

static char *runtime_dir(GError **error)
{
    char *dir = g_build_filename(g_get_user_runtime_dir(), "deskvm", NULL);
    if (g_mkdir_with_parents(dir, 0700) < 0) {
        int e = errno;
        g_set_error(error, DV_ERROR, DV_ERROR_ENGINE, "Cannot create %s: %s", dir, g_strerror(e));
        g_free(dir);
        return NULL;
    }
    return dir;
}

static gboolean start(DvVm *self, gboolean paused, GError **error)
{
    if (self->engine != NULL || self->state == DV_VM_STARTING) {
        g_set_error(error, DV_ERROR, DV_ERROR_BUSY, "%s is already running", self->name);
        return FALSE;
    }
    if (!reload_config(self, error)) {
        return FALSE;
    }
    if (!dv_vm_config_check_runnable(self->config, error) || !dv_engine_check_kvm(error)) {
        return FALSE;
    }
    g_autofree char *rdir = runtime_dir(error);
    if (rdir == NULL) {
        return FALSE;
    }
    g_autofree char *sock_name =
        g_strdup_printf("%s.qmp", self->config->uuid ? self->config->uuid : self->name);
    g_autofree char *qmp = g_build_filename(rdir, sock_name, NULL);
    g_autofree char *serial_name =
        g_strdup_printf("%s.serial", self->config->uuid ? self->config->uuid : self->name);
    g_autofree char *serial = g_build_filename(rdir, serial_name, NULL);
    g_autofree char *log = g_build_filename(self->dir, "engine.log", NULL);
    g_autofree char *binary = dv_engine_find_binary();
    /* The snapshot tree lives in the VM's directory; once it holds a snapshot, the disks run
     * on the overlays its index names (docs/gui.md, "Snapshots"). */
    g_autofree char *snapdir = g_build_filename(self->dir, "snapshots", NULL);
    if (g_mkdir_with_parents(snapdir, 0755) < 0) {
        int e = errno;
        g_set_error(error, DV_ERROR, DV_ERROR_INVALID, "Cannot create %s: %s", snapdir,
                    g_strerror(e));
        return FALSE;
    }
    GError *index_error = NULL;
    g_auto(GStrv) active = dv_snapshot_active_disks(snapdir, &index_error);
    if (index_error != NULL) {
        g_propagate_error(error, index_error);
        return FALSE;
    }
    g_auto(GStrv) config_args =
        dv_vm_config_engine_args(self->config, qmp, serial, snapdir, (const char *const *)active);
    /* Every VM gets the VGA and the local display channel the Screen page connects to. */
    g_autofree char *display_name =
        g_strdup_printf("%s.display", self->config->uuid ? self->config->uuid : self->name);
    g_free(self->display_path);
    self->display_path = g_build_filename(rdir, display_name, NULL);
    g_autoptr(GStrvBuilder) argb = g_strv_builder_new();
    g_strv_builder_addv(argb, (const char **)config_args); /* --display comes from the VM */
    g_strv_builder_add(argb, "--display-channel");
    g_autofree char *channel = g_strconcat("unix:", self->display_path, NULL);
    g_strv_builder_add(argb, channel);
    if (paused) {
        g_strv_builder_add(argb, "--paused"); /* the vCPUs wait for QMP "cont" */
    }
    g_auto(GStrv) args = g_strv_builder_end(argb);
    DvEngine *engine = dv_engine_spawn(binary, (const char *const *)args, qmp, serial, log, error);
    if (engine == NULL) {
        return FALSE;
    }
    attach_engine(self, engine);
    /* The pid file lets a later run of the app find this engine again (dv_vm_adopt). */
    g_autofree char *pidfile = runtime_path(self, ".pid");
    g_autofree char *pidtext = g_strdup_printf("%d\n", (int)dv_engine_get_pid(engine));
    g_autoptr(GError) pid_error = NULL;
    if (!g_file_set_contents(pidfile, pidtext, -1, &pid_error)) {
        g_warning("%s: %s (the VM cannot be re-attached after the app ends)", self->name,
                  pid_error->message);
    }
    g_autofree char *transcript = g_build_filename(self->dir, "serial.log", NULL);
    self->transcript = fopen(transcript, "we"); /* best effort: the console works without it */
    set_error(self, NULL);
    set_state(self, DV_VM_STARTING);
    return TRUE;
}

gboolean dv_vm_start(DvVm *self, GError **error)
{
    return start(self, FALSE, error);
}

gboolean dv_vm_start_paused(DvVm *self, GError **error)
{
    return start(self, TRUE, error);
}

static gboolean require(DvVm *self, gboolean ok, const char *action, GError **error)
{
    if (!ok) {
        g_set_error(error, DV_ERROR, DV_ERROR_BUSY, "Cannot %s %s while it is %s", action,
                    self->name, dv_vm_state_label(self->state));
    }
    return ok;
}

gboolean dv_vm_pause(DvVm *self, GError **error)
{
    if (!require(self, self->state == DV_VM_RUNNING, "pause", error)) {
        return FALSE;
    }
    dv_engine_command(self->engine, "stop");
    return TRUE;
}

gboolean dv_vm_resume(DvVm *self, GError **error)
{
    if (!require(self, self->state == DV_VM_PAUSED, "resume", error)) {
        return FALSE;
    }
    dv_engine_command(self->engine, "cont");
    return TRUE;
}

gboolean dv_vm_shutdown(DvVm *self, GError **error)
{
    if (!require(self, self->state == DV_VM_RUNNING, "shut down", error)) {
        return FALSE;
    }
    dv_engine_command(self->engine, "system_powerdown");
    set_state(self, DV_VM_STOPPING);
    return TRUE;
}

gboolean dv_vm_reset(DvVm *self, GError **error)
{
    gboolean ok = self->engine != NULL && dv_engine_is_connected(self->engine) &&
                  (self->state == DV_VM_RUNNING || self->state == DV_VM_PAUSED ||
                   self->state == DV_VM_GUEST_ERROR || self->state == DV_VM_STOPPING);
    if (!require(self, ok, "reset", error)) {
        return FALSE;
    }
    dv_engine_command(self->engine, "system_reset");
    if (self->state == DV_VM_GUEST_ERROR || self->state == DV_VM_STOPPING) {
        set_state(self, DV_VM_RUNNING);
    }
    return TRUE;
}

gboolean dv_vm_force_off(DvVm *self, GError **error)
{
    if (!require(self, self->engine != NULL, "force off", error)) {
        return FALSE;
    }
    dv_engine_force_off(self->engine);
    return TRUE;
}
