// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The VM library: one directory per VM, named after it, holding domain.xml (DESIGN.md,
 * "Processes"). New files are written to a temporary name and renamed (g_file_set_contents),
 * and a half-made VM directory is removed, so an error never leaves a VM behind half-written.
 */
#include "gui/library.h"

#include "gui/dv-error.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>

struct _DvLibrary {
    GObject parent;
    char *root;
    GListStore *store;
};

G_DEFINE_FINAL_TYPE(DvLibrary, dv_library, G_TYPE_OBJECT)

static void dv_library_finalize(GObject *obj)
{
    DvLibrary *self = DV_LIBRARY(obj);
    g_free(self->root);
    g_object_unref(self->store);
    G_OBJECT_CLASS(dv_library_parent_class)->finalize(obj);
}

static void dv_library_class_init(DvLibraryClass *klass)
{
    G_OBJECT_CLASS(klass)->finalize = dv_library_finalize;
}

static void dv_library_init(DvLibrary *self)
{
    self->store = g_list_store_new(DV_TYPE_VM);
}

DvLibrary *dv_library_new(const char *root)
{
    DvLibrary *self = g_object_new(DV_TYPE_LIBRARY, NULL);
    self->root =
        root ? g_strdup(root) : g_build_filename(g_get_user_data_dir(), "deskvm", "vms", NULL);
    return self;
}

const char *dv_library_get_root(DvLibrary *self)
{
    return self->root;
}

GListModel *dv_library_get_model(DvLibrary *self)
{
    return G_LIST_MODEL(self->store);
}

static gint by_name(gconstpointer a, gconstpointer b, gpointer data)
{
    return g_strcmp0(dv_vm_get_name((DvVm *)a), dv_vm_get_name((DvVm *)b));
}

static gboolean ensure_root(DvLibrary *self, GError **error)
{
    if (g_mkdir_with_parents(self->root, 0755) < 0) {
        int e = errno;
        g_set_error(error, DV_ERROR, DV_ERROR_INVALID, "Cannot create the library %s: %s",
                    self->root, g_strerror(e));
        return FALSE;
    }
    return TRUE;
}

gboolean dv_library_load(DvLibrary *self, GError **error)
{
    if (!ensure_root(self, error)) {
        return FALSE;
    }
    GError *local = NULL;
    GDir *d = g_dir_open(self->root, 0, &local);
    if (d == NULL) {
        g_set_error(error, DV_ERROR, DV_ERROR_INVALID, "Cannot read the library %s: %s", self->root,
                    local->message);
        g_error_free(local);
        return FALSE;
    }
    /* Keep the objects of VMs still there (a running VM keeps its engine). */
    GPtrArray *vms = g_ptr_array_new_with_free_func(g_object_unref);
    const char *entry;
    while ((entry = g_dir_read_name(d)) != NULL) {
        g_autofree char *dir = g_build_filename(self->root, entry, NULL);
        g_autofree char *xml = g_build_filename(dir, "domain.xml", NULL);
        if (!g_file_test(xml, G_FILE_TEST_EXISTS)) {
            continue; /* not a VM (or one being written) */
        }
        DvVm *old = dv_library_lookup(self, entry);
        g_ptr_array_add(vms, old ? g_object_ref(old) : dv_vm_load(dir));
    }
    g_dir_close(d);
    g_list_store_remove_all(self->store);
    for (guint i = 0; i < vms->len; i++) {
        g_list_store_insert_sorted(self->store, g_ptr_array_index(vms, i), by_name, NULL);
    }
    g_ptr_array_unref(vms);
    return TRUE;
}

DvVm *dv_library_lookup(DvLibrary *self, const char *name)
{
    guint n = g_list_model_get_n_items(G_LIST_MODEL(self->store));
    for (guint i = 0; i < n; i++) {
        g_autoptr(DvVm) vm = g_list_model_get_item(G_LIST_MODEL(self->store), i);
        if (g_strcmp0(dv_vm_get_name(vm), name) == 0) {
            return vm; /* the store keeps it alive */
        }
    }
    return NULL;
}

static gboolean uuid_taken(DvLibrary *self, const char *uuid)
{
    guint n = g_list_model_get_n_items(G_LIST_MODEL(self->store));
    for (guint i = 0; i < n; i++) {
        g_autoptr(DvVm) vm = g_list_model_get_item(G_LIST_MODEL(self->store), i);
        const struct dv_vm_config *c = dv_vm_get_config(vm);
        if (c != NULL && g_strcmp0(c->uuid, uuid) == 0) {
            return TRUE;
        }
    }
    return FALSE;
}

/* Make ROOT/NAME for a new VM: the name is valid and free. */
static char *new_vm_dir(DvLibrary *self, const char *name, GError **error)
{
    if (!dv_vm_name_validate(name, error) || !ensure_root(self, error)) {
        return NULL;
    }
    char *dir = g_build_filename(self->root, name, NULL);
    if (dv_library_lookup(self, name) != NULL || g_file_test(dir, G_FILE_TEST_EXISTS)) {
        g_set_error(error, DV_ERROR, DV_ERROR_EXISTS, "A VM named \"%s\" already exists", name);
        g_free(dir);
        return NULL;
    }
    if (g_mkdir(dir, 0755) < 0) {
        int e = errno;
        g_set_error(error, DV_ERROR, DV_ERROR_INVALID, "Cannot create %s: %s", dir, g_strerror(e));
        g_free(dir);
        return NULL;
    }
    return dir;
}

