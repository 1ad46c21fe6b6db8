// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * CPUID topology (Intel SDM vol. 2A CPUID leaves 1, 4, 0Bh, 1Fh; AMD APM leaf 8000_0008h),
 * boot MSRs, and entry register state for PVH (xen/arch/x86 PVH ABI) and the Linux x86
 * 32/64-bit boot protocol (Documentation/arch/x86/boot.rst).
 */
#include "vmm/x86_cpu.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>

#include "vmm/e820.h"
#include "vmm/memory.h"

#define CPUID_MAX_ENTRIES 256
#define X86_CPUID_EXTRA 3

struct kvm_cpuid2 *x86_cpuid_supported(int kvm_fd)
{
    size_t sz = sizeof(struct kvm_cpuid2) + CPUID_MAX_ENTRIES * sizeof(struct kvm_cpuid_entry2);
    struct kvm_cpuid2 *c = calloc(1, sz);
    if (!c) {
        return NULL;
    }
    c->nent = CPUID_MAX_ENTRIES;
    if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c) < 0) {
        int e = errno;
        free(c);
        errno = e;
        return NULL;
    }
    return c;
}

static unsigned bits_for(unsigned n)
{
    unsigned b = 0;
    while ((1u << b) < n) {
        b++;
    }
    return b;
}

/*
 * Leaves 0xB and 0x1F are replaced, not patched: hosts differ in which sub-leaves they list
 * (an AMD host may list none), and the guest must see exactly one package of ncpus cores.
 */
static void set_extended_topology(struct kvm_cpuid2 *c, unsigned cpu, unsigned ncpus)
{
    unsigned out = 0;
    for (unsigned i = 0; i < c->nent; i++) {
        if (c->entries[i].function != 0xb && c->entries[i].function != 0x1f) {
            c->entries[out++] = c->entries[i];
        }
    }
    const uint32_t flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX;
    /* Level 0: SMT, one thread per core. Level 1: core, ncpus per package. Then the end. */
    c->entries[out++] = (struct kvm_cpuid_entry2){.function = 0xb,
                                                  .index = 0,
                                                  .flags = flags,
                                                  .eax = 0,
                                                  .ebx = 1,
                                                  .ecx = 1u << 8,
                                                  .edx = cpu};
    c->entries[out++] = (struct kvm_cpuid_entry2){.function = 0xb,
                                                  .index = 1,
                                                  .flags = flags,
                                                  .eax = bits_for(ncpus),
                                                  .ebx = ncpus,
                                                  .ecx = (2u << 8) | 1,
                                                  .edx = cpu};
    c->entries[out++] = (struct kvm_cpuid_entry2){
        .function = 0xb, .index = 2, .flags = flags, .ecx = 2, .edx = cpu};
    c->nent = out;
}

void x86_cpuid_patch(struct kvm_cpuid2 *c, unsigned cpu, unsigned ncpus)
{
    unsigned core_bits = bits_for(ncpus);
    set_extended_topology(c, cpu, ncpus);
    for (unsigned i = 0; i < c->nent; i++) {
        struct kvm_cpuid_entry2 *e = &c->entries[i];
        switch (e->function) {
        case 1:
            /* Initial APIC id, logical processors per package, CLFLUSH size 8 (64 bytes). */
            e->ebx = (cpu << 24) | ((ncpus > 255 ? 255 : ncpus) << 16) | (8 << 8);
            if (ncpus > 1) {
                e->edx |= 1u << 28; /* HTT: the count field is valid */
            } else {
                e->edx &= ~(1u << 28);
            }
            e->ecx |= 1u << 31; /* running under a hypervisor */
            break;
        case 4: {
            /* Deterministic cache parameters: cores per package; caches private but L3. */
            unsigned level = (e->eax >> 5) & 7;
            unsigned sharing = level >= 3 ? ncpus - 1 : 0;
            e->eax &= 0x3fff;
            if (e->eax & 0x1f) {
                e->eax |= ((ncpus - 1) << 26) | (sharing << 14);
            }
            break;
        }
        case 0:
            /* Leaf 0xB is ours (below) whatever the host offers. */
            if (e->eax < 0xb) {
                e->eax = 0xb;
            }
            break;
        case 0x80000008:
            e->ecx = (core_bits << 12) | ((ncpus - 1) & 0xff);
            break;
        default:
            break;
        }
    }
}

struct kvm_cpuid2 *x86_cpuid_for_vcpu(const struct kvm_cpuid2 *supported, unsigned cpu,
                                      unsigned ncpus)
{
    size_t sz = sizeof(*supported) + supported->nent * sizeof(supported->entries[0]);
    /* Room for the three 0xB sub-leaves set_extended_topology() may add. */
    struct kvm_cpuid2 *c = malloc(sz + X86_CPUID_EXTRA * sizeof(supported->entries[0]));
    if (!c) {
        return NULL;
    }
    memcpy(c, supported, sz);
    x86_cpuid_patch(c, cpu, ncpus);
    return c;
}

/* GDT layout: 0x08 code32, 0x10 boot CS, 0x18 boot DS, 0x20 TSS (boot protocol selectors). */
#define GDT_CODE32 0x00cf9b000000ffffull
#define GDT_CODE64 0x00af9b000000ffffull
#define GDT_DATA 0x00cf93000000ffffull
#define GDT_TSS 0x00008b0000000067ull

