// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * emulation: instructions the development host cannot run at CPL0 and hands to the VMM's
 * exact emulation (docs/emulation-failures.md) must give the architectural result: popcnt
 * (SDM vol. 2B), int3 (#BP is a trap: the handler sees the address after the int3, SDM vol. 3
 * 6.5), ldmxcsr/stmxcsr (vol. 2A, needs CR4.OSFXSR), and ldmxcsr with a reserved bit (#GP(0)).
 * Each runs once at CPL0, before the drop, and once at CPL3, where the host runs it natively.
 * mxcsr_gp=0 skips the reserved-bit check (for QEMU 7.2's TCG, which does not raise it).
 * Instructions are spelled as bytes so the guest's -mno-popcnt -mno-sse flags do not matter.
 */
#include "guest.h"

struct interrupt_frame {
    uint64_t ip, cs, flags, sp, ss;
};

struct results {
    uint64_t popcnt[3];
    uint64_t popcnt_flags[3];
    uint32_t mxcsr_reset, mxcsr_back, mxcsr_after_gp;
    uint32_t bp_count, gp_count;
    uint64_t bp_ip, bp_cs, gp_ip, gp_error;
};

static struct results cpl0, cpl3;
static struct results *volatile cur = &cpl0;
static bool has_popcnt;
extern char bp_after_cpl0[], bp_after_cpl3[], gp_at_cpl0[];

static const uint64_t popcnt_in[3] = {0xf0f0000000000001ull, 0, ~0ull};
static const uint64_t popcnt_want[3] = {9, 0, 64};

#define RFLAGS_CF 0x001
#define RFLAGS_PF 0x004
#define RFLAGS_AF 0x010
#define RFLAGS_ZF 0x040
#define RFLAGS_SF 0x080
#define RFLAGS_OF 0x800
#define RFLAGS_ARITH (RFLAGS_CF | RFLAGS_PF | RFLAGS_AF | RFLAGS_ZF | RFLAGS_SF | RFLAGS_OF)

/* #BP is a trap: record where it returns to. */
__attribute__((interrupt)) static void bp_handler(struct interrupt_frame *f)
{
    cur->bp_count++;
    cur->bp_ip = f->ip;
    cur->bp_cs = f->cs;
}

/* #GP from ldmxcsr with a reserved bit: a fault, so skip the 3-byte instruction. */
__attribute__((interrupt)) static void gp_handler(struct interrupt_frame *f, uint64_t error)
{
    cur->gp_count++;
    cur->gp_ip = f->ip;
    cur->gp_error = error;
    f->ip += 3;
}

static void set_gate(uint64_t idt_base, unsigned vec, void *handler, unsigned dpl)
{
    uint64_t a = (uint64_t)handler;
    uint32_t *g = (uint32_t *)(uintptr_t)(idt_base + 16 * vec);

    g[0] = (uint32_t)(0x08 << 16) | (uint16_t)a;
    g[1] = (uint32_t)(a & 0xffff0000u) | (0x8e00u | (dpl << 13));
    g[2] = (uint32_t)(a >> 32);
    g[3] = 0;
}

__attribute__((noinline, noclone)) static void run_all(struct results *r, bool at_cpl0)
{
    for (unsigned i = 0; i < 3 && has_popcnt; i++) {
        uint64_t out, flags;
        /* Flags set to all ones first, so the cleared ones show. popcnt rax, rcx: f3 48 0f b8 c1 */
        __asm__ volatile("pushq $0x8d5\n\tpopfq\n\t"
                         ".byte 0xf3, 0x48, 0x0f, 0xb8, 0xc1\n\t"
                         "pushfq\n\tpopq %1"
                         : "=a"(out), "=r"(flags)
                         : "c"(popcnt_in[i])
                         : "cc");
        r->popcnt[i] = out;
        r->popcnt_flags[i] = flags;
    }

    uint32_t m = 0, set = 0xffc0, bad = 0x10000 | 0x1f80;
    /* stmxcsr [rsi]: 0f ae 1e; ldmxcsr [rdi]: 0f ae 17 */
    __asm__ volatile(".byte 0x0f, 0xae, 0x1e" : : "S"(&m) : "memory");
    r->mxcsr_reset = m;
    __asm__ volatile(".byte 0x0f, 0xae, 0x17" : : "D"(&set) : "memory");
    __asm__ volatile(".byte 0x0f, 0xae, 0x1e" : : "S"(&m) : "memory");
    r->mxcsr_back = m;
    /*
     * Only at CPL0, where the VMM emulates it: at CPL3 the development host delivers #UD
     * rather than #GP(0) for this ldmxcsr (a host quirk, see docs/testing.md).
     */
    if (at_cpl0) {
        __asm__ volatile(".globl gp_at_cpl0\ngp_at_cpl0: .byte 0x0f, 0xae, 0x17"
                         :
                         : "D"(&bad)
                         : "memory");
    }
    __asm__ volatile(".byte 0x0f, 0xae, 0x1e" : : "S"(&m) : "memory");
    r->mxcsr_after_gp = m;
    /* Leave the reset value for the next run. */
    m = 0x1f80;
    __asm__ volatile(".byte 0x0f, 0xae, 0x17" : : "D"(&m) : "memory");

    if (at_cpl0) {
        __asm__ volatile("int3\n.globl bp_after_cpl0\nbp_after_cpl0:" ::: "memory");
    } else {
        __asm__ volatile("int3\n.globl bp_after_cpl3\nbp_after_cpl3:" ::: "memory");
    }
}

/* CPL0: enable SSE (CR0.EM=0, CR0.MP=1, CR0.TS=0, CR4.OSFXSR|OSXMMEXCPT), own #BP and #GP. */
void test_cpl0(void)
{
    struct __attribute__((packed)) {
        uint16_t limit;
        uint64_t base;
    } idtr;
    uint64_t cr0, cr4;

    __asm__ volatile("sidt %0" : "=m"(idtr));
    set_gate(idtr.base, 3, (void *)bp_handler, 3);
    set_gate(idtr.base, 13, (void *)gp_handler, 0);
    __asm__ volatile("mov %%cr0, %0" : "=r"(cr0));
    __asm__ volatile("mov %0, %%cr0" : : "r"((cr0 & ~0xcull) | 0x2));
    __asm__ volatile("mov %%cr4, %0" : "=r"(cr4));
    __asm__ volatile("mov %0, %%cr4" : : "r"(cr4 | 0x600));
    /* CPUID.1:ECX.POPCNT[bit 23]; QEMU's default TCG CPU (qemu64) lacks it. */
    uint32_t a = 1, b, c = 0, d;
    __asm__ volatile("cpuid" : "+a"(a), "=b"(b), "+c"(c), "=d"(d));
    has_popcnt = (c >> 23) & 1;
    run_all(&cpl0, true);
}

static void check(const char *where, const struct results *r, const char *bp_after,
                  const char *gp_at, unsigned cpl)
{
    for (unsigned i = 0; i < 3; i++) {
        uint64_t want_flags = popcnt_in[i] == 0 ? RFLAGS_ZF : 0;
        printf("%s: popcnt(%#lx) = %lu, flags %#lx\n", where, popcnt_in[i], r->popcnt[i],
               r->popcnt_flags[i] & RFLAGS_ARITH);
        CHECK(r->popcnt[i] == popcnt_want[i], "%s: popcnt(%#lx) = %lu, want %lu", where,
              popcnt_in[i], r->popcnt[i], popcnt_want[i]);
        CHECK((r->popcnt_flags[i] & RFLAGS_ARITH) == want_flags,
              "%s: popcnt(%#lx) left flags %#lx, want %#lx", where, popcnt_in[i],
              r->popcnt_flags[i] & RFLAGS_ARITH, want_flags);
    }
    printf("%s: mxcsr %#x, ldmxcsr 0xffc0 -> stmxcsr %#x\n", where, r->mxcsr_reset, r->mxcsr_back);
    CHECK(r->mxcsr_back == 0xffc0, "%s: ldmxcsr/stmxcsr gave %#x, want 0xffc0", where,
          r->mxcsr_back);
    if (gp_at != NULL && cmdline_u64("mxcsr_gp", 1) == 0) {
        printf("%s: NOTE: mxcsr_gp=0: reserved-bit #GP not checked (%u #GP, mxcsr then %#x)\n",
               where, r->gp_count, r->mxcsr_after_gp);
    } else if (gp_at != NULL) {
        printf("%s: ldmxcsr with bit 16 set: %u #GP at %#lx (error %#lx), mxcsr then %#x\n", where,
               r->gp_count, r->gp_ip, r->gp_error, r->mxcsr_after_gp);
        CHECK(r->gp_count == 1 && r->gp_ip == (uint64_t)gp_at && r->gp_error == 0,
              "%s: ldmxcsr with bit 16: %u #GP at %#lx error %#lx, want 1 at %p error 0", where,
              r->gp_count, r->gp_ip, r->gp_error, gp_at);
        CHECK(r->mxcsr_after_gp == 0xffc0, "%s: the faulting ldmxcsr changed MXCSR to %#x", where,
              r->mxcsr_after_gp);
    }
    printf("%s: int3: %u #BP, return address %#lx (after int3: %p), cs %#lx\n", where, r->bp_count,
           r->bp_ip, bp_after, r->bp_cs);
    CHECK(r->bp_count == 1, "%s: int3 gave %u #BP", where, r->bp_count);
    CHECK(r->bp_ip == (uint64_t)bp_after, "%s: #BP return address %#lx, want %p", where, r->bp_ip,
          bp_after);
    CHECK((r->bp_cs & 3) == cpl, "%s: #BP from cs %#lx, want CPL%u", where, r->bp_cs, cpl);
}

void test_main(void)
{
    if (!has_popcnt) {
        guest_skip("the CPU has no POPCNT (CPUID.1:ECX[23])");
    }
    check("CPL0", &cpl0, bp_after_cpl0, gp_at_cpl0, 0);
    CHECK(cpl0.mxcsr_reset == 0x1f80, "MXCSR after reset %#x, want 0x1f80", cpl0.mxcsr_reset);
    cur = &cpl3;
    run_all(&cpl3, false);
    check("CPL3", &cpl3, bp_after_cpl3, NULL, 3);
}
