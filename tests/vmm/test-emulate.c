// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The emulation-failure fallback without KVM: a fake vCPU state over a small fake linear
 * memory; each instruction's architectural effect (SDM vol. 2) and exceptions are checked.
 * Also the guest page walk of vmm/emulate_kvm.c over host-backed guest memory.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "vmm/emulate.h"
#include "vmm/emulate_kvm.h"

#define MEM_SIZE 0x10000
#define FL_CF 0x1ull
#define FL_PF 0x4ull
#define FL_AF 0x10ull
#define FL_ZF 0x40ull
#define FL_SF 0x80ull
#define FL_OF 0x800ull
#define FL_ARITH (FL_CF | FL_PF | FL_AF | FL_ZF | FL_SF | FL_OF)

struct fake {
    struct emu_cpu cpu;
    uint8_t mem[MEM_SIZE];
    unsigned reads, writes;
    char why[256];
};

static int fake_read(void *opaque, uint64_t gva, void *buf, size_t len)
{
    struct fake *f = opaque;
    if (gva >= MEM_SIZE || len > MEM_SIZE - gva) {
        return -EFAULT;
    }
    f->reads++;
    memcpy(buf, &f->mem[gva], len);
    return 0;
}

static int fake_write(void *opaque, uint64_t gva, const void *buf, size_t len)
{
    struct fake *f = opaque;
    if (gva >= MEM_SIZE || len > MEM_SIZE - gva) {
        return -EFAULT;
    }
    f->writes++;
    memcpy(&f->mem[gva], buf, len);
    return 0;
}

static void flat_seg(struct kvm_segment *s, uint8_t type, bool code64, bool db)
{
    memset(s, 0, sizeof(*s));
    s->type = type;
    s->present = 1;
    s->s = 1;
    s->limit = 0xffffffff;
    s->g = 1;
    s->l = code64;
    s->db = db;
}

/* 64-bit long mode at CPL 0 with SSE enabled, as a Linux kernel runs. */
static struct fake *fake_new64(void)
{
    struct fake *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->cpu.read_virt = fake_read;
    f->cpu.write_virt = fake_write;
    f->cpu.opaque = f;
    f->cpu.sregs.cr0 = 0x80050033;   /* PG WP NE ET MP PE */
    f->cpu.sregs.cr4 = 0x200 | 0x20; /* OSFXSR PAE */
    f->cpu.sregs.efer = 0x500;       /* LME LMA */
    flat_seg(&f->cpu.sregs.cs, 0xb, true, false);
    flat_seg(&f->cpu.sregs.ds, 0x3, false, true);
    f->cpu.sregs.es = f->cpu.sregs.ss = f->cpu.sregs.fs = f->cpu.sregs.gs = f->cpu.sregs.ds;
    f->cpu.regs.rip = 0x1000;
    f->cpu.regs.rflags = 0x2;
    f->cpu.fpu.mxcsr = 0x1f80;
    return f;
}

/* 32-bit protected mode, flat segments, no paging. */
static struct fake *fake_new32(void)
{
    struct fake *f = fake_new64();
    f->cpu.sregs.cr0 = 0x33;
    f->cpu.sregs.efer = 0;
    f->cpu.sregs.cr4 = 0x200;
    flat_seg(&f->cpu.sregs.cs, 0xb, false, true);
    return f;
}

static enum emu_result run(struct fake *f, const uint8_t *b, size_t n)
{
    return emulate_insn(&f->cpu, b, n, f->why, sizeof(f->why));
}

static void test_int3(void **state)
{
    struct fake *f = fake_new64();
    static const uint8_t b[] = {0xcc, 0x90, 0x90};
    assert_int_equal(run(f, b, sizeof(b)), EMU_INJECT);
    assert_true(f->cpu.inject);
    assert_int_equal(f->cpu.vector, 3);
    assert_false(f->cpu.has_error_code);
    assert_int_equal(f->cpu.regs.rip, 0x1001);
    assert_true(f->cpu.regs_dirty);
    free(f);
}

static void test_popcnt_reg_sizes(void **state)
{
    struct fake *f = fake_new64();
    static const uint8_t q[] = {0xf3, 0x48, 0x0f, 0xb8, 0xc3}; /* popcnt rax, rbx */
    f->cpu.regs.rax = 0x1234;
    f->cpu.regs.rbx = 0xf0f0f0f0f0f0f0f0ull;
    f->cpu.regs.rflags = 0x2 | FL_ARITH;
    assert_int_equal(run(f, q, sizeof(q)), EMU_DONE);
    assert_int_equal(f->cpu.regs.rax, 32);
    assert_int_equal(f->cpu.regs.rflags & FL_ARITH, 0);
    assert_int_equal(f->cpu.regs.rip, 0x1005);

    static const uint8_t d[] = {0xf3, 0x0f, 0xb8, 0xc3}; /* popcnt eax, ebx */
    f->cpu.regs.rax = 0xffffffffffffffffull;
    f->cpu.regs.rbx = 0xffffffff00000007ull; /* upper half must not count */
    assert_int_equal(run(f, d, sizeof(d)), EMU_DONE);
    assert_int_equal(f->cpu.regs.rax, 3); /* zero-extended */
    assert_int_equal(f->cpu.regs.rip, 0x1009);

    static const uint8_t w[] = {0x66, 0xf3, 0x0f, 0xb8, 0xc3}; /* popcnt ax, bx */
    f->cpu.regs.rax = 0xaaaaaaaaaaaaaaaaull;
    f->cpu.regs.rbx = 0xffff00ff;
    assert_int_equal(run(f, w, sizeof(w)), EMU_DONE);
    assert_int_equal(f->cpu.regs.rax, 0xaaaaaaaaaaaa0008ull); /* bits 16-63 kept */
    free(f);
}

static void test_popcnt_zero_sets_zf(void **state)
{
    struct fake *f = fake_new64();
    static const uint8_t q[] = {0xf3, 0x48, 0x0f, 0xb8, 0xc3};
    f->cpu.regs.rax = 99;
    f->cpu.regs.rbx = 0;
    f->cpu.regs.rflags = 0x2 | FL_CF | FL_SF | FL_OF;
    assert_int_equal(run(f, q, sizeof(q)), EMU_DONE);
    assert_int_equal(f->cpu.regs.rax, 0);
    assert_int_equal(f->cpu.regs.rflags & FL_ARITH, FL_ZF);
    free(f);
}

static void test_popcnt_mem_sib(void **state)
{
    struct fake *f = fake_new64();
    /* popcnt rax, [rbx + rcx*4 + 0x10] */
    static const uint8_t b[] = {0xf3, 0x48, 0x0f, 0xb8, 0x44, 0x8b, 0x10};
    f->cpu.regs.rbx = 0x2000;
    f->cpu.regs.rcx = 3;
    uint64_t v = 0x8000000000000301ull;
    memcpy(&f->mem[0x2000 + 12 + 0x10], &v, 8);
    assert_int_equal(run(f, b, sizeof(b)), EMU_DONE);
    assert_int_equal(f->cpu.regs.rax, 4);
    assert_int_equal(f->cpu.regs.rip, 0x1007);
    assert_int_equal(f->reads, 1);
    free(f);
}

