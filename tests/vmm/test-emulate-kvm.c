// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The emulation-failure fallback against the real KVM: a 32-bit protected-mode guest (flat
 * GDT, no paging, an IDT with a #BP gate) runs popcnt, ldmxcsr, stmxcsr and int3. Whatever
 * the host's emulator fails on goes through emulate_kvm_handle(); the guest's end state must
 * be the architectural one either way. Skipped (exit 77) without /dev/kvm.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "vmm/emulate_kvm.h"
#include "vmm/memory.h"

#define GDT 0x1000
#define IDT 0x2000
#define CODE 0x3000
#define HANDLER 0x3100
#define DATA 0x4000
#define STACK 0x8000

static const uint8_t code[] = {
    0xf3, 0x0f, 0xb8, 0xc3,                   /* 3000 popcnt eax, ebx */
    0x0f, 0xae, 0x15, 0x00, 0x40, 0x00, 0x00, /* 3004 ldmxcsr [0x4000] */
    0x0f, 0xae, 0x1d, 0x04, 0x40, 0x00, 0x00, /* 300b stmxcsr [0x4004] */
    0xcc,                                     /* 3012 int3 */
    0xf4,                                     /* 3013 hlt (not reached) */
};
#define AFTER_INT3 0x3013
static const uint8_t handler[] = {0x59, 0xf4}; /* pop ecx (the pushed EIP); hlt */

static void seg(struct kvm_segment *s, uint16_t sel, uint8_t type)
{
    memset(s, 0, sizeof(*s));
    s->selector = sel;
    s->type = type;
    s->limit = 0xffffffff;
    s->present = 1;
    s->s = 1;
    s->db = 1;
    s->g = 1;
}

static void test_guest(void **state)
{
    int kvm = *(int *)*state;
    int vm = ioctl(kvm, KVM_CREATE_VM, 0);
    assert_true(vm >= 0);
    struct guest_mem mem;
    assert_int_equal(guest_mem_init(&mem, 1 << 20, false), 0);
    assert_int_equal(guest_mem_register(&mem, vm), 0);
    int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
    assert_true(vcpu >= 0);
    int mmap_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
    struct kvm_run *run =
        mmap(NULL, (size_t)mmap_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
    assert_true(run != MAP_FAILED);

    /* The host's CPUID, so the guest is allowed SSE and popcnt. */
    size_t cpuid_size = sizeof(struct kvm_cpuid2) + 256 * sizeof(struct kvm_cpuid_entry2);
    struct kvm_cpuid2 *cpuid = calloc(1, cpuid_size);
    cpuid->nent = 256;
    assert_int_equal(ioctl(kvm, KVM_GET_SUPPORTED_CPUID, cpuid), 0);
    assert_int_equal(ioctl(vcpu, KVM_SET_CPUID2, cpuid), 0);
    free(cpuid);

    uint64_t gdt[3] = {0, 0x00cf9a000000ffffull, 0x00cf92000000ffffull};
    uint64_t gate = (HANDLER & 0xffff) | (0x08ull << 16) | (0x8e00ull << 32) |
                    ((uint64_t)(HANDLER >> 16) << 48);
    uint32_t mxcsr_in = 0x1fc0; /* defaults plus DAZ */
    assert_int_equal(guest_mem_write(&mem, GDT, gdt, sizeof(gdt)), 0);
    assert_int_equal(guest_mem_write(&mem, IDT + 3 * 8, &gate, 8), 0);
    assert_int_equal(guest_mem_write(&mem, CODE, code, sizeof(code)), 0);
    assert_int_equal(guest_mem_write(&mem, HANDLER, handler, sizeof(handler)), 0);
    assert_int_equal(guest_mem_write(&mem, DATA, &mxcsr_in, 4), 0);

    struct kvm_sregs sregs;
    assert_int_equal(ioctl(vcpu, KVM_GET_SREGS, &sregs), 0);
    seg(&sregs.cs, 0x08, 0xb);
    seg(&sregs.ds, 0x10, 0x3);
    sregs.es = sregs.ss = sregs.fs = sregs.gs = sregs.ds;
    sregs.gdt.base = GDT;
    sregs.gdt.limit = sizeof(gdt) - 1;
    sregs.idt.base = IDT;
    sregs.idt.limit = 0xff;
    sregs.cr0 = 0x33;          /* PE MP ET NE */
    sregs.cr4 = 0x200 | 0x400; /* OSFXSR OSXMMEXCPT */
    sregs.efer = 0;
    assert_int_equal(ioctl(vcpu, KVM_SET_SREGS, &sregs), 0);
    struct kvm_regs regs = {.rip = CODE, .rflags = 2, .rbx = 0xff00ff00, .rsp = STACK};
    assert_int_equal(ioctl(vcpu, KVM_SET_REGS, &regs), 0);

    unsigned handled = 0;
    char report[4096];
    for (int i = 0; i < 16; i++) {
        assert_int_equal(ioctl(vcpu, KVM_RUN, 0), 0);
        assert_int_equal(ioctl(vcpu, KVM_GET_REGS, &regs), 0);
        if (run->exit_reason == KVM_EXIT_HLT) {
            break;
        }
        if (run->exit_reason != KVM_EXIT_INTERNAL_ERROR) {
            fail_msg("unexpected exit %u at rip %llx", run->exit_reason, regs.rip);
        }
        print_message("host: internal error suberror %u at rip %#llx (insn bytes %s)\n",
                      run->emulation_failure.suberror, regs.rip,
                      run->emulation_failure.ndata >= 3 &&
                              (run->emulation_failure.flags &
                               KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES)
                          ? "provided"
                          : "not provided");
        int r = emulate_kvm_handle(vcpu, run, &mem, NULL, 0, report, sizeof(report));
        print_message("emulate_kvm_handle: %d: %s\n", r, report);
        assert_int_equal(r, 0);
        handled++;
    }
    assert_int_equal(run->exit_reason, KVM_EXIT_HLT);
    print_message("handled %u emulation failures; stopped at rip %#llx, pushed EIP %#llx\n",
                  handled, regs.rip, regs.rcx);
    /* The architectural result, whatever the host emulated natively. */
    assert_int_equal(regs.rip, HANDLER + 2);
    assert_int_equal(regs.rcx, AFTER_INT3); /* #BP is a trap: EIP after the int3 */
    assert_int_equal(regs.rax, 16);
    uint32_t mxcsr_out = 0;
    assert_int_equal(guest_mem_read(&mem, DATA + 4, &mxcsr_out, 4), 0);
    assert_int_equal(mxcsr_out, mxcsr_in);

    munmap(run, (size_t)mmap_size);
    close(vcpu);
    guest_mem_destroy(&mem);
    close(vm);
}

int main(void)
{
    int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm < 0) {
        fprintf(stderr, "no /dev/kvm: %s\n", strerror(errno));
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_prestate(test_guest, &kvm),
    };
    int r = cmocka_run_group_tests(tests, NULL, NULL);
    close(kvm);
    return r;
}
