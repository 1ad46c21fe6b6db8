// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Settings editor view-model. Every rule the engine would refuse at start (docs/engine.md CLI
 * checks) is checked here first, so the dialog can point at the field; the file is written only
 * through dv_vm_config_to_xml (libvirt-gconfig). Disk images: raw ones are made and grown with
 * ftruncate (sparse), qcow2 ones with qemu-img; the qcow2 size is read from its header.
 */
#include "gui/vm-settings.h"

#include "gui/dv-error.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#define ISO_MIN_BYTES 2048 /* one CD sector: the engine refuses smaller images */

static gboolean fail(const char **field, const char *name, GError **error, const char *fmt, ...)
    G_GNUC_PRINTF(4, 5);
static gboolean fail(const char **field, const char *name, GError **error, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    g_autofree char *msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    if (field != NULL) {
        *field = name;
    }
    g_set_error_literal(error, DV_ERROR, DV_ERROR_INVALID, msg);
    return FALSE;
}

static guint64 host_ram_mib(void)
{
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    return pages > 0 && page > 0 ? (guint64)pages * (guint64)page / (1024 * 1024) : 0;
}

static gboolean valid_mac(const char *mac)
{
    unsigned b[6];
    char tail;
    if (strlen(mac) != 17 || sscanf(mac, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3],
                                    &b[4], &b[5], &tail) != 6) {
        return FALSE;
    }
    for (int i = 2; i < 17; i += 3) {
        if (mac[i] != ':') {
            return FALSE;
        }
    }
    return (b[0] & 1) == 0; /* unicast */
}

static gboolean check_disks(const struct dv_vm_config *cfg, const char **field, GError **error)
{
    if (cfg->disks->len > DV_DISKS_MAX) {
        return fail(field, "disk", error, "A VM has at most %d disks", DV_DISKS_MAX);
    }
    for (guint i = 0; i < cfg->disks->len; i++) {
        const struct dv_disk *d = g_ptr_array_index(cfg->disks, i);
        if (d->path == NULL || *d->path == '\0' || !g_path_is_absolute(d->path)) {
            return fail(field, "disk", error, "Disk %u needs an absolute path to its image", i + 1);
        }
        if (!g_file_test(d->path, G_FILE_TEST_IS_REGULAR)) {
            return fail(field, "disk", error, "The disk image \"%s\" does not exist", d->path);
        }
        if (d->format != NULL && !g_str_equal(d->format, "raw") &&
            !g_str_equal(d->format, "qcow2")) {
            return fail(field, "disk", error, "Disk \"%s\": the format is raw or qcow2", d->path);
        }
        if (d->bus != NULL && !g_str_equal(d->bus, "virtio") && !g_str_equal(d->bus, "sata")) {
            return fail(field, "disk", error, "Disk \"%s\": the bus is virtio or sata", d->path);
        }
        for (guint j = 0; j < i; j++) {
            if (g_str_equal(((struct dv_disk *)g_ptr_array_index(cfg->disks, j))->path, d->path)) {
                return fail(field, "disk", error, "The image \"%s\" is attached twice", d->path);
            }
        }
    }
    return TRUE;
}

static gboolean check_boot(const struct dv_vm_config *cfg, const char **field, GError **error)
{
    if (cfg->cdrom != NULL) {
        GStatBuf st;
        if (g_stat(cfg->cdrom, &st) != 0 || !S_ISREG(st.st_mode)) {
            return fail(field, "cdrom", error, "The CD-ROM image \"%s\" does not exist",
                        cfg->cdrom);
        }
        if (st.st_size < ISO_MIN_BYTES) {
            return fail(field, "cdrom", error, "\"%s\" is too small to be a CD image", cfg->cdrom);
        }
    }
    if (cfg->firmware != NULL && !g_str_equal(cfg->firmware, "bios")) {
        return fail(field, "boot", error, "The firmware is \"bios\" (SeaBIOS) or none");
    }
    if (cfg->boot == NULL) {
        return TRUE;
    }
    if (cfg->firmware == NULL) {
        return fail(field, "boot", error, "A boot order needs firmware boot (BIOS)");
    }
    g_auto(GStrv) items = g_strsplit(cfg->boot, ",", -1);
    for (guint i = 0; items[i] != NULL; i++) {
        if (!g_str_equal(items[i], "cdrom") && !g_str_equal(items[i], "disk")) {
            return fail(field, "boot", error, "Boot order items are cdrom and disk, not \"%s\"",
                        items[i]);
        }
        if (g_str_equal(items[i], "cdrom") && cfg->cdrom == NULL) {
            return fail(field, "boot", error, "Booting from the CD-ROM needs an ISO image");
        }
        if (g_str_equal(items[i], "disk") && cfg->disks->len == 0) {
            return fail(field, "boot", error, "Booting from a disk needs a disk");
        }
        for (guint j = 0; j < i; j++) {
            if (g_str_equal(items[j], items[i])) {
                return fail(field, "boot", error, "\"%s\" is twice in the boot order", items[i]);
            }
        }
    }
    if (items[0] == NULL) {
        return fail(field, "boot", error, "The boot order is empty");
    }
    return TRUE;
}

