// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * deskvm-vm supervision. The engine starts its QMP server some time after exec, so the
 * connection is retried every 100 ms while the process lives. COM1 is a unix socket the engine
 * listens on (`--serial unix:PATH`, docs/serial-socket.md), connected the same way: the socket
 * outlives this app, so a later run re-attaches to it and is sent the recent output again. The
 * engine never waits for us; this object reads whatever comes and keeps a scrollback.
 */
#include "gui/engine.h"

#include "gui/dv-error.h"
#include "gui/qmp-client.h"

#include "config.h"

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#define SCROLLBACK_MAX (256 * 1024)
#define CONNECT_RETRY_MS 100
#define CONNECT_TIMEOUT_MS 20000
#define SERIAL_RETRY_SLOW_MS 1000 /* past the connect timeout, or refused (another client) */
#define REPLAY_QUIET_MS 300       /* re-attached: the history has come once the socket is quiet */
/* The engine's history is 64 KiB of guest output: at most twice that after \n -> \r\n. */
#define SEEN_MAX (128 * 1024)
#define LOG_TAIL_LINES 20

/* deskvm-vm's exit statuses (docs/exit-status.md). */
#define ENGINE_EXIT_KVM 2
#define ENGINE_EXIT_GUEST_ERROR 3

struct _DvEngine {
    GObject parent;
    GSubprocess *proc;
    char *qmp_path;
    char *log_path;
    char *serial_path; /* COM1's socket; NULL for an engine an older app started on a pty */
    int serial_fd;
    guint serial_watch;
    guint serial_retry;
    gboolean serial_got; /* this connection brought bytes (else it was refused) */
    gboolean serial_had; /* an earlier connection brought bytes */
    GBytes *seen;        /* re-attached: output the console showed before, not yet matched */
    GByteArray *replay;  /* output held back until its overlap with seen is known */
    guint replay_timer;
    GByteArray *scrollback;
    DvQmpClient *qmp;
    GCancellable *cancel;
    guint retry_source;
    gint64 connect_deadline;
    gboolean force_off;
    gboolean quit_sent; /* a clean end (SHUTDOWN event or quit) was announced */
    gboolean exited;
    gboolean detached; /* the app quits: let the engine run on */
    /* An adopted engine is not our child: its end is seen through a pidfd. */
    gboolean adopted;
    GPid pid;
    int pidfd;
    guint pidfd_watch;
    gboolean pid_gone;  /* the pidfd fired; waiting for QMP to deliver the last events */
    guint grace_source; /* bounds that wait */
    gboolean qmp_eof;   /* the QMP socket was read to its end */
};

G_DEFINE_FINAL_TYPE(DvEngine, dv_engine, G_TYPE_OBJECT)

enum { SIG_RUN_STATE, SIG_SERIAL, SIG_EXITED, SIG_CMD_FAILED, N_SIGNALS };
static guint signals[N_SIGNALS];

static gboolean try_connect_source(gpointer data);

char *dv_engine_find_binary(void)
{
    const char *env = g_getenv("DESKVM_VM");
    if (env != NULL && *env != '\0') {
        return g_strdup(env);
    }
    if (g_file_test(DESKVM_BINDIR "/deskvm-vm", G_FILE_TEST_IS_EXECUTABLE)) {
        return g_strdup(DESKVM_BINDIR "/deskvm-vm");
    }
    char *found = g_find_program_in_path("deskvm-vm");
    return found ? found : g_strdup("deskvm-vm");
}

gboolean dv_engine_check_kvm(GError **error)
{
    const char *dev = g_getenv("DESKVM_KVM_DEVICE");
    if (dev == NULL || *dev == '\0') {
        dev = "/dev/kvm";
    }
    int fd = open(dev, O_RDWR | O_CLOEXEC);
    if (fd >= 0) {
        close(fd);
        return TRUE;
    }
    int e = errno;
    if (e == ENOENT) {
        g_set_error(error, DV_ERROR, DV_ERROR_KVM_ACCESS,
                    "%s does not exist: KVM is not available on this computer", dev);
    } else {
        g_set_error(error, DV_ERROR, DV_ERROR_KVM_ACCESS, "You cannot open %s: %s", dev,
                    g_strerror(e));
    }
    return FALSE;
}

