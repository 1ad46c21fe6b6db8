// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * kvm-floor: the cheapest possible port-I/O exit round trip on this host, the floor for
 * bench/core.py. One VM, one memory slot, one vCPU started directly in 64-bit mode at CPL3
 * (Documentation/virt/kvm/api.rst: KVM_SET_SREGS; SDM vol. 1 18.5.2: the TSS I/O permission
 * bitmap grants the port), running N `out dx, al` to port 0x3ff; the loop only re-enters
 * KVM_RUN. No irqchip, no devices, no locks.
 *
 * usage: kvm-floor [N [irqchip|irqchip+pit]] (default 100000, no irqchip); prints
 *   "exits: N cycles: C wall_ns: W tsc_hz: H cpl: P"
 * C is the guest's own TSC count around the loop, W the host's wall time around all KVM_RUN
 * calls, H the TSC rate measured against CLOCK_MONOTONIC. "irqchip" adds the in-kernel
 * PIC/IOAPIC/LAPIC (KVM_CREATE_IRQCHIP), "irqchip+pit" the in-kernel PIT too, as deskvm-vm
 * has them: the difference from the plain loop is what the kernel charges per exit for them.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>

#define MEM_SIZE 0x200000ull /* one 2 MiB page, identity-mapped */
#define PML4_ADDR 0x1000ull
#define PDPT_ADDR 0x2000ull
#define PD_ADDR 0x3000ull
#define TSS_ADDR 0x4000ull
#define CODE_ADDR 0x10000ull
#define STACK_TOP 0x100000ull
#define PORT_BENCH 0x3ff
#define PORT_DONE 0xf4
#define IOMAP_OFFSET 0x68               /* right after the 104-byte 64-bit TSS */
#define TSS_LIMIT (IOMAP_OFFSET + 8192) /* bitmap for all 65536 ports, then the 0xff byte */

#define PTE_P 0x1ull
#define PTE_RW 0x2ull
#define PTE_US 0x4ull
#define PTE_PS 0x80ull

/*
 * The guest, position-independent, entered at CPL3 with RCX = N:
 *     rdtsc; shl $32,%rdx; or %rdx,%rax; mov %rax,%rsi
 *     mov $0x3ff,%dx
 *  1: test %rcx,%rcx; jz 2f; out %al,(%dx); dec %rcx; jmp 1b
 *  2: rdtsc; shl $32,%rdx; or %rdx,%rax; sub %rsi,%rax; mov %rax,%rdi
 *     mov $0xf4,%dx; out %al,(%dx); jmp 2b (never resumed)
 */
static const uint8_t guest_code[] = {
    0x0f, 0x31,             /* rdtsc */
    0x48, 0xc1, 0xe2, 0x20, /* shl $32, %rdx */
    0x48, 0x09, 0xd0,       /* or %rdx, %rax */
    0x48, 0x89, 0xc6,       /* mov %rax, %rsi */
    0x66, 0xba, 0xff, 0x03, /* mov $0x3ff, %dx */
    0x48, 0x85, 0xc9,       /* 1: test %rcx, %rcx */
    0x74, 0x06,             /* jz 2f */
    0xee,                   /* out %al, (%dx) */
    0x48, 0xff, 0xc9,       /* dec %rcx */
    0xeb, 0xf5,             /* jmp 1b */
    0x0f, 0x31,             /* 2: rdtsc */
    0x48, 0xc1, 0xe2, 0x20, /* shl $32, %rdx */
    0x48, 0x09, 0xd0,       /* or %rdx, %rax */
    0x48, 0x29, 0xf0,       /* sub %rsi, %rax */
    0x48, 0x89, 0xc7,       /* mov %rax, %rdi */
    0x66, 0xba, 0xf4, 0x00, /* mov $0xf4, %dx */
    0xee,                   /* out %al, (%dx) */
    0xeb, 0xfe,             /* jmp . */
};

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* TSC ticks per second against CLOCK_MONOTONIC over ~100 ms. */
static uint64_t measure_tsc_hz(void)
{
    struct timespec d = {0, 100000000};
    uint64_t t0 = now_ns();
    uint64_t c0 = __rdtsc();
    nanosleep(&d, NULL);
    uint64_t c1 = __rdtsc();
    uint64_t t1 = now_ns();
    return (uint64_t)((double)(c1 - c0) * 1e9 / (double)(t1 - t0));
}

static void put_u64(uint8_t *mem, uint64_t addr, uint64_t val)
{
    memcpy(mem + addr, &val, sizeof(val));
}

static void build_memory(uint8_t *mem)
{
    put_u64(mem, PML4_ADDR, PDPT_ADDR | PTE_P | PTE_RW | PTE_US);
    put_u64(mem, PDPT_ADDR, PD_ADDR | PTE_P | PTE_RW | PTE_US);
    put_u64(mem, PD_ADDR, 0 | PTE_P | PTE_RW | PTE_US | PTE_PS);

    /* 64-bit TSS: I/O map base at +0x66; the bitmap (all zero: every port allowed) follows,
     * terminated by an all-ones byte (SDM vol. 1 18.5.2). */
    uint8_t *tss = mem + TSS_ADDR;
    uint16_t iomap = IOMAP_OFFSET;
    memcpy(tss + 0x66, &iomap, sizeof(iomap));
    tss[IOMAP_OFFSET + 8192] = 0xff;

    memcpy(mem + CODE_ADDR, guest_code, sizeof(guest_code));
}

