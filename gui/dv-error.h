// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Errors of the deskvm front end: one GError domain for the VM library, the engine supervisor and
 * the QMP client, with a "how to fix it" hint the window shows next to the message.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define DV_ERROR (dv_error_quark())
GQuark dv_error_quark(void);

typedef enum {
    DV_ERROR_INVALID,    /* bad user input: a name, a size, a path */
    DV_ERROR_EXISTS,     /* a VM of that name is already in the library */
    DV_ERROR_NOT_FOUND,  /* a disk, kernel or VM that is not there */
    DV_ERROR_CORRUPT,    /* a domain.xml that does not parse or lacks what we need */
    DV_ERROR_BUSY,       /* the VM is running (or not running) for this action */
    DV_ERROR_KVM_ACCESS, /* /dev/kvm cannot be opened by this user */
    DV_ERROR_ENGINE,     /* deskvm-vm failed to start or died */
    DV_ERROR_QMP,        /* the engine refused a command or the control socket broke */
    DV_ERROR_UNSUPPORTED /* a configuration deskvm cannot run yet */
} DvError;

/* A sentence telling the user how to fix @error, or NULL when there is nothing to add. */
const char *dv_error_fix_hint(const GError *error);

G_END_DECLS