static void test_popcnt_rip_relative(void **state)
{
    struct fake *f = fake_new64();
    /* popcnt eax, [rip + 0x100]: 8 bytes long, so the operand is at 0x1000 + 8 + 0x100 */
    static const uint8_t b[] = {0xf3, 0x0f, 0xb8, 0x05, 0x00, 0x01, 0x00, 0x00};
    uint32_t v = 0x7f;
    memcpy(&f->mem[0x1108], &v, 4);
    f->mem[0x1100] = 0xff; /* what a "disp from this instruction" bug would read */
    assert_int_equal(run(f, b, sizeof(b)), EMU_DONE);
    assert_int_equal(f->cpu.regs.rax, 7);
    free(f);
}

static void test_popcnt_rex_high_regs(void **state)
{
    struct fake *f = fake_new64();
    /* popcnt r9, [r12 + r13*8 + 0x20] */
    static const uint8_t b[] = {0xf3, 0x4f, 0x0f, 0xb8, 0x4c, 0xec, 0x20};
    f->cpu.regs.r12 = 0x3000;
    f->cpu.regs.r13 = 2;
    f->cpu.regs.r9 = 0xdead;
    uint64_t v = 0xffff;
    memcpy(&f->mem[0x3000 + 16 + 0x20], &v, 8);
    assert_int_equal(run(f, b, sizeof(b)), EMU_DONE);
    assert_int_equal(f->cpu.regs.r9, 16);
    assert_int_equal(f->cpu.regs.rax, 0);

    /* popcnt r15d, r8d */
    static const uint8_t r[] = {0xf3, 0x45, 0x0f, 0xb8, 0xf8};
    f->cpu.regs.r8 = 0x1ffffffffull;
    f->cpu.regs.r15 = ~0ull;
    assert_int_equal(run(f, r, sizeof(r)), EMU_DONE);
    assert_int_equal(f->cpu.regs.r15, 32);
    free(f);
}

static void test_popcnt_addr_size_and_fs(void **state)
{
    struct fake *f = fake_new64();
    /* addr32 popcnt rax, [ebx]: the upper half of rbx is not part of the address */
    static const uint8_t a32[] = {0x67, 0xf3, 0x48, 0x0f, 0xb8, 0x03};
    f->cpu.regs.rbx = 0xffffffff00004000ull;
    f->mem[0x4000] = 0x03;
    assert_int_equal(run(f, a32, sizeof(a32)), EMU_DONE);
    assert_int_equal(f->cpu.regs.rax, 2);

    /* popcnt rax, fs:[rbx]: FS base counts in 64-bit mode, DS base does not */
    static const uint8_t fs[] = {0x64, 0xf3, 0x48, 0x0f, 0xb8, 0x03};
    f->cpu.regs.rbx = 0x100;
    f->cpu.sregs.fs.base = 0x5000;
    f->cpu.sregs.ds.base = 0x9000;
    f->mem[0x5100] = 0x0f;
    assert_int_equal(run(f, fs, sizeof(fs)), EMU_DONE);
    assert_int_equal(f->cpu.regs.rax, 4);
    static const uint8_t ds[] = {0xf3, 0x48, 0x0f, 0xb8, 0x03};
    f->mem[0x100] = 0x01;
    assert_int_equal(run(f, ds, sizeof(ds)), EMU_DONE);
    assert_int_equal(f->cpu.regs.rax, 1);
    free(f);
}

static void test_popcnt_faults(void **state)
{
    struct fake *f = fake_new64();
    static const uint8_t b[] = {0xf3, 0x48, 0x0f, 0xb8, 0x03}; /* popcnt rax, [rbx] */
    /* Not mapped: refused, nothing changed. */
    f->cpu.regs.rbx = 0x100000;
    f->cpu.regs.rax = 5;
    assert_int_equal(run(f, b, sizeof(b)), EMU_UNHANDLED);
    assert_non_null(strstr(f->why, "not mapped"));
    assert_non_null(strstr(f->why, "0x100000"));
    assert_int_equal(f->cpu.regs.rax, 5);
    assert_int_equal(f->cpu.regs.rip, 0x1000);
    assert_false(f->cpu.regs_dirty);
    /* Non-canonical: #GP(0); through rbp: #SS(0). */
    f->cpu.regs.rbx = 0x0000800000000000ull;
    assert_int_equal(run(f, b, sizeof(b)), EMU_INJECT);
    assert_int_equal(f->cpu.vector, 13);
    assert_true(f->cpu.has_error_code);
    assert_int_equal(f->cpu.error_code, 0);
    assert_int_equal(f->cpu.regs.rip, 0x1000);
    static const uint8_t bp[] = {0xf3, 0x48, 0x0f, 0xb8, 0x45, 0x00}; /* [rbp + 0] */
    f->cpu.regs.rbp = 0x0000800000000000ull;
    assert_int_equal(run(f, bp, sizeof(bp)), EMU_INJECT);
    assert_int_equal(f->cpu.vector, 12);
    /* CPL 3 with CR0.AM and RFLAGS.AC: misaligned operand is #AC(0). */
    f->cpu.regs.rbx = 0x2001;
    f->cpu.sregs.ss.dpl = 3;
    f->cpu.sregs.cr0 |= 1u << 18;
    f->cpu.regs.rflags |= 1u << 18;
    assert_int_equal(run(f, b, sizeof(b)), EMU_INJECT);
    assert_int_equal(f->cpu.vector, 17);
    f->cpu.regs.rbx = 0x2008;
    assert_int_equal(run(f, b, sizeof(b)), EMU_DONE);
    free(f);
}

static void test_mxcsr_round_trip(void **state)
{
    struct fake *f = fake_new64();
    static const uint8_t ld[] = {0x0f, 0xae, 0x10}; /* ldmxcsr [rax] */
    static const uint8_t st[] = {0x0f, 0xae, 0x1b}; /* stmxcsr [rbx] */
    uint32_t v = 0x9fc0, out = 0;
    memcpy(&f->mem[0x2000], &v, 4);
    f->cpu.regs.rax = 0x2000;
    f->cpu.regs.rbx = 0x2100;
    assert_int_equal(run(f, ld, sizeof(ld)), EMU_DONE);
    assert_int_equal(f->cpu.fpu.mxcsr, 0x9fc0);
    assert_true(f->cpu.fpu_dirty);
    assert_int_equal(f->cpu.regs.rip, 0x1003);
    assert_int_equal(run(f, st, sizeof(st)), EMU_DONE);
    assert_false(f->cpu.fpu_dirty);
    memcpy(&out, &f->mem[0x2100], 4);
    assert_int_equal(out, 0x9fc0);
    assert_int_equal(f->writes, 1);
    assert_int_equal(f->cpu.regs.rip, 0x1006);
    free(f);
}

