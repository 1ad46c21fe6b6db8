// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * QMP client over a unix stream socket. The server sends one JSON value per line (docs/qmp.md,
 * "Wire format"); requests carry an integer "id" and their GTask waits in a queue until the
 * reply with that id arrives. Writes are queued so that at most one is in flight.
 */
#include "gui/qmp-client.h"

#include "gui/dv-error.h"

#include <gio/gunixsocketaddress.h>

/* A server line longer than this is a broken server, not a reply we wait for. */
#define QMP_MAX_LINE (4 * 1024 * 1024)

struct _DvQmpClient {
    GObject parent;
    GSocketConnection *conn;
    GDataInputStream *in;
    GCancellable *cancel; /* ends the read loop and the writes at close */
    GString *outbuf;      /* queued requests */
    GBytes *inflight;     /* what the one write in flight sends */
    gboolean writing;
    gboolean closed;
    gint64 next_id;
    GQueue pending;      /* of GTask, task data = id (gint64 *) */
    GTask *connect_task; /* until the capabilities reply */
};

G_DEFINE_FINAL_TYPE(DvQmpClient, dv_qmp_client, G_TYPE_OBJECT)

enum { SIG_EVENT, SIG_CLOSED, N_SIGNALS };
static guint signals[N_SIGNALS];

static void start_write(DvQmpClient *self);
static void read_next(DvQmpClient *self);

static void fail_all(DvQmpClient *self, const char *why)
{
    GTask *task;
    while ((task = g_queue_pop_head(&self->pending)) != NULL) {
        g_task_return_new_error(task, DV_ERROR, DV_ERROR_QMP, "%s", why);
        g_object_unref(task);
    }
    if (self->connect_task != NULL) {
        GTask *t = self->connect_task;
        self->connect_task = NULL;
        g_task_return_new_error(t, DV_ERROR, DV_ERROR_QMP, "%s", why);
        g_object_unref(t);
    }
}

void dv_qmp_client_close(DvQmpClient *self)
{
    if (self->closed) {
        return;
    }
    self->closed = TRUE;
    g_cancellable_cancel(self->cancel);
    if (self->conn != NULL) {
        g_io_stream_close(G_IO_STREAM(self->conn), NULL, NULL);
    }
    g_object_ref(self);
    fail_all(self, "The engine's control connection closed");
    g_signal_emit(self, signals[SIG_CLOSED], 0);
    g_object_unref(self);
}

static void dv_qmp_client_dispose(GObject *obj)
{
    DvQmpClient *self = DV_QMP_CLIENT(obj);
    if (!self->closed && self->conn != NULL) {
        self->closed = TRUE;
        g_cancellable_cancel(self->cancel);
        g_io_stream_close(G_IO_STREAM(self->conn), NULL, NULL);
        fail_all(self, "The QMP client was destroyed");
    }
    g_clear_object(&self->in);
    g_clear_object(&self->conn);
    G_OBJECT_CLASS(dv_qmp_client_parent_class)->dispose(obj);
}

static void dv_qmp_client_finalize(GObject *obj)
{
    DvQmpClient *self = DV_QMP_CLIENT(obj);
    g_string_free(self->outbuf, TRUE);
    g_clear_pointer(&self->inflight, g_bytes_unref);
    g_object_unref(self->cancel);
    G_OBJECT_CLASS(dv_qmp_client_parent_class)->finalize(obj);
}

