// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Performance sampling (perf.h). The vCPU threads are found by name ("vcpuN", set by the
 * engine with pthread_setname_np), so the engine's own threads (event loop, I/O workers) do not
 * count as guest CPU time. Network bytes come from the engine (QMP query-netstats, docs/qmp.md)
 * because user-mode NAT traffic never reaches a host interface; disk bytes from the engine too
 * (query-blockstats: what the guest read and wrote, page cache or not), with /proc/PID/io as the
 * fallback for an engine without the command. The replies land asynchronously and are used by
 * the next sample.
 */
#include "gui/perf.h"

#include "gui/dv-error.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

gboolean dv_perf_parse_task_stat(const char *text, char *comm, gsize comm_size, guint64 *ticks)
{
    /* "TID (COMM) STATE PPID ...": COMM may hold spaces and ')', so it ends at the last ')'. */
    const char *open = text ? strchr(text, '(') : NULL;
    const char *close = text ? strrchr(text, ')') : NULL;
    if (open == NULL || close == NULL || close < open || close[1] != ' ') {
        return FALSE;
    }
    gsize n = MIN((gsize)(close - open - 1), comm_size - 1);
    memcpy(comm, open + 1, n);
    comm[n] = '\0';
    /* After ") ": field 3 (state) is token 0, so utime (14) and stime (15) are tokens 11, 12. */
    g_auto(GStrv) tok = g_strsplit(close + 2, " ", 14);
    if (g_strv_length(tok) < 14) {
        return FALSE;
    }
    char *e1 = NULL, *e2 = NULL;
    guint64 ut = g_ascii_strtoull(tok[11], &e1, 10);
    guint64 st = g_ascii_strtoull(tok[12], &e2, 10);
    if (e1 == tok[11] || *e1 != '\0' || e2 == tok[12] || *e2 != '\0') {
        return FALSE;
    }
    *ticks = ut + st;
    return TRUE;
}

gboolean dv_perf_parse_statm(const char *text, guint64 page_size, guint64 *rss_bytes)
{
    /* "size resident shared text lib data dt", in pages. */
    g_auto(GStrv) tok = text ? g_strsplit(text, " ", 3) : NULL;
    if (tok == NULL || g_strv_length(tok) < 2) {
        return FALSE;
    }
    char *end = NULL;
    guint64 pages = g_ascii_strtoull(tok[1], &end, 10);
    if (end == tok[1] || (*end != '\0' && *end != '\n')) {
        return FALSE;
    }
    *rss_bytes = pages * page_size;
    return TRUE;
}

gboolean dv_perf_parse_io(const char *text, guint64 *read_bytes, guint64 *write_bytes)
{
    gboolean have_r = FALSE, have_w = FALSE;
    g_auto(GStrv) lines = text ? g_strsplit(text, "\n", -1) : NULL;
    for (guint i = 0; lines != NULL && lines[i] != NULL; i++) {
        guint64 *dst = NULL;
        const char *v = NULL;
        if (g_str_has_prefix(lines[i], "read_bytes: ")) {
            dst = read_bytes;
            v = lines[i] + strlen("read_bytes: ");
            have_r = TRUE;
        } else if (g_str_has_prefix(lines[i], "write_bytes: ")) {
            dst = write_bytes;
            v = lines[i] + strlen("write_bytes: ");
            have_w = TRUE;
        }
        if (dst != NULL) {
            char *end = NULL;
            *dst = g_ascii_strtoull(v, &end, 10);
            if (end == v || *end != '\0') {
                return FALSE;
            }
        }
    }
    return have_r && have_w;
}

gboolean dv_perf_read_proc(GPid pid, struct dv_perf_sample *out, GError **error)
{
    memset(out, 0, sizeof(*out));
    out->time_us = g_get_monotonic_time();
    g_autofree char *task_dir = g_strdup_printf("/proc/%d/task", (int)pid);
    g_autoptr(GDir) dir = g_dir_open(task_dir, 0, error);
    if (dir == NULL) {
        return FALSE;
    }
    for (const char *tid; (tid = g_dir_read_name(dir)) != NULL;) {
        g_autofree char *path = g_build_filename(task_dir, tid, "stat", NULL);
        g_autofree char *text = NULL;
        char comm[32];
        guint64 ticks;
        /* A thread may end between the listing and the read: skip it. */
        if (g_file_get_contents(path, &text, NULL, NULL) &&
            dv_perf_parse_task_stat(text, comm, sizeof(comm), &ticks) &&
            g_str_has_prefix(comm, "vcpu")) {
            out->vcpu_ticks += ticks;
            out->nvcpus++;
        }
    }
    g_autofree char *statm_path = g_strdup_printf("/proc/%d/statm", (int)pid);
    g_autofree char *statm = NULL;
    long page = sysconf(_SC_PAGESIZE);
    if (!g_file_get_contents(statm_path, &statm, NULL, error) ||
        !dv_perf_parse_statm(statm, page > 0 ? (guint64)page : 4096, &out->rss_bytes)) {
        if (error != NULL && *error == NULL) {
            g_set_error(error, DV_ERROR, DV_ERROR_CORRUPT, "%s does not parse", statm_path);
        }
        return FALSE;
    }
    /* /proc/PID/io needs ptrace access; without it the disk graph stays at 0. */
    g_autofree char *io_path = g_strdup_printf("/proc/%d/io", (int)pid);
    g_autofree char *io = NULL;
    if (g_file_get_contents(io_path, &io, NULL, NULL)) {
        dv_perf_parse_io(io, &out->disk_read, &out->disk_write);
    }
    return TRUE;
}

