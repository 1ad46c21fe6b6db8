// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Performance sampling of a running VM's engine, once a second: vCPU time from the engine's
 * "vcpuN" threads (/proc/PID/task/TID/stat), resident memory (/proc/PID/statm), storage I/O of
 * the engine process (/proc/PID/io read_bytes / write_bytes) and guest network traffic (QMP
 * query-netstats). No GTK: the Performance page draws what DvPerfMonitor keeps.
 */
#pragma once

#include "gui/vm.h"

G_BEGIN_DECLS

/* Counters at one moment (cumulative since the engine started, except rss). */
struct dv_perf_sample {
    gint64 time_us;     /* g_get_monotonic_time() */
    guint64 vcpu_ticks; /* utime + stime of the vCPU threads, in clock ticks */
    guint nvcpus;       /* vCPU threads seen */
    guint64 rss_bytes;  /* resident set size */
    guint64 disk_read;  /* bytes read / written: the guest's disk I/O (query-blockstats) when */
    guint64 disk_write; /* disk_from_engine, else the engine's storage I/O (/proc/PID/io) */
    gboolean disk_from_engine;
    guint64 net_rx; /* bytes the guest's NICs received / sent */
    guint64 net_tx;
    gboolean have_net; /* query-netstats answered */
};

/* Rates between two samples. */
struct dv_perf_rates {
    double cpu_percent; /* of the VM's vCPUs together: 100 = every vCPU busy all the time */
    double rss_mib;
    double disk_read_bps, disk_write_bps;
    double net_rx_bps, net_tx_bps;
};

/* Parsers for the /proc files, exposed for the tests. FALSE on malformed text. */
gboolean dv_perf_parse_task_stat(const char *text, char *comm, gsize comm_size, guint64 *ticks);
gboolean dv_perf_parse_statm(const char *text, guint64 page_size, guint64 *rss_bytes);
gboolean dv_perf_parse_io(const char *text, guint64 *read_bytes, guint64 *write_bytes);
/* Read the /proc part of a sample of @pid (not the network). */
gboolean dv_perf_read_proc(GPid pid, struct dv_perf_sample *out, GError **error);
/* Rates from @a to the later @b; counters that went back (a new engine) count as 0. */
void dv_perf_rates(const struct dv_perf_sample *a, const struct dv_perf_sample *b,
                   guint64 ticks_per_second, struct dv_perf_rates *out);

#define DV_PERF_HISTORY 60 /* points kept per series: one minute */

enum dv_perf_series {
    DV_PERF_CPU,
    DV_PERF_MEMORY,
    DV_PERF_DISK_READ,
    DV_PERF_DISK_WRITE,
    DV_PERF_NET_RX,
    DV_PERF_NET_TX,
    DV_PERF_N_SERIES,
};

#define DV_TYPE_PERF_MONITOR (dv_perf_monitor_get_type())
G_DECLARE_FINAL_TYPE(DvPerfMonitor, dv_perf_monitor, DV, PERF_MONITOR, GObject)

/* Samples @vm's engine every @interval_ms while it runs; emits "updated" after each new point
 * (the first point needs two samples). */
DvPerfMonitor *dv_perf_monitor_new(guint interval_ms);
/* Follow @vm (NULL: none). The history restarts when the VM or its engine changes. */
void dv_perf_monitor_set_vm(DvPerfMonitor *self, DvVm *vm);
/* The points of @series, oldest first; *n is how many (at most DV_PERF_HISTORY). */
const double *dv_perf_monitor_get_series(DvPerfMonitor *self, enum dv_perf_series series, guint *n);
/* Take a sample now (the timer does this; tests call it to avoid waiting). */
void dv_perf_monitor_sample(DvPerfMonitor *self);

G_END_DECLS
