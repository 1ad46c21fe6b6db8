// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A VM's snapshots (see snapshots.h). index.json is read as hostile input (a user or another
 * program may have edited it): a size limit, a version, ids that are plain numbers (they name
 * files), and names and descriptions checked as the dialog checks them. It is written with
 * g_file_set_contents (temp + rename), always before files are removed and after they exist.
 */
#include "gui/snapshots.h"

#include "gui/dv-error.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>

#define INDEX_VERSION 1
#define INDEX_MAX_BYTES (1 << 20)
#define ID_MAX 999999999

struct _DvSnapshot {
    GObject parent;
    char *id, *name, *description, *file, *thumbnail;
    gint64 time;
};

G_DEFINE_FINAL_TYPE(DvSnapshot, dv_snapshot, G_TYPE_OBJECT)

static void dv_snapshot_finalize(GObject *obj)
{
    DvSnapshot *s = DV_SNAPSHOT(obj);
    g_free(s->id);
    g_free(s->name);
    g_free(s->description);
    g_free(s->file);
    g_free(s->thumbnail);
    G_OBJECT_CLASS(dv_snapshot_parent_class)->finalize(obj);
}

static void dv_snapshot_class_init(DvSnapshotClass *klass)
{
    G_OBJECT_CLASS(klass)->finalize = dv_snapshot_finalize;
}

static void dv_snapshot_init(DvSnapshot *self)
{
}

const char *dv_snapshot_get_id(DvSnapshot *self)
{
    return self->id;
}

const char *dv_snapshot_get_name(DvSnapshot *self)
{
    return self->name;
}

const char *dv_snapshot_get_description(DvSnapshot *self)
{
    return self->description;
}

gint64 dv_snapshot_get_time(DvSnapshot *self)
{
    return self->time;
}

const char *dv_snapshot_get_file(DvSnapshot *self)
{
    return self->file;
}

const char *dv_snapshot_get_thumbnail(DvSnapshot *self)
{
    return self->thumbnail;
}

struct _DvSnapshotStore {
    GObject parent;
    char *dir;
    GListStore *store;
    gboolean broken; /* the index did not load: change nothing */
    gboolean busy;
    guint next_id;
};

G_DEFINE_FINAL_TYPE(DvSnapshotStore, dv_snapshot_store, G_TYPE_OBJECT)

static void dv_snapshot_store_finalize(GObject *obj)
{
    DvSnapshotStore *self = DV_SNAPSHOT_STORE(obj);
    g_free(self->dir);
    g_object_unref(self->store);
    G_OBJECT_CLASS(dv_snapshot_store_parent_class)->finalize(obj);
}

static void dv_snapshot_store_class_init(DvSnapshotStoreClass *klass)
{
    G_OBJECT_CLASS(klass)->finalize = dv_snapshot_store_finalize;
}

static void dv_snapshot_store_init(DvSnapshotStore *self)
{
    self->store = g_list_store_new(DV_TYPE_SNAPSHOT);
    self->next_id = 1;
}

DvSnapshotStore *dv_snapshot_store_new(const char *vm_dir)
{
    DvSnapshotStore *self = g_object_new(DV_TYPE_SNAPSHOT_STORE, NULL);
    self->dir = g_build_filename(vm_dir, "snapshots", NULL);
    return self;
}

GListModel *dv_snapshot_store_get_model(DvSnapshotStore *self)
{
    return G_LIST_MODEL(self->store);
}

const char *dv_snapshot_store_get_dir(DvSnapshotStore *self)
{
    return self->dir;
}

gboolean dv_snapshot_store_is_busy(DvSnapshotStore *self)
{
    return self->busy;
}