static double per_second(guint64 a, guint64 b, double seconds)
{
    return b >= a && seconds > 0 ? (double)(b - a) / seconds : 0.0;
}

void dv_perf_rates(const struct dv_perf_sample *a, const struct dv_perf_sample *b,
                   guint64 ticks_per_second, struct dv_perf_rates *out)
{
    double dt = (double)(b->time_us - a->time_us) / G_USEC_PER_SEC;
    guint n = MAX(b->nvcpus, 1);
    double cpu = per_second(a->vcpu_ticks, b->vcpu_ticks, dt) /
                 (double)(ticks_per_second ? ticks_per_second : 100) / n * 100.0;
    out->cpu_percent = CLAMP(cpu, 0.0, 100.0);
    out->rss_mib = (double)b->rss_bytes / (1024.0 * 1024.0);
    /* Two sources count different things: no rate across a switch from one to the other. */
    double disk_dt = a->disk_from_engine == b->disk_from_engine ? dt : 0;
    out->disk_read_bps = per_second(a->disk_read, b->disk_read, disk_dt);
    out->disk_write_bps = per_second(a->disk_write, b->disk_write, disk_dt);
    gboolean net = a->have_net && b->have_net;
    out->net_rx_bps = net ? per_second(a->net_rx, b->net_rx, dt) : 0.0;
    out->net_tx_bps = net ? per_second(a->net_tx, b->net_tx, dt) : 0.0;
}

struct _DvPerfMonitor {
    GObject parent;
    guint interval_ms;
    guint timer;
    DvVm *vm;
    GPid pid; /* the engine the history belongs to */
    gboolean have_prev;
    struct dv_perf_sample prev;
    guint64 net_rx, net_tx; /* the latest query-netstats answer */
    gboolean have_net;
    guint64 blk_rd, blk_wr; /* the latest query-blockstats answer */
    gboolean have_blk;
    GCancellable *cancel;
    double series[DV_PERF_N_SERIES][DV_PERF_HISTORY];
    guint len;
};

G_DEFINE_FINAL_TYPE(DvPerfMonitor, dv_perf_monitor, G_TYPE_OBJECT)

enum { SIG_UPDATED, N_SIGNALS };
static guint signals[N_SIGNALS];

static void reset_history(DvPerfMonitor *self)
{
    self->have_prev = FALSE;
    self->have_net = FALSE;
    self->have_blk = FALSE;
    self->len = 0;
    g_cancellable_cancel(self->cancel);
    g_object_unref(self->cancel);
    self->cancel = g_cancellable_new();
}

/*
 * Sum two non-negative integer members over the objects of a QMP array answer (taken from
 * each object's member "inner" when inner is not NULL); FALSE when it is not an array.
 */
static gboolean sum_members(JsonNode *ret, const char *inner, const char *ka, const char *kb,
                            guint64 *a, guint64 *b)
{
    if (!JSON_NODE_HOLDS_ARRAY(ret)) {
        return FALSE;
    }
    *a = *b = 0;
    JsonArray *arr = json_node_get_array(ret);
    for (guint i = 0; i < json_array_get_length(arr); i++) {
        JsonNode *n = json_array_get_element(arr, i);
        if (n && inner && JSON_NODE_HOLDS_OBJECT(n)) {
            n = json_object_get_member(json_node_get_object(n), inner);
        }
        if (n && JSON_NODE_HOLDS_OBJECT(n)) {
            JsonObject *o = json_node_get_object(n);
            *a += (guint64)MAX(json_object_get_int_member_with_default(o, ka, 0), 0);
            *b += (guint64)MAX(json_object_get_int_member_with_default(o, kb, 0), 0);
        }
    }
    return TRUE;
}

/* query-netstats answered (NULL when cancelled: the monitor moved on, or no such command). */
static void netstats_done(GObject *src, GAsyncResult *res, gpointer data)
{
    g_autoptr(JsonNode) ret = dv_qmp_client_execute_finish(DV_QMP_CLIENT(src), res, NULL);
    if (ret == NULL) {
        return; /* the monitor may be gone */
    }
    DvPerfMonitor *self = data;
    if (sum_members(ret, NULL, "rx-bytes", "tx-bytes", &self->net_rx, &self->net_tx)) {
        self->have_net = TRUE;
    }
}