static void test_ldmxcsr_exceptions(void **state)
{
    struct fake *f = fake_new64();
    static const uint8_t ld[] = {0x0f, 0xae, 0x10};
    uint32_t v = 0x10000 | 0x1f80;
    memcpy(&f->mem[0x2000], &v, 4);
    f->cpu.regs.rax = 0x2000;
    assert_int_equal(run(f, ld, sizeof(ld)), EMU_INJECT);
    assert_int_equal(f->cpu.vector, 13);
    assert_true(f->cpu.has_error_code);
    assert_int_equal(f->cpu.fpu.mxcsr, 0x1f80);
    assert_int_equal(f->cpu.regs.rip, 0x1000);
    assert_false(f->cpu.fpu_dirty);

    v = 0x1f80;
    memcpy(&f->mem[0x2000], &v, 4);
    f->cpu.sregs.cr0 |= 8; /* TS */
    assert_int_equal(run(f, ld, sizeof(ld)), EMU_INJECT);
    assert_int_equal(f->cpu.vector, 7);
    assert_false(f->cpu.has_error_code);
    f->cpu.sregs.cr0 &= ~8ull;
    f->cpu.sregs.cr4 &= ~0x200ull; /* OSFXSR clear: #UD, even before #NM */
    f->cpu.sregs.cr0 |= 8;
    assert_int_equal(run(f, ld, sizeof(ld)), EMU_INJECT);
    assert_int_equal(f->cpu.vector, 6);
    free(f);
}

static void test_vldmxcsr(void **state)
{
    struct fake *f = fake_new64();
    static const uint8_t vld[] = {0xc5, 0xf8, 0xae, 0x10}; /* vldmxcsr [rax] */
    uint32_t v = 0x1fa0;
    memcpy(&f->mem[0x2000], &v, 4);
    f->cpu.regs.rax = 0x2000;
    assert_int_equal(run(f, vld, sizeof(vld)), EMU_INJECT); /* CR4.OSXSAVE clear */
    assert_int_equal(f->cpu.vector, 6);
    f->cpu.sregs.cr4 |= 1u << 18;
    f->cpu.xcr0 = 7;
    assert_int_equal(run(f, vld, sizeof(vld)), EMU_DONE);
    assert_int_equal(f->cpu.fpu.mxcsr, 0x1fa0);
    assert_int_equal(f->cpu.regs.rip, 0x1004);
    free(f);
}

static void test_popcnt_32bit_mode(void **state)
{
    struct fake *f = fake_new32();
    /* Same bytes as "popcnt eax, [rbx+4]"; in 32-bit mode there is no REX and DS base counts. */
    static const uint8_t b[] = {0xf3, 0x0f, 0xb8, 0x43, 0x04};
    f->cpu.sregs.ds.base = 0x1000;
    f->cpu.regs.rbx = 0x100;
    f->cpu.regs.rip = 0x500;
    uint32_t v = 0x11111111;
    memcpy(&f->mem[0x1104], &v, 4);
    assert_int_equal(run(f, b, sizeof(b)), EMU_DONE);
    assert_int_equal(f->cpu.regs.rax, 8);
    assert_int_equal(f->cpu.regs.rip, 0x505);
    /* 0x48 is "dec eax" in 32-bit mode, not REX.W: nothing we emulate. */
    static const uint8_t rex[] = {0x48, 0x0f, 0xc7, 0x08};
    assert_int_equal(run(f, rex, sizeof(rex)), EMU_UNHANDLED);
    assert_non_null(strstr(f->why, "dec"));
    /* Segment limit: an operand past DS.limit is #GP(0). */
    f->cpu.sregs.ds.limit = 0x106; /* the operand is 0x104..0x107: its last byte is out */
    f->cpu.sregs.ds.g = 0;
    assert_int_equal(run(f, b, sizeof(b)), EMU_INJECT);
    assert_int_equal(f->cpu.vector, 13);
    /*
     * 16-bit code segment: the same opcode is popcnt ax, bx. Capstone 4 cannot decode popcnt
     * in 16-bit mode, so it must then be refused, never guessed.
     */
    static const uint8_t w[] = {0xf3, 0x0f, 0xb8, 0xc3};
    f->cpu.sregs.cs.db = 0;
    f->cpu.regs.rax = 0x12340000;
    f->cpu.regs.rbx = 0xffff0003;
    assert_int_equal(emulate_code_bits(&f->cpu), 16);
    enum emu_result r = run(f, w, sizeof(w));
    if (r == EMU_DONE) {
        assert_int_equal(f->cpu.regs.rax, 0x12340002);
    } else {
        assert_int_equal(r, EMU_UNHANDLED);
        assert_non_null(strstr(f->why, "cannot decode"));
        assert_int_equal(f->cpu.regs.rax, 0x12340000);
    }
    free(f);
}

static void test_real_mode_16bit_addressing(void **state)
{
    struct fake *f = fake_new64();
    memset(&f->cpu.sregs, 0, sizeof(f->cpu.sregs));
    struct kvm_segment rm = {.limit = 0xffff, .type = 3, .present = 1, .s = 1};
    f->cpu.sregs.cs = f->cpu.sregs.ds = f->cpu.sregs.es = f->cpu.sregs.ss = rm;
    f->cpu.sregs.ds.base = 0x1000;
    f->cpu.sregs.ss.base = 0x3000;
    f->cpu.sregs.cr4 = 0x200;
    f->cpu.regs.rip = 0xfffd;
    /* ldmxcsr [bx+si+4]: DS-based, 16-bit address arithmetic. */
    static const uint8_t ld[] = {0x0f, 0xae, 0x50, 0x04};
    f->cpu.regs.rbx = 0xabcd0010;
    f->cpu.regs.rsi = 0x20;
    uint32_t v = 0x1f00;
    memcpy(&f->mem[0x1000 + 0x34], &v, 4);
    assert_int_equal(emulate_code_bits(&f->cpu), 16);
    assert_int_equal(run(f, ld, sizeof(ld)), EMU_DONE);
    assert_int_equal(f->cpu.fpu.mxcsr, 0x1f00);
    assert_int_equal(f->cpu.regs.rip, 0x0001); /* IP wraps at 64 KiB */
    /* stmxcsr [bx+di] is DS-based, [bp+disp] SS-based; past the 64 KiB limit is #SS(0). */
    static const uint8_t st[] = {0x0f, 0xae, 0x19};
    static const uint8_t st_bp[] = {0x0f, 0xae, 0x5e, 0x10}; /* stmxcsr [bp+0x10] */
    f->cpu.regs.rbx = 0x40;
    f->cpu.regs.rdi = 0;
    assert_int_equal(run(f, st, sizeof(st)), EMU_DONE);
    assert_int_equal(f->mem[0x1040], 0x00);
    assert_int_equal(f->mem[0x1041], 0x1f);
    f->cpu.regs.rbp = 0x20;
    assert_int_equal(run(f, st_bp, sizeof(st_bp)), EMU_DONE);
    assert_int_equal(f->mem[0x3031], 0x1f);
    f->cpu.regs.rbp = 0xfff0; /* the 16-bit offset wraps to 0 */
    assert_int_equal(run(f, st_bp, sizeof(st_bp)), EMU_DONE);
    assert_int_equal(f->mem[0x3001], 0x1f);
    f->cpu.regs.rbp = 0xffee; /* offset 0xfffe: the dword's end is past the limit */
    assert_int_equal(run(f, st_bp, sizeof(st_bp)), EMU_INJECT);
    assert_int_equal(f->cpu.vector, 12);
    free(f);
}