static void dv_engine_dispose(GObject *obj)
{
    DvEngine *self = DV_ENGINE(obj);
    g_cancellable_cancel(self->cancel);
    g_clear_handle_id(&self->retry_source, g_source_remove);
    g_clear_handle_id(&self->serial_watch, g_source_remove);
    g_clear_handle_id(&self->serial_retry, g_source_remove);
    g_clear_handle_id(&self->replay_timer, g_source_remove);
    g_clear_handle_id(&self->pidfd_watch, g_source_remove);
    g_clear_handle_id(&self->grace_source, g_source_remove);
    if (self->qmp != NULL) {
        g_signal_handlers_disconnect_by_data(self->qmp, self);
        dv_qmp_client_close(self->qmp);
        g_clear_object(&self->qmp);
    }
    if (!self->exited && !self->detached) {
        /* Nobody supervises it any more and the app did not hand it over: do not leave a VM
         * running unseen. */
        if (self->proc != NULL) {
            g_subprocess_force_exit(self->proc);
        } else if (self->pidfd >= 0) {
            syscall(SYS_pidfd_send_signal, self->pidfd, SIGKILL, NULL, 0);
        }
        self->exited = TRUE;
    }
    g_clear_object(&self->proc);
    G_OBJECT_CLASS(dv_engine_parent_class)->dispose(obj);
}

static void dv_engine_finalize(GObject *obj)
{
    DvEngine *self = DV_ENGINE(obj);
    if (self->serial_fd >= 0) {
        close(self->serial_fd);
    }
    if (self->pidfd >= 0) {
        close(self->pidfd);
    }
    g_byte_array_unref(self->scrollback);
    g_clear_pointer(&self->seen, g_bytes_unref);
    g_clear_pointer(&self->replay, g_byte_array_unref);
    g_free(self->serial_path);
    g_object_unref(self->cancel);
    g_free(self->qmp_path);
    g_free(self->log_path);
    G_OBJECT_CLASS(dv_engine_parent_class)->finalize(obj);
}

static void dv_engine_class_init(DvEngineClass *klass)
{
    GObjectClass *oc = G_OBJECT_CLASS(klass);
    oc->dispose = dv_engine_dispose;
    oc->finalize = dv_engine_finalize;
    GType t = G_TYPE_FROM_CLASS(klass);
    signals[SIG_RUN_STATE] = g_signal_new("run-state", t, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                          G_TYPE_NONE, 1, G_TYPE_STRING);
    signals[SIG_SERIAL] = g_signal_new("serial-output", t, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                       G_TYPE_NONE, 1, G_TYPE_BYTES);
    signals[SIG_EXITED] = g_signal_new("exited", t, G_SIGNAL_RUN_LAST, 0, NULL, NULL, NULL,
                                       G_TYPE_NONE, 2, G_TYPE_BOOLEAN, G_TYPE_STRING);
    signals[SIG_CMD_FAILED] = g_signal_new("command-failed", t, G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                                           NULL, G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_STRING);
}

static void dv_engine_init(DvEngine *self)
{
    self->serial_fd = -1;
    self->pidfd = -1;
    self->scrollback = g_byte_array_new();
    self->cancel = g_cancellable_new();
}

/* ---- COM1 over the engine's socket ------------------------------------------------------ */

static void serial_connect(DvEngine *self);

static gboolean serial_connect_source(gpointer data)
{
    DvEngine *self = data;
    self->serial_retry = 0;
    serial_connect(self);
    return G_SOURCE_REMOVE;
}