static gboolean check_nets(const struct dv_vm_config *cfg, const char **field, GError **error)
{
    if (cfg->nets->len > DV_NETS_MAX) {
        return fail(field, "net", error, "A VM has at most %d network cards", DV_NETS_MAX);
    }
    for (guint i = 0; i < cfg->nets->len; i++) {
        const struct dv_net *n = g_ptr_array_index(cfg->nets, i);
        if (g_strcmp0(n->type, "user") != 0 && g_strcmp0(n->type, "tap") != 0) {
            return fail(field, "net", error, "Network card %u: user (NAT) or tap", i + 1);
        }
        if (n->ifname != NULL &&
            (g_str_equal(n->type, "user") || *n->ifname == '\0' || strlen(n->ifname) > 15 ||
             strchr(n->ifname, '/') != NULL || strchr(n->ifname, ' ') != NULL)) {
            return fail(field, "net", error,
                        "Network card %u: a tap interface name has 1 to 15 characters, no '/' "
                        "or space (user NAT has none)",
                        i + 1);
        }
        if (n->mac != NULL && !valid_mac(n->mac)) {
            return fail(field, "net", error,
                        "Network card %u: \"%s\" is not a unicast MAC like 52:54:00:12:34:56",
                        i + 1, n->mac);
        }
        for (guint j = 0; j < i && n->mac != NULL; j++) {
            const struct dv_net *o = g_ptr_array_index(cfg->nets, j);
            if (o->mac != NULL && g_ascii_strcasecmp(o->mac, n->mac) == 0) {
                return fail(field, "net", error, "Two network cards have the MAC %s", n->mac);
            }
        }
    }
    return TRUE;
}

static gboolean check_vnc(const struct dv_vm_config *cfg, const char **field, GError **error)
{
    if (!cfg->vnc) {
        return TRUE;
    }
    const char *host = cfg->vnc_listen ? cfg->vnc_listen : "127.0.0.1";
    g_autoptr(GInetAddress) addr = g_inet_address_new_from_string(host);
    if (addr == NULL || g_inet_address_get_family(addr) != G_SOCKET_FAMILY_IPV4) {
        return fail(field, "vnc-listen", error,
                    "The VNC address is an IPv4 address such as 127.0.0.1, not \"%s\"", host);
    }
    if (cfg->vnc_port > 65535) {
        return fail(field, "vnc-port", error, "The VNC port is 1 to 65535");
    }
    if (cfg->vnc_password != NULL &&
        (*cfg->vnc_password == '\0' || strlen(cfg->vnc_password) > DV_VNC_PASSWORD_MAX)) {
        return fail(field, "vnc-password", error, "A VNC password has 1 to %d characters",
                    DV_VNC_PASSWORD_MAX);
    }
    if (!g_inet_address_get_is_loopback(addr) && cfg->vnc_password == NULL) {
        return fail(field, "vnc-password", error,
                    "VNC on %s is reachable from other computers: set a password", host);
    }
    return TRUE;
}