static void test_prefixes(void **state)
{
    struct fake *f = fake_new64();
    static const uint8_t lock_popcnt[] = {0xf0, 0xf3, 0x48, 0x0f, 0xb8, 0xc3};
    static const uint8_t lock_int3[] = {0xf0, 0xcc};
    static const uint8_t f2f3[] = {0xf2, 0xf3, 0x48, 0x0f, 0xb8, 0xc3};
    f->cpu.regs.rbx = 1;
    f->cpu.regs.rax = 7;
    assert_int_equal(run(f, lock_popcnt, sizeof(lock_popcnt)), EMU_INJECT);
    assert_int_equal(f->cpu.vector, 6);
    assert_int_equal(f->cpu.regs.rax, 7);
    enum emu_result r = run(f, lock_int3, sizeof(lock_int3));
    assert_true(r == EMU_UNHANDLED || (r == EMU_INJECT && f->cpu.vector == 6));
    assert_int_equal(f->cpu.regs.rip, 0x1000);
    assert_int_equal(run(f, f2f3, sizeof(f2f3)), EMU_UNHANDLED);
    assert_int_equal(f->cpu.regs.rax, 7);
    free(f);
}

static void test_fwait(void **state)
{
    struct fake *f = fake_new64();
    static const uint8_t b[] = {0x9b};
    assert_int_equal(run(f, b, sizeof(b)), EMU_DONE);
    assert_int_equal(f->cpu.regs.rip, 0x1001);
    f->cpu.fpu.fsw = 0x80 | 0x01; /* ES with IE */
    assert_int_equal(run(f, b, sizeof(b)), EMU_INJECT);
    assert_int_equal(f->cpu.vector, 16);
    assert_int_equal(f->cpu.regs.rip, 0x1001); /* #MF is a fault on the fwait */
    f->cpu.sregs.cr0 &= ~0x20ull;              /* NE clear: FERR# reporting, refused */
    assert_int_equal(run(f, b, sizeof(b)), EMU_UNHANDLED);
    assert_non_null(strstr(f->why, "NE"));
    f->cpu.sregs.cr0 |= 0x8 | 0x2; /* TS and MP: #NM first */
    assert_int_equal(run(f, b, sizeof(b)), EMU_INJECT);
    assert_int_equal(f->cpu.vector, 7);
    free(f);
}

/* OVMF's SEC: fninit; fldcw [m16]; also fnstcw, fnstsw ax/m16, fnclex (SDM vol. 2). */
static void test_x87_control(void **state)
{
    struct fake *f = fake_new32();
    static const uint8_t fninit[] = {0xdb, 0xe3};
    static const uint8_t fldcw[] = {0xd9, 0x2d, 0x00, 0x20, 0x00, 0x00}; /* fldcw [0x2000] */
    static const uint8_t fnstcw[] = {0xd9, 0x3d, 0x10, 0x20, 0x00, 0x00};
    static const uint8_t fnstsw_ax[] = {0xdf, 0xe0};
    static const uint8_t fnstsw_m[] = {0xdd, 0x3d, 0x20, 0x20, 0x00, 0x00};
    static const uint8_t fnclex[] = {0xdb, 0xe2};
    f->cpu.fpu.fcw = 0x1234;
    f->cpu.fpu.fsw = 0x3801;
    f->cpu.fpu.ftwx = 0xff;
    f->cpu.fpu.last_opcode = 0x55;
    assert_int_equal(run(f, fninit, sizeof(fninit)), EMU_DONE);
    assert_int_equal(f->cpu.regs.rip, 0x1002);
    assert_int_equal(f->cpu.fpu.fcw, 0x37f);
    assert_int_equal(f->cpu.fpu.fsw, 0);
    assert_int_equal(f->cpu.fpu.ftwx, 0);
    assert_int_equal(f->cpu.fpu.last_opcode, 0);
    assert_true(f->cpu.fpu_dirty);

    /* fldcw: the value from memory; no pending exception, so ES and B stay clear. */
    f->mem[0x2000] = 0x7f;
    f->mem[0x2001] = 0x02;
    f->cpu.regs.rip = 0x1000;
    assert_int_equal(run(f, fldcw, sizeof(fldcw)), EMU_DONE);
    assert_int_equal(f->cpu.regs.rip, 0x1006);
    assert_int_equal(f->cpu.fpu.fcw, 0x027f);
    assert_int_equal(f->cpu.fpu.fsw, 0);
    /* A pending ZE flag that the new word unmasks sets ES and B; masking it clears them. */
    f->cpu.fpu.fsw = 0x04;
    f->mem[0x2000] = 0x7b; /* ZM clear */
    f->cpu.regs.rip = 0x1000;
    assert_int_equal(run(f, fldcw, sizeof(fldcw)), EMU_DONE);
    assert_int_equal(f->cpu.fpu.fsw, 0x8084);
    f->mem[0x2000] = 0x7f;
    f->cpu.regs.rip = 0x1000;
    assert_int_equal(run(f, fldcw, sizeof(fldcw)), EMU_DONE);
    assert_int_equal(f->cpu.fpu.fsw, 0x0004);

    /* Stores. */
    f->cpu.fpu.fsw = 0x3884;
    f->cpu.regs.rax = 0xdeadbeef;
    f->cpu.regs.rip = 0x1000;
    assert_int_equal(run(f, fnstcw, sizeof(fnstcw)), EMU_DONE);
    assert_int_equal(f->mem[0x2010] | f->mem[0x2011] << 8, 0x027f);
    f->cpu.regs.rip = 0x1000;
    assert_int_equal(run(f, fnstsw_ax, sizeof(fnstsw_ax)), EMU_DONE);
    assert_int_equal(f->cpu.regs.rax, 0xdead3884);
    f->cpu.regs.rip = 0x1000;
    assert_int_equal(run(f, fnstsw_m, sizeof(fnstsw_m)), EMU_DONE);
    assert_int_equal(f->mem[0x2020] | f->mem[0x2021] << 8, 0x3884);
    /* fnclex clears the exception flags, SF, ES and B; TOP and C bits stay. */
    f->cpu.fpu.fsw = 0xb8ff;
    f->cpu.regs.rip = 0x1000;
    assert_int_equal(run(f, fnclex, sizeof(fnclex)), EMU_DONE);
    assert_int_equal(f->cpu.fpu.fsw, 0x3800);

    /* CR0.TS or CR0.EM: #NM, nothing changed. */
    f->cpu.sregs.cr0 |= 0x8;
    f->cpu.fpu_dirty = false;
    f->cpu.regs.rip = 0x1000;
    assert_int_equal(run(f, fninit, sizeof(fninit)), EMU_INJECT);
    assert_int_equal(f->cpu.vector, 7);
    assert_int_equal(f->cpu.fpu.fsw, 0x3800);
    assert_int_equal(f->cpu.regs.rip, 0x1000);
    f->cpu.sregs.cr0 &= ~0x8ull;
    f->cpu.sregs.cr0 |= 0x4;
    assert_int_equal(run(f, fldcw, sizeof(fldcw)), EMU_INJECT);
    assert_int_equal(f->cpu.vector, 7);
    assert_int_equal(f->cpu.fpu.fcw, 0x027f);
    /* LOCK: #UD. */
    f->cpu.sregs.cr0 &= ~0x4ull;
    static const uint8_t lock_fninit[] = {0xf0, 0xdb, 0xe3};
    enum emu_result r = run(f, lock_fninit, sizeof(lock_fninit));
    assert_true(r == EMU_UNHANDLED || (r == EMU_INJECT && f->cpu.vector == 6));
    assert_int_equal(f->cpu.fpu.fsw, 0x3800);
    /* fldcw from an unmapped address is refused, state untouched. */
    static const uint8_t fldcw_far[] = {0xd9, 0x2d, 0x00, 0x00, 0x00, 0xf0};
    assert_int_equal(run(f, fldcw_far, sizeof(fldcw_far)), EMU_UNHANDLED);
    assert_int_equal(f->cpu.fpu.fcw, 0x027f);
    free(f);
}

