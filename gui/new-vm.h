// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The New-VM assistant's view-model: its fields, defaults from the host's size, and the
 * validation the dialog shows next to the field at fault. No GTK.
 */
#pragma once

#include "gui/library.h"

G_BEGIN_DECLS

struct dv_new_vm {
    char *name;
    guint64 memory_mib;
    guint vcpus;
    gboolean demo; /* the demo guest, else direct kernel boot */
    char *kernel;
    char *initrd;      /* optional */
    char *cmdline;     /* optional */
    gboolean user_net; /* one virtio-net NIC on user NAT */
};

/* A free name ("vm1", "vm2", ...), memory: a quarter of the host's RAM capped at 2 GiB,
 * 1 vCPU (2 on hosts with 4 or more), the demo guest, no network. */
void dv_new_vm_init_defaults(struct dv_new_vm *m, DvLibrary *library);
void dv_new_vm_clear(struct dv_new_vm *m);
/* The preferences' proposals (default-memory-mib, default-cpus) replace the host-based
 * defaults where they are not 0. */
void dv_new_vm_use_prefs(struct dv_new_vm *m, guint memory_mib, guint cpus);

/* FALSE with the message and the field at fault ("name", "memory", "vcpus", "kernel",
 * "initrd") when the VM cannot be created as filled in. */
gboolean dv_new_vm_validate(const struct dv_new_vm *m, DvLibrary *library, const char **field,
                            GError **error);
struct dv_vm_config *dv_new_vm_to_config(const struct dv_new_vm *m);

G_END_DECLS
