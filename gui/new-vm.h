// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The New-VM assistant's view-model: its fields, defaults from the host's size, and the
 * validation the dialog shows next to the field at fault. No GTK.
 */
#pragma once

#include "gui/library.h"

G_BEGIN_DECLS

/* How an existing disk image becomes the new VM's disk. */
typedef enum {
    DV_IMAGE_LINK, /* a qcow2 overlay in the VM directory backed by the image (left unchanged) */
    DV_IMAGE_COPY, /* a copy in the VM directory */
    DV_IMAGE_USE,  /* the image where it is (the VM writes to it) */
} DvImageMode;

struct dv_new_vm {
    char *name;
    guint64 memory_mib;
    guint vcpus;
    /* The boot method: an ISO when iso is set, else an existing image when image is set, else
     * the demo guest when demo, else direct kernel boot. */
    gboolean demo;
    char *kernel;
    char *initrd;      /* optional */
    char *cmdline;     /* optional */
    gboolean user_net; /* one virtio-net NIC on user NAT */
    char *iso;         /* install from this ISO: SeaBIOS boots the CD-ROM, then the new disk */
    guint64 disk_gib;  /* with iso: the new disk's size (qcow2, SATA) */
    char *image;       /* an existing raw or qcow2 image, booted by SeaBIOS */
    DvImageMode image_mode;
};

/* The boot method of @m: "iso", "image", "demo" or "kernel". */
const char *dv_new_vm_method(const struct dv_new_vm *m);
/* A proposal for a new disk: 20 GiB, or half the free space of @dir's file system when that is
 * less (at least 1 GiB). */
guint64 dv_new_vm_default_disk_gib(const char *dir);

/* A free name ("vm1", "vm2", ...), memory: a quarter of the host's RAM capped at 2 GiB,
 * 1 vCPU (2 on hosts with 4 or more), the demo guest, no network. */
void dv_new_vm_init_defaults(struct dv_new_vm *m, DvLibrary *library);
void dv_new_vm_clear(struct dv_new_vm *m);
/* The preferences' proposals (default-memory-mib, default-cpus) replace the host-based
 * defaults where they are not 0. */
void dv_new_vm_use_prefs(struct dv_new_vm *m, guint memory_mib, guint cpus);

/* FALSE with the message and the field at fault ("name", "memory", "vcpus", "kernel",
 * "initrd", "iso", "disk", "image") when the VM cannot be created as filled in. */
gboolean dv_new_vm_validate(const struct dv_new_vm *m, DvLibrary *library, const char **field,
                            GError **error);
/* The definition, without the disk dv_new_vm_create makes for an ISO install or a linked or
 * copied image. */
struct dv_vm_config *dv_new_vm_to_config(const struct dv_new_vm *m);
/* Validate, create the VM in @library and its disk image (ISO: a new qcow2; image: the overlay
 * or copy). A failure after the VM directory was made removes it again. */
DvVm *dv_new_vm_create(const struct dv_new_vm *m, DvLibrary *library, const char **field,
                       GError **error);

G_END_DECLS
