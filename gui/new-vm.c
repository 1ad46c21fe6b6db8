// SPDX-License-Identifier: GPL-2.0-or-later
/* The New-VM assistant's fields, defaults and validation (see new-vm.h). */
#include "gui/new-vm.h"

#include "gui/dv-error.h"
#include "gui/vm-settings.h"

#include <gio/gio.h>
#include <glib/gstdio.h>

#include <string.h>
#include <unistd.h>

void dv_new_vm_init_defaults(struct dv_new_vm *m, DvLibrary *library)
{
    memset(m, 0, sizeof(*m));
    for (guint i = 1; m->name == NULL; i++) {
        g_autofree char *n = g_strdup_printf("vm%u", i);
        g_autofree char *dir = g_build_filename(dv_library_get_root(library), n, NULL);
        if (dv_library_lookup(library, n) == NULL && !g_file_test(dir, G_FILE_TEST_EXISTS)) {
            m->name = g_steal_pointer(&n);
        }
    }
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    guint64 host_mib = pages > 0 && page > 0 ? (guint64)pages * (guint64)page >> 20 : 1024;
    m->memory_mib = CLAMP(host_mib / 4 / 256 * 256, 256, 2048);
    long cpus = sysconf(_SC_NPROCESSORS_ONLN);
    m->vcpus = cpus >= 4 ? 2 : 1;
    m->demo = TRUE;
    m->disk_gib = dv_new_vm_default_disk_gib(dv_library_get_root(library));
}

#define GIB (G_GUINT64_CONSTANT(1) << 30)
#define DISK_GIB_DEFAULT 20
#define DISK_GIB_MAX (64 * 1024)

guint64 dv_new_vm_default_disk_gib(const char *dir)
{
    /* The library directory may not exist yet: ask about the nearest existing parent. */
    g_autofree char *probe = g_strdup(dir);
    while (!g_file_test(probe, G_FILE_TEST_IS_DIR) && strchr(probe, '/') != NULL &&
           !g_str_equal(probe, "/")) {
        char *parent = g_path_get_dirname(probe);
        g_free(probe);
        probe = parent;
    }
    g_autoptr(GFile) f = g_file_new_for_path(probe);
    g_autoptr(GFileInfo) info =
        g_file_query_filesystem_info(f, G_FILE_ATTRIBUTE_FILESYSTEM_FREE, NULL, NULL);
    guint64 free_gib =
        info ? g_file_info_get_attribute_uint64(info, G_FILE_ATTRIBUTE_FILESYSTEM_FREE) / GIB
             : DISK_GIB_DEFAULT * 2;
    return CLAMP(free_gib / 2, 1, DISK_GIB_DEFAULT);
}

const char *dv_new_vm_method(const struct dv_new_vm *m)
{
    if (m->iso != NULL) {
        return "iso";
    }
    if (m->image != NULL) {
        return "image";
    }
    return m->demo ? "demo" : "kernel";
}

void dv_new_vm_use_prefs(struct dv_new_vm *m, guint memory_mib, guint cpus)
{
    if (memory_mib != 0) {
        m->memory_mib = memory_mib;
    }
    if (cpus != 0) {
        m->vcpus = cpus;
    }
}

void dv_new_vm_clear(struct dv_new_vm *m)
{
    g_free(m->name);
    g_free(m->kernel);
    g_free(m->initrd);
    g_free(m->cmdline);
    g_free(m->iso);
    g_free(m->image);
    memset(m, 0, sizeof(*m));
}

static gboolean fail(const char **field, const char *which)
{
    if (field != NULL) {
        *field = which;
    }
    return FALSE;
}

static gboolean check_file(const char *what, const char *path, GError **error)
{
    if (!g_file_test(path, G_FILE_TEST_IS_REGULAR)) {
        g_set_error(error, DV_ERROR, DV_ERROR_NOT_FOUND, "The %s \"%s\" does not exist", what,
                    path);
        return FALSE;
    }
    return TRUE;
}

