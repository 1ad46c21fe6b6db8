// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * One VM of the library: its directory, its definition, and its engine while it runs. The
 * state machine the window shows lives here (no GTK), so it is unit-tested without a display.
 */
#pragma once

#include "gui/engine.h"
#include "gui/vm-config.h"

#include <gio/gio.h>

G_BEGIN_DECLS

typedef enum {
    DV_VM_STOPPED,
    DV_VM_STARTING, /* spawned, QMP not answered yet */
    DV_VM_RUNNING,
    DV_VM_PAUSED,
    DV_VM_STOPPING,    /* ACPI power button pressed, waiting for the guest */
    DV_VM_CRASHED,     /* the engine died; dv_vm_get_error() has its message and log */
    DV_VM_GUEST_ERROR, /* the engine is alive but the guest stopped on an internal error */
    DV_VM_BROKEN,      /* domain.xml does not load; dv_vm_get_error() says why */
} DvVmState;

#define DV_TYPE_VM (dv_vm_get_type())
G_DECLARE_FINAL_TYPE(DvVm, dv_vm, DV, VM, GObject)

/* Load the VM in @dir (its domain.xml). Never fails: a VM whose file does not load comes back
 * in DV_VM_BROKEN with the reason, so the library shows it and loses nothing. */
DvVm *dv_vm_load(const char *dir);

const char *dv_vm_get_name(DvVm *self);
const char *dv_vm_get_dir(DvVm *self);
char *dv_vm_get_xml_path(DvVm *self);
DvVmState dv_vm_get_state(DvVm *self);
const char *dv_vm_state_label(DvVmState state);
/* The definition, or NULL when broken. */
const struct dv_vm_config *dv_vm_get_config(DvVm *self);
/* Why the VM is broken or crashed, or the last failed action; NULL if none. */
const GError *dv_vm_get_error(DvVm *self);
/* The engine while one runs (for the console), else NULL. */
DvEngine *dv_vm_get_engine(DvVm *self);
/* The display channel socket of the running engine (docs/display-channel.md), else NULL. */
const char *dv_vm_get_display_path(DvVm *self);
/* TRUE in the states where an engine process exists. */
gboolean dv_vm_is_active(DvVm *self);

/* Actions; each refuses with DV_ERROR_BUSY in a state where it makes no sense. Failures that
 * happen later (a command the engine refuses, a crash) are reported by the "error" signal
 * (GError *) and, for a crash, by the state. */
gboolean dv_vm_start(DvVm *self, GError **error);
/* Start the engine with its vCPUs stopped (deskvm-vm --paused): the VM turns PAUSED once QMP
 * answers, and runs only after dv_vm_resume. For work done before the guest runs (a revert
 * of a stopped VM, docs/gui.md "Stopped VM."). */
gboolean dv_vm_start_paused(DvVm *self, GError **error);
gboolean dv_vm_pause(DvVm *self, GError **error);
gboolean dv_vm_resume(DvVm *self, GError **error);
gboolean dv_vm_shutdown(DvVm *self, GError **error);
gboolean dv_vm_force_off(DvVm *self, GError **error);
gboolean dv_vm_reset(DvVm *self, GError **error);

/* Read domain.xml again (after the settings editor wrote it); a file that no longer loads
 * turns the VM BROKEN, as at load. */
gboolean dv_vm_reload(DvVm *self, GError **error);
/* Re-attach to this VM's engine left running by an earlier run of the app: its pid file
 * ($XDG_RUNTIME_DIR/deskvm/UUID.pid) names a live deskvm-vm serving this VM's QMP socket.
 * TRUE when adopted (state STARTING, then what QMP says); a stale pid file is removed. */
gboolean dv_vm_adopt(DvVm *self);
/* The app quits: leave a running engine running (it is re-adopted at the next start). */
void dv_vm_detach(DvVm *self);

G_END_DECLS