/* fild/fld push exact 80-bit values; fst/fstp store them when exact (SDM vol. 2). */
static void test_x87_moves(void **state)
{
    struct fake *f = fake_new64();
    f->cpu.fpu.fcw = 0x37f;
    f->cpu.fpu.fsw = 0;
    f->cpu.fpu.ftwx = 0;
    static const uint8_t fild32[] = {0xdb, 0x04, 0x25, 0x00, 0x20, 0x00, 0x00}; /* [0x2000] */
    static const uint8_t fstp64[] = {0xdd, 0x1c, 0x25, 0x10, 0x20, 0x00, 0x00};
    static const uint8_t fld64[] = {0xdd, 0x04, 0x25, 0x10, 0x20, 0x00, 0x00};
    static const uint8_t fst32[] = {0xd9, 0x14, 0x25, 0x20, 0x20, 0x00, 0x00};
    int32_t n = -3;
    memcpy(&f->mem[0x2000], &n, 4);
    assert_int_equal(run(f, fild32, sizeof(fild32)), EMU_DONE);
    assert_int_equal((f->cpu.fpu.fsw >> 11) & 7, 7); /* TOP moved down */
    assert_int_equal(f->cpu.fpu.ftwx, 0x80);
    uint64_t sig;
    uint16_t se;
    memcpy(&sig, f->cpu.fpu.fpr[0], 8);
    memcpy(&se, f->cpu.fpu.fpr[0] + 8, 2);
    assert_int_equal(sig, 0xc000000000000000ull); /* 3 = 1.1b x 2^1 */
    assert_int_equal(se, 0x8000 | (16383 + 1));
    assert_int_equal(f->cpu.fpu.last_opcode, 0x304); /* (DB & 7) << 8 | modrm */
    assert_true(f->cpu.fpu_dirty);
    f->cpu.regs.rip = 0x1000;
    assert_int_equal(run(f, fstp64, sizeof(fstp64)), EMU_DONE);
    double d;
    memcpy(&d, &f->mem[0x2010], 8);
    assert_true(d == -3.0);
    assert_int_equal((f->cpu.fpu.fsw >> 11) & 7, 0); /* popped */
    assert_int_equal(f->cpu.fpu.ftwx, 0);
    /* fld m64 then fst m32: 0.375 is exact in both. */
    d = 0.375;
    memcpy(&f->mem[0x2010], &d, 8);
    f->cpu.regs.rip = 0x1000;
    assert_int_equal(run(f, fld64, sizeof(fld64)), EMU_DONE);
    f->cpu.regs.rip = 0x1000;
    assert_int_equal(run(f, fst32, sizeof(fst32)), EMU_DONE);
    float fl;
    memcpy(&fl, &f->mem[0x2020], 4);
    assert_true(fl == 0.375f);
    assert_int_equal(f->cpu.fpu.ftwx, 0x80); /* fst does not pop */
    /* 0.1 does not fit a binary32: the store would round, refused, memory untouched. */
    d = 0.1;
    memcpy(&f->mem[0x2010], &d, 8);
    f->cpu.regs.rip = 0x1000;
    assert_int_equal(run(f, fld64, sizeof(fld64)), EMU_DONE);
    memset(&f->mem[0x2020], 0xaa, 4);
    f->cpu.regs.rip = 0x1000;
    assert_int_equal(run(f, fst32, sizeof(fst32)), EMU_UNHANDLED);
    assert_int_equal(f->mem[0x2020], 0xaa);
    assert_int_equal(f->cpu.fpu.ftwx, 0xc0);
    /* Infinity and denormals are refused on load. */
    uint64_t inf = 0x7ff0000000000000ull;
    memcpy(&f->mem[0x2010], &inf, 8);
    assert_int_equal(run(f, fld64, sizeof(fld64)), EMU_UNHANDLED);
    /* Stack underflow (empty ST0) and overflow (ST7 in use) are refused. */
    f->cpu.fpu.ftwx = 0;
    assert_int_equal(run(f, fstp64, sizeof(fstp64)), EMU_UNHANDLED);
    f->cpu.fpu.ftwx = 0xff;
    assert_int_equal(run(f, fild32, sizeof(fild32)), EMU_UNHANDLED);
    /* A pending unmasked exception is #MF before anything; CR0.TS is #NM. */
    f->cpu.fpu.ftwx = 0;
    f->cpu.fpu.fsw = 0x8081;
    assert_int_equal(run(f, fild32, sizeof(fild32)), EMU_INJECT);
    assert_int_equal(f->cpu.vector, 16);
    f->cpu.fpu.fsw = 0;
    f->cpu.sregs.cr0 |= 0x8;
    assert_int_equal(run(f, fild32, sizeof(fild32)), EMU_INJECT);
    assert_int_equal(f->cpu.vector, 7);
    assert_int_equal(f->cpu.regs.rip, 0x1000);
    free(f);
}

