// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * One deskvm-vm process, supervised: spawned with COM1 on a unix socket the engine serves and
 * this object reads (and keeps a scrollback of), stderr in a log file, and a QMP connection for
 * control and events.
 * GIO only, no GTK: the console view subscribes to "serial-output" and writes typed bytes back.
 */
#pragma once

#include "gui/qmp-client.h"

#include <gio/gio.h>

G_BEGIN_DECLS

#define DV_TYPE_ENGINE (dv_engine_get_type())
G_DECLARE_FINAL_TYPE(DvEngine, dv_engine, DV, ENGINE, GObject)

/* The deskvm-vm to run: $DESKVM_VM, else the installed one, else the one on $PATH. */
char *dv_engine_find_binary(void);

/* Check that this user can open /dev/kvm ($DESKVM_KVM_DEVICE when set); DV_ERROR_KVM_ACCESS. */
gboolean dv_engine_check_kvm(GError **error);

/*
 * Start @binary with @args (QMP and serial options included, see dv_vm_config_engine_args),
 * QMP at @qmp_path, COM1's socket at @serial_path (`--serial unix:@serial_path` in @args; NULL:
 * no console) and stderr in @log_path. Signals:
 *   "run-state" (const char *status): the QMP RunState ("running", "paused", "shutdown",
 *       "internal-error", ...) after connecting and on STOP/RESUME/SHUTDOWN;
 *   "serial-output" (GBytes *): bytes the guest wrote on COM1;
 *   "exited" (gboolean crashed, const char *message): the process ended; crashed is FALSE
 *       after a guest power-off, quit or force_off, TRUE otherwise with a message and log tail;
 *   "command-failed" (const char *command, const char *message).
 */
DvEngine *dv_engine_spawn(const char *binary, const char *const *args, const char *qmp_path,
                          const char *serial_path, const char *log_path, GError **error);

/*
 * Re-attach to an engine this user started earlier (an app that was killed or quit leaves its
 * VMs running, docs/gui.md "Running VMs outlive the app"). @pid must be a deskvm-vm whose
 * command line serves QMP on @qmp_path (dv_engine_cmdline_matches on /proc/PID/cmdline), else
 * DV_ERROR_NOT_FOUND. Same signals as a spawned engine; "exited" cannot know the exit status: it
 * reports a clean end after a SHUTDOWN event or force off, a crash with the log tail otherwise.
 * The serial console connects to the socket the command line names (`--serial unix:PATH`); the
 * engine first sends its recent output, of which "serial-output" carries only what is not at
 * the end of @seen (what the app showed of this console before, e.g. the end of serial.log;
 * NULL: nothing), and the scrollback starts with @seen. An engine started with COM1 on a pty
 * (an older app) has no console: "serial-output" never comes and the scrollback says so.
 */
DvEngine *dv_engine_adopt(GPid pid, const char *qmp_path, const char *log_path, GBytes *seen,
                          GError **error);
/* TRUE if @cmdline (/proc/PID/cmdline: NUL-separated, @len bytes) is deskvm-vm with
 * "--qmp unix:@qmp_path". */
gboolean dv_engine_cmdline_matches(const char *cmdline, gsize len, const char *qmp_path);
/* The PATH of the last "--serial unix:PATH" in @cmdline (as above), or NULL. */
char *dv_engine_cmdline_serial_socket(const char *cmdline, gsize len);
/* The length of the longest start of @replay that is the end of @seen: the part of an engine's
 * replayed history the app already showed. */
gsize dv_engine_replay_overlap(const guint8 *seen, gsize seen_len, const guint8 *replay,
                               gsize replay_len);
/* The process id of the engine. */
GPid dv_engine_get_pid(DvEngine *self);
/* TRUE for an engine re-attached with dv_engine_adopt. */
gboolean dv_engine_is_adopted(DvEngine *self);
/* Let the engine run on when this object goes (the app quits): by default disposing a running
 * engine kills it, so that a test or a failed start leaves no process behind. */
void dv_engine_detach(DvEngine *self);

/* Send a QMP command without arguments ("stop", "cont", "system_reset", ...). */
void dv_engine_command(DvEngine *self, const char *command);
/* SIGKILL the engine (a "pulled plug"); "exited" follows with crashed = FALSE. */
void dv_engine_force_off(DvEngine *self);
gboolean dv_engine_is_running(DvEngine *self);
gboolean dv_engine_is_connected(DvEngine *self);
/* The QMP connection for commands with arguments (snapshots, screendump), or NULL until the
 * engine answered; owned by the engine. */
DvQmpClient *dv_engine_get_qmp(DvEngine *self);

/* Bytes typed into the console, to the guest's COM1. */
void dv_engine_serial_write(DvEngine *self, const void *data, gsize len);
/* The last serial output (up to 256 KiB), for a console attached late. */
GBytes *dv_engine_get_serial_scrollback(DvEngine *self);

G_END_DECLS
