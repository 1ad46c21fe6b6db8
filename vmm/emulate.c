// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Exact emulation of the few instructions a host's KVM emulator may lack (int3, popcnt,
 * [v]ldmxcsr/[v]stmxcsr, fwait, clac/stac), following the Intel SDM vol. 2 pages of each and the
 * exception classes of vol. 3 ch. 6; everything else is refused with a reason so the
 * engine can stop the VM with a report instead of guessing.
 *
 * The rule throughout: emulate only what we can do exactly as the CPU would; any state we
 * cannot see or reproduce (single-stepping, hardware breakpoints, page faults, virtual-8086
 * mode, expand-down segments) makes the instruction EMU_UNHANDLED, never approximated.
 */
#include "vmm/emulate.h"

#include <capstone/capstone.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* RFLAGS bits (SDM vol. 1, 3.4.3). */
#define FL_CF (1ull << 0)
#define FL_PF (1ull << 2)
#define FL_AF (1ull << 4)
#define FL_ZF (1ull << 6)
#define FL_SF (1ull << 7)
#define FL_TF (1ull << 8)
#define FL_OF (1ull << 11)
#define FL_RF (1ull << 16)
#define FL_VM (1ull << 17)
#define FL_AC (1ull << 18)

#define CR0_PE (1ull << 0)
#define CR0_MP (1ull << 1)
#define CR0_EM (1ull << 2)
#define CR0_TS (1ull << 3)
#define CR0_NE (1ull << 5)
#define CR0_AM (1ull << 18)
#define CR4_OSFXSR (1ull << 9)
#define CR4_LA57 (1ull << 12)
#define CR4_OSXSAVE (1ull << 18)
#define EFER_LMA (1ull << 10)

#define FSW_ES 0x80u
#define FSW_EXC_MASK 0x3fu /* IE DE ZE OE UE PE; the same bits mask them in FCW */
#define FSW_SF 0x40u
#define FSW_B 0x8000u
/* MXCSR bits 16-31 are reserved on every CPU with DAZ (all since the Pentium 4). */
#define MXCSR_MASK 0x0000ffffu
#define XCR0_SSE_AVX 0x6u
#define DR7_ENABLE_MASK 0xffu /* L0-L3, G0-G3 */

#define LOCK_PREFIX 0xf0

struct ctx {
    struct emu_cpu *cpu;
    const cs_insn *insn;
    unsigned bits; /* code size: 16, 32, 64 */
    char *why;
    size_t whylen;
};