gboolean dv_snapshot_validate(const char *name, const char *description, GError **error)
{
    const char *why = NULL;
    if (name == NULL || !g_utf8_validate(name, -1, NULL)) {
        why = "A snapshot needs a name";
    } else if (g_utf8_strlen(name, -1) > DV_SNAPSHOT_NAME_MAX) {
        why = "A snapshot name has at most 64 characters";
    } else {
        gboolean blank = TRUE;
        for (const char *p = name; *p; p = g_utf8_next_char(p)) {
            gunichar c = g_utf8_get_char(p);
            if (g_unichar_iscntrl(c)) {
                why = "A snapshot name cannot hold control characters";
            }
            blank = blank && g_unichar_isspace(c);
        }
        if (blank && why == NULL) {
            why = "A snapshot needs a name";
        }
    }
    if (why == NULL && description != NULL &&
        (!g_utf8_validate(description, -1, NULL) ||
         g_utf8_strlen(description, -1) > DV_SNAPSHOT_DESCRIPTION_MAX)) {
        why = "A snapshot description is UTF-8 text of at most 1024 characters";
    }
    if (why != NULL) {
        g_set_error_literal(error, DV_ERROR, DV_ERROR_INVALID, why);
        return FALSE;
    }
    return TRUE;
}

static char *index_path(DvSnapshotStore *self)
{
    return g_build_filename(self->dir, "index.json", NULL);
}

static DvSnapshot *snapshot_new(DvSnapshotStore *self, guint id, const char *name,
                                const char *description, gint64 time, gboolean thumbnail)
{
    DvSnapshot *s = g_object_new(DV_TYPE_SNAPSHOT, NULL);
    s->id = g_strdup_printf("%u", id);
    s->name = g_strdup(name);
    s->description = g_strdup(description ? description : "");
    s->time = time;
    g_autofree char *dvs = g_strconcat(s->id, ".dvs", NULL);
    s->file = g_build_filename(self->dir, dvs, NULL);
    if (thumbnail) {
        g_autofree char *png = g_strconcat(s->id, ".png", NULL);
        s->thumbnail = g_build_filename(self->dir, png, NULL);
    }
    return s;
}

static gboolean corrupt(GError **error, const char *path, const char *why)
{
    g_set_error(error, DV_ERROR, DV_ERROR_CORRUPT, "The snapshot index %s is damaged: %s", path,
                why);
    return FALSE;
}

/* One entry of index.json into a new DvSnapshot, or NULL with *why. */
static DvSnapshot *parse_entry(DvSnapshotStore *self, JsonNode *node, guint *id, const char **why)
{
    if (!JSON_NODE_HOLDS_OBJECT(node)) {
        *why = "an entry is not an object";
        return NULL;
    }
    JsonObject *o = json_node_get_object(node);
    const char *sid = json_object_get_string_member_with_default(o, "id", NULL);
    const char *name = json_object_get_string_member_with_default(o, "name", NULL);
    const char *desc = json_object_get_string_member_with_default(o, "description", "");
    JsonNode *tn = json_object_get_member(o, "time");
    JsonNode *th = json_object_get_member(o, "thumbnail");
    char *end = NULL;
    guint64 n = sid ? g_ascii_strtoull(sid, &end, 10) : 0;
    /* The id names files: digits only, no sign, no leading zero, bounded. */
    if (sid == NULL || !g_ascii_isdigit(sid[0]) || sid[0] == '0' || *end != '\0' || n > ID_MAX ||
        strlen(sid) > 9) {
        *why = "an entry has no valid id";
        return NULL;
    }
    if (!dv_snapshot_validate(name, desc, NULL)) {
        *why = "an entry has no valid name or description";
        return NULL;
    }
    if (tn == NULL || json_node_get_value_type(tn) != G_TYPE_INT64 || json_node_get_int(tn) < 0) {
        *why = "an entry has no valid time";
        return NULL;
    }
    if (th != NULL && json_node_get_value_type(th) != G_TYPE_BOOLEAN) {
        *why = "an entry's thumbnail is not a boolean";
        return NULL;
    }
    *id = (guint)n;
    return snapshot_new(self, (guint)n, name, desc, json_node_get_int(tn),
                        th != NULL && json_node_get_boolean(th));
}

