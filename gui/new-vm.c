// SPDX-License-Identifier: GPL-2.0-or-later
/* The New-VM assistant's fields, defaults and validation (see new-vm.h). */
#include "gui/new-vm.h"

#include "gui/dv-error.h"

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
    if (!m->demo) {
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
    cfg->demo = m->demo;
    if (!m->demo) {
        cfg->kernel = g_strdup(m->kernel);
        cfg->initrd = empty(m->initrd) ? NULL : g_strdup(m->initrd);
        cfg->cmdline = empty(m->cmdline) ? NULL : g_strdup(m->cmdline);
    }
    if (m->user_net) {
        dv_vm_config_add_net(cfg, "user", NULL, NULL);
    }
    return cfg;
}
