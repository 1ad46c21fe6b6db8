/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * /dev/kvm: open it, check the API version and every capability the engine relies on,
 * and turn each way this can fail into one sentence a user can act on.
 */
#ifndef DESKVM_VMM_KVM_H
#define DESKVM_VMM_KVM_H

#include <stddef.h>

struct kvm_sys {
    int fd;
    int vcpu_mmap_size;
    int max_vcpus;
    int nr_memslots;
    int coalesced_mmio_page; /* page of the vCPU mapping with the coalesced-MMIO ring, 0: none */
};

/* Exit statuses of deskvm-vm (docs/exit-status.md). */
enum {
    EXIT_OK = 0,          /* guest powered off / quit */
    EXIT_FAILURE_ = 1,    /* generic error (bad arguments, bad files) */
    EXIT_NO_KVM = 2,      /* /dev/kvm missing, not accessible, or lacking a capability */
    EXIT_GUEST_ERROR = 3, /* the VM stopped on an internal error (e.g. emulation failure) */
};

/* Open path (normally "/dev/kvm") and check it. On failure returns -errno and fills err. */
int kvm_sys_open(struct kvm_sys *kvm, const char *path, char *err, size_t errlen);
void kvm_sys_close(struct kvm_sys *kvm);

#endif