/* Remove what new_vm_dir and the failed operation made (only files directly inside). */
static void remove_new_dir(const char *dir)
{
    GDir *d = g_dir_open(dir, 0, NULL);
    if (d != NULL) {
        const char *entry;
        while ((entry = g_dir_read_name(d)) != NULL) {
            g_autofree char *p = g_build_filename(dir, entry, NULL);
            g_unlink(p);
        }
        g_dir_close(d);
    }
    g_rmdir(dir);
}

static DvVm *finish_new_vm(DvLibrary *self, char *dir, const char *xml, GError **error)
{
    g_autofree char *path = g_build_filename(dir, "domain.xml", NULL);
    GError *local = NULL;
    if (!g_file_set_contents(path, xml, -1, &local)) {
        g_set_error(error, DV_ERROR, DV_ERROR_INVALID, "Cannot write %s: %s", path, local->message);
        g_error_free(local);
        remove_new_dir(dir);
        g_free(dir);
        return NULL;
    }
    DvVm *vm = dv_vm_load(dir);
    g_free(dir);
    g_list_store_insert_sorted(self->store, vm, by_name, NULL);
    g_object_unref(vm);
    return vm;
}

DvVm *dv_library_create(DvLibrary *self, const struct dv_vm_config *cfg, GError **error)
{
    if (cfg->memory_mib < DV_MEMORY_MIN_MIB || cfg->memory_mib > DV_MEMORY_MAX_MIB ||
        cfg->vcpus < 1 || cfg->vcpus > DV_VCPUS_MAX) {
        g_set_error(error, DV_ERROR, DV_ERROR_INVALID,
                    "Memory must be %d MiB to %d MiB and vCPUs 1 to %d", DV_MEMORY_MIN_MIB,
                    DV_MEMORY_MAX_MIB, DV_VCPUS_MAX);
        return NULL;
    }
    char *dir = new_vm_dir(self, cfg->name, error);
    if (dir == NULL) {
        return NULL;
    }
    struct dv_vm_config copy = *cfg;
    g_autofree char *uuid = cfg->uuid ? g_strdup(cfg->uuid) : g_uuid_string_random();
    copy.uuid = uuid;
    g_autofree char *xml = dv_vm_config_to_xml(&copy);
    return finish_new_vm(self, dir, xml, error);
}

static gboolean require_stopped(DvVm *vm, const char *action, GError **error)
{
    if (dv_vm_is_active(vm)) {
        g_set_error(error, DV_ERROR, DV_ERROR_BUSY,
                    "Cannot %s %s while it runs; shut it down first", action, dv_vm_get_name(vm));
        return FALSE;
    }
    return TRUE;
}

gboolean dv_library_delete(DvLibrary *self, DvVm *vm, GError **error)
{
    if (!require_stopped(vm, "delete", error)) {
        return FALSE;
    }
    g_autoptr(GFile) dir = g_file_new_for_path(dv_vm_get_dir(vm));
    GError *local = NULL;
    if (!g_file_trash(dir, NULL, &local)) {
        g_set_error(error, DV_ERROR, DV_ERROR_INVALID,
                    "Cannot move %s to the trash (%s); nothing was deleted", dv_vm_get_dir(vm),
                    local->message);
        g_error_free(local);
        return FALSE;
    }
    guint pos;
    if (g_list_store_find(self->store, vm, &pos)) {
        g_list_store_remove(self->store, pos);
    }
    return TRUE;
}