static void serial_retry_later(DvEngine *self, guint ms)
{
    if (!self->exited && !self->detached && self->serial_retry == 0) {
        self->serial_retry = g_timeout_add(ms, serial_connect_source, self);
    }
}

/* Output to the console, the scrollback and "serial-output" (the transcript). */
static void serial_emit(DvEngine *self, const guint8 *data, gsize len)
{
    if (len == 0) {
        return;
    }
    g_byte_array_append(self->scrollback, data, (guint)len);
    if (self->scrollback->len > SCROLLBACK_MAX) {
        g_byte_array_remove_range(self->scrollback, 0, self->scrollback->len - SCROLLBACK_MAX);
    }
    g_autoptr(GBytes) bytes = g_bytes_new(data, len);
    g_signal_emit(self, signals[SIG_SERIAL], 0, bytes);
}

gsize dv_engine_replay_overlap(const guint8 *seen, gsize seen_len, const guint8 *replay,
                               gsize replay_len)
{
    /* KMP: the failure function of replay, then replay's automaton run over seen; the state at
     * the end is the longest prefix of replay that ends seen. */
    gsize m = MIN(replay_len, seen_len);
    if (m == 0) {
        return 0;
    }
    g_autofree gsize *fail = g_new(gsize, m);
    fail[0] = 0;
    for (gsize i = 1, k = 0; i < m; i++) {
        while (k > 0 && replay[i] != replay[k]) {
            k = fail[k - 1];
        }
        if (replay[i] == replay[k]) {
            k++;
        }
        fail[i] = k;
    }
    gsize k = 0;
    for (gsize i = seen_len - m; i < seen_len; i++) {
        while (k > 0 && (k == m || seen[i] != replay[k])) {
            k = fail[k - 1];
        }
        if (seen[i] == replay[k]) {
            k++;
        }
    }
    return k;
}

/* Re-attached: the engine's history has come (or stopped coming). What the app already showed
 * (the end of serial.log) is not shown twice. */
static void replay_finish(DvEngine *self)
{
    g_clear_handle_id(&self->replay_timer, g_source_remove);
    if (self->seen == NULL) {
        return;
    }
    gsize seen_len;
    const guint8 *seen = g_bytes_get_data(self->seen, &seen_len);
    gsize skip = dv_engine_replay_overlap(seen, seen_len, self->replay->data, self->replay->len);
    g_autoptr(GByteArray) replay = g_steal_pointer(&self->replay);
    g_clear_pointer(&self->seen, g_bytes_unref);
    serial_emit(self, replay->data + skip, replay->len - skip);
}

static gboolean replay_quiet(gpointer data)
{
    DvEngine *self = data;
    self->replay_timer = 0;
    replay_finish(self);
    return G_SOURCE_REMOVE;
}

/* Bytes from the guest, with the newline translation a terminal's ONLCR did for the pty this
 * replaced: VTE needs \r\n to return to the first column. */
static void serial_received(DvEngine *self, const guint8 *buf, gsize n)
{
    guint8 out[8192];
    gsize len = 0;
    for (gsize i = 0; i < n; i++) {
        if (buf[i] == '\n') {
            out[len++] = '\r';
        }
        out[len++] = buf[i];
    }
    if (self->seen == NULL) {
        serial_emit(self, out, len);
        return;
    }
    g_byte_array_append(self->replay, out, (guint)len);
    g_clear_handle_id(&self->replay_timer, g_source_remove);
    if (self->replay->len >= g_bytes_get_size(self->seen)) {
        replay_finish(self); /* the overlap cannot be longer than what was seen */
    } else {
        self->replay_timer = g_timeout_add(REPLAY_QUIET_MS, replay_quiet, self);
    }
}

/* One read from the socket: > 0 bytes passed on, 0 nothing now, < 0 closed. */
static gssize serial_read_once(DvEngine *self)
{
    guint8 buf[4096];
    ssize_t n = read(self->serial_fd, buf, sizeof(buf));
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        return 0;
    }
    if (n <= 0) {
        return -1;
    }
    self->serial_got = self->serial_had = TRUE;
    serial_received(self, buf, (gsize)n);
    return n;
}

