// SPDX-License-Identifier: GPL-2.0-or-later
/* CPUID topology patching, boot tables and entry registers for each boot mode. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vmm/e820.h"
#include "vmm/memory.h"
#include "vmm/x86_cpu.h"

static struct kvm_cpuid2 *table(void)
{
    struct kvm_cpuid2 *c = calloc(1, sizeof(*c) + 8 * sizeof(c->entries[0]));
    struct kvm_cpuid_entry2 *e = c->entries;
    e[0] = (struct kvm_cpuid_entry2){.function = 1, .ebx = 0xffffffff, .ecx = 0, .edx = 0};
    e[1] = (struct kvm_cpuid_entry2){.function = 0xb, .index = 0};
    e[2] = (struct kvm_cpuid_entry2){.function = 0xb, .index = 1};
    e[3] = (struct kvm_cpuid_entry2){.function = 0xb, .index = 2};
    e[4] = (struct kvm_cpuid_entry2){.function = 4, .index = 0, .eax = (1 << 5) | 1};
    e[5] = (struct kvm_cpuid_entry2){.function = 4, .index = 3, .eax = (3 << 5) | 3};
    e[6] = (struct kvm_cpuid_entry2){.function = 0x80000008, .eax = 0x3027};
    c->nent = 7;
    return c;
}

static const struct kvm_cpuid_entry2 *leaf(const struct kvm_cpuid2 *c, uint32_t fn, uint32_t index)
{
    const struct kvm_cpuid_entry2 *found = NULL;
    for (unsigned i = 0; i < c->nent; i++) {
        if (c->entries[i].function == fn && c->entries[i].index == index) {
            assert_null(found); /* no duplicates */
            found = &c->entries[i];
        }
    }
    assert_non_null(found);
    return found;
}

static void test_topology(void **state)
{
    struct kvm_cpuid2 *base = table();
    struct kvm_cpuid2 *c = x86_cpuid_for_vcpu(base, 5, 6);
    assert_int_equal(leaf(c, 1, 0)->ebx >> 24, 5);          /* APIC id */
    assert_int_equal((leaf(c, 1, 0)->ebx >> 16) & 0xff, 6); /* logical processors */
    assert_true(leaf(c, 1, 0)->edx & (1u << 28));           /* HTT */
    assert_true(leaf(c, 1, 0)->ecx & (1u << 31));           /* hypervisor */
    assert_int_equal(leaf(c, 0xb, 0)->ebx, 1);              /* SMT level: 1 thread */
    assert_int_equal((leaf(c, 0xb, 0)->ecx >> 8) & 0xff, 1);
    assert_int_equal(leaf(c, 0xb, 1)->eax, 3); /* 6 cores need 3 APIC id bits */
    assert_int_equal(leaf(c, 0xb, 1)->ebx, 6);
    assert_int_equal((leaf(c, 0xb, 1)->ecx >> 8) & 0xff, 2);
    assert_int_equal(leaf(c, 0xb, 1)->edx, 5);
    assert_int_equal((leaf(c, 0xb, 2)->ecx >> 8) & 0xff, 0); /* end of topology levels */
    assert_true(leaf(c, 0xb, 0)->flags & KVM_CPUID_FLAG_SIGNIFCANT_INDEX);
    assert_int_equal(leaf(c, 4, 0)->eax >> 26, 5); /* cores per package - 1 */
    assert_int_equal((leaf(c, 4, 0)->eax >> 14) & 0xfff, 0);
    assert_int_equal((leaf(c, 4, 3)->eax >> 14) & 0xfff, 5); /* L3 shared by all */
    assert_int_equal(leaf(c, 0x80000008, 0)->ecx & 0xff, 5);
    assert_int_equal(leaf(c, 0x80000008, 0)->eax, 0x3027); /* address sizes untouched */
    assert_int_equal(c->nent, 7);
    free(c);
    c = x86_cpuid_for_vcpu(base, 0, 1);
    assert_false(leaf(c, 1, 0)->edx & (1u << 28));
    free(c);
    free(base);
}