static void say(struct ctx *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(struct ctx *c, const char *fmt, ...)
{
    if (!c->why || !c->whylen) {
        return;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->why, c->whylen, fmt, ap);
    va_end(ap);
}

static enum emu_result unhandled(struct ctx *c, const char *what)
{
    say(c, "%s for '%s %s'", what, c->insn->mnemonic, c->insn->op_str);
    return EMU_UNHANDLED;
}

/* A fault: RIP stays on the instruction, as for every fault class exception. */
static enum emu_result fault(struct ctx *c, uint8_t vector, bool has_error, uint32_t error)
{
    struct emu_cpu *cpu = c->cpu;
    cpu->inject = true;
    cpu->vector = vector;
    cpu->has_error_code = has_error;
    cpu->error_code = error;
    say(c, "'%s %s' raises vector %u", c->insn->mnemonic, c->insn->op_str, vector);
    return EMU_INJECT;
}

unsigned emulate_code_bits(const struct emu_cpu *cpu)
{
    if (!(cpu->sregs.cr0 & CR0_PE)) {
        return 16;
    }
    if (cpu->regs.rflags & FL_VM) {
        return 0;
    }
    if ((cpu->sregs.efer & EFER_LMA) && cpu->sregs.cs.l) {
        return 64;
    }
    return cpu->sregs.cs.db ? 32 : 16;
}

static unsigned cpl(const struct emu_cpu *cpu)
{
    /* SS.DPL is the CPL in protected mode (SDM vol. 3, 5.5); real mode runs at 0. */
    return (cpu->sregs.cr0 & CR0_PE) ? cpu->sregs.ss.dpl : 0;
}

static uint64_t width_mask(unsigned bytes)
{
    return bytes >= 8 ? UINT64_MAX : (1ull << (bytes * 8)) - 1;
}

/* Next instruction pointer: IP/EIP wrap at the code size, as the CPU's do. */
static uint64_t next_rip(const struct ctx *c)
{
    return (c->cpu->regs.rip + c->insn->size) & width_mask(c->bits / 8);
}

static void advance(struct ctx *c)
{
    c->cpu->regs.rip = next_rip(c);
    /* RF is cleared when an instruction completes (SDM vol. 3, 18.3.1.1). */
    c->cpu->regs.rflags &= ~FL_RF;
    c->cpu->regs_dirty = true;
}

struct gpr {
    x86_reg reg;
    size_t off;
    unsigned size;
};

#define GPR(r, field, sz)                                                                          \
    {                                                                                              \
        X86_REG_##r, offsetof(struct kvm_regs, field), sz                                          \
    }
#define GPR3(q, d, w, field) GPR(q, field, 8), GPR(d, field, 4), GPR(w, field, 2)
static const struct gpr gprs[] = {
    GPR3(RAX, EAX, AX, rax),    GPR3(RBX, EBX, BX, rbx),    GPR3(RCX, ECX, CX, rcx),
    GPR3(RDX, EDX, DX, rdx),    GPR3(RSI, ESI, SI, rsi),    GPR3(RDI, EDI, DI, rdi),
    GPR3(RSP, ESP, SP, rsp),    GPR3(RBP, EBP, BP, rbp),    GPR3(R8, R8D, R8W, r8),
    GPR3(R9, R9D, R9W, r9),     GPR3(R10, R10D, R10W, r10), GPR3(R11, R11D, R11W, r11),
    GPR3(R12, R12D, R12W, r12), GPR3(R13, R13D, R13W, r13), GPR3(R14, R14D, R14W, r14),
    GPR3(R15, R15D, R15W, r15),
};

static const struct gpr *gpr_find(x86_reg reg)
{
    for (size_t i = 0; i < sizeof(gprs) / sizeof(gprs[0]); i++) {
        if (gprs[i].reg == reg) {
            return &gprs[i];
        }
    }
    return NULL;
}

static uint64_t *gpr_slot(struct emu_cpu *cpu, const struct gpr *g)
{
    /* Every kvm_regs field is a naturally aligned __u64. */
    return (uint64_t *)(void *)((char *)&cpu->regs + g->off);
}

/* Write a 16/32/64-bit GPR: 32-bit writes zero-extend, 16-bit writes keep bits 16-63. */
static void gpr_write(struct emu_cpu *cpu, const struct gpr *g, uint64_t val)
{
    uint64_t *slot = gpr_slot(cpu, g);
    if (g->size == 2) {
        *slot = (*slot & ~0xffffull) | (val & 0xffff);
    } else {
        *slot = val & width_mask(g->size);
    }
}

static bool is_stack_base(x86_reg r)
{
    return r == X86_REG_RSP || r == X86_REG_ESP || r == X86_REG_SP || r == X86_REG_RBP ||
           r == X86_REG_EBP || r == X86_REG_BP;
}

static const struct kvm_segment *seg_of(const struct emu_cpu *cpu, x86_reg r)
{
    switch (r) {
    case X86_REG_ES:
        return &cpu->sregs.es;
    case X86_REG_CS:
        return &cpu->sregs.cs;
    case X86_REG_SS:
        return &cpu->sregs.ss;
    case X86_REG_DS:
        return &cpu->sregs.ds;
    case X86_REG_FS:
        return &cpu->sregs.fs;
    case X86_REG_GS:
        return &cpu->sregs.gs;
    default:
        return NULL;
    }
}

static bool canonical(const struct emu_cpu *cpu, uint64_t la)
{
    unsigned va_bits = (cpu->sregs.cr4 & CR4_LA57) ? 57 : 48;
    int64_t s = (int64_t)(la << (64 - va_bits)) >> (64 - va_bits);
    return (uint64_t)s == la;
}

/*
 * Linear address of a memory operand of `size` bytes, with the segmentation checks of SDM
 * vol. 3, 5.3 (limit, type, null segment) or the canonical check of 64-bit mode. Returns
 * EMU_DONE with *lin set, EMU_INJECT for #GP(0)/#SS(0), EMU_UNHANDLED for what we refuse.
 */
static enum emu_result operand_linear(struct ctx *c, const x86_op_mem *m, unsigned size, bool write,
                                      uint64_t *lin)
{
    struct emu_cpu *cpu = c->cpu;
    const cs_x86 *x = &c->insn->detail->x86;
    uint64_t amask = width_mask(x->addr_size);
    uint64_t ea = (uint64_t)m->disp;

    if (m->base == X86_REG_RIP || m->base == X86_REG_EIP) {
        /* RIP-relative: the displacement counts from the next instruction. */
        ea += cpu->regs.rip + c->insn->size;
    } else if (m->base != X86_REG_INVALID) {
        const struct gpr *g = gpr_find(m->base);
        if (!g) {
            return unhandled(c, "unexpected base register");
        }
        ea += *gpr_slot(cpu, g) & width_mask(g->size);
    }
    if (m->index != X86_REG_INVALID) {
        const struct gpr *g = gpr_find(m->index);
        if (!g) {
            return unhandled(c, "unexpected index register");
        }
        ea += (*gpr_slot(cpu, g) & width_mask(g->size)) * (uint64_t)m->scale;
    }
    ea &= amask;

    x86_reg segreg = m->segment;
    if (segreg == X86_REG_INVALID) {
        segreg = is_stack_base(m->base) ? X86_REG_SS : X86_REG_DS;
    }
    const struct kvm_segment *seg = seg_of(cpu, segreg);
    if (!seg) {
        return unhandled(c, "unexpected segment register");
    }
    uint8_t vec = segreg == X86_REG_SS ? EMU_VEC_SS : EMU_VEC_GP;

    if (c->bits == 64) {
        /* Only FS and GS have a base in 64-bit mode; no limits, but addresses are canonical. */
        uint64_t base = (segreg == X86_REG_FS || segreg == X86_REG_GS) ? seg->base : 0;
        uint64_t la = base + ea;
        if (!canonical(cpu, la) || !canonical(cpu, la + size - 1)) {
            return fault(c, vec, true, 0);
        }
        *lin = la;
        return EMU_DONE;
    }

    if (cpu->sregs.cr0 & CR0_PE) {
        if (seg->unusable || !seg->present) {
            return fault(c, vec, true, 0);
        }
        if (!seg->s) {
            return unhandled(c, "system segment in a data segment register");
        }
        bool code = seg->type & 8;
        if (code ? (write || !(seg->type & 2)) : (write && !(seg->type & 2))) {
            return fault(c, vec, true, 0);
        }
        if (!code && (seg->type & 4)) {
            return unhandled(c, "expand-down segment not emulated");
        }
    }
    /* Expand-up limit check, in real mode too (big real mode has limits above 0xffff). */
    if (ea + size - 1 > seg->limit) {
        return fault(c, vec, true, 0);
    }
    *lin = (seg->base + ea) & 0xffffffffull;
    return EMU_DONE;
}

/* #AC(0): alignment checking at CPL 3 with CR0.AM and RFLAGS.AC (SDM vol. 3, 6.15). */
static bool alignment_fault(const struct emu_cpu *cpu, uint64_t lin, unsigned size)
{
    return cpl(cpu) == 3 && (cpu->sregs.cr0 & CR0_AM) && (cpu->regs.rflags & FL_AC) &&
           (lin & (size - 1));
}

static enum emu_result access_failed(struct ctx *c, int err, uint64_t lin)
{
    /*
     * A page fault would be exact only with CR2 and the error code the CPU would compute; the
     * engine refuses rather than inject a guess. Operand faults are rare for these
     * instructions, and the report names the address.
     */
    say(c, "operand at GVA %#" PRIx64 " %s for '%s %s'", lin,
        err == -EACCES ? "not accessible (protection)" : "not mapped", c->insn->mnemonic,
        c->insn->op_str);
    return EMU_UNHANDLED;
}

static enum emu_result read_operand(struct ctx *c, const cs_x86_op *op, uint64_t *val)
{
    struct emu_cpu *cpu = c->cpu;
    if (op->type == X86_OP_REG) {
        const struct gpr *g = gpr_find(op->reg);
        if (!g) {
            return unhandled(c, "unexpected source register");
        }
        *val = *gpr_slot(cpu, g) & width_mask(g->size);
        return EMU_DONE;
    }
    if (op->type != X86_OP_MEM || op->size == 0 || op->size > 8) {
        return unhandled(c, "unexpected operand");
    }
    uint64_t lin;
    enum emu_result r = operand_linear(c, &op->mem, op->size, false, &lin);
    if (r != EMU_DONE) {
        return r;
    }
    if (!cpu->read_virt) {
        return access_failed(c, -EFAULT, lin);
    }
    uint8_t buf[8] = {0};
    int err = cpu->read_virt(cpu->opaque, lin, buf, op->size);
    if (err) {
        return access_failed(c, err, lin);
    }
    if (alignment_fault(cpu, lin, op->size)) {
        return fault(c, EMU_VEC_AC, true, 0);
    }
    uint64_t v = 0;
    for (unsigned i = 0; i < op->size; i++) {
        v |= (uint64_t)buf[i] << (8 * i);
    }
    *val = v;
    return EMU_DONE;
}

static enum emu_result emu_int3(struct ctx *c)
{
    /*
     * #BP is a trap: the handler sees the address after int3 (SDM vol. 3, 6.5), so RIP moves
     * past it before the engine injects the exception.
     */
    advance(c);
    c->cpu->inject = true;
    c->cpu->vector = EMU_VEC_BP;
    c->cpu->has_error_code = false;
    c->cpu->error_code = 0;
    say(c, "int3: #BP injected after RIP advanced");
    return EMU_INJECT;
}

static enum emu_result emu_popcnt(struct ctx *c)
{
    const cs_x86 *x = &c->insn->detail->x86;
    if (x->op_count != 2 || x->operands[0].type != X86_OP_REG) {
        return unhandled(c, "unexpected operands");
    }
    const struct gpr *dst = gpr_find(x->operands[0].reg);
    if (!dst || dst->size != x->operands[1].size) {
        return unhandled(c, "unexpected operand sizes");
    }
    uint64_t src;
    enum emu_result r = read_operand(c, &x->operands[1], &src);
    if (r != EMU_DONE) {
        return r;
    }
    struct emu_cpu *cpu = c->cpu;
    gpr_write(cpu, dst, (uint64_t)__builtin_popcountll(src));
    /* SDM: ZF = (src == 0); OF, SF, AF, CF and PF are cleared. */
    cpu->regs.rflags &= ~(FL_CF | FL_PF | FL_AF | FL_ZF | FL_SF | FL_OF);
    if (src == 0) {
        cpu->regs.rflags |= FL_ZF;
    }
    advance(c);
    say(c, "emulated '%s %s'", c->insn->mnemonic, c->insn->op_str);
    return EMU_DONE;
}

/* Locate a VEX prefix after legacy prefixes and return its vvvv/L bits, or false if none. */
static bool vex_fields(const uint8_t *b, size_t n, unsigned *vvvv, unsigned *l, bool *bad_prefix)
{
    size_t i = 0;
    *bad_prefix = false;
    while (i < n && (b[i] == 0x66 || b[i] == 0xf2 || b[i] == 0xf3 || b[i] == 0xf0 || b[i] == 0x67 ||
                     b[i] == 0x2e || b[i] == 0x36 || b[i] == 0x3e || b[i] == 0x26 || b[i] == 0x64 ||
                     b[i] == 0x65 || (b[i] & 0xf0) == 0x40)) {
        /* 66/F2/F3/F0/REX before VEX are #UD (SDM vol. 2, 2.3.2). */
        if (b[i] == 0x66 || b[i] == 0xf2 || b[i] == 0xf3 || b[i] == 0xf0 || (b[i] & 0xf0) == 0x40) {
            *bad_prefix = true;
        }
        i++;
    }
    uint8_t last;
    if (i + 1 < n && b[i] == 0xc5) {
        last = b[i + 1];
    } else if (i + 2 < n && b[i] == 0xc4) {
        last = b[i + 2];
    } else {
        return false;
    }
    *vvvv = (~last >> 3) & 0xf;
    *l = (last >> 2) & 1;
    return true;
}

static enum emu_result emu_mxcsr(struct ctx *c, const uint8_t *bytes, bool load, bool vex)
{
    struct emu_cpu *cpu = c->cpu;
    const cs_x86 *x = &c->insn->detail->x86;
    if (vex) {
        unsigned vvvv = 0, l = 0;
        bool bad_prefix;
        if (c->bits == 16 && !(cpu->sregs.cr0 & CR0_PE)) {
            return fault(c, EMU_VEC_UD, false, 0);
        }
        if (!vex_fields(bytes, c->insn->size, &vvvv, &l, &bad_prefix)) {
            return unhandled(c, "VEX prefix not found");
        }
        /* SDM vol. 2, VLDMXCSR: #UD if VEX.L = 1 or VEX.vvvv != 1111b; class 5 for the rest. */
        if (bad_prefix || l || vvvv || !(cpu->sregs.cr4 & CR4_OSXSAVE) ||
            (cpu->xcr0 & XCR0_SSE_AVX) != XCR0_SSE_AVX) {
            return fault(c, EMU_VEC_UD, false, 0);
        }
    } else if ((cpu->sregs.cr0 & CR0_EM) || !(cpu->sregs.cr4 & CR4_OSFXSR)) {
        return fault(c, EMU_VEC_UD, false, 0);
    }
    if (cpu->sregs.cr0 & CR0_TS) {
        return fault(c, EMU_VEC_NM, false, 0);
    }
    if (x->op_count != 1 || x->operands[0].type != X86_OP_MEM) {
        return unhandled(c, "unexpected operands");
    }
    if (load) {
        uint64_t v;
        cs_x86_op op = x->operands[0];
        op.size = 4;
        enum emu_result r = read_operand(c, &op, &v);
        if (r != EMU_DONE) {
            return r;
        }
        if (v & ~(uint64_t)MXCSR_MASK) { /* guest-controlled */
            return fault(c, EMU_VEC_GP, true, 0);
        }
        cpu->fpu.mxcsr = (uint32_t)v;
    } else {
        uint64_t lin;
        enum emu_result r = operand_linear(c, &x->operands[0].mem, 4, true, &lin);
        if (r != EMU_DONE) {
            return r;
        }
        if (alignment_fault(cpu, lin, 4)) {
            return fault(c, EMU_VEC_AC, true, 0);
        }
        uint8_t buf[4];
        for (unsigned i = 0; i < 4; i++) {
            buf[i] = (uint8_t)(cpu->fpu.mxcsr >> (8 * i));
        }
        int err = cpu->write_virt ? cpu->write_virt(cpu->opaque, lin, buf, 4) : -EFAULT;
        if (err) {
            return access_failed(c, err, lin);
        }
    }
    cpu->fpu_dirty = load;
    advance(c);
    say(c, "emulated '%s %s'", c->insn->mnemonic, c->insn->op_str);
    return EMU_DONE;
}

static enum emu_result emu_fwait(struct ctx *c)
{
    struct emu_cpu *cpu = c->cpu;
    /* SDM vol. 2, WAIT/FWAIT: #NM if CR0.MP and CR0.TS are both set. */
    if ((cpu->sregs.cr0 & (CR0_MP | CR0_TS)) == (CR0_MP | CR0_TS)) {
        return fault(c, EMU_VEC_NM, false, 0);
    }
    if (cpu->fpu.fsw & FSW_ES) {
        if (!(cpu->sregs.cr0 & CR0_NE)) {
            /* Legacy FERR# reporting goes through IRQ 13 on the PIC, which we cannot raise. */
            return unhandled(c, "pending x87 error with CR0.NE=0 (FERR#/IRQ 13 reporting)");
        }
        return fault(c, EMU_VEC_MF, false, 0);
    }
    advance(c);
    say(c, "emulated 'wait'");
    return EMU_DONE;
}

/* Store a 16-bit value at a memory operand (fnstcw, fnstsw m16). */
static enum emu_result write_mem16(struct ctx *c, const cs_x86_op *op, uint16_t v)
{
    struct emu_cpu *cpu = c->cpu;
    uint64_t lin;
    enum emu_result r = operand_linear(c, &op->mem, 2, true, &lin);
    if (r != EMU_DONE) {
        return r;
    }
    if (alignment_fault(cpu, lin, 2)) {
        return fault(c, EMU_VEC_AC, true, 0);
    }
    uint8_t buf[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    int err = cpu->write_virt ? cpu->write_virt(cpu->opaque, lin, buf, 2) : -EFAULT;
    return err ? access_failed(c, err, lin) : EMU_DONE;
}

/*
 * x87 control instructions (SDM vol. 2 FLDCW, FNSTCW, FNSTSW, FNINIT, FNCLEX; vol. 1 8.1.3 and
 * 8.1.5 for the status and control words). None checks for pending x87 exceptions; all raise
 * #NM when CR0.EM or CR0.TS is set. After FLDCW the status word's ES and B summary bits say
 * whether an exception flag is now unmasked, so the next waiting instruction raises #MF.
 */
static enum emu_result emu_x87_control(struct ctx *c)
{
    struct emu_cpu *cpu = c->cpu;
    const cs_x86 *x = &c->insn->detail->x86;
    if (cpu->sregs.cr0 & (CR0_EM | CR0_TS)) {
        return fault(c, EMU_VEC_NM, false, 0);
    }
    enum emu_result r = EMU_DONE;
    switch (c->insn->id) {
    case X86_INS_FLDCW: {
        if (x->op_count != 1 || x->operands[0].type != X86_OP_MEM) {
            return unhandled(c, "unexpected operands");
        }
        cs_x86_op op = x->operands[0];
        op.size = 2;
        uint64_t v;
        if ((r = read_operand(c, &op, &v)) != EMU_DONE) {
            return r;
        }
        cpu->fpu.fcw = (uint16_t)v;
        bool unmasked = (cpu->fpu.fsw & ~cpu->fpu.fcw & FSW_EXC_MASK) != 0;
        cpu->fpu.fsw =
            (uint16_t)((cpu->fpu.fsw & ~(FSW_ES | FSW_B)) | (unmasked ? FSW_ES | FSW_B : 0));
        break;
    }
    case X86_INS_FNSTCW:
        if (x->op_count != 1 || x->operands[0].type != X86_OP_MEM) {
            return unhandled(c, "unexpected operands");
        }
        r = write_mem16(c, &x->operands[0], cpu->fpu.fcw);
        break;
    case X86_INS_FNSTSW:
        if (x->op_count == 1 && x->operands[0].type == X86_OP_REG &&
            x->operands[0].reg == X86_REG_AX) {
            cpu->regs.rax = (cpu->regs.rax & ~0xffffull) | cpu->fpu.fsw;
        } else if (x->op_count == 1 && x->operands[0].type == X86_OP_MEM) {
            r = write_mem16(c, &x->operands[0], cpu->fpu.fsw);
        } else {
            return unhandled(c, "unexpected operands");
        }
        break;
    case X86_INS_FNINIT:
        /* FCW 037FH, FSW 0, all registers empty, pointers and last opcode cleared. */
        cpu->fpu.fcw = 0x37f;
        cpu->fpu.fsw = 0;
        cpu->fpu.ftwx = 0; /* the abridged tag word: 0 = empty */
        cpu->fpu.last_opcode = 0;
        cpu->fpu.last_ip = 0;
        cpu->fpu.last_dp = 0;
        break;
    case X86_INS_FNCLEX:
        cpu->fpu.fsw &= (uint16_t) ~(FSW_EXC_MASK | FSW_SF | FSW_ES | FSW_B);
        break;
    default:
        return unhandled(c, "no emulation");
    }
    if (r != EMU_DONE) {
        return r;
    }
    cpu->fpu_dirty = true;
    cpu->regs_dirty = true;
    advance(c);
    say(c, "emulated '%s %s'", c->insn->mnemonic, c->insn->op_str);
    return EMU_DONE;
}

/* ---- x87 data movement: fild, fst/fstp (SDM vol. 1 ch. 8 and vol. 2 FILD, FST/FSTP) -------- */

#define FSW_TOP_SHIFT 11
#define FSW_C1 0x200u

static unsigned x87_top(const struct emu_cpu *cpu)
{
    return (cpu->fpu.fsw >> FSW_TOP_SHIFT) & 7;
}

/* Is ST(i) in use (abridged tag bit of its physical register)? */
static bool x87_valid(const struct emu_cpu *cpu, unsigned i)
{
    return cpu->fpu.ftwx & (1u << ((x87_top(cpu) + i) & 7));
}

static void x87_set_top(struct emu_cpu *cpu, unsigned top)
{
    cpu->fpu.fsw = (uint16_t)((cpu->fpu.fsw & ~(7u << FSW_TOP_SHIFT)) | (top & 7) << FSW_TOP_SHIFT);
}

/* The 80-bit register image of ST(i): significand and sign/exponent. */
static void x87_get(const struct emu_cpu *cpu, unsigned i, uint64_t *sig, uint16_t *se)
{
    memcpy(sig, cpu->fpu.fpr[i], 8);
    memcpy(se, cpu->fpu.fpr[i] + 8, 2);
}

/* The checks every non-control x87 instruction makes first: #NM, then a pending #MF. */
static enum emu_result x87_precheck(struct ctx *c)
{
    struct emu_cpu *cpu = c->cpu;
    if (cpu->sregs.cr0 & (CR0_EM | CR0_TS)) {
        return fault(c, EMU_VEC_NM, false, 0);
    }
    if (cpu->fpu.fsw & FSW_ES) {
        if (!(cpu->sregs.cr0 & CR0_NE)) {
            return unhandled(c, "pending x87 error with CR0.NE=0 (FERR#/IRQ 13 reporting)");
        }
        return fault(c, EMU_VEC_MF, false, 0);
    }
    return EMU_DONE;
}

/* The end of an emulated non-control x87 instruction: FOP, FIP and FDP as it leaves them (64-bit
 * forms), the FPU state marked for write-back, RIP past it. */
static enum emu_result x87_done(struct ctx *c, const uint8_t *bytes, uint64_t data_off)
{
    struct emu_cpu *cpu = c->cpu;
    size_t i = 0;
    while (i + 1 < c->insn->size && (bytes[i] < 0xd8 || bytes[i] > 0xdf)) {
        i++; /* prefixes and REX */
    }
    cpu->fpu.last_opcode = (uint16_t)((bytes[i] & 7) << 8 | bytes[i + 1]);
    cpu->fpu.last_ip = cpu->regs.rip;
    cpu->fpu.last_dp = data_off;
    cpu->fpu_dirty = true;
    advance(c);
    say(c, "emulated '%s %s'", c->insn->mnemonic, c->insn->op_str);
    return EMU_DONE;
}

/*
 * Convert ST(0) to a binary32/binary64 image when that is exact: zero or a normal number
 * whose significand fits and whose exponent is in range. Anything that would round, or
 * denormals, infinities and NaNs, is refused (false): their flags and results depend on
 * FCW.RC/PC and the exception masks, which we do not reproduce.
 */
static bool x87_to_ieee(uint64_t sig, uint16_t se, unsigned size, uint64_t *out)
{
    unsigned mant = size == 4 ? 23 : 52, ebits = size == 4 ? 8 : 11;
    int bias = size == 4 ? 127 : 1023;
    uint64_t sign = (uint64_t)(se >> 15) << (size * 8 - 1);
    unsigned exp = se & 0x7fff;
    if (exp == 0 && sig == 0) {
        *out = sign; /* signed zero */
        return true;
    }
    if (exp == 0 || exp == 0x7fff || !(sig >> 63)) {
        return false; /* denormal, pseudo-denormal, unnormal, infinity, NaN */
    }
    int e = (int)exp - 16383 + bias;
    if (e <= 0 || e >= (1 << ebits) - 1) {
        return false; /* overflow or a denormal result */
    }
    uint64_t frac = sig << 1; /* drop the explicit integer bit */
    if (frac << mant) {
        return false; /* bits below the target precision: inexact */
    }
    *out = sign | (uint64_t)e << mant | frac >> (64 - mant);
    return true;
}

/* A binary32/binary64 image as an exact 80-bit value; false for denormals, infinities, NaNs. */
static bool ieee_to_x87(uint64_t v, unsigned size, uint64_t *sig, uint16_t *se)
{
    unsigned mant = size == 4 ? 23 : 52, ebits = size == 4 ? 8 : 11;
    int bias = size == 4 ? 127 : 1023;
    uint16_t sign = (uint16_t)((v >> (size * 8 - 1)) & 1) << 15;
    unsigned exp = (unsigned)(v >> mant) & ((1u << ebits) - 1);
    uint64_t frac = v & ((1ull << mant) - 1);
    if (exp == 0 && frac == 0) {
        *sig = 0;
        *se = sign;
        return true;
    }
    if (exp == 0 || exp == (1u << ebits) - 1) {
        return false; /* denormal (DE), infinity, NaN (IE for a signalling one) */
    }
    *sig = 1ull << 63 | frac << (63 - mant);
    *se = sign | (uint16_t)((int)exp - bias + 16383);
    return true;
}

/* Push an 80-bit value (the caller has checked that ST(7) is free). */
static void x87_push(struct emu_cpu *cpu, uint64_t sig, uint16_t se)
{
    memmove(cpu->fpu.fpr[1], cpu->fpu.fpr[0], 7 * sizeof(cpu->fpu.fpr[0]));
    memset(cpu->fpu.fpr[0], 0, sizeof(cpu->fpu.fpr[0]));
    memcpy(cpu->fpu.fpr[0], &sig, 8);
    memcpy(cpu->fpu.fpr[0] + 8, &se, 2);
    unsigned top = (x87_top(cpu) + 7) & 7;
    x87_set_top(cpu, top);
    cpu->fpu.ftwx |= (uint8_t)(1u << top);
    cpu->fpu.fsw &= (uint16_t)~FSW_C1;
}

static enum emu_result emu_fld(struct ctx *c, const uint8_t *bytes)
{
    struct emu_cpu *cpu = c->cpu;
    const cs_x86 *x = &c->insn->detail->x86;
    enum emu_result r = x87_precheck(c);
    if (r != EMU_DONE) {
        return r;
    }
    if (x->op_count != 1) {
        return unhandled(c, "unexpected operands");
    }
    if (x87_valid(cpu, 7)) {
        return unhandled(c, "x87 stack overflow (the result depends on the IE mask)");
    }
    const cs_x86_op *op = &x->operands[0];
    uint64_t sig;
    uint16_t se;
    uint64_t lin = cpu->fpu.last_dp;
    if (op->type == X86_OP_REG) {
        unsigned i = op->reg >= X86_REG_ST0 && op->reg <= X86_REG_ST7 ? op->reg - X86_REG_ST0 : 8;
        if (i > 7) {
            return unhandled(c, "unexpected register");
        }
        if (!x87_valid(cpu, i)) {
            return unhandled(c, "x87 stack underflow (the result depends on the IE mask)");
        }
        x87_get(cpu, i, &sig, &se);
    } else if (op->type == X86_OP_MEM && (op->size == 4 || op->size == 8 || op->size == 10)) {
        if ((r = operand_linear(c, &op->mem, op->size, false, &lin)) != EMU_DONE) {
            return r;
        }
        uint8_t buf[10];
        int err = cpu->read_virt ? cpu->read_virt(cpu->opaque, lin, buf, op->size) : -EFAULT;
        if (err) {
            return access_failed(c, err, lin);
        }
        if (alignment_fault(cpu, lin, op->size == 10 ? 8 : op->size)) {
            return fault(c, EMU_VEC_AC, true, 0);
        }
        if (op->size == 10) {
            memcpy(&sig, buf, 8); /* m80: loaded as it is, no exception */
            memcpy(&se, buf + 8, 2);
        } else {
            uint64_t v = 0;
            for (unsigned b = 0; b < op->size; b++) {
                v |= (uint64_t)buf[b] << (8 * b);
            }
            if (!ieee_to_x87(v, op->size, &sig, &se)) {
                return unhandled(c, "x87 load of a denormal, infinity or NaN");
            }
        }
    } else {
        return unhandled(c, "unexpected operands");
    }
    x87_push(cpu, sig, se);
    return x87_done(c, bytes, lin);
}

static enum emu_result emu_fild(struct ctx *c, const uint8_t *bytes)
{
    struct emu_cpu *cpu = c->cpu;
    const cs_x86 *x = &c->insn->detail->x86;
    enum emu_result r = x87_precheck(c);
    if (r != EMU_DONE) {
        return r;
    }
    if (x->op_count != 1 || x->operands[0].type != X86_OP_MEM ||
        (x->operands[0].size != 2 && x->operands[0].size != 4 && x->operands[0].size != 8)) {
        return unhandled(c, "unexpected operands");
    }
    if (x87_valid(cpu, 7)) {
        return unhandled(c, "x87 stack overflow (the result depends on the IE mask)");
    }
    uint64_t v;
    unsigned size = x->operands[0].size;
    if ((r = read_operand(c, &x->operands[0], &v)) != EMU_DONE) {
        return r;
    }
    /* Sign-extend, then the exact 80-bit value: every 64-bit integer fits the significand. */
    int64_t n = size == 2 ? (int16_t)v : size == 4 ? (int32_t)v : (int64_t)v;
    uint64_t mag = n < 0 ? 0 - (uint64_t)n : (uint64_t)n;
    uint64_t sig = 0;
    uint16_t se = n < 0 ? 0x8000 : 0;
    if (mag) {
        int lz = __builtin_clzll(mag);
        sig = mag << lz;
        se |= (uint16_t)(16383 + 63 - lz);
    }
    uint64_t lin;
    if ((r = operand_linear(c, &x->operands[0].mem, size, false, &lin)) != EMU_DONE) {
        return r;
    }
    x87_push(cpu, sig, se);
    return x87_done(c, bytes, lin);
}

/* Zero or a normal number (the values the exact x87 paths below accept). */
static bool x87_plain(uint64_t sig, uint16_t se)
{
    unsigned exp = se & 0x7fff;
    return (exp == 0 && sig == 0) || (exp != 0 && exp != 0x7fff && (sig >> 63));
}

/* -1, 0, 1 for a < b, a == b, a > b; both plain (+0 equals -0). */
static int x87_cmp(uint64_t sa, uint16_t ea, uint64_t sb, uint16_t eb)
{
    int nega = sa == 0 ? 0 : (ea >> 15 ? -1 : 1), negb = sb == 0 ? 0 : (eb >> 15 ? -1 : 1);
    if (nega != negb) {
        return nega < negb ? -1 : 1;
    }
    if (nega == 0) {
        return 0;
    }
    /* Same sign: compare magnitudes (exponent, then significand), flipped when negative. */
    unsigned xa = ea & 0x7fff, xb = eb & 0x7fff;
    int mag = xa != xb ? (xa < xb ? -1 : 1) : sa != sb ? (sa < sb ? -1 : 1) : 0;
    return nega * mag;
}

static void x87_pop(struct emu_cpu *cpu)
{
    unsigned top = x87_top(cpu);
    cpu->fpu.ftwx &= (uint8_t) ~(1u << top);
    uint8_t st0[16];
    memcpy(st0, cpu->fpu.fpr[0], 16);
    memmove(cpu->fpu.fpr[0], cpu->fpu.fpr[1], 7 * sizeof(cpu->fpu.fpr[0]));
    memcpy(cpu->fpu.fpr[7], st0, 16); /* the freed register keeps its contents */
    x87_set_top(cpu, top + 1);
}

/* The ST(i) operand of a register form, or 8 when it is none. */
static unsigned x87_reg(const cs_x86_op *op)
{
    return op->type == X86_OP_REG && op->reg >= X86_REG_ST0 && op->reg <= X86_REG_ST7
               ? (unsigned)(op->reg - X86_REG_ST0)
               : 8;
}

/*
 * Exact register-only x87 instructions: fldz, fld1, fchs, fabs, fxch, and the comparisons
 * fcomi/fcomip/fucomi/fucomip (EFLAGS ZF PF CF, OF SF AF cleared). Empty registers (stack
 * faults), NaNs (unordered, IE), denormals (DE), infinities and unnormals are refused.
 */
static enum emu_result emu_x87_reg(struct ctx *c, const uint8_t *bytes)
{
    struct emu_cpu *cpu = c->cpu;
    const cs_x86 *x = &c->insn->detail->x86;
    enum emu_result r = x87_precheck(c);
    if (r != EMU_DONE) {
        return r;
    }
    unsigned id = c->insn->id;
    if (id == X86_INS_FLDZ || id == X86_INS_FLD1) {
        if (x87_valid(cpu, 7)) {
            return unhandled(c, "x87 stack overflow (the result depends on the IE mask)");
        }
        x87_push(cpu, id == X86_INS_FLD1 ? 1ull << 63 : 0, id == X86_INS_FLD1 ? 16383 : 0);
    } else {
        /* The other operand: ST(i) from the instruction, ST(1) when it names none. */
        unsigned i = 1;
        for (unsigned k = 0; k < x->op_count; k++) {
            unsigned reg = x87_reg(&x->operands[k]);
            if (reg == 8) {
                return unhandled(c, "unexpected operands");
            }
            if (reg != 0 || x->op_count == 1) {
                i = reg;
            }
        }
        bool two = id != X86_INS_FCHS && id != X86_INS_FABS;
        if (!x87_valid(cpu, 0) || (two && !x87_valid(cpu, i))) {
            return unhandled(c, "x87 stack underflow (the result depends on the IE mask)");
        }
        uint64_t s0, si;
        uint16_t e0, ei;
        x87_get(cpu, 0, &s0, &e0);
        x87_get(cpu, i, &si, &ei);
        if (!x87_plain(s0, e0) || (two && !x87_plain(si, ei))) {
            return unhandled(c, "x87 operand that is a NaN, infinity, denormal or unnormal");
        }
        if (id == X86_INS_FCHS || id == X86_INS_FABS) {
            e0 = (uint16_t)(id == X86_INS_FCHS ? e0 ^ 0x8000 : e0 & 0x7fff);
            memcpy(cpu->fpu.fpr[0] + 8, &e0, 2);
        } else if (id == X86_INS_FXCH) {
            uint8_t tmp[16];
            memcpy(tmp, cpu->fpu.fpr[0], 16);
            memcpy(cpu->fpu.fpr[0], cpu->fpu.fpr[i], 16);
            memcpy(cpu->fpu.fpr[i], tmp, 16);
        } else {
            int cmp = x87_cmp(s0, e0, si, ei);
            cpu->regs.rflags &= ~(FL_CF | FL_PF | FL_AF | FL_ZF | FL_SF | FL_OF);
            cpu->regs.rflags |= cmp == 0 ? FL_ZF : cmp < 0 ? FL_CF : 0;
            if (id == X86_INS_FCOMIP || id == X86_INS_FUCOMIP) {
                x87_pop(cpu);
            }
        }
        cpu->fpu.fsw &= (uint16_t)~FSW_C1;
    }
    return x87_done(c, bytes, cpu->fpu.last_dp);
}

/*
 * fcmovcc st(0), st(i) (SDM vol. 2 FCMOVcc): ST(0) = ST(i) when the EFLAGS condition holds.
 * Both registers must be in use (a stack underflow is refused).
 */
static enum emu_result emu_fcmov(struct ctx *c, const uint8_t *bytes)
{
    struct emu_cpu *cpu = c->cpu;
    const cs_x86 *x = &c->insn->detail->x86;
    enum emu_result r = x87_precheck(c);
    if (r != EMU_DONE) {
        return r;
    }
    unsigned i = x->op_count == 2 ? x87_reg(&x->operands[1]) : 8;
    if (i > 7 || x87_reg(&x->operands[0]) != 0) {
        return unhandled(c, "unexpected operands");
    }
    if (!x87_valid(cpu, 0) || !x87_valid(cpu, i)) {
        return unhandled(c, "x87 stack underflow (the result depends on the IE mask)");
    }
    uint64_t f = cpu->regs.rflags;
    bool cf = f & FL_CF, zf = f & FL_ZF, pf = f & FL_PF, take;
    switch (c->insn->id) {
    case X86_INS_FCMOVB:
        take = cf;
        break;
    case X86_INS_FCMOVE:
        take = zf;
        break;
    case X86_INS_FCMOVBE:
        take = cf || zf;
        break;
    case X86_INS_FCMOVU:
        take = pf;
        break;
    case X86_INS_FCMOVNB:
        take = !cf;
        break;
    case X86_INS_FCMOVNE:
        take = !zf;
        break;
    case X86_INS_FCMOVNBE:
        take = !cf && !zf;
        break;
    default: /* FCMOVNU */
        take = !pf;
        break;
    }
    if (take) {
        memcpy(cpu->fpu.fpr[0], cpu->fpu.fpr[i], 10);
    }
    cpu->fpu.fsw &= (uint16_t)~FSW_C1;
    return x87_done(c, bytes, cpu->fpu.last_dp);
}

/*
 * a * b or a + b on the host's x87 under the guest's precision and rounding control, with
 * every exception masked: the same hardware rules give the same result and flags. Returns
 * the host status word (exception flags, C1 = rounded up).
 */
static uint16_t host_x87_op(uint16_t guest_fcw, bool mul, const uint8_t a[10], const uint8_t b[10],
                            uint8_t out[10])
{
    uint16_t saved, sw, cw = (uint16_t)(guest_fcw | FSW_EXC_MASK);
    volatile long double x, y, res;
    memset((void *)&x, 0, sizeof(x));
    memset((void *)&y, 0, sizeof(y));
    memcpy((void *)&x, a, 10);
    memcpy((void *)&y, b, 10);
    __asm__ volatile("fnstcw %0" : "=m"(saved));
    __asm__ volatile("fldcw %0\n\tfnclex" : : "m"(cw) : "memory");
    res = mul ? x * y : x + y;
    __asm__ volatile("fnstsw %0" : "=m"(sw) : : "memory");
    __asm__ volatile("fnclex\n\tfldcw %0" : : "m"(saved) : "memory");
    memcpy(out, (const void *)&res, 10);
    return sw;
}

/*
 * fmul/fadd with an m32/m64 operand (ST(0) op= m), st(0), st(i) (the first is the
 * destination), and the popping fmulp/faddp st(i), st(0). Operands must be zero or normal
 * numbers; a flag the operation raises that the guest has unmasked (it would take #MF with
 * other results) is refused; masked flags are ORed into FSW, C1 as the host computed it.
 */
static enum emu_result emu_fmul_fadd(struct ctx *c, const uint8_t *bytes)
{
    struct emu_cpu *cpu = c->cpu;
    const cs_x86 *x = &c->insn->detail->x86;
    enum emu_result r = x87_precheck(c);
    if (r != EMU_DONE) {
        return r;
    }
    unsigned id = c->insn->id;
    bool mul = id == X86_INS_FMUL || id == X86_INS_FMULP;
    bool pop = id == X86_INS_FMULP || id == X86_INS_FADDP;
    unsigned dst = 0, src = 8;
    uint8_t a[10], b[10];
    uint64_t lin = cpu->fpu.last_dp;
    if (x->op_count == 1 && x->operands[0].type == X86_OP_MEM && !pop &&
        (x->operands[0].size == 4 || x->operands[0].size == 8)) {
        const cs_x86_op *op = &x->operands[0];
        uint64_t v = 0, sig;
        uint16_t se;
        if ((r = operand_linear(c, &op->mem, op->size, false, &lin)) != EMU_DONE ||
            (r = read_operand(c, op, &v)) != EMU_DONE) {
            return r;
        }
        if (!ieee_to_x87(v, op->size, &sig, &se)) {
            return unhandled(c, "x87 operand that is a NaN, infinity or denormal");
        }
        memcpy(b, &sig, 8);
        memcpy(b + 8, &se, 2);
    } else if (x->op_count >= 1 && x->operands[0].type == X86_OP_REG) {
        /*
         * Register forms by opcode (capstone 4 prints D8 C0+i and DE C0+i both with one
         * operand): D8 is ST(0) op= ST(i), DC is ST(i) op= ST(0), DE the same and pops.
         */
        size_t k = 0;
        while (k + 1 < c->insn->size && (bytes[k] < 0xd8 || bytes[k] > 0xdf)) {
            k++;
        }
        unsigned i = bytes[k + 1] & 7;
        if (bytes[k + 1] < 0xc0 || (bytes[k] != 0xd8 && bytes[k] != 0xdc && bytes[k] != 0xde) ||
            (bytes[k] == 0xde) != pop) {
            return unhandled(c, "unexpected operands");
        }
        dst = bytes[k] == 0xd8 ? 0 : i;
        src = bytes[k] == 0xd8 ? i : 0;
        if (!x87_valid(cpu, src)) {
            return unhandled(c, "x87 stack underflow (the result depends on the IE mask)");
        }
        memcpy(b, cpu->fpu.fpr[src], 10);
    } else {
        return unhandled(c, "unexpected operands");
    }
    if (!x87_valid(cpu, dst)) {
        return unhandled(c, "x87 stack underflow (the result depends on the IE mask)");
    }
    memcpy(a, cpu->fpu.fpr[dst], 10);
    uint64_t sa, sb;
    uint16_t ea, eb;
    memcpy(&sa, a, 8);
    memcpy(&ea, a + 8, 2);
    memcpy(&sb, b, 8);
    memcpy(&eb, b + 8, 2);
    if (!x87_plain(sa, ea) || !x87_plain(sb, eb)) {
        return unhandled(c, "x87 operand that is a NaN, infinity, denormal or unnormal");
    }
    uint8_t out[10];
    uint16_t sw = host_x87_op(cpu->fpu.fcw, mul, a, b, out);
    uint16_t raised = sw & FSW_EXC_MASK;
    if (raised & ~cpu->fpu.fcw & FSW_EXC_MASK) {
        return unhandled(c, "x87 exception the guest has unmasked");
    }
    memcpy(cpu->fpu.fpr[dst], out, 10);
    cpu->fpu.fsw = (uint16_t)((cpu->fpu.fsw & ~FSW_C1) | raised | (sw & FSW_C1));
    if (pop) {
        x87_pop(cpu);
    }
    return x87_done(c, bytes, lin);
}

/* ST(0) converted to an integer of size bytes on the host's x87 under the guest's FCW (RC). */
static uint16_t host_x87_fist(uint16_t guest_fcw, const uint8_t a[10], unsigned size, uint64_t *out)
{
    uint16_t saved, sw, cw = (uint16_t)(guest_fcw | FSW_EXC_MASK);
    long double x;
    memset(&x, 0, sizeof(x));
    memcpy(&x, a, 10);
    int16_t i16 = 0;
    int32_t i32 = 0;
    int64_t i64 = 0;
    __asm__ volatile("fnstcw %0" : "=m"(saved));
    __asm__ volatile("fldcw %0\n\tfnclex" : : "m"(cw) : "memory");
    if (size == 2) {
        __asm__ volatile("fldt %2\n\tfistps %0\n\tfnstsw %1" : "=m"(i16), "=m"(sw) : "m"(x));
    } else if (size == 4) {
        __asm__ volatile("fldt %2\n\tfistpl %0\n\tfnstsw %1" : "=m"(i32), "=m"(sw) : "m"(x));
    } else {
        __asm__ volatile("fldt %2\n\tfistpll %0\n\tfnstsw %1" : "=m"(i64), "=m"(sw) : "m"(x));
    }
    __asm__ volatile("fnclex\n\tfldcw %0" : : "m"(saved) : "memory");
    *out = size == 2   ? (uint64_t)(uint16_t)i16
           : size == 4 ? (uint64_t)(uint32_t)i32
                       : (uint64_t)i64;
    return sw;
}

/*
 * fist m16/m32, fistp m16/m32/m64: ST(0) rounded by FCW.RC (SDM vol. 2 FIST/FISTP). An
 * exception the guest has unmasked (IE for out of range, PE when inexact) is refused.
 */
static enum emu_result emu_fist(struct ctx *c, const uint8_t *bytes, bool pop)
{
    struct emu_cpu *cpu = c->cpu;
    const cs_x86 *x = &c->insn->detail->x86;
    enum emu_result r = x87_precheck(c);
    if (r != EMU_DONE) {
        return r;
    }
    const cs_x86_op *op = &x->operands[0];
    if (x->op_count != 1 || op->type != X86_OP_MEM ||
        (op->size != 2 && op->size != 4 && (op->size != 8 || !pop))) {
        return unhandled(c, "unexpected operands");
    }
    if (!x87_valid(cpu, 0)) {
        return unhandled(c, "x87 stack underflow (the result depends on the IE mask)");
    }
    uint64_t sig;
    uint16_t se;
    x87_get(cpu, 0, &sig, &se);
    if (!x87_plain(sig, se)) {
        return unhandled(c, "x87 operand that is a NaN, infinity, denormal or unnormal");
    }
    uint64_t v, lin;
    uint16_t sw = host_x87_fist(cpu->fpu.fcw, cpu->fpu.fpr[0], op->size, &v);
    uint16_t raised = sw & FSW_EXC_MASK;
    if (raised & ~cpu->fpu.fcw & FSW_EXC_MASK) {
        return unhandled(c, "x87 exception the guest has unmasked");
    }
    if ((r = operand_linear(c, &op->mem, op->size, true, &lin)) != EMU_DONE) {
        return r;
    }
    if (alignment_fault(cpu, lin, op->size)) {
        return fault(c, EMU_VEC_AC, true, 0);
    }
    uint8_t buf[8];
    for (unsigned b = 0; b < op->size; b++) {
        buf[b] = (uint8_t)(v >> (8 * b));
    }
    int err = cpu->write_virt ? cpu->write_virt(cpu->opaque, lin, buf, op->size) : -EFAULT;
    if (err) {
        return access_failed(c, err, lin);
    }
    cpu->fpu.fsw = (uint16_t)((cpu->fpu.fsw & ~FSW_C1) | raised | (sw & FSW_C1));
    if (pop) {
        x87_pop(cpu);
    }
    return x87_done(c, bytes, lin);
}

static enum emu_result emu_fst(struct ctx *c, const uint8_t *bytes, bool pop)
{
    struct emu_cpu *cpu = c->cpu;
    const cs_x86 *x = &c->insn->detail->x86;
    enum emu_result r = x87_precheck(c);
    if (r != EMU_DONE) {
        return r;
    }
    if (x->op_count != 1) {
        return unhandled(c, "unexpected operands");
    }
    if (!x87_valid(cpu, 0)) {
        return unhandled(c, "x87 stack underflow (the result depends on the IE mask)");
    }
    uint64_t sig;
    uint16_t se;
    x87_get(cpu, 0, &sig, &se);
    const cs_x86_op *op = &x->operands[0];
    uint64_t lin = cpu->fpu.last_dp;
    if (op->type == X86_OP_REG) {
        unsigned i = op->reg >= X86_REG_ST0 && op->reg <= X86_REG_ST7 ? op->reg - X86_REG_ST0 : 8;
        if (i > 7) {
            return unhandled(c, "unexpected register");
        }
        memcpy(cpu->fpu.fpr[i], cpu->fpu.fpr[0], 10);
        cpu->fpu.ftwx |= (uint8_t)(1u << ((x87_top(cpu) + i) & 7));
    } else if (op->type == X86_OP_MEM && (op->size == 4 || op->size == 8 || op->size == 10)) {
        uint8_t buf[10];
        if (op->size == 10) {
            memcpy(buf, cpu->fpu.fpr[0], 10); /* m80: the register image itself */
        } else {
            uint64_t v;
            if (!x87_to_ieee(sig, se, op->size, &v)) {
                return unhandled(c, "x87 store that would round or of a special value");
            }
            for (unsigned b = 0; b < op->size; b++) {
                buf[b] = (uint8_t)(v >> (8 * b));
            }
        }
        if ((r = operand_linear(c, &op->mem, op->size, true, &lin)) != EMU_DONE) {
            return r;
        }
        if (alignment_fault(cpu, lin, op->size == 10 ? 8 : op->size)) {
            return fault(c, EMU_VEC_AC, true, 0);
        }
        int err = cpu->write_virt ? cpu->write_virt(cpu->opaque, lin, buf, op->size) : -EFAULT;
        if (err) {
            return access_failed(c, err, lin);
        }
    } else {
        return unhandled(c, "unexpected operands");
    }
    if (pop) {
        x87_pop(cpu);
    }
    cpu->fpu.fsw &= (uint16_t)~FSW_C1; /* exact: not rounded up */
    return x87_done(c, bytes, lin);
}

static enum emu_result emu_clac_stac(struct ctx *c, const uint8_t *bytes, bool set)
{
    struct emu_cpu *cpu = c->cpu;
    /*
     * SDM vol. 2, CLAC/STAC: #UD in real-address mode and when CPL > 0 (virtual-8086 mode is
     * refused before decoding). The guest's CPUID.7.0:EBX.SMAP is not consulted, as for popcnt:
     * a CPU that has SMAP executes the instruction whatever the hypervisor's CPUID says.
     */
    if (!(cpu->sregs.cr0 & CR0_PE) || cpl(cpu) > 0) {
        return fault(c, EMU_VEC_UD, false, 0);
    }
    /*
     * With F2/F3 the same opcode bytes are other instructions (ERETS/ERETU on FRED CPUs) and
     * 66 is not documented for these opcodes: refuse rather than guess what the CPU does.
     */
    for (size_t i = 0; i < c->insn->size && bytes[i] != 0x0f; i++) {
        if (bytes[i] == 0x66 || bytes[i] == 0xf2 || bytes[i] == 0xf3) {
            return unhandled(c, "66/F2/F3 prefix (another instruction on some CPUs)");
        }
    }
    if (set) {
        cpu->regs.rflags |= FL_AC;
    } else {
        cpu->regs.rflags &= ~FL_AC;
    }
    advance(c);
    say(c, "emulated '%s'", set ? "stac" : "clac");
    return EMU_DONE;
}

static bool is_legacy_prefix(uint8_t b)
{
    return b == 0x66 || b == 0x67 || b == 0xf0 || b == 0xf2 || b == 0xf3 || b == 0x2e ||
           b == 0x36 || b == 0x3e || b == 0x26 || b == 0x64 || b == 0x65;
}

static bool fcmov_id(unsigned id)
{
    return id == X86_INS_FCMOVB || id == X86_INS_FCMOVBE || id == X86_INS_FCMOVE ||
           id == X86_INS_FCMOVNB || id == X86_INS_FCMOVNBE || id == X86_INS_FCMOVNE ||
           id == X86_INS_FCMOVNU || id == X86_INS_FCMOVU;
}

static enum emu_result dispatch(struct ctx *c, const uint8_t *bytes)
{
    bool known =
        c->insn->id == X86_INS_INT3 || c->insn->id == X86_INS_POPCNT ||
        c->insn->id == X86_INS_LDMXCSR || c->insn->id == X86_INS_STMXCSR ||
        c->insn->id == X86_INS_VLDMXCSR || c->insn->id == X86_INS_VSTMXCSR ||
        c->insn->id == X86_INS_WAIT || c->insn->id == X86_INS_CLAC || c->insn->id == X86_INS_STAC ||
        c->insn->id == X86_INS_FLDCW || c->insn->id == X86_INS_FNSTCW ||
        c->insn->id == X86_INS_FNSTSW || c->insn->id == X86_INS_FNINIT ||
        c->insn->id == X86_INS_FNCLEX || c->insn->id == X86_INS_FILD ||
        c->insn->id == X86_INS_FLD || c->insn->id == X86_INS_FST || c->insn->id == X86_INS_FLDZ ||
        c->insn->id == X86_INS_FLD1 || c->insn->id == X86_INS_FCHS || c->insn->id == X86_INS_FABS ||
        c->insn->id == X86_INS_FXCH || c->insn->id == X86_INS_FCOMI ||
        c->insn->id == X86_INS_FCOMIP || c->insn->id == X86_INS_FUCOMI ||
        c->insn->id == X86_INS_FUCOMIP || c->insn->id == X86_INS_FSTP || fcmov_id(c->insn->id) ||
        c->insn->id == X86_INS_FMUL || c->insn->id == X86_INS_FMULP ||
        c->insn->id == X86_INS_FADD || c->insn->id == X86_INS_FADDP ||
        c->insn->id == X86_INS_FIST || c->insn->id == X86_INS_FISTP;
    if (!known) {
        return unhandled(c, "no emulation");
    }
    /*
     * Look at the prefix bytes ourselves: capstone keeps one of LOCK/REP/REPNE only, and
     * decodes F2 F3 together where the SDM leaves the outcome undefined.
     */
    bool lock = false, f2 = false, f3 = false;
    for (size_t i = 0; i < c->insn->size && is_legacy_prefix(bytes[i]); i++) {
        lock |= bytes[i] == LOCK_PREFIX;
        f2 |= bytes[i] == 0xf2;
        f3 |= bytes[i] == 0xf3;
    }
    if (lock) {
        /* None of these instructions accepts LOCK (SDM vol. 2, 2.1.1): #UD. */
        return fault(c, EMU_VEC_UD, false, 0);
    }
    if (f2 && f3) {
        return unhandled(c, "both F2 and F3 prefixes (architecturally undefined)");
    }
    switch (c->insn->id) {
    case X86_INS_INT3:
        return emu_int3(c);
    case X86_INS_POPCNT:
        return emu_popcnt(c);
    case X86_INS_LDMXCSR:
        return emu_mxcsr(c, bytes, true, false);
    case X86_INS_STMXCSR:
        return emu_mxcsr(c, bytes, false, false);
    case X86_INS_VLDMXCSR:
        return emu_mxcsr(c, bytes, true, true);
    case X86_INS_VSTMXCSR:
        return emu_mxcsr(c, bytes, false, true);
    case X86_INS_WAIT:
        return emu_fwait(c);
    case X86_INS_CLAC:
        return emu_clac_stac(c, bytes, false);
    case X86_INS_STAC:
        return emu_clac_stac(c, bytes, true);
    case X86_INS_FLDCW:
    case X86_INS_FNSTCW:
    case X86_INS_FNSTSW:
    case X86_INS_FNINIT:
    case X86_INS_FNCLEX:
        return emu_x87_control(c);
    case X86_INS_FILD:
        return emu_fild(c, bytes);
    case X86_INS_FLD:
        return emu_fld(c, bytes);
    case X86_INS_FLDZ:
    case X86_INS_FLD1:
    case X86_INS_FCHS:
    case X86_INS_FABS:
    case X86_INS_FXCH:
    case X86_INS_FCOMI:
    case X86_INS_FCOMIP:
    case X86_INS_FUCOMI:
    case X86_INS_FUCOMIP:
        return emu_x87_reg(c, bytes);
    case X86_INS_FCMOVB:
    case X86_INS_FCMOVBE:
    case X86_INS_FCMOVE:
    case X86_INS_FCMOVNB:
    case X86_INS_FCMOVNBE:
    case X86_INS_FCMOVNE:
    case X86_INS_FCMOVNU:
    case X86_INS_FCMOVU:
        return emu_fcmov(c, bytes);
    case X86_INS_FMUL:
    case X86_INS_FMULP:
    case X86_INS_FADD:
    case X86_INS_FADDP:
        return emu_fmul_fadd(c, bytes);
    case X86_INS_FIST:
        return emu_fist(c, bytes, false);
    case X86_INS_FISTP:
        return emu_fist(c, bytes, true);
    case X86_INS_FST:
        return emu_fst(c, bytes, false);
    case X86_INS_FSTP:
        return emu_fst(c, bytes, true);
    default:
        return unhandled(c, "no emulation");
    }
}

static cs_mode cs_mode_for(unsigned bits)
{
    return bits == 64 ? CS_MODE_64 : bits == 32 ? CS_MODE_32 : CS_MODE_16;
}

enum emu_result emulate_insn(struct emu_cpu *cpu, const uint8_t *bytes, size_t len, char *why,
                             size_t whylen)
{
    struct ctx c = {.cpu = cpu, .why = why, .whylen = whylen};
    if (why && whylen) {
        why[0] = '\0';
    }
    cpu->inject = false;
    cpu->vector = 0;
    cpu->has_error_code = false;
    cpu->error_code = 0;

    if (!bytes || len == 0) {
        say(&c, "no instruction bytes");
        return EMU_UNHANDLED;
    }
    c.bits = emulate_code_bits(cpu);
    if (c.bits == 0) {
        say(&c, "virtual-8086 mode is not emulated");
        return EMU_UNHANDLED;
    }
    /* A single-step #DB or a data breakpoint hit would follow the instruction: refuse. */
    if (cpu->regs.rflags & FL_TF) {
        say(&c, "single-stepping (RFLAGS.TF) is not emulated");
        return EMU_UNHANDLED;
    }
    if (cpu->dr7 & DR7_ENABLE_MASK) {
        say(&c, "hardware breakpoints enabled in DR7 (%#" PRIx64 ") are not emulated", cpu->dr7);
        return EMU_UNHANDLED;
    }

    csh h;
    if (cs_open(CS_ARCH_X86, cs_mode_for(c.bits), &h) != CS_ERR_OK) {
        say(&c, "capstone unavailable");
        return EMU_UNHANDLED;
    }
    cs_option(h, CS_OPT_DETAIL, CS_OPT_ON);
    size_t n = len > EMU_MAX_INSN ? EMU_MAX_INSN : len;
    cs_insn *insn = NULL;
    enum emu_result res;
    /* Snapshot so an EMU_UNHANDLED or a fault leaves the caller's state exactly as it was. */
    struct kvm_regs saved_regs = cpu->regs;
    struct kvm_fpu saved_fpu = cpu->fpu;
    if (cs_disasm(h, bytes, n, cpu->regs.rip, 1, &insn) != 1) {
        say(&c, "cannot decode %zu instruction byte%s%s", n, n == 1 ? "" : "s",
            n < EMU_MAX_INSN ? " (truncated?)" : "");
        res = EMU_UNHANDLED;
    } else if (insn->size > n) {
        say(&c, "instruction is %u bytes but only %zu were fetched", insn->size, n);
        res = EMU_UNHANDLED;
    } else {
        c.insn = insn;
        res = dispatch(&c, bytes);
    }
    if (res == EMU_UNHANDLED || (res == EMU_INJECT && cpu->vector != EMU_VEC_BP)) {
        cpu->regs = saved_regs;
        cpu->fpu = saved_fpu;
        cpu->regs_dirty = false;
        cpu->fpu_dirty = false;
    }
    if (insn) {
        cs_free(insn, 1);
    }
    cs_close(&h);
    return res;
}

struct out {
    char *p;
    size_t len, cap;
};

static void put(struct out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct out *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    size_t room = o->len < o->cap ? o->cap - o->len : 0;
    int n = vsnprintf(room ? o->p + o->len : NULL, room, fmt, ap);
    va_end(ap);
    if (n > 0) {
        o->len += (size_t)n;
    }
}

static const char *mode_name(const struct emu_cpu *cpu)
{
    switch (emulate_code_bits(cpu)) {
    case 64:
        return "64-bit long mode";
    case 32:
        return (cpu->sregs.efer & EFER_LMA) ? "32-bit compatibility mode" : "32-bit protected mode";
    case 16:
        if (!(cpu->sregs.cr0 & CR0_PE)) {
            return "16-bit real mode";
        }
        return (cpu->sregs.efer & EFER_LMA) ? "16-bit compatibility mode" : "16-bit protected mode";
    default:
        return "virtual-8086 mode";
    }
}

static void put_seg(struct out *o, const char *name, const struct kvm_segment *s)
{
    put(o, "  %s sel=%04x base=%016llx limit=%08x type=%x s=%u dpl=%u p=%u db=%u l=%u g=%u%s\n",
        name, s->selector, (unsigned long long)s->base, s->limit, s->type, s->s, s->dpl, s->present,
        s->db, s->l, s->g, s->unusable ? " unusable" : "");
}

size_t emulate_report(const struct emu_cpu *cpu, int vcpu_index, const uint8_t *bytes, size_t len,
                      const char *why, char *out, size_t outlen)
{
    struct out o = {.p = out, .cap = outlen};
    const struct kvm_regs *r = &cpu->regs;
    const struct kvm_sregs *s = &cpu->sregs;
    if (out && outlen) {
        out[0] = '\0';
    }
    put(&o, "vCPU %d: instruction not emulated at RIP %016llx (CS:RIP %04x:%016llx, %s)\n",
        vcpu_index, (unsigned long long)r->rip, s->cs.selector, (unsigned long long)r->rip,
        mode_name(cpu));
    if (why && why[0]) {
        put(&o, "  reason: %s\n", why);
    }
    size_t n = bytes ? (len > EMU_MAX_INSN ? EMU_MAX_INSN : len) : 0;
    put(&o, "  bytes:");
    for (size_t i = 0; i < n; i++) {
        put(&o, " %02x", bytes[i]);
    }
    put(&o, "%s\n", n ? "" : " (none)");

    unsigned bits = emulate_code_bits(cpu);
    csh h;
    bool shown = false;
    if (n && cs_open(CS_ARCH_X86, cs_mode_for(bits ? bits : 16), &h) == CS_ERR_OK) {
        cs_insn *insn = NULL;
        if (cs_disasm(h, bytes, n, r->rip, 1, &insn) == 1) {
            put(&o, "  disassembly (%u-bit): %s %s  [%u bytes]\n", bits ? bits : 16, insn->mnemonic,
                insn->op_str, insn->size);
            shown = true;
            cs_free(insn, 1);
        }
        cs_close(&h);
    }
    if (!shown) {
        put(&o, "  disassembly: (undecodable)\n");
    }
    put(&o,
        "  rax=%016llx rbx=%016llx rcx=%016llx rdx=%016llx\n"
        "  rsi=%016llx rdi=%016llx rbp=%016llx rsp=%016llx\n"
        "  r8 =%016llx r9 =%016llx r10=%016llx r11=%016llx\n"
        "  r12=%016llx r13=%016llx r14=%016llx r15=%016llx\n"
        "  rip=%016llx rflags=%016llx\n",
        r->rax, r->rbx, r->rcx, r->rdx, r->rsi, r->rdi, r->rbp, r->rsp, r->r8, r->r9, r->r10,
        r->r11, r->r12, r->r13, r->r14, r->r15, r->rip, r->rflags);
    put_seg(&o, "cs", &s->cs);
    put_seg(&o, "ss", &s->ss);
    put_seg(&o, "ds", &s->ds);
    put_seg(&o, "es", &s->es);
    put_seg(&o, "fs", &s->fs);
    put_seg(&o, "gs", &s->gs);
    put_seg(&o, "tr", &s->tr);
    put_seg(&o, "ldt", &s->ldt);
    put(&o, "  gdt=%016llx/%04x idt=%016llx/%04x\n", s->gdt.base, s->gdt.limit, s->idt.base,
        s->idt.limit);
    put(&o, "  cr0=%016llx cr2=%016llx cr3=%016llx cr4=%016llx cr8=%llx efer=%llx\n", s->cr0,
        s->cr2, s->cr3, s->cr4, s->cr8, s->efer);
    put(&o, "  mxcsr=%08x fcw=%04x fsw=%04x\n", cpu->fpu.mxcsr, cpu->fpu.fcw, cpu->fpu.fsw);
    return o.len;
}