static void dv_qmp_client_class_init(DvQmpClientClass *klass)
{
    GObjectClass *oc = G_OBJECT_CLASS(klass);
    oc->dispose = dv_qmp_client_dispose;
    oc->finalize = dv_qmp_client_finalize;
    signals[SIG_EVENT] = g_signal_new("event", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, NULL,
                                      NULL, NULL, G_TYPE_NONE, 2, G_TYPE_STRING, JSON_TYPE_OBJECT);
    signals[SIG_CLOSED] = g_signal_new("closed", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0,
                                       NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void dv_qmp_client_init(DvQmpClient *self)
{
    self->cancel = g_cancellable_new();
    self->outbuf = g_string_new(NULL);
    self->next_id = 1;
    g_queue_init(&self->pending);
}

static void write_done(GObject *src, GAsyncResult *res, gpointer data)
{
    DvQmpClient *self = data;
    g_autoptr(GError) error = NULL;
    gsize n = 0;
    if (!g_output_stream_write_all_finish(G_OUTPUT_STREAM(src), res, &n, &error)) {
        g_clear_pointer(&self->inflight, g_bytes_unref);
        self->writing = FALSE;
        if (!self->closed) {
            dv_qmp_client_close(self);
        }
        g_object_unref(self);
        return;
    }
    g_clear_pointer(&self->inflight, g_bytes_unref);
    self->writing = FALSE;
    start_write(self);
    g_object_unref(self);
}

static void start_write(DvQmpClient *self)
{
    if (self->writing || self->closed || self->outbuf->len == 0) {
        return;
    }
    self->writing = TRUE;
    GOutputStream *out = g_io_stream_get_output_stream(G_IO_STREAM(self->conn));
    /* Requests queued while this write runs go to a fresh buffer. */
    self->inflight = g_string_free_to_bytes(self->outbuf);
    self->outbuf = g_string_new(NULL);
    gsize len = 0;
    const void *data = g_bytes_get_data(self->inflight, &len);
    g_output_stream_write_all_async(out, data, len, G_PRIORITY_DEFAULT, self->cancel, write_done,
                                    g_object_ref(self));
}

static void send_request(DvQmpClient *self, const char *command, JsonObject *args, gint64 id)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "execute");
    json_builder_add_string_value(b, command);
    if (args != NULL) {
        json_builder_set_member_name(b, "arguments");
        JsonNode *n = json_node_new(JSON_NODE_OBJECT);
        json_node_set_object(n, args);
        json_builder_add_value(b, n);
    }
    json_builder_set_member_name(b, "id");
    json_builder_add_int_value(b, id);
    json_builder_end_object(b);
    g_autoptr(JsonNode) root = json_builder_get_root(b);
    g_autofree char *text = json_to_string(root, FALSE);
    g_string_append(self->outbuf, text);
    g_string_append_c(self->outbuf, '\n');
    start_write(self);
}

static GTask *take_pending(DvQmpClient *self, gint64 id)
{
    for (GList *l = self->pending.head; l != NULL; l = l->next) {
        GTask *t = l->data;
        if (*(gint64 *)g_task_get_task_data(t) == id) {
            g_queue_delete_link(&self->pending, l);
            return t;
        }
    }
    return NULL;
}

static void caps_done(GObject *src, GAsyncResult *res, gpointer data)
{
    DvQmpClient *self = DV_QMP_CLIENT(src);
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) ret = dv_qmp_client_execute_finish(self, res, &error);
    GTask *t = self->connect_task;
    self->connect_task = NULL;
    if (t == NULL) {
        return; /* closed meanwhile: fail_all already answered it */
    }
    if (ret == NULL) {
        g_task_return_error(t, g_steal_pointer(&error));
    } else {
        g_task_return_pointer(t, g_object_ref(self), g_object_unref);
    }
    g_object_unref(t);
}

static void handle_message(DvQmpClient *self, JsonObject *msg)
{
    if (json_object_has_member(msg, "QMP")) {
        dv_qmp_client_execute_async(self, "qmp_capabilities", NULL, NULL, caps_done, NULL);
        return;
    }
    if (json_object_has_member(msg, "event")) {
        const char *name = json_object_get_string_member_with_default(msg, "event", "");
        JsonObject *data = NULL;
        if (json_object_has_member(msg, "data") &&
            JSON_NODE_HOLDS_OBJECT(json_object_get_member(msg, "data"))) {
            data = json_object_get_object_member(msg, "data");
        }
        g_signal_emit(self, signals[SIG_EVENT], 0, name, data);
        return;
    }
    JsonNode *idn = json_object_get_member(msg, "id");
    if (idn == NULL || json_node_get_value_type(idn) != G_TYPE_INT64) {
        return; /* a reply to nobody: not ours */
    }
    GTask *t = take_pending(self, json_node_get_int(idn));
    if (t == NULL) {
        return;
    }
    if (json_object_has_member(msg, "return")) {
        g_task_return_pointer(t, json_node_copy(json_object_get_member(msg, "return")),
                              (GDestroyNotify)json_node_unref);
    } else {
        const char *cls = "GenericError", *desc = "no description";
        JsonNode *en = json_object_get_member(msg, "error");
        if (en != NULL && JSON_NODE_HOLDS_OBJECT(en)) {
            JsonObject *e = json_node_get_object(en);
            cls = json_object_get_string_member_with_default(e, "class", cls);
            desc = json_object_get_string_member_with_default(e, "desc", desc);
        }
        g_task_return_new_error(t, DV_ERROR, DV_ERROR_QMP, "%s: %s", cls, desc);
    }
    g_object_unref(t);
}