static void serial_close(DvEngine *self)
{
    g_clear_handle_id(&self->serial_watch, g_source_remove);
    if (self->serial_fd >= 0) {
        close(self->serial_fd);
        self->serial_fd = -1;
    }
}

static gboolean serial_readable(gint fd, GIOCondition cond, gpointer data)
{
    DvEngine *self = data;
    if (serial_read_once(self) >= 0) {
        return G_SOURCE_CONTINUE;
    }
    /* Closed: the engine is exiting, or it refused us because another client holds the
     * console (then nothing came). Either way try again while the process lives. */
    self->serial_watch = 0;
    gboolean refused = !self->serial_got;
    serial_close(self);
    serial_retry_later(self, refused ? SERIAL_RETRY_SLOW_MS : CONNECT_RETRY_MS);
    return G_SOURCE_REMOVE;
}

static void serial_connect(DvEngine *self)
{
    if (self->exited || self->detached || self->serial_path == NULL || self->serial_fd >= 0) {
        return;
    }
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd = -1;
    if (strlen(self->serial_path) < sizeof(sa.sun_path)) {
        memcpy(sa.sun_path, self->serial_path, strlen(self->serial_path) + 1);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    }
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
        self->serial_fd = fd;
        self->serial_got = FALSE;
        if (self->serial_had && self->seen == NULL) {
            /* Connected again: the engine starts over with its history, which the console
             * mostly has already. */
            guint n = MIN(self->scrollback->len, SEEN_MAX);
            self->seen = g_bytes_new(self->scrollback->data + self->scrollback->len - n, n);
            self->replay = g_byte_array_new();
        }
        self->serial_watch =
            g_unix_fd_add(fd, G_IO_IN | G_IO_HUP | G_IO_ERR, serial_readable, self);
        return;
    }
    if (fd >= 0) {
        close(fd);
    }
    /* Not listening yet (or any more): retry while the process lives, slower after a while. */
    serial_retry_later(self, g_get_monotonic_time() < self->connect_deadline
                                 ? CONNECT_RETRY_MS
                                 : SERIAL_RETRY_SLOW_MS);
}

/* The last lines of the engine's stderr, for the crash message. */
static char *log_tail(const char *path)
{
    g_autofree char *text = NULL;
    gsize len = 0;
    if (!g_file_get_contents(path, &text, &len, NULL) || len == 0) {
        return g_strdup("(the engine wrote nothing to its log)");
    }
    g_auto(GStrv) lines = g_strsplit(g_strchomp(text), "\n", -1);
    guint n = g_strv_length(lines);
    guint first = n > LOG_TAIL_LINES ? n - LOG_TAIL_LINES : 0;
    return g_strjoinv("\n", lines + first);
}

/* The guest's last words before the engine exited are still in the socket: pass them on. */
static void drain_serial(DvEngine *self)
{
    if (self->serial_fd >= 0) {
        while (serial_read_once(self) > 0) {
        }
    }
    serial_close(self);
    g_clear_handle_id(&self->serial_retry, g_source_remove);
    replay_finish(self);
}

/* The end of the process, spawned or adopted: drop the connection and say how it ended. */
static void engine_ended(DvEngine *self, gboolean crashed, const char *message)
{
    self->exited = TRUE;
    drain_serial(self);
    g_clear_handle_id(&self->retry_source, g_source_remove);
    if (self->qmp != NULL) {
        g_signal_handlers_disconnect_by_data(self->qmp, self);
        dv_qmp_client_close(self->qmp);
        g_clear_object(&self->qmp);
    }
    g_signal_emit(self, signals[SIG_EXITED], 0, crashed, message);
}