/* A host that lists no 0xB sub-leaves (AMD) still gets the full topology, and leaf 0 grows. */
static void test_topology_added_when_absent(void **state)
{
    struct kvm_cpuid2 *base = calloc(1, sizeof(*base) + 2 * sizeof(base->entries[0]));
    base->entries[0] = (struct kvm_cpuid_entry2){.function = 0, .eax = 0x7};
    base->entries[1] = (struct kvm_cpuid_entry2){.function = 1};
    base->nent = 2;
    struct kvm_cpuid2 *c = x86_cpuid_for_vcpu(base, 1, 2);
    assert_int_equal(c->nent, 5);
    assert_int_equal(leaf(c, 0, 0)->eax, 0xb);
    assert_int_equal(leaf(c, 0xb, 1)->ebx, 2);
    assert_int_equal(leaf(c, 0xb, 1)->edx, 1);
    free(c);
    free(base);
}

static void test_linux64_tables_and_regs(void **state)
{
    size_t sz = 16 << 20;
    void *buf = calloc(1, sz);
    struct guest_mem m;
    guest_mem_init_host(&m, buf, sz);
    assert_int_equal(x86_boot_tables(&m, BOOT_LINUX64), 0);
    uint64_t *pml4 = guest_mem_ptr(&m, BOOT_PML4_ADDR, 8);
    assert_int_equal(pml4[0] & ~0xfffull, BOOT_PML4_ADDR + 0x1000);
    uint64_t *pd = guest_mem_ptr(&m, BOOT_PML4_ADDR + 0x2000, 0x4000);
    assert_int_equal(pd[2047], (2047ull << 21) | 0x83); /* maps up to 4 GiB */
    uint64_t *gdt = guest_mem_ptr(&m, BOOT_GDT_ADDR, 40);
    assert_true(gdt[2] & (1ull << 53)); /* __BOOT_CS is a 64-bit code segment */

    struct boot_entry be = {.mode = BOOT_LINUX64, .rip = 0x1000000, .arg = BOOT_INFO_ADDR};
    struct kvm_regs regs;
    struct kvm_sregs sregs = {0};
    x86_boot_regs(&be, &regs, &sregs);
    assert_int_equal(regs.rip, 0x1000000);
    assert_int_equal(regs.rsi, BOOT_INFO_ADDR);
    assert_int_equal(sregs.cs.selector, 0x10);
    assert_int_equal(sregs.cs.l, 1);
    assert_int_equal(sregs.ds.selector, 0x18);
    assert_int_equal(sregs.cr3, BOOT_PML4_ADDR);
    assert_true(sregs.efer & (1u << 10));
    assert_true(sregs.cr0 & 0x80000000u);
    free(buf);
}

static void test_pvh_and_linux32_regs(void **state)
{
    size_t sz = 4 << 20;
    void *buf = calloc(1, sz);
    struct guest_mem m;
    guest_mem_init_host(&m, buf, sz);
    assert_int_equal(x86_boot_tables(&m, BOOT_PVH32), 0);
    uint64_t *gdt = guest_mem_ptr(&m, BOOT_GDT_ADDR, 40);
    assert_false(gdt[2] & (1ull << 53));

    struct boot_entry be = {.mode = BOOT_PVH32, .rip = 0x100000, .arg = BOOT_INFO_ADDR};
    struct kvm_regs regs;
    struct kvm_sregs sregs = {0};
    x86_boot_regs(&be, &regs, &sregs);
    assert_int_equal(regs.rbx, BOOT_INFO_ADDR);
    assert_int_equal(sregs.cs.db, 1);
    assert_int_equal(sregs.cs.l, 0);
    assert_int_equal(sregs.cr0 & 0x80000001u, 1); /* protected mode, paging off */
    assert_int_equal(sregs.efer, 0);
    assert_int_equal(sregs.tr.limit, 0x67);
    assert_int_equal(regs.rflags, 2);

    be.mode = BOOT_LINUX32;
    x86_boot_regs(&be, &regs, &sregs);
    assert_int_equal(regs.rsi, BOOT_INFO_ADDR);
    assert_int_equal(sregs.cs.selector, 0x10);
    assert_int_equal(sregs.cs.db, 1);
    /* a guest memory too small for the tables is refused */
    struct guest_mem tiny;
    guest_mem_init_host(&tiny, buf, 0x2000);
    assert_int_not_equal(x86_boot_tables(&tiny, BOOT_LINUX64), 0);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_topology),
        cmocka_unit_test(test_topology_added_when_absent),
        cmocka_unit_test(test_linux64_tables_and_regs),
        cmocka_unit_test(test_pvh_and_linux32_regs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