gboolean dv_snapshot_store_load(DvSnapshotStore *self, GError **error)
{
    g_list_store_remove_all(self->store);
    self->broken = TRUE;
    self->next_id = 1;
    g_autofree char *path = index_path(self);
    g_autofree char *text = NULL;
    gsize len = 0;
    GError *local = NULL;
    if (!g_file_get_contents(path, &text, &len, &local)) {
        if (g_error_matches(local, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
            g_error_free(local);
            self->broken = FALSE;
            return TRUE;
        }
        g_set_error(error, DV_ERROR, DV_ERROR_CORRUPT, "Cannot read %s: %s", path, local->message);
        g_error_free(local);
        return FALSE;
    }
    if (len > INDEX_MAX_BYTES) {
        return corrupt(error, path, "it is larger than 1 MiB");
    }
    g_autoptr(JsonParser) parser = json_parser_new();
    if (!json_parser_load_from_data(parser, text, (gssize)len, NULL)) {
        return corrupt(error, path, "it is not JSON");
    }
    JsonNode *root = json_parser_get_root(parser);
    if (root == NULL || !JSON_NODE_HOLDS_OBJECT(root)) {
        return corrupt(error, path, "it is not a JSON object");
    }
    JsonObject *o = json_node_get_object(root);
    JsonNode *ver = json_object_get_member(o, "version");
    JsonNode *list = json_object_get_member(o, "snapshots");
    if (ver == NULL || json_node_get_value_type(ver) != G_TYPE_INT64 ||
        json_node_get_int(ver) != INDEX_VERSION) {
        return corrupt(error, path, "unknown version");
    }
    if (list == NULL || !JSON_NODE_HOLDS_ARRAY(list)) {
        return corrupt(error, path, "no snapshot list");
    }
    JsonArray *a = json_node_get_array(list);
    g_autoptr(GPtrArray) items = g_ptr_array_new_with_free_func(g_object_unref);
    g_autoptr(GHashTable) ids = g_hash_table_new(g_direct_hash, g_direct_equal);
    guint max_id = 0;
    for (guint i = 0; i < json_array_get_length(a); i++) {
        const char *why = NULL;
        guint id = 0;
        DvSnapshot *s = parse_entry(self, json_array_get_element(a, i), &id, &why);
        if (s == NULL) {
            return corrupt(error, path, why);
        }
        g_ptr_array_add(items, s);
        if (!g_hash_table_add(ids, GUINT_TO_POINTER(id))) {
            return corrupt(error, path, "two entries have the same id");
        }
        max_id = MAX(max_id, id);
    }
    for (guint i = 0; i < items->len; i++) {
        g_list_store_append(self->store, g_ptr_array_index(items, i));
    }
    self->next_id = max_id + 1;
    self->broken = FALSE;
    return TRUE;
}

static gboolean write_index(DvSnapshotStore *self, GError **error)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "version");
    json_builder_add_int_value(b, INDEX_VERSION);
    json_builder_set_member_name(b, "snapshots");
    json_builder_begin_array(b);
    guint n = g_list_model_get_n_items(G_LIST_MODEL(self->store));
    for (guint i = 0; i < n; i++) {
        g_autoptr(DvSnapshot) s = g_list_model_get_item(G_LIST_MODEL(self->store), i);
        json_builder_begin_object(b);
        json_builder_set_member_name(b, "id");
        json_builder_add_string_value(b, s->id);
        json_builder_set_member_name(b, "name");
        json_builder_add_string_value(b, s->name);
        json_builder_set_member_name(b, "description");
        json_builder_add_string_value(b, s->description);
        json_builder_set_member_name(b, "time");
        json_builder_add_int_value(b, s->time);
        json_builder_set_member_name(b, "thumbnail");
        json_builder_add_boolean_value(b, s->thumbnail != NULL);
        json_builder_end_object(b);
    }
    json_builder_end_array(b);
    json_builder_end_object(b);
    g_autoptr(JsonGenerator) gen = json_generator_new();
    g_autoptr(JsonNode) root = json_builder_get_root(b);
    json_generator_set_root(gen, root);
    json_generator_set_pretty(gen, TRUE);
    g_autofree char *text = json_generator_to_data(gen, NULL);
    g_autofree char *path = index_path(self);
    GError *local = NULL;
    if (!g_file_set_contents(path, text, -1, &local)) {
        g_set_error(error, DV_ERROR, DV_ERROR_INVALID, "Cannot write %s: %s", path, local->message);
        g_error_free(local);
        return FALSE;
    }
    return TRUE;
}