gboolean dv_vm_settings_validate(const struct dv_vm_config *cfg, guint64 host_mib,
                                 const char **field, GError **error)
{
    guint64 max = host_mib ? host_mib : host_ram_mib();
    if (max == 0 || max > DV_MEMORY_MAX_MIB) {
        max = DV_MEMORY_MAX_MIB;
    }
    if (cfg->memory_mib < DV_MEMORY_MIN_MIB || cfg->memory_mib > max) {
        return fail(field, "memory", error,
                    "Memory must be %d MiB to %" G_GUINT64_FORMAT " MiB (this computer's RAM)",
                    DV_MEMORY_MIN_MIB, max);
    }
    if (cfg->vcpus < 1 || cfg->vcpus > DV_VCPUS_MAX) {
        return fail(field, "vcpus", error, "A VM has 1 to %d vCPUs", DV_VCPUS_MAX);
    }
    if (cfg->display != NULL && !g_str_equal(cfg->display, "vga") &&
        !g_str_equal(cfg->display, "virtio-gpu")) {
        return fail(field, "display", error, "The display is vga or virtio-gpu");
    }
    return check_disks(cfg, field, error) && check_boot(cfg, field, error) &&
           check_nets(cfg, field, error) && check_vnc(cfg, field, error);
}

/* domain.xml (and its .bak) can hold the VNC password (libvirt's passwd attribute): then only
 * the owner may read them. */
static gboolean write_definition(const char *path, const char *text, gssize len, gboolean secret,
                                 GError **error)
{
    return g_file_set_contents_full(path, text, len, G_FILE_SET_CONTENTS_CONSISTENT,
                                    secret ? 0600 : 0644, error);
}

gboolean dv_vm_settings_save(DvVm *vm, const struct dv_vm_config *cfg, GError **error)
{
    if (dv_vm_is_active(vm)) {
        g_set_error(error, DV_ERROR, DV_ERROR_BUSY,
                    "Shut %s down to change its hardware (the CD-ROM can be changed while it "
                    "runs)",
                    dv_vm_get_name(vm));
        return FALSE;
    }
    const struct dv_vm_config *old = dv_vm_get_config(vm);
    if (old == NULL || g_strcmp0(old->name, cfg->name) != 0 ||
        g_strcmp0(old->uuid, cfg->uuid) != 0) {
        g_set_error(error, DV_ERROR, DV_ERROR_INVALID,
                    "The settings are for another VM (name and uuid cannot change here)");
        return FALSE;
    }
    const char *field = NULL;
    if (!dv_vm_settings_validate(cfg, 0, &field, error)) {
        return FALSE;
    }
    g_autofree char *path = dv_vm_get_xml_path(vm);
    g_autofree char *bak = g_strconcat(path, ".bak", NULL);
    g_autofree char *prev = NULL;
    gsize len = 0;
    if (g_file_get_contents(path, &prev, &len, NULL) &&
        !write_definition(bak, prev, (gssize)len, TRUE, error)) {
        return FALSE;
    }
    g_autofree char *xml = dv_vm_config_to_xml(cfg);
    if (!write_definition(path, xml, -1, cfg->vnc && cfg->vnc_password != NULL, error)) {
        return FALSE;
    }
    return dv_vm_reload(vm, error);
}

static void medium_done(GObject *src, GAsyncResult *res, gpointer data)
{
    GTask *task = data;
    GError *error = NULL;
    JsonNode *ret = dv_qmp_client_execute_finish(DV_QMP_CLIENT(src), res, &error);
    if (ret == NULL) {
        g_task_return_error(task, error);
        g_object_unref(task);
        return;
    }
    json_node_unref(ret);
    /* The drive has the new medium: record it so the next start uses it too. */
    DvVm *vm = g_task_get_source_object(task);
    const char *iso = g_task_get_task_data(task);
    struct dv_vm_config *cfg = dv_vm_config_copy(dv_vm_get_config(vm));
    g_free(cfg->cdrom);
    cfg->cdrom = g_strdup(iso);
    if (cfg->cdrom == NULL && cfg->boot != NULL && strstr(cfg->boot, "cdrom") != NULL) {
        g_clear_pointer(&cfg->boot, g_free); /* no medium, no CD boot entry */
    }
    g_autofree char *path = dv_vm_get_xml_path(vm);
    g_autofree char *xml = dv_vm_config_to_xml(cfg);
    gboolean secret = cfg->vnc && cfg->vnc_password != NULL;
    dv_vm_config_free(cfg);
    if (!write_definition(path, xml, -1, secret, &error) || !dv_vm_reload(vm, &error)) {
        g_prefix_error(&error, "The CD-ROM was changed but not recorded: ");
        g_task_return_error(task, error);
    } else {
        g_task_return_boolean(task, TRUE);
    }
    g_object_unref(task);
}