static void process_exited(GObject *src, GAsyncResult *res, gpointer data)
{
    DvEngine *self = data;
    g_subprocess_wait_finish(G_SUBPROCESS(src), res, NULL);
    if (g_cancellable_is_cancelled(self->cancel)) {
        g_object_unref(self);
        return;
    }
    GSubprocess *p = self->proc;
    gboolean crashed = TRUE;
    g_autofree char *message = NULL;
    if (self->force_off) {
        crashed = FALSE;
        message = g_strdup("Forced off");
    } else if (g_subprocess_get_if_exited(p) && g_subprocess_get_exit_status(p) == 0) {
        crashed = FALSE;
        message = g_strdup("Powered off");
    } else {
        g_autofree char *tail = log_tail(self->log_path);
        g_autofree char *how = NULL;
        if (g_subprocess_get_if_signaled(p)) {
            int sig = g_subprocess_get_term_sig(p);
            how = g_strdup_printf("was killed by signal %d (%s)", sig, g_strsignal(sig));
        } else {
            int st = g_subprocess_get_exit_status(p);
            how = g_strdup_printf("exited with status %d%s", st,
                                  st == ENGINE_EXIT_KVM           ? " (KVM unusable)"
                                  : st == ENGINE_EXIT_GUEST_ERROR ? " (guest internal error)"
                                                                  : "");
        }
        message = g_strdup_printf("The engine %s. Its log (%s) ends with:\n%s", how, self->log_path,
                                  tail);
    }
    engine_ended(self, crashed, message);
    g_object_unref(self);
}

/* An adopted engine is gone. Its exit status belongs to the app that spawned it, so a clean end
 * is one announced by SHUTDOWN or asked by force off. */
static void adopted_finish(DvEngine *self)
{
    g_clear_handle_id(&self->grace_source, g_source_remove);
    if (self->exited) {
        return;
    }
    g_object_ref(self);
    if (self->force_off || self->quit_sent) {
        engine_ended(self, FALSE, self->force_off ? "Forced off" : "Powered off");
    } else {
        g_autofree char *tail = log_tail(self->log_path);
        g_autofree char *message = g_strdup_printf(
            "The engine (pid %d, started by an earlier run of the app) ended without a "
            "shutdown; its exit status is unknown. Its log (%s) ends with:\n%s",
            (int)self->pid, self->log_path, tail);
        engine_ended(self, TRUE, message);
    }
    g_object_unref(self);
}

static gboolean grace_expired(gpointer data)
{
    DvEngine *self = data;
    self->grace_source = 0;
    adopted_finish(self);
    return G_SOURCE_REMOVE;
}

/* The QMP socket reached EOF: every event the engine wrote (SHUTDOWN) has been read. */
static void on_qmp_closed(DvQmpClient *qmp, gpointer data)
{
    DvEngine *self = data;
    self->qmp_eof = TRUE;
    if (self->adopted && self->pid_gone) {
        adopted_finish(self);
    }
}

/* The pidfd turned readable: the process ended. The SHUTDOWN event it sent just before may
 * still be unread in the QMP socket (two sources, no order between them), so wait for the
 * socket's EOF, a second at most, before deciding how it ended. */
static gboolean adopted_exited(gint fd, GIOCondition cond, gpointer data)
{
    DvEngine *self = data;
    self->pidfd_watch = 0;
    self->pid_gone = TRUE;
    if (self->qmp != NULL && !self->qmp_eof) {
        self->grace_source = g_timeout_add(1000, grace_expired, self);
    } else {
        adopted_finish(self);
    }
    return G_SOURCE_REMOVE;
}

static void on_qmp_event(DvQmpClient *qmp, const char *name, JsonObject *data, gpointer user)
{
    DvEngine *self = user;
    if (g_str_equal(name, "STOP")) {
        g_signal_emit(self, signals[SIG_RUN_STATE], 0, "paused");
    } else if (g_str_equal(name, "RESUME")) {
        g_signal_emit(self, signals[SIG_RUN_STATE], 0, "running");
    } else if (g_str_equal(name, "SHUTDOWN")) {
        self->quit_sent = TRUE;
        g_signal_emit(self, signals[SIG_RUN_STATE], 0, "shutdown");
    }
}