static gboolean check_usable(DvSnapshotStore *self, GError **error)
{
    if (self->broken) {
        g_set_error(error, DV_ERROR, DV_ERROR_CORRUPT,
                    "The snapshot index in %s did not load; it is left as it is", self->dir);
        return FALSE;
    }
    if (self->busy) {
        g_set_error_literal(error, DV_ERROR, DV_ERROR_BUSY,
                            "Another snapshot operation is still running");
        return FALSE;
    }
    return TRUE;
}

/*
 * The backend: the only place that knows how the engine stores snapshots. Today one
 * checkpoint file per snapshot (snapshot-save / snapshot-load, docs/qmp.md); the tree
 * commands (snapshot-take / revert / delete) replace these three calls.
 */
static void backend_save(DvQmpClient *qmp, DvSnapshot *s, GCancellable *c, GAsyncReadyCallback cb,
                         gpointer data)
{
    g_autoptr(JsonObject) args = json_object_new();
    json_object_set_string_member(args, "file", s->file);
    dv_qmp_client_execute_async(qmp, "snapshot-save", args, c, cb, data);
}

static void backend_load(DvQmpClient *qmp, DvSnapshot *s, GCancellable *c, GAsyncReadyCallback cb,
                         gpointer data)
{
    g_autoptr(JsonObject) args = json_object_new();
    json_object_set_string_member(args, "file", s->file);
    dv_qmp_client_execute_async(qmp, "snapshot-load", args, c, cb, data);
}

static void remove_files(DvSnapshot *s)
{
    g_unlink(s->file);
    if (s->thumbnail != NULL) {
        g_unlink(s->thumbnail);
    }
}

/* Take: screendump -> snapshot-save -> index. The task's data is the new DvSnapshot. */
struct take {
    DvQmpClient *qmp;
    DvSnapshot *snap;
};

static void take_free(gpointer p)
{
    struct take *t = p;
    g_object_unref(t->qmp);
    g_object_unref(t->snap);
    g_free(t);
}

static void take_fail(GTask *task, GError *error)
{
    DvSnapshotStore *self = g_task_get_source_object(task);
    struct take *t = g_task_get_task_data(task);
    remove_files(t->snap);
    self->busy = FALSE;
    g_task_return_error(task, error);
    g_object_unref(task);
}

static void take_saved(GObject *src, GAsyncResult *res, gpointer data)
{
    GTask *task = data;
    DvSnapshotStore *self = g_task_get_source_object(task);
    struct take *t = g_task_get_task_data(task);
    GError *error = NULL;
    g_autoptr(JsonNode) ret = dv_qmp_client_execute_finish(DV_QMP_CLIENT(src), res, &error);
    if (ret == NULL) {
        g_prefix_error(&error, "Snapshot not taken: ");
        take_fail(task, error);
        return;
    }
    g_list_store_insert(self->store, 0, t->snap);
    if (!write_index(self, &error)) {
        g_list_store_remove(self->store, 0);
        take_fail(task, error);
        return;
    }
    self->next_id++;
    self->busy = FALSE;
    g_task_return_pointer(task, g_object_ref(t->snap), g_object_unref);
    g_object_unref(task);
}

static void take_dumped(GObject *src, GAsyncResult *res, gpointer data)
{
    GTask *task = data;
    struct take *t = g_task_get_task_data(task);
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) ret = dv_qmp_client_execute_finish(DV_QMP_CLIENT(src), res, &error);
    if (ret == NULL) {
        /* No display (or no libpng): the snapshot is still worth taking, without a picture. */
        g_clear_pointer(&t->snap->thumbnail, g_free);
    }
    backend_save(t->qmp, t->snap, g_task_get_cancellable(task), take_saved, task);
}