static gboolean empty(const char *s)
{
    return s == NULL || *s == '\0';
}

gboolean dv_new_vm_validate(const struct dv_new_vm *m, DvLibrary *library, const char **field,
                            GError **error)
{
    if (!dv_vm_name_validate(m->name, error)) {
        return fail(field, "name");
    }
    if (dv_library_lookup(library, m->name) != NULL) {
        g_set_error(error, DV_ERROR, DV_ERROR_EXISTS, "A VM named \"%s\" already exists", m->name);
        return fail(field, "name");
    }
    if (m->memory_mib < DV_MEMORY_MIN_MIB || m->memory_mib > DV_MEMORY_MAX_MIB) {
        g_set_error(error, DV_ERROR, DV_ERROR_INVALID, "Memory must be %d MiB to %d MiB",
                    DV_MEMORY_MIN_MIB, DV_MEMORY_MAX_MIB);
        return fail(field, "memory");
    }
    if (m->vcpus < 1 || m->vcpus > DV_VCPUS_MAX) {
        g_set_error(error, DV_ERROR, DV_ERROR_INVALID, "A VM has 1 to %d vCPUs", DV_VCPUS_MAX);
        return fail(field, "vcpus");
    }
    const char *method = dv_new_vm_method(m);
    if (g_str_equal(method, "iso")) {
        GStatBuf st;
        if (empty(m->iso)) {
            g_set_error(error, DV_ERROR, DV_ERROR_INVALID, "Installing needs an ISO image");
            return fail(field, "iso");
        }
        if (!g_path_is_absolute(m->iso) || g_stat(m->iso, &st) != 0 || !S_ISREG(st.st_mode)) {
            g_set_error(error, DV_ERROR, DV_ERROR_NOT_FOUND,
                        "The ISO image \"%s\" does not exist (give its full path)", m->iso);
            return fail(field, "iso");
        }
        if (st.st_size < 2048 || st.st_size % 2048 != 0) {
            g_set_error(error, DV_ERROR, DV_ERROR_INVALID,
                        "\"%s\" is not a CD image (its size is not a multiple of 2048 bytes)",
                        m->iso);
            return fail(field, "iso");
        }
        if (m->disk_gib < 1 || m->disk_gib > DISK_GIB_MAX) {
            g_set_error(error, DV_ERROR, DV_ERROR_INVALID, "The disk is 1 to %d GiB", DISK_GIB_MAX);
            return fail(field, "disk");
        }
    } else if (g_str_equal(method, "image")) {
        if (empty(m->image)) {
            g_set_error(error, DV_ERROR, DV_ERROR_INVALID, "Choose the disk image to use");
            return fail(field, "image");
        }
        if (!g_path_is_absolute(m->image) || !g_file_test(m->image, G_FILE_TEST_IS_REGULAR)) {
            g_set_error(error, DV_ERROR, DV_ERROR_NOT_FOUND,
                        "The disk image \"%s\" does not exist (give its full path)", m->image);
            return fail(field, "image");
        }
        if (dv_disk_image_size(m->image, error) == 0) {
            return fail(field, "image");
        }
        if (m->image_mode > DV_IMAGE_USE) {
            g_set_error(error, DV_ERROR, DV_ERROR_INVALID, "Link, copy or use the image");
            return fail(field, "image");
        }
    } else if (!m->demo) {
        if (empty(m->kernel)) {
            g_set_error(error, DV_ERROR, DV_ERROR_INVALID,
                        "Direct kernel boot needs a kernel image");
            return fail(field, "kernel");
        }
        if (!check_file("kernel", m->kernel, error)) {
            return fail(field, "kernel");
        }
        if (!empty(m->initrd) && !check_file("initrd", m->initrd, error)) {
            return fail(field, "initrd");
        }
    }
    return TRUE;
}

