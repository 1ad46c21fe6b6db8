// SPDX-License-Identifier: GPL-2.0-or-later
/* The front end's GError domain and the fix hints shown with its errors. */
#include "gui/dv-error.h"

G_DEFINE_QUARK(deskvm - error - quark, dv_error)

const char *dv_error_fix_hint(const GError *error)
{
    if (error == NULL || error->domain != DV_ERROR) {
        return NULL;
    }
    switch ((DvError)error->code) {
    case DV_ERROR_KVM_ACCESS:
        return "Add your user to the kvm group: run \"sudo usermod -aG kvm $USER\", then log out "
               "and back in (or run \"newgrp kvm\"). If /dev/kvm does not exist, enable "
               "virtualization in the firmware settings and load the kvm_intel or kvm_amd module.";
    case DV_ERROR_NOT_FOUND:
        return "Put the file back at that path, or edit the VM to point at its new place.";
    case DV_ERROR_CORRUPT:
        return "The file was left as it is. Fix it in a text editor, or delete the VM and import "
               "a good copy.";
    case DV_ERROR_INVALID:
        return "Names use letters, digits, '.', '_' and '-' (up to 64 characters) and start with "
               "a letter or a digit.";
    case DV_ERROR_ENGINE:
        return "The last lines of the engine's log are shown above; the whole log is engine.log "
               "in the VM's directory.";
    case DV_ERROR_EXISTS:
        return "Choose another name.";
    case DV_ERROR_BUSY:
    case DV_ERROR_QMP:
    case DV_ERROR_UNSUPPORTED:
        break;
    }
    return NULL;
}