/* fldz, fld1, fchs, fabs, fxch and the fcomi family: exact, register-only. */
static void test_x87_regs(void **state)
{
    struct fake *f = fake_new64();
    f->cpu.fpu.fcw = 0x37f;
    f->cpu.fpu.fsw = 0;
    f->cpu.fpu.ftwx = 0;
    static const uint8_t fldz[] = {0xd9, 0xee};
    static const uint8_t fld1[] = {0xd9, 0xe8};
    static const uint8_t fchs[] = {0xd9, 0xe0};
    static const uint8_t fabs_[] = {0xd9, 0xe1};
    static const uint8_t fxch1[] = {0xd9, 0xc9};
    static const uint8_t fcomip1[] = {0xdf, 0xf1}; /* fcomip st(0), st(1) */
    static const uint8_t fucomi1[] = {0xdb, 0xe9}; /* fucomi st(0), st(1) */
    assert_int_equal(run(f, fldz, sizeof(fldz)), EMU_DONE);
    f->cpu.regs.rip = 0x1000;
    assert_int_equal(run(f, fld1, sizeof(fld1)), EMU_DONE); /* ST0 = 1, ST1 = 0 */
    uint16_t se;
    memcpy(&se, f->cpu.fpu.fpr[0] + 8, 2);
    assert_int_equal(se, 16383);
    assert_int_equal(f->cpu.fpu.ftwx, 0xc0);
    /* 1 > 0: ZF PF CF clear; fucomi keeps both. */
    f->cpu.regs.rflags = 0x2 | FL_ARITH;
    f->cpu.regs.rip = 0x1000;
    assert_int_equal(run(f, fucomi1, sizeof(fucomi1)), EMU_DONE);
    assert_int_equal(f->cpu.regs.rflags & FL_ARITH, 0);
    assert_int_equal(f->cpu.fpu.ftwx, 0xc0);
    /* fchs: -1 < 0 sets CF. */
    f->cpu.regs.rip = 0x1000;
    assert_int_equal(run(f, fchs, sizeof(fchs)), EMU_DONE);
    f->cpu.regs.rip = 0x1000;
    assert_int_equal(run(f, fucomi1, sizeof(fucomi1)), EMU_DONE);
    assert_int_equal(f->cpu.regs.rflags & FL_ARITH, 0x1);
    /* fxch: ST0 = 0, ST1 = -1; fabs of ST0 = 0 stays 0; 0 > -1. */
    f->cpu.regs.rip = 0x1000;
    assert_int_equal(run(f, fxch1, sizeof(fxch1)), EMU_DONE);
    f->cpu.regs.rip = 0x1000;
    assert_int_equal(run(f, fabs_, sizeof(fabs_)), EMU_DONE);
    f->cpu.regs.rip = 0x1000;
    assert_int_equal(run(f, fucomi1, sizeof(fucomi1)), EMU_DONE);
    assert_int_equal(f->cpu.regs.rflags & FL_ARITH, 0);
    /* fcomip pops: one register left, -1; comparing it with the empty ST1 is refused. */
    f->cpu.regs.rip = 0x1000;
    assert_int_equal(run(f, fcomip1, sizeof(fcomip1)), EMU_DONE);
    assert_int_equal(f->cpu.fpu.ftwx, 0x80);
    assert_int_equal((f->cpu.fpu.fsw >> 11) & 7, 7);
    f->cpu.regs.rip = 0x1000;
    assert_int_equal(run(f, fcomip1, sizeof(fcomip1)), EMU_UNHANDLED);
    /* fldz with -0 and +0 compare equal (ZF). */
    f->cpu.regs.rip = 0x1000;
    assert_int_equal(run(f, fldz, sizeof(fldz)), EMU_DONE);
    f->cpu.regs.rip = 0x1000;
    assert_int_equal(run(f, fchs, sizeof(fchs)), EMU_DONE);
    f->cpu.regs.rip = 0x1000;
    assert_int_equal(run(f, fldz, sizeof(fldz)), EMU_DONE);
    f->cpu.regs.rip = 0x1000;
    assert_int_equal(run(f, fucomi1, sizeof(fucomi1)), EMU_DONE);
    assert_int_equal(f->cpu.regs.rflags & FL_ARITH, 0x40);
    /* A NaN in ST1: unordered, refused with the flags untouched. */
    uint64_t nan_sig = 0xc000000000000000ull;
    uint16_t nan_se = 0x7fff;
    memcpy(f->cpu.fpu.fpr[1], &nan_sig, 8);
    memcpy(f->cpu.fpu.fpr[1] + 8, &nan_se, 2);
    f->cpu.regs.rip = 0x1000;
    assert_int_equal(run(f, fucomi1, sizeof(fucomi1)), EMU_UNHANDLED);
    assert_int_equal(f->cpu.regs.rflags & FL_ARITH, 0x40);
    free(f);
}

/* fcmovcc, fmul/fadd (the host's x87 under the guest's FCW) and fist/fistp. */
static void test_x87_arith(void **state)
{
    struct fake *f = fake_new64();
    f->cpu.fpu.fcw = 0x37f;
    f->cpu.fpu.fsw = 0;
    f->cpu.fpu.ftwx = 0;
    static const uint8_t fld64[] = {0xdd, 0x04, 0x25, 0x00, 0x20, 0x00, 0x00};  /* [0x2000] */
    static const uint8_t fmul32[] = {0xd8, 0x0c, 0x25, 0x10, 0x20, 0x00, 0x00}; /* [0x2010] */
    static const uint8_t faddp1[] = {0xde, 0xc1};                               /* st(1) += st */
    static const uint8_t fcmovnbe1[] = {0xdb, 0xd1};
    static const uint8_t fistp64[] = {0xdf, 0x3c, 0x25, 0x20, 0x20, 0x00, 0x00}; /* [0x2020] */
    static const uint8_t fistp16[] = {0xdf, 0x1c, 0x25, 0x30, 0x20, 0x00, 0x00}; /* [0x2030] */
    double d = 2.5;
    float m = 8.0f;
    memcpy(&f->mem[0x2000], &d, 8);
    memcpy(&f->mem[0x2010], &m, 4);
#define STEP(b)                                                                                    \
    do {                                                                                           \
        f->cpu.regs.rip = 0x1000;                                                                  \
        assert_int_equal(run(f, b, sizeof(b)), EMU_DONE);                                          \
    } while (0)
    STEP(fld64);  /* [2.5] */
    STEP(fmul32); /* [20] */
    STEP(fld64);  /* [2.5, 20] */
    STEP(faddp1); /* [22.5] */
    assert_int_equal(f->cpu.fpu.ftwx, 0x80);
    assert_int_equal(f->cpu.fpu.fsw & 0x3f, 0); /* exact: no flag */
    STEP(fld64);                                /* [2.5, 22.5] */
    /* fcmovnbe: CF = ZF = 0 moves ST(1) into ST(0); CF set does not. */
    f->cpu.regs.rflags = 0x2 | 0x1;
    STEP(fcmovnbe1);
    uint16_t se;
    memcpy(&se, f->cpu.fpu.fpr[0] + 8, 2);
    assert_int_equal(se, 16383 + 1); /* still 2.5 */
    f->cpu.regs.rflags = 0x2;
    STEP(fcmovnbe1);
    memcpy(&se, f->cpu.fpu.fpr[0] + 8, 2);
    assert_int_equal(se, 16383 + 4); /* 22.5 */
    /* fistp rounds to nearest even by default: 22.5 -> 22, inexact (PE, masked) */
    STEP(fistp64);
    int64_t i64;
    memcpy(&i64, &f->mem[0x2020], 8);
    assert_int_equal(i64, 22);
    assert_int_equal(f->cpu.fpu.fsw & 0x3f, 0x20);
    /* The other 22.5 with RC = up: 23. */
    f->cpu.fpu.fcw = 0x37f | 0x800; /* RC = 10b, up */
    STEP(fistp16);
    int16_t i16;
    memcpy(&i16, &f->mem[0x2030], 2);
    assert_int_equal(i16, 23);
    assert_int_equal(f->cpu.fpu.ftwx, 0);
    /* Precision exception unmasked: refused, nothing stored. */
    f->cpu.fpu.fcw = 0x35f; /* PM clear */
    f->cpu.fpu.fsw = 0;
    STEP(fld64);
    f->mem[0x2030] = 0xaa;
    f->cpu.regs.rip = 0x1000;
    assert_int_equal(run(f, fistp16, sizeof(fistp16)), EMU_UNHANDLED);
    assert_int_equal(f->mem[0x2030], 0xaa);
    assert_int_equal(f->cpu.fpu.ftwx, 0x80);
#undef STEP
    free(f);
}

