/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Fallback for KVM_EXIT_INTERNAL_ERROR / KVM_INTERNAL_ERROR_EMULATION: the few x86
 * instructions a host's in-kernel emulator may lack and that we can emulate exactly
 * (Intel SDM vol. 2 for each instruction, vol. 3 ch. 6 for exception classes), and a
 * readable report for everything else. KVM-independent: the vCPU state is a copy in
 * KVM's structs and guest memory is reached through callbacks, so tests need no /dev/kvm.
 */
#ifndef DESKVM_VMM_EMULATE_H
#define DESKVM_VMM_EMULATE_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Longest x86 instruction; KVM's emulation_failure.insn_bytes holds up to 15 too. */
#define EMU_MAX_INSN 15

/* Exception vectors the emulator may ask to inject (SDM vol. 3, table 6-1). */
#define EMU_VEC_UD 6
#define EMU_VEC_BP 3
#define EMU_VEC_NM 7
#define EMU_VEC_SS 12
#define EMU_VEC_GP 13
#define EMU_VEC_MF 16
#define EMU_VEC_AC 17

struct emu_cpu {
    /* The vCPU's state, read before emulation; written back when the *_dirty flag is set. */
    struct kvm_regs regs;
    struct kvm_sregs sregs;
    struct kvm_fpu fpu; /* mxcsr and the x87 status word live here */
    uint64_t xcr0;      /* for VEX forms (XCR0.SSE and XCR0.AVX must both be set) */
    uint64_t dr7;       /* enabled hardware breakpoints make us refuse: see emulate.c */
    bool fpu_dirty, regs_dirty;
    /*
     * Guest linear memory through the vCPU's current paging, with the permission checks of
     * an access at the current CPL (and accessed/dirty bits set, as the CPU would). Return 0,
     * -EFAULT when a page is not present (or not guest RAM), -EACCES on a protection
     * violation. Either failure makes the instruction unhandled: see emulate.c.
     */
    int (*read_virt)(void *opaque, uint64_t gva, void *buf, size_t len);
    int (*write_virt)(void *opaque, uint64_t gva, const void *buf, size_t len);
    void *opaque;
    /* Set with EMU_INJECT: the exception the instruction raises, for the caller to inject. */
    bool inject;
    uint8_t vector;
    bool has_error_code;
    uint32_t error_code;
};

enum emu_result {
    EMU_DONE,      /* executed; state changes are in cpu (see the dirty flags) */
    EMU_INJECT,    /* raises cpu->vector; RIP/flags already as the exception must see them */
    EMU_UNHANDLED, /* cannot emulate exactly; why says what; cpu is unchanged */
};

/*
 * Emulate the instruction whose bytes (fetched at the vCPU's CS:RIP) are given. len may be
 * more than the instruction needs; fewer bytes than it needs is refused. why (may be NULL)
 * gets a one-line reason when the result is EMU_UNHANDLED, or a description otherwise.
 */
enum emu_result emulate_insn(struct emu_cpu *cpu, const uint8_t *bytes, size_t len, char *why,
                             size_t whylen);

/* Code size of the vCPU's current mode: 16, 32 or 64 (0 for virtual-8086 mode). */
unsigned emulate_code_bits(const struct emu_cpu *cpu);

/*
 * A multi-line report for a human: vCPU index, RIP, CS:RIP and mode, the instruction bytes
 * in hex, their disassembly, the reason, the general, segment and control registers.
 * Always NUL-terminates when outlen > 0; returns the length it wanted (like snprintf).
 */
size_t emulate_report(const struct emu_cpu *cpu, int vcpu_index, const uint8_t *bytes, size_t len,
                      const char *why, char *out, size_t outlen);

#endif