static void set_seg(struct kvm_segment *s, uint16_t sel, uint8_t type, bool code)
{
    *s = (struct kvm_segment){
        .base = 0,
        .limit = 0xffffffff,
        .selector = sel,
        .type = type,
        .present = 1,
        .dpl = 3,
        .db = code ? 0 : 1,
        .s = 1,
        .l = code ? 1 : 0,
        .g = 1,
    };
}

static int die(const char *what)
{
    fprintf(stderr, "kvm-floor: %s: %s\n", what, strerror(errno));
    return 1;
}

int main(int argc, char **argv)
{
    uint64_t n = argc > 1 ? strtoull(argv[1], NULL, 0) : 100000;
    int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm < 0) {
        die("/dev/kvm");
        return 77; /* skip, for meson test */
    }
    int vm = ioctl(kvm, KVM_CREATE_VM, 0);
    if (vm < 0) {
        return die("KVM_CREATE_VM");
    }
    const char *chips = argc > 2 ? argv[2] : "";
    if (strncmp(chips, "irqchip", 7) == 0 && ioctl(vm, KVM_CREATE_IRQCHIP, 0) < 0) {
        return die("KVM_CREATE_IRQCHIP");
    }
    if (strcmp(chips, "irqchip+pit") == 0) {
        struct kvm_pit_config pit = {.flags = KVM_PIT_SPEAKER_DUMMY};
        if (ioctl(vm, KVM_CREATE_PIT2, &pit) < 0) {
            return die("KVM_CREATE_PIT2");
        }
    }
    uint8_t *mem = mmap(NULL, MEM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED) {
        return die("mmap");
    }
    build_memory(mem);
    struct kvm_userspace_memory_region region = {
        .slot = 0,
        .guest_phys_addr = 0,
        .memory_size = MEM_SIZE,
        .userspace_addr = (uintptr_t)mem,
    };
    if (ioctl(vm, KVM_SET_USER_MEMORY_REGION, &region) < 0) {
        return die("KVM_SET_USER_MEMORY_REGION");
    }
    int vcpu = ioctl(vm, KVM_CREATE_VCPU, 0);
    if (vcpu < 0) {
        return die("KVM_CREATE_VCPU");
    }
    int run_size = ioctl(kvm, KVM_GET_VCPU_MMAP_SIZE, 0);
    struct kvm_run *run = mmap(NULL, (size_t)run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu, 0);
    if (run == MAP_FAILED) {
        return die("mmap kvm_run");
    }

    struct kvm_sregs sregs;
    if (ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0) {
        return die("KVM_GET_SREGS");
    }
    set_seg(&sregs.cs, 0x2b, 0xb, true);  /* execute/read, accessed; RPL 3 */
    set_seg(&sregs.ss, 0x23, 0x3, false); /* read/write, accessed */
    sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss;
    sregs.tr = (struct kvm_segment){
        .base = TSS_ADDR,
        .limit = TSS_LIMIT,
        .selector = 0x30,
        .type = 0xb, /* busy 64-bit TSS */
        .present = 1,
    };
    sregs.cr0 = 0x80050033; /* PG WP NE ET MP PE */
    sregs.cr3 = PML4_ADDR;
    sregs.cr4 = 0x20;   /* PAE */
    sregs.efer = 0x500; /* LME LMA */
    if (ioctl(vcpu, KVM_SET_SREGS, &sregs) < 0) {
        return die("KVM_SET_SREGS");
    }
    struct kvm_regs regs = {
        .rip = CODE_ADDR,
        .rsp = STACK_TOP,
        .rcx = n,
        .rflags = 0x2,
    };
    if (ioctl(vcpu, KVM_SET_REGS, &regs) < 0) {
        return die("KVM_SET_REGS");
    }

    uint64_t exits = 0;
    uint64_t t0 = now_ns();
    for (;;) {
        if (ioctl(vcpu, KVM_RUN, 0) < 0) {
            if (errno == EINTR) {
                continue;
            }
            return die("KVM_RUN");
        }
        if (run->exit_reason != KVM_EXIT_IO) {
            fprintf(stderr, "kvm-floor: unexpected exit reason %u after %" PRIu64 " exits\n",
                    run->exit_reason, exits);
            return 1;
        }
        if (run->io.port != PORT_BENCH) {
            break;
        }
        exits++;
    }
    uint64_t wall = now_ns() - t0;
    if (run->io.port != PORT_DONE || exits != n) {
        fprintf(stderr, "kvm-floor: stopped at port %#x after %" PRIu64 " of %" PRIu64 " exits\n",
                run->io.port, exits, n);
        return 1;
    }
    if (ioctl(vcpu, KVM_GET_REGS, &regs) < 0 || ioctl(vcpu, KVM_GET_SREGS, &sregs) < 0) {
        return die("KVM_GET_REGS");
    }
    printf("exits: %" PRIu64 " cycles: %llu wall_ns: %" PRIu64 " tsc_hz: %" PRIu64 " cpl: %u\n",
           exits, (unsigned long long)regs.rdi, wall, measure_tsc_hz(), sregs.cs.dpl);
    return 0;
}