#define FL_RF 0x10000ull
#define FL_AC 0x40000ull

static void test_clac_stac(void **state)
{
    struct fake *f = fake_new64();
    static const uint8_t stac[] = {0x0f, 0x01, 0xcb, 0x90};
    static const uint8_t clac[] = {0x0f, 0x01, 0xca};
    f->cpu.regs.rflags = 0x2 | FL_CF | FL_RF;
    assert_int_equal(run(f, stac, sizeof(stac)), EMU_DONE);
    assert_false(f->cpu.inject);
    assert_true(f->cpu.regs_dirty);
    assert_int_equal(f->cpu.regs.rip, 0x1003);
    /* AC set, RF cleared as the instruction completes, every other flag kept. */
    assert_int_equal(f->cpu.regs.rflags, 0x2 | FL_CF | FL_AC);
    assert_int_equal(f->reads + f->writes, 0);
    assert_int_equal(run(f, stac, sizeof(stac)), EMU_DONE); /* idempotent */
    assert_int_equal(f->cpu.regs.rflags, 0x2 | FL_CF | FL_AC);
    assert_int_equal(run(f, clac, sizeof(clac)), EMU_DONE);
    assert_int_equal(f->cpu.regs.rip, 0x1009);
    assert_int_equal(f->cpu.regs.rflags, 0x2 | FL_CF);
    assert_int_equal(run(f, clac, 2), EMU_UNHANDLED); /* truncated */
    assert_int_equal(f->cpu.regs.rip, 0x1009);
    free(f);

    /* 32-bit protected mode at CPL 0: EIP wraps at 4 GiB. */
    f = fake_new32();
    f->cpu.regs.rip = 0xfffffffe;
    assert_int_equal(run(f, stac, sizeof(stac)), EMU_DONE);
    assert_int_equal(f->cpu.regs.rip, 0x1);
    assert_true(f->cpu.regs.rflags & FL_AC);
    free(f);
}

static void test_clac_stac_exceptions(void **state)
{
    static const uint8_t stac[] = {0x0f, 0x01, 0xcb};
    static const uint8_t lock_clac[] = {0xf0, 0x0f, 0x01, 0xca};
    static const uint8_t f3_clac[] = {0xf3, 0x0f, 0x01, 0xca}; /* ERETU on FRED CPUs */
    static const uint8_t f2_clac[] = {0xf2, 0x0f, 0x01, 0xca}; /* ERETS on FRED CPUs */
    static const uint8_t o16_clac[] = {0x66, 0x0f, 0x01, 0xca};

    /* CPL 3: #UD, a fault, so RIP and RFLAGS stay as they were. */
    struct fake *f = fake_new64();
    f->cpu.sregs.ss.dpl = 3;
    f->cpu.sregs.cs.dpl = 3;
    assert_int_equal(run(f, stac, sizeof(stac)), EMU_INJECT);
    assert_int_equal(f->cpu.vector, 6);
    assert_false(f->cpu.has_error_code);
    assert_int_equal(f->cpu.regs.rip, 0x1000);
    assert_int_equal(f->cpu.regs.rflags, 0x2);
    assert_false(f->cpu.regs_dirty);
    f->cpu.sregs.ss.dpl = 1; /* any CPL above 0 */
    assert_int_equal(run(f, stac, sizeof(stac)), EMU_INJECT);
    assert_int_equal(f->cpu.vector, 6);
    free(f);

    f = fake_new64();
    f->cpu.regs.rflags = 0x2 | FL_AC;
    /* LOCK is #UD; capstone 4 does not decode it at all, which is refused: either way no change. */
    enum emu_result r = run(f, lock_clac, sizeof(lock_clac));
    assert_true(r == EMU_UNHANDLED || (r == EMU_INJECT && f->cpu.vector == 6));
    assert_int_equal(f->cpu.regs.rflags, 0x2 | FL_AC);
    assert_int_equal(run(f, f3_clac, sizeof(f3_clac)), EMU_UNHANDLED);
    assert_int_equal(run(f, f2_clac, sizeof(f2_clac)), EMU_UNHANDLED);
    assert_int_equal(run(f, o16_clac, sizeof(o16_clac)), EMU_UNHANDLED);
    assert_non_null(strstr(f->why, "prefix"));
    assert_int_equal(f->cpu.regs.rflags, 0x2 | FL_AC);
    assert_int_equal(f->cpu.regs.rip, 0x1000);
    free(f);

    /* Real-address mode: CLAC/STAC are not recognised there (#UD). */
    f = fake_new32();
    f->cpu.sregs.cr0 = 0x10;
    f->cpu.sregs.cs.db = 0;
    f->cpu.regs.rip = 0x100;
    assert_int_equal(run(f, stac, sizeof(stac)), EMU_INJECT);
    assert_int_equal(f->cpu.vector, 6);
    assert_int_equal(f->cpu.regs.rip, 0x100);
    assert_false(f->cpu.regs.rflags & FL_AC);
    free(f);
}

static void test_unknown_and_truncated(void **state)
{
    struct fake *f = fake_new64();
    static const uint8_t cx[] = {0x48, 0x0f, 0xc7, 0x08}; /* cmpxchg16b [rax] */
    assert_int_equal(run(f, cx, sizeof(cx)), EMU_UNHANDLED);
    assert_non_null(strstr(f->why, "no emulation for 'cmpxchg16b"));
    assert_int_equal(f->cpu.regs.rip, 0x1000);
    assert_false(f->cpu.regs_dirty);
    static const uint8_t b[] = {0xf3, 0x48, 0x0f, 0xb8, 0x44, 0x8b, 0x10};
    assert_int_equal(run(f, b, 5), EMU_UNHANDLED);
    assert_non_null(strstr(f->why, "truncated"));
    assert_int_equal(run(f, b, 0), EMU_UNHANDLED);
    f->cpu.regs.rflags |= 0x100; /* TF: a single-step trap would follow; refused */
    assert_int_equal(run(f, b, sizeof(b)), EMU_UNHANDLED);
    free(f);
}

static void test_report(void **state)
{
    struct fake *f = fake_new64();
    static const uint8_t cx[] = {0x48, 0x0f, 0xc7, 0x08};
    f->cpu.regs.rip = 0xffffffff81001234ull;
    f->cpu.regs.r13 = 0x1122334455667788ull;
    assert_int_equal(run(f, cx, sizeof(cx)), EMU_UNHANDLED);
    char out[4096];
    size_t n = emulate_report(&f->cpu, 2, cx, sizeof(cx), f->why, out, sizeof(out));
    assert_int_equal(n, strlen(out));
    assert_non_null(strstr(out, "vCPU 2"));
    assert_non_null(strstr(out, "RIP ffffffff81001234"));
    assert_non_null(strstr(out, "48 0f c7 08"));
    assert_non_null(strstr(out, "cmpxchg16b xmmword ptr [rax]"));
    assert_non_null(strstr(out, "64-bit long mode"));
    assert_non_null(strstr(out, "r13=1122334455667788"));
    assert_non_null(strstr(out, "cr0=0000000080050033"));
    /* Truncation keeps a terminated prefix and reports the full length. */
    char small[16];
    assert_int_equal(emulate_report(&f->cpu, 2, cx, sizeof(cx), f->why, small, sizeof(small)), n);
    assert_int_equal(strlen(small), sizeof(small) - 1);
    free(f);
}