void dv_vm_settings_change_cdrom(DvVm *vm, const char *iso, gboolean force,
                                 GCancellable *cancellable, GAsyncReadyCallback callback,
                                 gpointer user_data)
{
    GTask *task = g_task_new(vm, cancellable, callback, user_data);
    g_task_set_task_data(task, g_strdup(iso), g_free);
    DvEngine *engine = dv_vm_get_engine(vm);
    DvQmpClient *qmp = engine ? dv_engine_get_qmp(engine) : NULL;
    const struct dv_vm_config *cfg = dv_vm_get_config(vm);
    if (qmp == NULL) {
        g_task_return_new_error(task, DV_ERROR, DV_ERROR_BUSY,
                                "%s is not running: change the CD-ROM in the settings",
                                dv_vm_get_name(vm));
        g_object_unref(task);
        return;
    }
    if (cfg == NULL || cfg->cdrom == NULL) {
        g_task_return_new_error(task, DV_ERROR, DV_ERROR_UNSUPPORTED,
                                "%s was started without a CD-ROM drive; add an ISO in the "
                                "settings while it is stopped",
                                dv_vm_get_name(vm));
        g_object_unref(task);
        return;
    }
    const char *field = NULL;
    GError *error = NULL;
    if (iso != NULL) {
        struct dv_vm_config *probe = dv_vm_config_copy(cfg);
        g_free(probe->cdrom);
        probe->cdrom = g_strdup(iso);
        gboolean ok = check_boot(probe, &field, &error);
        dv_vm_config_free(probe);
        if (!ok) {
            g_task_return_error(task, error);
            g_object_unref(task);
            return;
        }
    }
    JsonObject *args = json_object_new();
    json_object_set_string_member(args, "id", "cd0");
    json_object_set_boolean_member(args, "force", force);
    if (iso != NULL) {
        json_object_set_string_member(args, "filename", iso);
        json_object_set_string_member(args, "format", "raw");
    }
    dv_qmp_client_execute_async(qmp, iso ? "blockdev-change-medium" : "eject", args, cancellable,
                                medium_done, task);
    json_object_unref(args);
}

gboolean dv_vm_settings_change_cdrom_finish(DvVm *vm, GAsyncResult *res, GError **error)
{
    return g_task_propagate_boolean(G_TASK(res), error);
}

const char *dv_disk_image_probe(const char *path, GError **error)
{
    int fd = g_open(path, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0) {
        int e = errno;
        g_set_error(error, DV_ERROR, DV_ERROR_NOT_FOUND, "Cannot open \"%s\": %s", path,
                    g_strerror(e));
        return NULL;
    }
    guint8 magic[4] = {0};
    ssize_t n = read(fd, magic, sizeof(magic));
    close(fd);
    return n == 4 && memcmp(magic, "QFI\xfb", 4) == 0 ? "qcow2" : "raw";
}

guint64 dv_disk_image_size(const char *path, GError **error)
{
    const char *format = dv_disk_image_probe(path, error);
    if (format == NULL) {
        return 0;
    }
    int fd = g_open(path, O_RDONLY | O_CLOEXEC, 0);
    guint64 size = 0;
    if (fd >= 0 && g_str_equal(format, "qcow2")) {
        guint64 be = 0;
        if (pread(fd, &be, sizeof(be), 24) == (ssize_t)sizeof(be)) { /* header: size at 24 */
            size = GUINT64_FROM_BE(be);
        }
    } else if (fd >= 0) {
        GStatBuf st;
        size = fstat(fd, &st) == 0 ? (guint64)st.st_size : 0;
    }
    if (fd >= 0) {
        close(fd);
    }
    if (size == 0) {
        g_set_error(error, DV_ERROR, DV_ERROR_CORRUPT, "Cannot read the size of \"%s\"", path);
    }
    return size;
}