struct dv_vm_config *dv_new_vm_to_config(const struct dv_new_vm *m)
{
    struct dv_vm_config *cfg = dv_vm_config_new();
    cfg->name = g_strdup(m->name);
    cfg->memory_mib = m->memory_mib;
    cfg->vcpus = m->vcpus;
    const char *method = dv_new_vm_method(m);
    cfg->demo = g_str_equal(method, "demo");
    if (g_str_equal(method, "iso")) {
        cfg->firmware = g_strdup("bios");
        cfg->cdrom = g_strdup(m->iso);
        cfg->boot = g_strdup("cdrom,disk");
    } else if (g_str_equal(method, "image")) {
        cfg->firmware = g_strdup("bios");
        cfg->boot = g_strdup("disk");
        if (m->image_mode == DV_IMAGE_USE) {
            dv_vm_config_add_disk(cfg, m->image, dv_disk_image_probe(m->image, NULL), false)->bus =
                g_strdup("sata");
        }
    } else if (!m->demo) {
        cfg->kernel = g_strdup(m->kernel);
        cfg->initrd = empty(m->initrd) ? NULL : g_strdup(m->initrd);
        cfg->cmdline = empty(m->cmdline) ? NULL : g_strdup(m->cmdline);
    }
    if (m->user_net) {
        dv_vm_config_add_net(cfg, "user", NULL, NULL);
    }
    return cfg;
}

/* Remove what dv_new_vm_create made of a VM whose disk could not be made. */
static void undo_create(DvLibrary *library, const char *dir)
{
    g_autofree char *xml = g_build_filename(dir, "domain.xml", NULL);
    g_unlink(xml);
    g_rmdir(dir);
    dv_library_load(library, NULL);
}

DvVm *dv_new_vm_create(const struct dv_new_vm *m, DvLibrary *library, const char **field,
                       GError **error)
{
    if (!dv_new_vm_validate(m, library, field, error)) {
        return NULL;
    }
    const char *method = dv_new_vm_method(m);
    g_autofree char *dir = g_build_filename(dv_library_get_root(library), m->name, NULL);
    struct dv_vm_config *cfg = dv_new_vm_to_config(m);
    g_autofree char *disk = NULL;
    const char *src_format = NULL;
    if (g_str_equal(method, "iso") ||
        (g_str_equal(method, "image") && m->image_mode == DV_IMAGE_LINK)) {
        disk = g_build_filename(dir, "disk0.qcow2", NULL);
        dv_vm_config_add_disk(cfg, disk, "qcow2", false)->bus = g_strdup("sata");
    } else if (g_str_equal(method, "image") && m->image_mode == DV_IMAGE_COPY) {
        src_format = dv_disk_image_probe(m->image, NULL);
        g_autofree char *file = g_strdup_printf("disk0.%s", src_format);
        disk = g_build_filename(dir, file, NULL);
        dv_vm_config_add_disk(cfg, disk, src_format, false)->bus = g_strdup("sata");
    }
    DvVm *vm = dv_library_create(library, cfg, error);
    dv_vm_config_free(cfg);
    if (vm == NULL) {
        if (field != NULL) {
            *field = "name";
        }
        return NULL;
    }
    gboolean ok = TRUE;
    if (g_str_equal(method, "iso")) {
        ok = dv_disk_image_create(disk, "qcow2", m->disk_gib * GIB, error);
        if (field != NULL && !ok) {
            *field = "disk";
        }
    } else if (disk != NULL && m->image_mode == DV_IMAGE_LINK) {
        ok = dv_disk_image_create_overlay(disk, m->image, error);
    } else if (disk != NULL) {
        g_autoptr(GFile) from = g_file_new_for_path(m->image);
        g_autoptr(GFile) to = g_file_new_for_path(disk);
        ok = g_file_copy(from, to, G_FILE_COPY_NONE, NULL, NULL, NULL, error);
    }
    if (!ok) {
        if (field != NULL && g_str_equal(method, "image")) {
            *field = "image";
        }
        if (disk != NULL) {
            g_unlink(disk);
        }
        undo_create(library, dir);
        return NULL;
    }
    return vm;
}