static void status_done(GObject *src, GAsyncResult *res, gpointer data)
{
    DvEngine *self = data;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) ret = dv_qmp_client_execute_finish(DV_QMP_CLIENT(src), res, &error);
    if (ret != NULL && JSON_NODE_HOLDS_OBJECT(ret) && !g_cancellable_is_cancelled(self->cancel)) {
        const char *st =
            json_object_get_string_member_with_default(json_node_get_object(ret), "status", NULL);
        if (st != NULL) {
            g_signal_emit(self, signals[SIG_RUN_STATE], 0, st);
        }
    }
    g_object_unref(self);
}

static void connect_done(GObject *src, GAsyncResult *res, gpointer data)
{
    DvEngine *self = data;
    g_autoptr(GError) error = NULL;
    DvQmpClient *qmp = dv_qmp_client_connect_finish(res, &error);
    if (g_cancellable_is_cancelled(self->cancel) || self->exited) {
        g_clear_object(&qmp);
        g_object_unref(self);
        return;
    }
    if (qmp == NULL) {
        if (g_get_monotonic_time() < self->connect_deadline) {
            self->retry_source = g_timeout_add(CONNECT_RETRY_MS, try_connect_source, self);
        } else {
            g_autofree char *msg =
                g_strdup_printf("No QMP connection to %s: %s", self->qmp_path, error->message);
            g_signal_emit(self, signals[SIG_CMD_FAILED], 0, "connect", msg);
        }
        g_object_unref(self);
        return;
    }
    self->qmp = qmp;
    g_signal_connect(qmp, "event", G_CALLBACK(on_qmp_event), self);
    g_signal_connect(qmp, "closed", G_CALLBACK(on_qmp_closed), self);
    dv_qmp_client_execute_async(qmp, "query-status", NULL, self->cancel, status_done,
                                g_object_ref(self));
    g_object_unref(self);
}

static void try_connect(DvEngine *self)
{
    self->retry_source = 0;
    dv_qmp_client_connect_async(self->qmp_path, self->cancel, connect_done, g_object_ref(self));
}

static gboolean try_connect_source(gpointer data)
{
    try_connect(data);
    return G_SOURCE_REMOVE;
}

DvEngine *dv_engine_spawn(const char *binary, const char *const *args, const char *qmp_path,
                          const char *serial_path, const char *log_path, GError **error)
{
    /* stdin is /dev/null; with COM1 on a socket nothing is written to stdout. */
    g_autoptr(GSubprocessLauncher) launcher =
        g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_SILENCE);
    g_subprocess_launcher_set_stderr_file_path(launcher, log_path);
    GPtrArray *argv = g_ptr_array_new();
    g_ptr_array_add(argv, (gpointer)binary);
    for (const char *const *a = args; *a != NULL; a++) {
        g_ptr_array_add(argv, (gpointer)*a);
    }
    g_ptr_array_add(argv, NULL);
    GError *local = NULL;
    GSubprocess *proc =
        g_subprocess_launcher_spawnv(launcher, (const char *const *)argv->pdata, &local);
    g_ptr_array_free(argv, TRUE);
    if (proc == NULL) {
        g_set_error(error, DV_ERROR, DV_ERROR_ENGINE, "Cannot start the engine %s: %s", binary,
                    local->message);
        g_error_free(local);
        return NULL;
    }
    DvEngine *self = g_object_new(DV_TYPE_ENGINE, NULL);
    self->proc = proc;
    self->qmp_path = g_strdup(qmp_path);
    self->serial_path = g_strdup(serial_path);
    self->log_path = g_strdup(log_path);
    self->connect_deadline = g_get_monotonic_time() + CONNECT_TIMEOUT_MS * 1000;
    const char *id = g_subprocess_get_identifier(proc);
    self->pid = id != NULL ? (GPid)atoi(id) : 0;
    g_subprocess_wait_async(proc, self->cancel, process_exited, g_object_ref(self));
    self->retry_source = g_timeout_add(CONNECT_RETRY_MS, try_connect_source, self);
    serial_retry_later(self, CONNECT_RETRY_MS);
    return self;
}