void dv_snapshot_store_take_async(DvSnapshotStore *self, DvQmpClient *qmp, const char *name,
                                  const char *description, GCancellable *cancellable,
                                  GAsyncReadyCallback callback, gpointer user_data)
{
    GTask *task = g_task_new(self, cancellable, callback, user_data);
    g_task_set_source_tag(task, dv_snapshot_store_take_async);
    GError *error = NULL;
    if (!check_usable(self, &error) || !dv_snapshot_validate(name, description, &error)) {
        g_task_return_error(task, error);
        g_object_unref(task);
        return;
    }
    if (g_mkdir_with_parents(self->dir, 0755) < 0) {
        int e = errno;
        g_task_return_new_error(task, DV_ERROR, DV_ERROR_INVALID, "Cannot create %s: %s", self->dir,
                                g_strerror(e));
        g_object_unref(task);
        return;
    }
    if (self->next_id > ID_MAX) {
        g_task_return_new_error(task, DV_ERROR, DV_ERROR_INVALID, "No snapshot id is left");
        g_object_unref(task);
        return;
    }
    self->busy = TRUE;
    struct take *t = g_new0(struct take, 1);
    t->qmp = g_object_ref(qmp);
    g_autoptr(GDateTime) now = g_date_time_new_now_utc();
    t->snap = snapshot_new(self, self->next_id, name, description, g_date_time_to_unix(now), TRUE);
    g_task_set_task_data(task, t, take_free);
    /* Thumbnail first: the picture of the state about to be saved. */
    g_autoptr(JsonObject) args = json_object_new();
    json_object_set_string_member(args, "filename", t->snap->thumbnail);
    dv_qmp_client_execute_async(qmp, "screendump", args, cancellable, take_dumped, task);
}

DvSnapshot *dv_snapshot_store_take_finish(DvSnapshotStore *self, GAsyncResult *result,
                                          GError **error)
{
    return g_task_propagate_pointer(G_TASK(result), error);
}

static void revert_done(GObject *src, GAsyncResult *res, gpointer data)
{
    GTask *task = data;
    DvSnapshotStore *self = g_task_get_source_object(task);
    GError *error = NULL;
    g_autoptr(JsonNode) ret = dv_qmp_client_execute_finish(DV_QMP_CLIENT(src), res, &error);
    self->busy = FALSE;
    if (ret == NULL) {
        g_prefix_error(&error, "Snapshot not reverted: ");
        g_task_return_error(task, error);
    } else {
        g_task_return_boolean(task, TRUE);
    }
    g_object_unref(task);
}

void dv_snapshot_store_revert_async(DvSnapshotStore *self, DvQmpClient *qmp, DvSnapshot *snap,
                                    GCancellable *cancellable, GAsyncReadyCallback callback,
                                    gpointer user_data)
{
    GTask *task = g_task_new(self, cancellable, callback, user_data);
    g_task_set_source_tag(task, dv_snapshot_store_revert_async);
    GError *error = NULL;
    if (!check_usable(self, &error)) {
        g_task_return_error(task, error);
        g_object_unref(task);
        return;
    }
    if (!g_file_test(snap->file, G_FILE_TEST_IS_REGULAR)) {
        g_task_return_new_error(task, DV_ERROR, DV_ERROR_NOT_FOUND,
                                "The snapshot file %s is missing", snap->file);
        g_object_unref(task);
        return;
    }
    self->busy = TRUE;
    backend_load(qmp, snap, cancellable, revert_done, task);
}

gboolean dv_snapshot_store_revert_finish(DvSnapshotStore *self, GAsyncResult *result,
                                         GError **error)
{
    return g_task_propagate_boolean(G_TASK(result), error);
}

gboolean dv_snapshot_store_delete(DvSnapshotStore *self, DvSnapshot *snap, GError **error)
{
    guint pos;
    if (!check_usable(self, error)) {
        return FALSE;
    }
    if (!g_list_store_find(self->store, snap, &pos)) {
        g_set_error(error, DV_ERROR, DV_ERROR_NOT_FOUND, "The snapshot \"%s\" is not listed",
                    snap->name);
        return FALSE;
    }
    g_autoptr(DvSnapshot) keep = g_object_ref(snap);
    g_list_store_remove(self->store, pos);
    if (!write_index(self, error)) {
        g_list_store_insert(self->store, pos, snap);
        return FALSE;
    }
    remove_files(snap);
    return TRUE;
}
