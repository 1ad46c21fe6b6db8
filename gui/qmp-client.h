// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * An asynchronous QMP client (docs/qmp.md): connects to a unix socket, negotiates
 * capabilities, runs commands in order and reports events. GIO + json-glib, no GTK.
 */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

#define DV_TYPE_QMP_CLIENT (dv_qmp_client_get_type())
G_DECLARE_FINAL_TYPE(DvQmpClient, dv_qmp_client, DV, QMP_CLIENT, GObject)

/* Connect to @path and complete once qmp_capabilities succeeded (the session is in command
 * mode). Signals: "event" (const char *name, JsonObject *data or NULL), "closed" (the
 * connection ended; pending commands fail with DV_ERROR_QMP). */
void dv_qmp_client_connect_async(const char *path, GCancellable *cancellable,
                                 GAsyncReadyCallback callback, gpointer user_data);
DvQmpClient *dv_qmp_client_connect_finish(GAsyncResult *result, GError **error);

/* Run @command with @args (may be NULL; a reference is taken). The result is the "return"
 * member (a new JsonNode), or DV_ERROR_QMP with "CLASS: desc" of the error reply. */
void dv_qmp_client_execute_async(DvQmpClient *self, const char *command, JsonObject *args,
                                 GCancellable *cancellable, GAsyncReadyCallback callback,
                                 gpointer user_data);
JsonNode *dv_qmp_client_execute_finish(DvQmpClient *self, GAsyncResult *result, GError **error);

/* Close the connection now; pending commands fail. Safe to call twice. */
void dv_qmp_client_close(DvQmpClient *self);

G_END_DECLS
