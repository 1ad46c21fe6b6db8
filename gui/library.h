// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The VM library view-model: the VMs under $XDG_DATA_HOME/deskvm/vms/NAME/domain.xml as a
 * GListModel of DvVm sorted by name, and the operations on it. No GTK; a failing operation
 * leaves every existing file as it was.
 */
#pragma once

#include "gui/vm.h"

#include <gio/gio.h>

G_BEGIN_DECLS

#define DV_TYPE_LIBRARY (dv_library_get_type())
G_DECLARE_FINAL_TYPE(DvLibrary, dv_library, DV, LIBRARY, GObject)

/* @root: the directory holding one directory per VM; NULL for $XDG_DATA_HOME/deskvm/vms. */
DvLibrary *dv_library_new(const char *root);
const char *dv_library_get_root(DvLibrary *self);
/* (Re)scan the root; VMs that do not load are listed as DV_VM_BROKEN. */
gboolean dv_library_load(DvLibrary *self, GError **error);
GListModel *dv_library_get_model(DvLibrary *self);
DvVm *dv_library_lookup(DvLibrary *self, const char *name);

/* Create a VM from @cfg (a uuid is made when cfg->uuid is NULL). */
DvVm *dv_library_create(DvLibrary *self, const struct dv_vm_config *cfg, GError **error);
/* Move a stopped VM's directory to the trash. */
gboolean dv_library_delete(DvLibrary *self, DvVm *vm, GError **error);
/* A stopped VM as @new_name: new uuid and MACs; disk images inside the VM directory are copied,
 * disks elsewhere are shared (a linked clone of external images is the user's choice). */
DvVm *dv_library_clone(DvLibrary *self, DvVm *vm, const char *new_name, GError **error);
/* A domain XML file (e.g. virsh dumpxml) into the library; @new_name NULL keeps its name. */
DvVm *dv_library_import(DvLibrary *self, const char *path, const char *new_name, GError **error);
/* First start: when the library holds no VM and has never made the demo VM, create "Demo" (the
 * engine's demo guest, 128 MiB, 1 vCPU) and mark ROOT/.demo-created so that a user who deletes it
 * does not get it back. Returns the new VM, or NULL with @error unset when nothing was needed. */
DvVm *dv_library_ensure_demo(DvLibrary *self, GError **error);
/* Write the VM's domain.xml to @path. */
gboolean dv_library_export(DvLibrary *self, DvVm *vm, const char *path, GError **error);

/* Re-attach every VM whose engine outlived an earlier run of the app; returns how many. */
guint dv_library_adopt_running(DvLibrary *self);
/* The app quits: running VMs keep running, to be adopted at the next start. */
void dv_library_detach_all(DvLibrary *self);

G_END_DECLS
