/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vCPU threads: KVM_RUN and exit dispatch. */
#ifndef DESKVM_VMM_VCPU_H
#define DESKVM_VMM_VCPU_H

#include <linux/kvm.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

struct vm;

struct vcpu {
    struct vm *vm;
    unsigned index;
    int fd;
    struct kvm_run *run;
    pthread_t thread;
    bool thread_started;
    bool parked;
    /* Architectural state right after creation, restored on reset. */
    struct kvm_regs init_regs;
    struct kvm_sregs init_sregs;
    struct kvm_fpu init_fpu;
    struct kvm_lapic_state init_lapic;
    struct kvm_mp_state init_mp;
    uint64_t exits;
    uint64_t emulated; /* emulation failures handled */
};

int vcpu_create(struct vm *vm, struct vcpu *vcpu, unsigned index, char *err, size_t errlen);
void vcpu_destroy(struct vcpu *vcpu);
/* Put the vCPU in its power-on state; the BSP also gets the boot entry state. */
int vcpu_reset(struct vcpu *vcpu);
int vcpu_start(struct vcpu *vcpu);
/* Make KVM_RUN return soon (for pause/quit); safe from any thread. */
void vcpu_kick(struct vcpu *vcpu);

#endif