gboolean dv_engine_cmdline_matches(const char *cmdline, gsize len, const char *qmp_path)
{
    if (cmdline == NULL || len == 0 || cmdline[len - 1] != '\0') {
        return FALSE;
    }
    g_autofree char *want = g_strconcat("unix:", qmp_path, NULL);
    g_autofree char *want_eq = g_strconcat("--qmp=", want, NULL);
    g_autofree char *argv0 = g_path_get_basename(cmdline);
    if (!g_str_equal(argv0, "deskvm-vm")) {
        return FALSE;
    }
    const char *prev = NULL;
    for (const char *a = cmdline; a < cmdline + len; a += strlen(a) + 1) {
        if ((prev != NULL && g_str_equal(prev, "--qmp") && g_str_equal(a, want)) ||
            g_str_equal(a, want_eq)) {
            return TRUE;
        }
        prev = a;
    }
    return FALSE;
}

char *dv_engine_cmdline_serial_socket(const char *cmdline, gsize len)
{
    if (cmdline == NULL || len == 0 || cmdline[len - 1] != '\0') {
        return NULL;
    }
    const char *prev = NULL, *value = NULL;
    for (const char *a = cmdline; a < cmdline + len; a += strlen(a) + 1) {
        if (prev != NULL && g_str_equal(prev, "--serial")) {
            value = a;
        } else if (g_str_has_prefix(a, "--serial=")) {
            value = a + strlen("--serial=");
        }
        prev = a;
    }
    /* The last --serial wins, as in the engine's option parser. */
    return value != NULL && g_str_has_prefix(value, "unix:") && value[5] != '\0'
               ? g_strdup(value + 5)
               : NULL;
}

DvEngine *dv_engine_adopt(GPid pid, const char *qmp_path, const char *log_path, GBytes *seen,
                          GError **error)
{
    /* The pidfd first, the command line second: once the pidfd is open the pid cannot be
     * reused by another process, so what the command line says stays true. */
    int pidfd = pid > 0 ? (int)syscall(SYS_pidfd_open, pid, 0) : -1;
    if (pidfd < 0) {
        g_set_error(error, DV_ERROR, DV_ERROR_NOT_FOUND, "No engine runs as pid %d", (int)pid);
        return NULL;
    }
    g_autofree char *proc_path = g_strdup_printf("/proc/%d/cmdline", (int)pid);
    g_autofree char *cmdline = NULL;
    gsize len = 0;
    if (!g_file_get_contents(proc_path, &cmdline, &len, NULL) ||
        !dv_engine_cmdline_matches(cmdline, len, qmp_path)) {
        close(pidfd);
        g_set_error(error, DV_ERROR, DV_ERROR_NOT_FOUND, "Process %d is not the engine serving %s",
                    (int)pid, qmp_path);
        return NULL;
    }
    DvEngine *self = g_object_new(DV_TYPE_ENGINE, NULL);
    self->adopted = TRUE;
    self->pid = pid;
    self->pidfd = pidfd;
    self->qmp_path = g_strdup(qmp_path);
    self->log_path = g_strdup(log_path);
    self->serial_path = dv_engine_cmdline_serial_socket(cmdline, len);
    if (self->serial_path == NULL) {
        /* Started by an app from before the console socket: COM1 was that app's pty. */
        static const char note[] = "[deskvm: re-attached to a VM started by an earlier run of "
                                   "the app; its serial console is not available]\r\n";
        g_byte_array_append(self->scrollback, (const guint8 *)note, sizeof(note) - 1);
    } else if (seen != NULL && g_bytes_get_size(seen) > 0) {
        /* The console shows what it showed before at once; the engine's history, when it
         * comes, adds only what is new (replay_finish). */
        gsize n;
        const guint8 *p = g_bytes_get_data(seen, &n);
        if (n > SEEN_MAX) {
            p += n - SEEN_MAX;
            n = SEEN_MAX;
        }
        g_byte_array_append(self->scrollback, p, (guint)n);
        self->seen = g_bytes_new(p, n);
        self->replay = g_byte_array_new();
    }
    self->pidfd_watch = g_unix_fd_add(pidfd, G_IO_IN, adopted_exited, self);
    self->connect_deadline = g_get_monotonic_time() + CONNECT_TIMEOUT_MS * 1000;
    try_connect(self);
    serial_connect(self);
    return self;
}

