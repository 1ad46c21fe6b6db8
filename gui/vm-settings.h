// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The VM settings editor's view-model: validation of an edited definition (naming the field at
 * fault), saving it to domain.xml, disk images (create, size, resize while stopped) and the
 * CD-ROM medium change while the VM runs (QMP blockdev-change-medium / eject). No GTK.
 */
#pragma once

#include "gui/vm.h"

G_BEGIN_DECLS

/* FALSE with the message and the field at fault ("memory", "vcpus", "disk", "cdrom", "boot",
 * "net", "display", "vnc-listen", "vnc-port", "vnc-password") when @cfg cannot be saved.
 * @host_mib: the host's RAM (0: read it from the system). Disk and ISO paths must exist. */
gboolean dv_vm_settings_validate(const struct dv_vm_config *cfg, guint64 host_mib,
                                 const char **field, GError **error);

/* Write @cfg (validated) as the VM's domain.xml and reload it. Refused (DV_ERROR_BUSY) while
 * the VM runs: hardware changes need a stopped VM (the CD-ROM has dv_vm_settings_change_cdrom).
 * The previous file is kept as domain.xml.bak. */
gboolean dv_vm_settings_save(DvVm *vm, const struct dv_vm_config *cfg, GError **error);

/* Put @iso in the running VM's CD-ROM drive (@iso NULL: eject), then record it in domain.xml.
 * The VM must have been started with a drive (a CD-ROM in its definition). Completion or
 * failure of the QMP command comes through @callback (g_task_propagate_boolean). */
void dv_vm_settings_change_cdrom(DvVm *vm, const char *iso, gboolean force,
                                 GCancellable *cancellable, GAsyncReadyCallback callback,
                                 gpointer user_data);
gboolean dv_vm_settings_change_cdrom_finish(DvVm *vm, GAsyncResult *res, GError **error);

/* Disk images. @format "raw" or "qcow2"; qcow2 creation and resizing run qemu-img. */
gboolean dv_disk_image_create(const char *path, const char *format, guint64 size_bytes,
                              GError **error);
/* A qcow2 image at @path whose backing file is @backing (raw or qcow2, probed), of its size:
 * the VM writes to the overlay and the backing image stays as it was. Runs qemu-img. */
gboolean dv_disk_image_create_overlay(const char *path, const char *backing, GError **error);
/* The virtual size (raw: the file size; qcow2: the header's size field), or 0 with @error. */
guint64 dv_disk_image_size(const char *path, GError **error);
/* "qcow2" when the file starts with the qcow2 magic, else "raw"; NULL with @error if unreadable */
const char *dv_disk_image_probe(const char *path, GError **error);
/* Grow an image of a stopped VM; shrinking is refused (it would cut off guest data). */
gboolean dv_disk_image_resize(const char *path, guint64 size_bytes, GError **error);

G_END_DECLS