static gboolean qemu_img(GError **error, const char *const *argv)
{
    g_autoptr(GSubprocess) p = g_subprocess_newv(
        argv, G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_PIPE, error);
    if (p == NULL) {
        g_prefix_error(error, "qemu-img (package qemu-utils) is needed for qcow2 images: ");
        return FALSE;
    }
    g_autofree char *err = NULL;
    if (!g_subprocess_communicate_utf8(p, NULL, NULL, NULL, &err, error)) {
        return FALSE;
    }
    if (!g_subprocess_get_successful(p)) {
        g_set_error(error, DV_ERROR, DV_ERROR_INVALID, "qemu-img %s failed: %s", argv[1],
                    err ? g_strchomp(err) : "");
        return FALSE;
    }
    return TRUE;
}

gboolean dv_disk_image_create(const char *path, const char *format, guint64 size_bytes,
                              GError **error)
{
    if (size_bytes < 1024 * 1024 || size_bytes % 512 != 0) {
        g_set_error(error, DV_ERROR, DV_ERROR_INVALID,
                    "A disk is at least 1 MiB and a multiple of 512 bytes");
        return FALSE;
    }
    if (g_file_test(path, G_FILE_TEST_EXISTS)) {
        g_set_error(error, DV_ERROR, DV_ERROR_EXISTS, "\"%s\" exists already", path);
        return FALSE;
    }
    g_autofree char *size = g_strdup_printf("%" G_GUINT64_FORMAT, size_bytes);
    if (g_strcmp0(format, "qcow2") == 0) {
        const char *argv[] = {"qemu-img", "create", "-q", "-f", "qcow2", path, size, NULL};
        return qemu_img(error, argv);
    }
    int fd = g_open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0 || ftruncate(fd, (off_t)size_bytes) < 0) {
        int e = errno;
        if (fd >= 0) {
            close(fd);
            g_unlink(path);
        }
        g_set_error(error, DV_ERROR, DV_ERROR_INVALID, "Cannot create \"%s\": %s", path,
                    g_strerror(e));
        return FALSE;
    }
    close(fd);
    return TRUE;
}

gboolean dv_disk_image_create_overlay(const char *path, const char *backing, GError **error)
{
    const char *fmt = dv_disk_image_probe(backing, error);
    if (fmt == NULL) {
        return FALSE;
    }
    if (g_file_test(path, G_FILE_TEST_EXISTS)) {
        g_set_error(error, DV_ERROR, DV_ERROR_EXISTS, "\"%s\" exists already", path);
        return FALSE;
    }
    const char *argv[] = {"qemu-img", "create", "-q", "-f", "qcow2", "-b",
                          backing,    "-F",     fmt,  path, NULL};
    return qemu_img(error, argv);
}

gboolean dv_disk_image_resize(const char *path, guint64 size_bytes, GError **error)
{
    guint64 now = dv_disk_image_size(path, error);
    if (now == 0) {
        return FALSE;
    }
    if (size_bytes < now || size_bytes % 512 != 0) {
        g_set_error(
            error, DV_ERROR, DV_ERROR_INVALID,
            "\"%s\" can grow to a multiple of 512 bytes, not shrink (from %" G_GUINT64_FORMAT
            " bytes): shrinking would cut off the guest's data",
            path, now);
        return FALSE;
    }
    if (size_bytes == now) {
        return TRUE;
    }
    g_autofree char *size = g_strdup_printf("%" G_GUINT64_FORMAT, size_bytes);
    if (g_str_equal(dv_disk_image_probe(path, NULL), "qcow2")) {
        const char *argv[] = {"qemu-img", "resize", "-q", "-f", "qcow2", path, size, NULL};
        return qemu_img(error, argv);
    }
    if (truncate(path, (off_t)size_bytes) < 0) {
        int e = errno;
        g_set_error(error, DV_ERROR, DV_ERROR_INVALID, "Cannot resize \"%s\": %s", path,
                    g_strerror(e));
        return FALSE;
    }
    return TRUE;
}