int x86_boot_tables(const struct guest_mem *mem, enum boot_mode mode)
{
    uint64_t gdt[5] = {0, GDT_CODE32, mode == BOOT_LINUX64 ? GDT_CODE64 : GDT_CODE32, GDT_DATA,
                       GDT_TSS};
    if (guest_mem_write(mem, BOOT_GDT_ADDR, gdt, sizeof(gdt)) < 0) {
        return -EFAULT;
    }
    if (mode != BOOT_LINUX64) {
        return 0;
    }
    /* Identity map of the low 4 GiB with 2 MiB pages: PML4 → PDPT → 4 page directories. */
    uint64_t *pml4 = guest_mem_ptr(mem, BOOT_PML4_ADDR, 0x6000);
    if (!pml4) {
        return -EFAULT;
    }
    uint64_t *pdpt = pml4 + 512;
    uint64_t *pd = pml4 + 1024;
    memset(pml4, 0, 0x6000);
    pml4[0] = (BOOT_PML4_ADDR + 0x1000) | 0x3;
    for (unsigned i = 0; i < 4; i++) {
        pdpt[i] = (BOOT_PML4_ADDR + 0x2000 + i * 0x1000ull) | 0x3;
    }
    for (unsigned i = 0; i < 2048; i++) {
        pd[i] = ((uint64_t)i << 21) | 0x83; /* present, writable, 2 MiB */
    }
    return 0;
}

static struct kvm_segment segment(uint16_t sel, uint64_t desc)
{
    struct kvm_segment s = {
        .base = 0,
        .limit = 0xffffffff,
        .selector = sel,
        .type = (desc >> 40) & 0xf,
        .present = (desc >> 47) & 1,
        .dpl = (desc >> 45) & 3,
        .db = (desc >> 54) & 1,
        .s = (desc >> 44) & 1,
        .l = (desc >> 53) & 1,
        .g = (desc >> 55) & 1,
    };
    return s;
}

void x86_boot_regs(const struct boot_entry *entry, struct kvm_regs *regs, struct kvm_sregs *sregs)
{
    if (entry->mode == BOOT_FIRMWARE) {
        return; /* KVM's reset state is the reset vector: real mode, F000:FFF0 */
    }
    memset(regs, 0, sizeof(*regs));
    regs->rflags = 2;
    regs->rip = entry->rip;
    bool lm = entry->mode == BOOT_LINUX64;

    sregs->gdt.base = BOOT_GDT_ADDR;
    sregs->gdt.limit = 5 * 8 - 1;
    sregs->idt.base = 0;
    sregs->idt.limit = 0;
    sregs->cs = segment(0x10, lm ? GDT_CODE64 : GDT_CODE32);
    if (entry->mode == BOOT_PVH32) {
        sregs->cs = segment(0x08, GDT_CODE32);
    }
    struct kvm_segment data = segment(0x18, GDT_DATA);
    sregs->ds = sregs->es = sregs->fs = sregs->gs = sregs->ss = data;
    sregs->tr = segment(0x20, GDT_TSS);
    sregs->tr.limit = 0x67;
    sregs->tr.g = 0;
    sregs->ldt.present = 0;
    sregs->ldt.unusable = 1;

    sregs->cr0 = 0x11; /* PE | ET */
    sregs->cr4 = 0;
    sregs->efer = 0;
    switch (entry->mode) {
    case BOOT_PVH32:
        regs->rbx = entry->arg;
        break;
    case BOOT_LINUX32:
        regs->rsi = entry->arg;
        break;
    case BOOT_LINUX64:
        regs->rsi = entry->arg;
        sregs->cr3 = BOOT_PML4_ADDR;
        sregs->cr4 = 1u << 5;                 /* PAE */
        sregs->cr0 = 0x80000011;              /* PG | PE | ET */
        sregs->efer = (1u << 8) | (1u << 10); /* LME | LMA */
        break;
    case BOOT_FIRMWARE:
        break; /* returned above */
    }
    if (entry->mode != BOOT_PVH32) {
        /* The boot protocol leaves the stack to the kernel; give it a sane one anyway. */
        regs->rsp = regs->rbp = 0x8ff0;
    }
}

unsigned x86_boot_msrs(struct kvm_msr_entry *out, unsigned max)
{
    static const struct {
        uint32_t index;
        uint64_t data;
    } msrs[] = {
        {0x174, 0},              /* SYSENTER_CS */
        {0x175, 0},              /* SYSENTER_ESP */
        {0x176, 0},              /* SYSENTER_EIP */
        {0xc0000081, 0},         /* STAR */
        {0xc0000082, 0},         /* LSTAR */
        {0xc0000083, 0},         /* CSTAR */
        {0xc0000084, 0},         /* SYSCALL_MASK */
        {0xc0000102, 0},         /* KERNEL_GS_BASE */
        {0x10, 0},               /* TSC */
        {0x1a0, 1},              /* MISC_ENABLE: fast strings */
        {0x2ff, (1u << 11) | 6}, /* MTRR default type: enabled, write-back */
    };
    unsigned n = 0;
    for (; n < max && n < sizeof(msrs) / sizeof(msrs[0]); n++) {
        out[n] = (struct kvm_msr_entry){.index = msrs[n].index, .data = msrs[n].data};
    }
    return n;
}