static void line_read(GObject *src, GAsyncResult *res, gpointer data)
{
    DvQmpClient *self = data;
    g_autoptr(GError) error = NULL;
    gsize len = 0;
    g_autofree char *line =
        g_data_input_stream_read_line_finish(G_DATA_INPUT_STREAM(src), res, &len, &error);
    if (self->closed) {
        g_object_unref(self);
        return;
    }
    if (line == NULL || len > QMP_MAX_LINE) {
        dv_qmp_client_close(self); /* EOF, error, or a runaway line */
        g_object_unref(self);
        return;
    }
    g_autoptr(JsonParser) p = json_parser_new();
    if (json_parser_load_from_data(p, line, (gssize)len, NULL) && json_parser_get_root(p) &&
        JSON_NODE_HOLDS_OBJECT(json_parser_get_root(p))) {
        handle_message(self, json_node_get_object(json_parser_get_root(p)));
    }
    if (!self->closed) {
        read_next(self);
    }
    g_object_unref(self);
}

static void read_next(DvQmpClient *self)
{
    g_data_input_stream_read_line_async(self->in, G_PRIORITY_DEFAULT, self->cancel, line_read,
                                        g_object_ref(self));
}

static void connected(GObject *src, GAsyncResult *res, gpointer data)
{
    GTask *task = data;
    GError *error = NULL;
    GSocketConnection *conn = g_socket_client_connect_finish(G_SOCKET_CLIENT(src), res, &error);
    if (conn == NULL) {
        g_task_return_error(task, error);
        g_object_unref(task);
        return;
    }
    DvQmpClient *self = g_object_new(DV_TYPE_QMP_CLIENT, NULL);
    self->conn = conn;
    self->in = g_data_input_stream_new(g_io_stream_get_input_stream(G_IO_STREAM(conn)));
    g_data_input_stream_set_newline_type(self->in, G_DATA_STREAM_NEWLINE_TYPE_ANY);
    self->connect_task = task;
    read_next(self);
    g_object_unref(self); /* the read loop and the connect task hold it */
}

void dv_qmp_client_connect_async(const char *path, GCancellable *cancellable,
                                 GAsyncReadyCallback callback, gpointer user_data)
{
    GTask *task = g_task_new(NULL, cancellable, callback, user_data);
    g_autoptr(GSocketClient) client = g_socket_client_new();
    g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(path);
    g_socket_client_connect_async(client, G_SOCKET_CONNECTABLE(addr), cancellable, connected, task);
}

DvQmpClient *dv_qmp_client_connect_finish(GAsyncResult *result, GError **error)
{
    return g_task_propagate_pointer(G_TASK(result), error);
}

void dv_qmp_client_execute_async(DvQmpClient *self, const char *command, JsonObject *args,
                                 GCancellable *cancellable, GAsyncReadyCallback callback,
                                 gpointer user_data)
{
    GTask *task = g_task_new(self, cancellable, callback, user_data);
    if (self->closed) {
        g_task_return_new_error(task, DV_ERROR, DV_ERROR_QMP,
                                "The engine's control connection is closed");
        g_object_unref(task);
        return;
    }
    gint64 *id = g_new(gint64, 1);
    *id = self->next_id++;
    g_task_set_task_data(task, id, g_free);
    g_queue_push_tail(&self->pending, task);
    send_request(self, command, args, *id);
}

JsonNode *dv_qmp_client_execute_finish(DvQmpClient *self, GAsyncResult *result, GError **error)
{
    g_return_val_if_fail(g_task_is_valid(result, self), NULL);
    return g_task_propagate_pointer(G_TASK(result), error);
}
