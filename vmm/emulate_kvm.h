/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Engine side of the emulation-failure fallback: reads a vCPU's state after
 * KVM_EXIT_INTERNAL_ERROR / KVM_INTERNAL_ERROR_EMULATION, runs vmm/emulate.c on the failing
 * instruction and writes the result back (KVM API: KVM_GET/SET_REGS, _SREGS, _FPU,
 * _VCPU_EVENTS). Guest linear addresses are translated by walking the guest's page tables
 * (SDM vol. 3, ch. 4) so that permissions and accessed/dirty bits are as the CPU's.
 */
#ifndef DESKVM_VMM_EMULATE_KVM_H
#define DESKVM_VMM_EMULATE_KVM_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/memory.h"

/*
 * Handle an emulation failure exit. Returns 0 when the instruction was emulated (state
 * written back, an exception it raises queued for injection), or -1 with a human-readable
 * report in `report` (vCPU, RIP, bytes, disassembly, registers) for the engine to print
 * before stopping the VM.
 */
/* Read-only memory outside guest RAM that instructions may read (a firmware ROM), or none. */
struct emulate_rom {
    uint64_t gpa;
    size_t size;
    const uint8_t *data;
};

int emulate_kvm_handle(int vcpu_fd, struct kvm_run *run, const struct guest_mem *mem,
                       const struct emulate_rom *rom, int vcpu_index, char *report,
                       size_t reportlen);

/*
 * Translate a guest linear address for a data access by a vCPU in the state `sregs`/`rflags`
 * (paging off, 32-bit, PAE, 4- and 5-level paging). Checks present, writable (CR0.WP),
 * user/supervisor and SMAP as the CPU does for an access at the current CPL, and sets the
 * accessed (and, for a write, dirty) bits. Returns 0 with *gpa set, -EFAULT if a page is not
 * present or a table is not guest RAM, -EACCES on a protection violation, -EOPNOTSUPP where
 * protection keys would decide.
 */
int emulate_kvm_translate(const struct guest_mem *mem, const struct kvm_sregs *sregs,
                          uint64_t rflags, uint64_t gva, bool write, uint64_t *gpa);

#endif