/* query-blockstats answered; without it (an older engine) /proc/PID/io stays the source. */
static void blockstats_done(GObject *src, GAsyncResult *res, gpointer data)
{
    g_autoptr(JsonNode) ret = dv_qmp_client_execute_finish(DV_QMP_CLIENT(src), res, NULL);
    if (ret == NULL) {
        return;
    }
    DvPerfMonitor *self = data;
    if (sum_members(ret, "stats", "rd_bytes", "wr_bytes", &self->blk_rd, &self->blk_wr)) {
        self->have_blk = TRUE;
    }
}

static void push(DvPerfMonitor *self, const struct dv_perf_rates *r)
{
    const double v[DV_PERF_N_SERIES] = {r->cpu_percent,    r->rss_mib,    r->disk_read_bps,
                                        r->disk_write_bps, r->net_rx_bps, r->net_tx_bps};
    if (self->len == DV_PERF_HISTORY) {
        for (int s = 0; s < DV_PERF_N_SERIES; s++) {
            memmove(self->series[s], self->series[s] + 1, (DV_PERF_HISTORY - 1) * sizeof(double));
        }
        self->len--;
    }
    for (int s = 0; s < DV_PERF_N_SERIES; s++) {
        self->series[s][self->len] = v[s];
    }
    self->len++;
}

void dv_perf_monitor_sample(DvPerfMonitor *self)
{
    DvEngine *engine = self->vm ? dv_vm_get_engine(self->vm) : NULL;
    GPid pid = engine ? dv_engine_get_pid(engine) : 0;
    if (pid != self->pid) {
        reset_history(self);
        self->pid = pid;
        g_signal_emit(self, signals[SIG_UPDATED], 0);
    }
    if (pid <= 0) {
        return;
    }
    struct dv_perf_sample now;
    if (!dv_perf_read_proc(pid, &now, NULL)) {
        return; /* the engine is going away; its "exited" resets the history */
    }
    now.have_net = self->have_net;
    now.net_rx = self->net_rx;
    now.net_tx = self->net_tx;
    if (self->have_blk) {
        now.disk_read = self->blk_rd;
        now.disk_write = self->blk_wr;
        now.disk_from_engine = TRUE;
    }
    if (self->have_prev) {
        struct dv_perf_rates r;
        long tck = sysconf(_SC_CLK_TCK);
        dv_perf_rates(&self->prev, &now, tck > 0 ? (guint64)tck : 100, &r);
        push(self, &r);
        g_signal_emit(self, signals[SIG_UPDATED], 0);
    }
    self->prev = now;
    self->have_prev = TRUE;
    DvQmpClient *qmp = dv_engine_get_qmp(engine);
    if (qmp != NULL) {
        dv_qmp_client_execute_async(qmp, "query-netstats", NULL, self->cancel, netstats_done, self);
        dv_qmp_client_execute_async(qmp, "query-blockstats", NULL, self->cancel, blockstats_done,
                                    self);
    }
}

static gboolean tick(gpointer data)
{
    dv_perf_monitor_sample(data);
    return G_SOURCE_CONTINUE;
}

static void dv_perf_monitor_dispose(GObject *obj)
{
    DvPerfMonitor *self = DV_PERF_MONITOR(obj);
    g_cancellable_cancel(self->cancel);
    g_clear_handle_id(&self->timer, g_source_remove);
    g_clear_object(&self->vm);
    G_OBJECT_CLASS(dv_perf_monitor_parent_class)->dispose(obj);
}

static void dv_perf_monitor_finalize(GObject *obj)
{
    g_object_unref(DV_PERF_MONITOR(obj)->cancel);
    G_OBJECT_CLASS(dv_perf_monitor_parent_class)->finalize(obj);
}

static void dv_perf_monitor_class_init(DvPerfMonitorClass *klass)
{
    G_OBJECT_CLASS(klass)->dispose = dv_perf_monitor_dispose;
    G_OBJECT_CLASS(klass)->finalize = dv_perf_monitor_finalize;
    signals[SIG_UPDATED] = g_signal_new("updated", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0,
                                        NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void dv_perf_monitor_init(DvPerfMonitor *self)
{
    self->cancel = g_cancellable_new();
}

DvPerfMonitor *dv_perf_monitor_new(guint interval_ms)
{
    DvPerfMonitor *self = g_object_new(DV_TYPE_PERF_MONITOR, NULL);
    self->interval_ms = interval_ms;
    return self;
}

void dv_perf_monitor_set_vm(DvPerfMonitor *self, DvVm *vm)
{
    if (vm != self->vm) {
        g_set_object(&self->vm, vm);
        self->pid = -1; /* the next sample starts a new history */
    }
    gboolean running = vm != NULL && dv_vm_get_engine(vm) != NULL;
    if (running && self->timer == 0 && self->interval_ms > 0) {
        self->timer = g_timeout_add(self->interval_ms, tick, self);
    } else if (!running && self->timer != 0) {
        g_clear_handle_id(&self->timer, g_source_remove);
    }
    dv_perf_monitor_sample(self);
}

const double *dv_perf_monitor_get_series(DvPerfMonitor *self, enum dv_perf_series series, guint *n)
{
    *n = self->len;
    return self->series[series];
}