/* Page walk: 4-level tables in host-backed guest memory. */
#define PT_P 1ull
#define PT_W 2ull
#define PT_U 4ull
#define PT_A 0x20ull
#define PT_D 0x40ull
#define PT_PS 0x80ull

static void test_page_walk(void **state)
{
    size_t size = 1 << 20;
    uint8_t *buf = aligned_alloc(4096, size);
    assert_non_null(buf);
    memset(buf, 0, size);
    struct guest_mem mem;
    guest_mem_init_host(&mem, buf, size);
    uint64_t *pml4 = (uint64_t *)(void *)(buf + 0x1000), *pdpt = (uint64_t *)(void *)(buf + 0x2000);
    uint64_t *pd = (uint64_t *)(void *)(buf + 0x3000), *pt = (uint64_t *)(void *)(buf + 0x4000);
    pml4[0] = 0x2000 | PT_P | PT_W | PT_U;
    pdpt[0] = 0x3000 | PT_P | PT_W | PT_U;
    pd[0] = 0x4000 | PT_P | PT_W | PT_U;
    pd[1] = 0x400000 | PT_P | PT_PS; /* 2 MiB page at 2 MiB -> 4 MiB (supervisor, RO) */
    pt[5] = 0x9000 | PT_P | PT_U;    /* user, read-only */
    pt[6] = 0xa000 | PT_P | PT_W;    /* supervisor, writable */

    struct kvm_sregs s;
    memset(&s, 0, sizeof(s));
    s.cr0 = 0x80000001;
    s.cr4 = 0x20;
    s.efer = 0x500;
    s.cr3 = 0x1000;
    uint64_t gpa;
    assert_int_equal(emulate_kvm_translate(&mem, &s, 2, 0x5123, false, &gpa), 0);
    assert_int_equal(gpa, 0x9123);
    assert_true(pt[5] & PT_A);
    assert_false(pt[5] & PT_D);
    assert_true(pml4[0] & PT_A);
    /* Supervisor write to a read-only page: allowed with CR0.WP clear, not with it set. */
    assert_int_equal(emulate_kvm_translate(&mem, &s, 2, 0x5000, true, &gpa), 0);
    assert_true(pt[5] & PT_D);
    s.cr0 |= 1u << 16;
    assert_int_equal(emulate_kvm_translate(&mem, &s, 2, 0x5000, true, &gpa), -EACCES);
    /* CPL 3 cannot touch a supervisor page. */
    s.ss.dpl = 3;
    assert_int_equal(emulate_kvm_translate(&mem, &s, 2, 0x6000, false, &gpa), -EACCES);
    assert_int_equal(emulate_kvm_translate(&mem, &s, 2, 0x5000, false, &gpa), 0);
    /* SMAP: CPL 0 reading a user page faults unless RFLAGS.AC. */
    s.ss.dpl = 0;
    s.cr4 |= 1u << 21;
    assert_int_equal(emulate_kvm_translate(&mem, &s, 2, 0x5000, false, &gpa), -EACCES);
    assert_int_equal(emulate_kvm_translate(&mem, &s, 2 | (1u << 18), 0x5000, false, &gpa), 0);
    /* 2 MiB page and a not-present page. */
    assert_int_equal(emulate_kvm_translate(&mem, &s, 2, 0x212345, false, &gpa), 0);
    assert_int_equal(gpa, 0x412345);
    assert_int_equal(emulate_kvm_translate(&mem, &s, 2, 0x7000, false, &gpa), -EFAULT);
    assert_int_equal(emulate_kvm_translate(&mem, &s, 2, 1ull << 39, false, &gpa), -EFAULT);
    /* Paging off: identity. */
    s.cr0 = 1;
    assert_int_equal(emulate_kvm_translate(&mem, &s, 2, 0x7000, false, &gpa), 0);
    assert_int_equal(gpa, 0x7000);
    free(buf);
}

static void test_page_walk_32bit(void **state)
{
    size_t size = 1 << 20;
    uint8_t *buf = aligned_alloc(4096, size);
    assert_non_null(buf);
    memset(buf, 0, size);
    struct guest_mem mem;
    guest_mem_init_host(&mem, buf, size);
    uint32_t *pd = (uint32_t *)(void *)(buf + 0x1000), *pt = (uint32_t *)(void *)(buf + 0x2000);
    pd[0] = 0x2000 | PT_P | PT_W;
    pt[3] = 0x7000 | PT_P | PT_W;
    pd[1] = 0x400000 | PT_P | PT_PS; /* 4 MiB page, needs CR4.PSE */
    struct kvm_sregs s;
    memset(&s, 0, sizeof(s));
    s.cr0 = 0x80000001;
    s.cr3 = 0x1000;
    uint64_t gpa;
    assert_int_equal(emulate_kvm_translate(&mem, &s, 2, 0x3abc, true, &gpa), 0);
    assert_int_equal(gpa, 0x7abc);
    assert_true(pt[3] & PT_D);
    assert_true(pd[0] & PT_A);
    assert_false(pd[0] & PT_D);
    s.cr4 = 0x10;
    assert_int_equal(emulate_kvm_translate(&mem, &s, 2, 0x400010, false, &gpa), 0);
    assert_int_equal(gpa, 0x400010);
    free(buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_int3),
        cmocka_unit_test(test_popcnt_reg_sizes),
        cmocka_unit_test(test_popcnt_zero_sets_zf),
        cmocka_unit_test(test_popcnt_mem_sib),
        cmocka_unit_test(test_popcnt_rip_relative),
        cmocka_unit_test(test_popcnt_rex_high_regs),
        cmocka_unit_test(test_popcnt_addr_size_and_fs),
        cmocka_unit_test(test_popcnt_faults),
        cmocka_unit_test(test_mxcsr_round_trip),
        cmocka_unit_test(test_ldmxcsr_exceptions),
        cmocka_unit_test(test_vldmxcsr),
        cmocka_unit_test(test_popcnt_32bit_mode),
        cmocka_unit_test(test_real_mode_16bit_addressing),
        cmocka_unit_test(test_prefixes),
        cmocka_unit_test(test_fwait),
        cmocka_unit_test(test_x87_control),
        cmocka_unit_test(test_x87_moves),
        cmocka_unit_test(test_x87_regs),
        cmocka_unit_test(test_x87_arith),
        cmocka_unit_test(test_clac_stac),
        cmocka_unit_test(test_clac_stac_exceptions),
        cmocka_unit_test(test_unknown_and_truncated),
        cmocka_unit_test(test_report),
        cmocka_unit_test(test_page_walk),
        cmocka_unit_test(test_page_walk_32bit),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