GPid dv_engine_get_pid(DvEngine *self)
{
    return self->pid;
}

gboolean dv_engine_is_adopted(DvEngine *self)
{
    return self->adopted;
}

void dv_engine_detach(DvEngine *self)
{
    self->detached = TRUE;
    /* The console is one client at a time: free it for the next run of the app now, even if
     * this object lives on a while (an asynchronous wait holds it). */
    serial_close(self);
    g_clear_handle_id(&self->serial_retry, g_source_remove);
}

static void command_done(GObject *src, GAsyncResult *res, gpointer data)
{
    GTask *info = data; /* carries the engine and the command name */
    DvEngine *self = g_task_get_source_object(info);
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) ret = dv_qmp_client_execute_finish(DV_QMP_CLIENT(src), res, &error);
    if (ret == NULL && !g_cancellable_is_cancelled(self->cancel) && !self->exited) {
        g_signal_emit(self, signals[SIG_CMD_FAILED], 0, (const char *)g_task_get_task_data(info),
                      error->message);
    }
    g_task_return_boolean(info, TRUE);
    g_object_unref(info);
}

void dv_engine_command(DvEngine *self, const char *command)
{
    if (self->qmp == NULL) {
        g_signal_emit(self, signals[SIG_CMD_FAILED], 0, command,
                      "The engine is not connected yet; try again in a moment");
        return;
    }
    GTask *info = g_task_new(self, NULL, NULL, NULL);
    g_task_set_task_data(info, g_strdup(command), g_free);
    dv_qmp_client_execute_async(self->qmp, command, NULL, self->cancel, command_done, info);
}

void dv_engine_force_off(DvEngine *self)
{
    if (self->exited) {
        return;
    }
    self->force_off = TRUE;
    if (self->proc != NULL) {
        g_subprocess_force_exit(self->proc);
    } else if (self->pidfd >= 0 &&
               syscall(SYS_pidfd_send_signal, self->pidfd, SIGKILL, NULL, 0) < 0) {
        self->force_off = FALSE; /* already gone: the pidfd watch reports it */
    }
}

gboolean dv_engine_is_running(DvEngine *self)
{
    return !self->exited;
}

gboolean dv_engine_is_connected(DvEngine *self)
{
    return self->qmp != NULL;
}

DvQmpClient *dv_engine_get_qmp(DvEngine *self)
{
    return self->exited ? NULL : self->qmp;
}

void dv_engine_serial_write(DvEngine *self, const void *data, gsize len)
{
    if (self->exited || self->serial_fd < 0) {
        return;
    }
    const guint8 *p = data;
    while (len > 0) {
        ssize_t n = send(self->serial_fd, p, len, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return; /* the socket is full (the guest is not reading): drop the keystrokes */
        }
        p += n;
        len -= (gsize)n;
    }
}

GBytes *dv_engine_get_serial_scrollback(DvEngine *self)
{
    return g_bytes_new(self->scrollback->data, self->scrollback->len);
}
