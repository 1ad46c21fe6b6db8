/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * x86 vCPU configuration: CPUID topology for N vCPUs, boot MSRs, and the register state
 * each boot mode starts in (Linux x86 boot protocol, PVH boot ABI).
 */
#ifndef DESKVM_VMM_X86_CPU_H
#define DESKVM_VMM_X86_CPU_H

#include <linux/kvm.h>
#include <stdint.h>

#include "vmm/boot.h"

struct guest_mem;

/* Supported CPUID from KVM; caller frees. NULL with errno on failure. */
struct kvm_cpuid2 *x86_cpuid_supported(int kvm_fd);
/*
 * Copy of the supported table patched for vCPU index/APIC id `cpu` of `ncpus`: one package,
 * ncpus cores, one thread each; hypervisor bit; topology leaves 0x1, 0x4, 0xB, 0x1F, 0x80000008.
 */
struct kvm_cpuid2 *x86_cpuid_for_vcpu(const struct kvm_cpuid2 *supported, unsigned cpu,
                                      unsigned ncpus);
/* Pure topology patching, separated for unit tests; c must have room for 3 more entries. */
void x86_cpuid_patch(struct kvm_cpuid2 *c, unsigned cpu, unsigned ncpus);

/* Write the boot GDT and (for 64-bit entry) identity page tables to guest memory. */
int x86_boot_tables(const struct guest_mem *mem, enum boot_mode mode);
/* Registers for the boot vCPU in `entry`'s mode. sregs must hold KVM's reset state. */
void x86_boot_regs(const struct boot_entry *entry, struct kvm_regs *regs, struct kvm_sregs *sregs);
/* The MSRs set on every vCPU at creation and reset. Returns entries written. */
unsigned x86_boot_msrs(struct kvm_msr_entry *out, unsigned max);

#endif
