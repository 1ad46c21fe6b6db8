// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A VM's snapshots (see snapshots.h). Both indexes are read as hostile input (a user or another
 * program may have edited them), and so is the engine's answer: size limits, ids that are plain
 * numbers (the legacy ones name files), names and descriptions checked as the dialog checks
 * them, parents that exist and no cycles. The legacy index.json is written with
 * g_file_set_contents (temp + rename), always before files are removed; snapshots.json is the
 * engine's and only read here.
 */
#include "gui/snapshots.h"

#include "gui/dv-error.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>

#define INDEX_VERSION 1
#define INDEX_MAX_BYTES (1 << 20)
#define TREE_INDEX_MAX_BYTES (16 << 20)
#define TREE_MAX 100000
#define ID_MAX 999999999

struct _DvSnapshot {
    GObject parent_instance;
    char *id, *name, *description, *file, *thumbnail, *parent;
    gint64 time;
    gboolean current, legacy;
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
    g_free(s->parent);
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

const char *dv_snapshot_get_parent(DvSnapshot *self)
{
    return self->parent;
}

gboolean dv_snapshot_is_current(DvSnapshot *self)
{
    return self->current;
}

gboolean dv_snapshot_is_legacy(DvSnapshot *self)
{
    return self->legacy;
}

struct _DvSnapshotStore {
    GObject parent;
    char *dir;
    GListStore *store; /* tree, then legacy */
    GPtrArray *tree;   /* the engine's, in tree order */
    GPtrArray *legacy; /* index.json's, newest first */
    gboolean broken;   /* index.json did not load: change no legacy snapshot */
    gboolean busy;
};

G_DEFINE_FINAL_TYPE(DvSnapshotStore, dv_snapshot_store, G_TYPE_OBJECT)

static void dv_snapshot_store_finalize(GObject *obj)
{
    DvSnapshotStore *self = DV_SNAPSHOT_STORE(obj);
    g_free(self->dir);
    g_object_unref(self->store);
    g_ptr_array_unref(self->tree);
    g_ptr_array_unref(self->legacy);
    G_OBJECT_CLASS(dv_snapshot_store_parent_class)->finalize(obj);
}

static void dv_snapshot_store_class_init(DvSnapshotStoreClass *klass)
{
    G_OBJECT_CLASS(klass)->finalize = dv_snapshot_store_finalize;
}

static void dv_snapshot_store_init(DvSnapshotStore *self)
{
    self->store = g_list_store_new(DV_TYPE_SNAPSHOT);
    self->tree = g_ptr_array_new_with_free_func(g_object_unref);
    self->legacy = g_ptr_array_new_with_free_func(g_object_unref);
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
    s->legacy = TRUE;
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

static gboolean load_legacy(DvSnapshotStore *self, GError **error)
{
    g_ptr_array_set_size(self->legacy, 0);
    self->broken = TRUE;
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
    }
    for (guint i = 0; i < items->len; i++) {
        g_ptr_array_add(self->legacy, g_object_ref(g_ptr_array_index(items, i)));
    }
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
    for (guint i = 0; i < self->legacy->len; i++) {
        DvSnapshot *s = g_ptr_array_index(self->legacy, i);
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

/* The model: the tree, then the legacy snapshots. */
static void publish(DvSnapshotStore *self)
{
    guint old = g_list_model_get_n_items(G_LIST_MODEL(self->store));
    g_autoptr(GPtrArray) all = g_ptr_array_new();
    for (guint i = 0; i < self->tree->len; i++) {
        g_ptr_array_add(all, g_ptr_array_index(self->tree, i));
    }
    for (guint i = 0; i < self->legacy->len; i++) {
        g_ptr_array_add(all, g_ptr_array_index(self->legacy, i));
    }
    g_list_store_splice(self->store, 0, old, all->pdata, all->len);
}

static gboolean parse_id(const char *sid)
{
    /* Decimal, no sign, no leading zero, at most 9 digits: the legacy ids name files, the
     * engine's name snap-ID files; both are checked alike. */
    if (sid == NULL || !g_ascii_isdigit(sid[0]) || sid[0] == '0' || strlen(sid) > 9) {
        return FALSE;
    }
    for (const char *p = sid; *p; p++) {
        if (!g_ascii_isdigit(*p)) {
            return FALSE;
        }
    }
    return TRUE;
}

static const char *opt_string(JsonObject *o, const char *member, gboolean *ok)
{
    JsonNode *n = json_object_get_member(o, member);
    if (n == NULL || JSON_NODE_HOLDS_NULL(n)) {
        return NULL;
    }
    if (json_node_get_value_type(n) != G_TYPE_STRING) {
        *ok = FALSE;
        return NULL;
    }
    return json_node_get_string(n);
}

/* One query-snapshots entry, or NULL with *why. */
static DvSnapshot *parse_tree_entry(JsonNode *node, const char *thumb_dir, const char *current_id,
                                    const char **why)
{
    if (!JSON_NODE_HOLDS_OBJECT(node)) {
        *why = "an entry is not an object";
        return NULL;
    }
    JsonObject *o = json_node_get_object(node);
    gboolean ok = TRUE;
    const char *id = opt_string(o, "id", &ok);
    const char *parent = opt_string(o, "parent", &ok);
    const char *name = opt_string(o, "name", &ok);
    const char *desc = opt_string(o, "description", &ok);
    const char *ckpt = opt_string(o, "checkpoint", &ok);
    const char *thumb = opt_string(o, "thumbnail", &ok);
    JsonNode *created = json_object_get_member(o, "created");
    JsonNode *cur = json_object_get_member(o, "current");
    if (!ok || !parse_id(id) || (parent != NULL && !parse_id(parent))) {
        *why = "an entry has no valid id or parent";
        return NULL;
    }
    if (!dv_snapshot_validate(name, desc, NULL)) {
        *why = "an entry has no valid name or description";
        return NULL;
    }
    if (created == NULL || json_node_get_value_type(created) != G_TYPE_INT64 ||
        json_node_get_int(created) < 0) {
        *why = "an entry has no valid creation time";
        return NULL;
    }
    if (cur != NULL && json_node_get_value_type(cur) != G_TYPE_BOOLEAN) {
        *why = "an entry's current is not a boolean";
        return NULL;
    }
    /* In snapshots.json a thumbnail is a file name in the directory; the engine answers with
     * the absolute path. A name with a slash would reach outside the directory. */
    if (thumb != NULL && thumb_dir != NULL && strchr(thumb, '/') != NULL) {
        *why = "an entry's thumbnail is not a file name";
        return NULL;
    }
    if (thumb != NULL && thumb_dir == NULL && !g_path_is_absolute(thumb)) {
        *why = "an entry's thumbnail is not an absolute path";
        return NULL;
    }
    DvSnapshot *s = g_object_new(DV_TYPE_SNAPSHOT, NULL);
    s->id = g_strdup(id);
    s->parent = g_strdup(parent);
    s->name = g_strdup(name);
    s->description = g_strdup(desc ? desc : "");
    s->time = json_node_get_int(created);
    s->file = g_strdup(ckpt);
    if (thumb != NULL) {
        s->thumbnail = thumb_dir ? g_build_filename(thumb_dir, thumb, NULL) : g_strdup(thumb);
    }
    s->current = cur ? json_node_get_boolean(cur) : g_strcmp0(current_id, id) == 0;
    return s;
}

static gint by_time_then_id(gconstpointer a, gconstpointer b)
{
    DvSnapshot *x = *(DvSnapshot *const *)a, *y = *(DvSnapshot *const *)b;
    if (x->time != y->time) {
        return x->time < y->time ? -1 : 1;
    }
    /* Equal-length decimal ids compare as strings; a shorter one is smaller. */
    gsize lx = strlen(x->id), ly = strlen(y->id);
    return lx != ly ? (lx < ly ? -1 : 1) : strcmp(x->id, y->id);
}

/* Append the tree depth-first from the roots; @children maps an id ("" for the roots) to its
 * children. Iterative: a linear history of TREE_MAX snapshots is TREE_MAX levels deep. */
static void walk(GHashTable *children, GPtrArray *out)
{
    struct level {
        GPtrArray *kids;
        guint next;
    };
    g_autoptr(GArray) stack = g_array_new(FALSE, FALSE, sizeof(struct level));
    struct level root = {g_hash_table_lookup(children, ""), 0};
    if (root.kids != NULL) {
        g_array_append_val(stack, root);
    }
    while (stack->len > 0) {
        struct level *top = &g_array_index(stack, struct level, stack->len - 1);
        if (top->next == top->kids->len) {
            g_array_set_size(stack, stack->len - 1);
            continue;
        }
        DvSnapshot *k = g_ptr_array_index(top->kids, top->next++);
        g_ptr_array_add(out, g_object_ref(k));
        struct level down = {g_hash_table_lookup(children, k->id), 0};
        if (down.kids != NULL) {
            g_array_append_val(stack, down); /* may move the array: top is not used again */
        }
    }
}

GPtrArray *dv_snapshot_parse_tree(JsonNode *list, const char *thumb_dir, const char *current_id,
                                  GError **error)
{
    if (list == NULL || !JSON_NODE_HOLDS_ARRAY(list)) {
        g_set_error_literal(error, DV_ERROR, DV_ERROR_CORRUPT,
                            "The snapshot list is not a JSON array");
        return NULL;
    }
    JsonArray *a = json_node_get_array(list);
    guint n = json_array_get_length(a);
    if (n > TREE_MAX) {
        g_set_error(error, DV_ERROR, DV_ERROR_CORRUPT, "The snapshot list has over %u entries",
                    TREE_MAX);
        return NULL;
    }
    g_autoptr(GPtrArray) items = g_ptr_array_new_with_free_func(g_object_unref);
    g_autoptr(GHashTable) ids = g_hash_table_new(g_str_hash, g_str_equal);
    g_autoptr(GHashTable) children =
        g_hash_table_new_full(g_str_hash, g_str_equal, NULL, (GDestroyNotify)g_ptr_array_unref);
    for (guint i = 0; i < n; i++) {
        const char *why = NULL;
        DvSnapshot *s = parse_tree_entry(json_array_get_element(a, i), thumb_dir, current_id, &why);
        if (s == NULL) {
            g_set_error(error, DV_ERROR, DV_ERROR_CORRUPT, "The snapshot list is damaged: %s", why);
            return NULL;
        }
        g_ptr_array_add(items, s);
        if (!g_hash_table_add(ids, s->id)) {
            g_set_error(error, DV_ERROR, DV_ERROR_CORRUPT,
                        "The snapshot list is damaged: two entries have the id %s", s->id);
            return NULL;
        }
    }
    for (guint i = 0; i < items->len; i++) {
        DvSnapshot *s = g_ptr_array_index(items, i);
        if (s->parent != NULL && !g_hash_table_contains(ids, s->parent)) {
            g_set_error(error, DV_ERROR, DV_ERROR_CORRUPT,
                        "The snapshot list is damaged: %s has the unknown parent %s", s->id,
                        s->parent);
            return NULL;
        }
        const char *key = s->parent ? s->parent : "";
        GPtrArray *kids = g_hash_table_lookup(children, key);
        if (kids == NULL) {
            kids = g_ptr_array_new();
            g_hash_table_insert(children, (gpointer)key, kids);
        }
        g_ptr_array_add(kids, s);
    }
    GHashTableIter it;
    gpointer value;
    g_hash_table_iter_init(&it, children);
    while (g_hash_table_iter_next(&it, NULL, &value)) {
        g_ptr_array_sort(value, by_time_then_id);
    }
    GPtrArray *out = g_ptr_array_new_with_free_func(g_object_unref);
    walk(children, out);
    if (out->len != items->len) {
        /* Entries no root reaches: their parents form a cycle. */
        g_ptr_array_unref(out);
        g_set_error_literal(error, DV_ERROR, DV_ERROR_CORRUPT,
                            "The snapshot list is damaged: the parents form a cycle");
        return NULL;
    }
    return out;
}

/* snapshots.json, read-only: its root object, or NULL (no error when there is none). */
static JsonParser *read_tree_index(const char *dir, JsonObject **root, GError **error)
{
    g_autofree char *path = g_build_filename(dir, "snapshots.json", NULL);
    g_autofree char *text = NULL;
    gsize len = 0;
    GError *local = NULL;
    *root = NULL;
    if (!g_file_get_contents(path, &text, &len, &local)) {
        if (!g_error_matches(local, G_FILE_ERROR, G_FILE_ERROR_NOENT)) {
            g_set_error(error, DV_ERROR, DV_ERROR_CORRUPT, "Cannot read %s: %s", path,
                        local->message);
        }
        g_error_free(local);
        return NULL;
    }
    JsonParser *parser = json_parser_new();
    if (len > TREE_INDEX_MAX_BYTES ||
        !json_parser_load_from_data(parser, text, (gssize)len, NULL) ||
        json_parser_get_root(parser) == NULL ||
        !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(parser))) {
        g_object_unref(parser);
        g_set_error(error, DV_ERROR, DV_ERROR_CORRUPT,
                    "The snapshot index %s is damaged: not a JSON object of at most 16 MiB", path);
        return NULL;
    }
    *root = json_node_get_object(json_parser_get_root(parser));
    return parser;
}

static gboolean load_tree(DvSnapshotStore *self, GError **error)
{
    g_ptr_array_set_size(self->tree, 0);
    JsonObject *root = NULL;
    GError *local = NULL;
    g_autoptr(JsonParser) parser = read_tree_index(self->dir, &root, &local);
    if (parser == NULL) {
        if (local != NULL) {
            g_propagate_error(error, local);
            return FALSE;
        }
        return TRUE;
    }
    gboolean ok = TRUE;
    const char *current = opt_string(root, "current", &ok);
    g_autoptr(GPtrArray) items = dv_snapshot_parse_tree(json_object_get_member(root, "snapshots"),
                                                        self->dir, ok ? current : NULL, error);
    if (items == NULL) {
        g_prefix_error(error, "%s/snapshots.json: ", self->dir);
        return FALSE;
    }
    g_ptr_array_extend_and_steal(self->tree, g_steal_pointer(&items));
    return TRUE;
}

gboolean dv_snapshot_store_load(DvSnapshotStore *self, GError **error)
{
    GError *tree_error = NULL;
    gboolean ok = load_legacy(self, error);
    if (!load_tree(self, ok ? error : &tree_error)) {
        ok = FALSE;
    }
    g_clear_error(&tree_error);
    publish(self);
    return ok;
}

GStrv dv_snapshot_active_disks(const char *snapshot_dir, GError **error)
{
    JsonObject *root = NULL;
    g_autoptr(JsonParser) parser = read_tree_index(snapshot_dir, &root, error);
    if (parser == NULL) {
        return NULL;
    }
    JsonNode *act = json_object_get_member(root, "active");
    if (act == NULL || JSON_NODE_HOLDS_NULL(act)) {
        return NULL; /* no tree command ran yet */
    }
    if (!JSON_NODE_HOLDS_ARRAY(act)) {
        g_set_error(error, DV_ERROR, DV_ERROR_CORRUPT,
                    "%s/snapshots.json is damaged: \"active\" is not a list", snapshot_dir);
        return NULL;
    }
    JsonArray *a = json_node_get_array(act);
    g_autoptr(GStrvBuilder) b = g_strv_builder_new();
    for (guint i = 0; i < json_array_get_length(a); i++) {
        JsonNode *n = json_array_get_element(a, i);
        if (json_node_get_value_type(n) != G_TYPE_STRING ||
            !g_path_is_absolute(json_node_get_string(n))) {
            g_set_error(error, DV_ERROR, DV_ERROR_CORRUPT,
                        "%s/snapshots.json is damaged: an active image is not an absolute path",
                        snapshot_dir);
            return NULL;
        }
        g_strv_builder_add(b, json_node_get_string(n));
    }
    return g_strv_builder_end(b);
}

static gboolean check_usable(DvSnapshotStore *self, DvSnapshot *snap, GError **error)
{
    if (snap != NULL && snap->legacy && self->broken) {
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
 * Every engine operation: one command, then query-snapshots to show the tree the engine now
 * has. The task data is the operation; the result is the snapshot taken (take) or TRUE.
 */
struct op {
    DvQmpClient *qmp;
    const char *what; /* "taken", "reverted", "deleted" */
    char *new_id;     /* take: the id snapshot-take answered */
};

static void op_free(gpointer p)
{
    struct op *o = p;
    g_clear_object(&o->qmp);
    g_free(o->new_id);
    g_free(o);
}

static void op_finish(GTask *task, GError *error)
{
    DvSnapshotStore *self = g_task_get_source_object(task);
    struct op *o = g_task_get_task_data(task);
    if (o != NULL) {
        self->busy = FALSE; /* a plain refresh (no op) never set it */
    }
    if (error != NULL) {
        g_task_return_error(task, error);
    } else if (g_task_get_source_tag(task) == dv_snapshot_store_take_async) {
        DvSnapshot *found = NULL;
        for (guint i = 0; i < self->tree->len && found == NULL; i++) {
            DvSnapshot *s = g_ptr_array_index(self->tree, i);
            found = g_strcmp0(s->id, o->new_id) == 0 ? s : NULL;
        }
        if (found != NULL) {
            g_task_return_pointer(task, g_object_ref(found), g_object_unref);
        } else {
            g_task_return_new_error(task, DV_ERROR, DV_ERROR_QMP,
                                    "The engine does not list the snapshot %s it took",
                                    o->new_id ? o->new_id : "(no id)");
        }
    } else {
        g_task_return_boolean(task, TRUE);
    }
    g_object_unref(task);
}

static gboolean apply_list(DvSnapshotStore *self, JsonNode *ret, GError **error)
{
    GPtrArray *items = dv_snapshot_parse_tree(ret, NULL, NULL, error);
    if (items == NULL) {
        g_prefix_error(error, "query-snapshots: ");
        return FALSE;
    }
    g_ptr_array_set_size(self->tree, 0);
    g_ptr_array_extend_and_steal(self->tree, items);
    publish(self);
    return TRUE;
}

static void op_listed(GObject *src, GAsyncResult *res, gpointer data)
{
    GTask *task = data;
    GError *error = NULL;
    g_autoptr(JsonNode) ret = dv_qmp_client_execute_finish(DV_QMP_CLIENT(src), res, &error);
    if (ret != NULL) {
        apply_list(g_task_get_source_object(task), ret, &error);
    }
    op_finish(task, error);
}

static void op_done(GObject *src, GAsyncResult *res, gpointer data)
{
    GTask *task = data;
    struct op *o = g_task_get_task_data(task);
    GError *error = NULL;
    g_autoptr(JsonNode) ret = dv_qmp_client_execute_finish(DV_QMP_CLIENT(src), res, &error);
    if (ret == NULL) {
        g_prefix_error(&error, "Snapshot not %s: ", o->what);
        op_finish(task, error);
        return;
    }
    if (g_task_get_source_tag(task) == dv_snapshot_store_take_async) {
        const char *id =
            JSON_NODE_HOLDS_OBJECT(ret)
                ? json_object_get_string_member_with_default(json_node_get_object(ret), "id", NULL)
                : NULL;
        o->new_id = g_strdup(id);
    }
    dv_qmp_client_execute_async(o->qmp, "query-snapshots", NULL, g_task_get_cancellable(task),
                                op_listed, task);
}

/* Start @command with @args for @task, or finish it at once with the usability error. */
static void op_start(DvSnapshotStore *self, GTask *task, DvQmpClient *qmp, DvSnapshot *snap,
                     const char *what, const char *command, JsonObject *args)
{
    GError *error = NULL;
    if (!check_usable(self, snap, &error)) {
        g_task_return_error(task, error);
        g_object_unref(task);
        return;
    }
    self->busy = TRUE;
    struct op *o = g_new0(struct op, 1);
    o->qmp = g_object_ref(qmp);
    o->what = what;
    g_task_set_task_data(task, o, op_free);
    dv_qmp_client_execute_async(qmp, command, args, g_task_get_cancellable(task), op_done, task);
}

void dv_snapshot_store_refresh_async(DvSnapshotStore *self, DvQmpClient *qmp,
                                     GCancellable *cancellable, GAsyncReadyCallback callback,
                                     gpointer user_data)
{
    GTask *task = g_task_new(self, cancellable, callback, user_data);
    g_task_set_source_tag(task, dv_snapshot_store_refresh_async);
    dv_qmp_client_execute_async(qmp, "query-snapshots", NULL, cancellable, op_listed, task);
}

gboolean dv_snapshot_store_refresh_finish(DvSnapshotStore *self, GAsyncResult *result,
                                          GError **error)
{
    return g_task_propagate_boolean(G_TASK(result), error);
}

void dv_snapshot_store_take_async(DvSnapshotStore *self, DvQmpClient *qmp, const char *name,
                                  const char *description, GCancellable *cancellable,
                                  GAsyncReadyCallback callback, gpointer user_data)
{
    GTask *task = g_task_new(self, cancellable, callback, user_data);
    g_task_set_source_tag(task, dv_snapshot_store_take_async);
    GError *error = NULL;
    if (!dv_snapshot_validate(name, description, &error)) {
        g_task_return_error(task, error);
        g_object_unref(task);
        return;
    }
    /* The engine writes into the directory it was started with (--snapshot-dir). */
    if (g_mkdir_with_parents(self->dir, 0755) < 0) {
        int e = errno;
        g_task_return_new_error(task, DV_ERROR, DV_ERROR_INVALID, "Cannot create %s: %s", self->dir,
                                g_strerror(e));
        g_object_unref(task);
        return;
    }
    g_autoptr(JsonObject) args = json_object_new();
    json_object_set_string_member(args, "name", name);
    if (description != NULL && description[0] != '\0') {
        json_object_set_string_member(args, "description", description);
    }
    op_start(self, task, qmp, NULL, "taken", "snapshot-take", args);
}

DvSnapshot *dv_snapshot_store_take_finish(DvSnapshotStore *self, GAsyncResult *result,
                                          GError **error)
{
    return g_task_propagate_pointer(G_TASK(result), error);
}

void dv_snapshot_store_revert_async(DvSnapshotStore *self, DvQmpClient *qmp, DvSnapshot *snap,
                                    GCancellable *cancellable, GAsyncReadyCallback callback,
                                    gpointer user_data)
{
    GTask *task = g_task_new(self, cancellable, callback, user_data);
    g_task_set_source_tag(task, dv_snapshot_store_revert_async);
    g_autoptr(JsonObject) args = json_object_new();
    if (!snap->legacy) {
        json_object_set_string_member(args, "id", snap->id);
        op_start(self, task, qmp, snap, "reverted", "snapshot-revert", args);
        return;
    }
    if (!g_file_test(snap->file, G_FILE_TEST_IS_REGULAR)) {
        g_task_return_new_error(task, DV_ERROR, DV_ERROR_NOT_FOUND,
                                "The snapshot file %s is missing", snap->file);
        g_object_unref(task);
        return;
    }
    json_object_set_string_member(args, "file", snap->file);
    op_start(self, task, qmp, snap, "reverted", "snapshot-load", args);
}

gboolean dv_snapshot_store_revert_finish(DvSnapshotStore *self, GAsyncResult *result,
                                         GError **error)
{
    return g_task_propagate_boolean(G_TASK(result), error);
}

/* A legacy snapshot: out of index.json, then its files. */
static gboolean delete_legacy(DvSnapshotStore *self, DvSnapshot *snap, GError **error)
{
    guint pos;
    if (!g_ptr_array_find(self->legacy, snap, &pos)) {
        g_set_error(error, DV_ERROR, DV_ERROR_NOT_FOUND, "The snapshot \"%s\" is not listed",
                    snap->name);
        return FALSE;
    }
    g_autoptr(DvSnapshot) keep = g_ptr_array_steal_index(self->legacy, pos);
    if (!write_index(self, error)) {
        g_ptr_array_insert(self->legacy, (gint)pos, g_object_ref(keep));
        return FALSE;
    }
    g_unlink(snap->file);
    if (snap->thumbnail != NULL) {
        g_unlink(snap->thumbnail);
    }
    publish(self);
    return TRUE;
}

void dv_snapshot_store_delete_async(DvSnapshotStore *self, DvQmpClient *qmp, DvSnapshot *snap,
                                    GCancellable *cancellable, GAsyncReadyCallback callback,
                                    gpointer user_data)
{
    GTask *task = g_task_new(self, cancellable, callback, user_data);
    g_task_set_source_tag(task, dv_snapshot_store_delete_async);
    GError *error = NULL;
    if (snap->legacy) {
        if (!check_usable(self, snap, &error) || !delete_legacy(self, snap, &error)) {
            g_task_return_error(task, error);
        } else {
            g_task_return_boolean(task, TRUE);
        }
        g_object_unref(task);
        return;
    }
    if (qmp == NULL) {
        /* The engine merges the snapshot's disk image into its child: it must run. */
        g_task_return_new_error(task, DV_ERROR, DV_ERROR_BUSY,
                                "Start the VM to delete the snapshot \"%s\"", snap->name);
        g_object_unref(task);
        return;
    }
    g_autoptr(JsonObject) args = json_object_new();
    json_object_set_string_member(args, "id", snap->id);
    op_start(self, task, qmp, snap, "deleted", "snapshot-delete", args);
}

gboolean dv_snapshot_store_delete_finish(DvSnapshotStore *self, GAsyncResult *result,
                                         GError **error)
{
    return g_task_propagate_boolean(G_TASK(result), error);
}