DvVm *dv_library_clone(DvLibrary *self, DvVm *vm, const char *new_name, GError **error)
{
    if (!require_stopped(vm, "clone", error)) {
        return NULL;
    }
    if (dv_vm_get_config(vm) == NULL) {
        g_set_error(error, DV_ERROR, DV_ERROR_CORRUPT, "Cannot clone %s: %s", dv_vm_get_name(vm),
                    dv_vm_get_error(vm) ? dv_vm_get_error(vm)->message : "it does not load");
        return NULL;
    }
    g_autofree char *src_xml_path = dv_vm_get_xml_path(vm);
    g_autofree char *xml = NULL;
    GError *local = NULL;
    if (!g_file_get_contents(src_xml_path, &xml, NULL, &local)) {
        g_set_error(error, DV_ERROR, DV_ERROR_CORRUPT, "Cannot read %s: %s", src_xml_path,
                    local->message);
        g_error_free(local);
        return NULL;
    }
    char *dir = new_vm_dir(self, new_name, error);
    if (dir == NULL) {
        return NULL;
    }
    g_autoptr(GHashTable) map = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    const struct dv_vm_config *cfg = dv_vm_get_config(vm);
    g_autofree char *prefix = g_strconcat(dv_vm_get_dir(vm), G_DIR_SEPARATOR_S, NULL);
    for (guint i = 0; i < cfg->disks->len; i++) {
        const struct dv_disk *d = g_ptr_array_index(cfg->disks, i);
        if (!g_str_has_prefix(d->path, prefix) || strchr(d->path + strlen(prefix), '/')) {
            continue; /* outside the VM directory: shared */
        }
        g_autofree char *base = g_path_get_basename(d->path);
        char *to = g_build_filename(dir, base, NULL);
        g_autoptr(GFile) fs = g_file_new_for_path(d->path);
        g_autoptr(GFile) fd = g_file_new_for_path(to);
        if (!g_file_copy(fs, fd, G_FILE_COPY_NONE, NULL, NULL, NULL, &local)) {
            g_set_error(error, DV_ERROR, DV_ERROR_INVALID, "Cannot copy %s: %s", d->path,
                        local->message);
            g_error_free(local);
            g_free(to);
            remove_new_dir(dir);
            g_free(dir);
            return NULL;
        }
        g_hash_table_insert(map, g_strdup(d->path), to);
    }
    g_autofree char *uuid = g_uuid_string_random();
    g_autofree char *new_xml = dv_domain_xml_rewrite(xml, new_name, uuid, map, TRUE, error);
    if (new_xml == NULL) {
        remove_new_dir(dir);
        g_free(dir);
        return NULL;
    }
    return finish_new_vm(self, dir, new_xml, error);
}

DvVm *dv_library_import(DvLibrary *self, const char *path, const char *new_name, GError **error)
{
    g_autofree char *xml = NULL;
    GError *local = NULL;
    if (!g_file_get_contents(path, &xml, NULL, &local)) {
        g_set_error(error, DV_ERROR, DV_ERROR_NOT_FOUND, "Cannot read %s: %s", path,
                    local->message);
        g_error_free(local);
        return NULL;
    }
    struct dv_vm_config *cfg = dv_vm_config_from_xml(xml, &local);
    if (cfg == NULL) {
        g_propagate_prefixed_error(error, local, "Cannot import %s: ", path);
        return NULL;
    }
    g_autofree char *name = g_strdup(new_name ? new_name : cfg->name);
    g_autofree char *uuid =
        cfg->uuid && !uuid_taken(self, cfg->uuid) ? g_strdup(cfg->uuid) : g_uuid_string_random();
    dv_vm_config_free(cfg);
    char *dir = new_vm_dir(self, name, error);
    if (dir == NULL) {
        return NULL;
    }
    g_autofree char *new_xml = dv_domain_xml_rewrite(xml, name, uuid, NULL, FALSE, error);
    if (new_xml == NULL) {
        remove_new_dir(dir);
        g_free(dir);
        return NULL;
    }
    return finish_new_vm(self, dir, new_xml, error);
}

gboolean dv_library_export(DvLibrary *self, DvVm *vm, const char *path, GError **error)
{
    g_autofree char *src = dv_vm_get_xml_path(vm);
    g_autofree char *xml = NULL;
    GError *local = NULL;
    if (!g_file_get_contents(src, &xml, NULL, &local) ||
        !g_file_set_contents(path, xml, -1, &local)) {
        g_set_error(error, DV_ERROR, DV_ERROR_INVALID, "Cannot export %s to %s: %s",
                    dv_vm_get_name(vm), path, local->message);
        g_error_free(local);
        return FALSE;
    }
    return TRUE;
}

DvVm *dv_library_ensure_demo(DvLibrary *self, GError **error)
{
    g_autofree char *marker = g_build_filename(self->root, ".demo-created", NULL);
    g_autofree char *dir = g_build_filename(self->root, "Demo", NULL);
    if (g_list_model_get_n_items(G_LIST_MODEL(self->store)) > 0 ||
        g_file_test(marker, G_FILE_TEST_EXISTS) || g_file_test(dir, G_FILE_TEST_EXISTS)) {
        return NULL;
    }
    struct dv_vm_config *cfg = dv_vm_config_new();
    cfg->name = g_strdup("Demo");
    cfg->memory_mib = 128;
    cfg->vcpus = 1;
    cfg->demo = true;
    DvVm *vm = dv_library_create(self, cfg, error);
    dv_vm_config_free(cfg);
    if (vm != NULL) {
        /* Best effort: without the marker the demo comes back only while the library is empty. */
        g_file_set_contents(marker, "", 0, NULL);
    }
    return vm;
}

guint dv_library_adopt_running(DvLibrary *self)
{
    guint n = g_list_model_get_n_items(G_LIST_MODEL(self->store)), adopted = 0;
    for (guint i = 0; i < n; i++) {
        g_autoptr(DvVm) vm = g_list_model_get_item(G_LIST_MODEL(self->store), i);
        adopted += dv_vm_adopt(vm) ? 1 : 0;
    }
    return adopted;
}

void dv_library_detach_all(DvLibrary *self)
{
    guint n = g_list_model_get_n_items(G_LIST_MODEL(self->store));
    for (guint i = 0; i < n; i++) {
        g_autoptr(DvVm) vm = g_list_model_get_item(G_LIST_MODEL(self->store), i);
        dv_vm_detach(vm);
    }
}
