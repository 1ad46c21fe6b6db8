// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * KVM glue for the emulation-failure fallback: gathers the vCPU state and the failing
 * instruction's bytes, runs emulate_insn(), and writes the outcome back through the KVM API.
 * Guest linear memory is reached through our own page walk (SDM vol. 3, ch. 4) rather than
 * KVM_TRANSLATE, which reports neither user/supervisor nor write permission and sets no
 * accessed/dirty bits: a guest kernel must see the dirty bit of a page stmxcsr wrote.
 */
#include "vmm/emulate_kvm.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>

#include "vmm/emulate.h"

#define CR0_PE (1ull << 0)
#define CR0_WP (1ull << 16)
#define CR0_PG (1ull << 31)
#define CR4_PSE (1ull << 4)
#define CR4_PAE (1ull << 5)
#define CR4_LA57 (1ull << 12)
#define CR4_SMAP (1ull << 21)
#define CR4_PKE (1ull << 22)
#define EFER_LMA (1ull << 10)
#define RFLAGS_AC (1ull << 18)

#define PTE_P (1ull << 0)
#define PTE_RW (1ull << 1)
#define PTE_US (1ull << 2)
#define PTE_A (1ull << 5)
#define PTE_D (1ull << 6)
#define PTE_PS (1ull << 7)
#define PTE_ADDR 0x000ffffffffff000ull

#define PAGE_SIZE 4096ull
#define MAX_LEVELS 5

static uint64_t pte_load(void *p, unsigned size)
{
    /* Another vCPU may update the entry at the same time: read it once, atomically. */
    if (size == 8) {
        return __atomic_load_n((uint64_t *)p, __ATOMIC_ACQUIRE);
    }
    return __atomic_load_n((uint32_t *)p, __ATOMIC_ACQUIRE);
}

static void pte_set(void *p, unsigned size, uint64_t bits)
{
    /* The CPU sets accessed/dirty bits with locked operations; so do we. */
    if (size == 8) {
        __atomic_fetch_or((uint64_t *)p, bits, __ATOMIC_ACQ_REL);
    } else {
        __atomic_fetch_or((uint32_t *)p, (uint32_t)bits, __ATOMIC_ACQ_REL);
    }
}

int emulate_kvm_translate(const struct guest_mem *mem, const struct kvm_sregs *s, uint64_t rflags,
                          uint64_t gva, bool write, uint64_t *gpa)
{
    if (!(s->cr0 & CR0_PG)) {
        *gpa = gva;
        return 0;
    }
    bool user = (s->cr0 & CR0_PE) && s->ss.dpl == 3;
    unsigned levels, esize;
    uint64_t table;
    bool pae_pdpt = false;
    if (s->efer & EFER_LMA) {
        levels = (s->cr4 & CR4_LA57) ? 5 : 4;
        esize = 8;
        table = s->cr3 & PTE_ADDR;
    } else if (s->cr4 & CR4_PAE) {
        /* PAE: the 4 PDPTEs are read here from memory, not from the CPU's cached copy. */
        levels = 3;
        esize = 8;
        table = s->cr3 & 0xffffffe0ull;
        pae_pdpt = true;
        gva &= 0xffffffffull;
    } else {
        levels = 2;
        esize = 4;
        table = s->cr3 & 0xfffff000ull;
        gva &= 0xffffffffull;
    }

    void *entries[MAX_LEVELS];
    unsigned nentries = 0;
    bool allow_user = true, allow_write = true;
    for (unsigned level = levels; level >= 1; level--) {
        unsigned shift = esize == 8 ? 12 + 9 * (level - 1) : 12 + 10 * (level - 1);
        uint64_t idx = (gva >> shift) & (esize == 8 ? 0x1ff : 0x3ff);
        if (pae_pdpt && level == 3) {
            idx = (gva >> 30) & 3;
        }
        void *p = guest_mem_ptr(mem, table + idx * esize, esize); /* guest-controlled */
        if (!p) {
            return -EFAULT;
        }
        uint64_t e = pte_load(p, esize);
        if (!(e & PTE_P)) {
            return -EFAULT;
        }
        bool pdpte = pae_pdpt && level == 3; /* PAE PDPTEs carry no R/W or U/S bits */
        if (!pdpte) {
            entries[nentries++] = p;
            allow_write = allow_write && (e & PTE_RW);
            allow_user = allow_user && (e & PTE_US);
        }
        bool large = !pdpte && (e & PTE_PS) &&
                     (esize == 8 ? (level == 2 || level == 3) : (level == 2 && (s->cr4 & CR4_PSE)));
        if (level == 1 || large) {
            uint64_t off_mask = (1ull << shift) - 1;
            uint64_t frame;
            if (esize == 8) {
                frame = e & PTE_ADDR & ~off_mask;
            } else if (large) {
                /* PSE-36: bits 13-20 of a 4 MiB PDE are physical address bits 32-39. */
                frame = (e & 0xffc00000ull) | (((e >> 13) & 0xffull) << 32);
            } else {
                frame = e & 0xfffff000ull;
            }
            if (user && !allow_user) {
                return -EACCES;
            }
            if (write && !allow_write && (user || (s->cr0 & CR0_WP))) {
                return -EACCES;
            }
            if (!user && allow_user && (s->cr4 & CR4_SMAP) && !(rflags & RFLAGS_AC)) {
                return -EACCES;
            }
            if (allow_user && (s->cr4 & CR4_PKE)) {
                return -EOPNOTSUPP; /* PKRU decides, and it is not in the state we read */
            }
            for (unsigned i = 0; i < nentries; i++) {
                pte_set(entries[i], esize, PTE_A | (write && i == nentries - 1 ? PTE_D : 0));
            }
            *gpa = frame | (gva & off_mask);
            return 0;
        }
        table = e & (esize == 8 ? PTE_ADDR : 0xfffff000ull);
    }
    return -EFAULT;
}

struct kvm_mem_ctx {
    const struct guest_mem *mem;
    const struct emulate_rom *rom; /* NULL: none */
    const struct emu_cpu *cpu;
};

/* Host pointer for [gva, gva+n), n not crossing a page. */
static int chunk_ptr(struct kvm_mem_ctx *k, uint64_t gva, size_t n, bool write, uint8_t **p)
{
    uint64_t gpa;
    int err = emulate_kvm_translate(k->mem, &k->cpu->sregs, k->cpu->regs.rflags, gva, write, &gpa);
    if (err) {
        return err;
    }
    *p = guest_mem_ptr(k->mem, gpa, n); /* guest-controlled */
    /* guest-controlled: reads only, and the whole chunk inside the ROM */
    if (!*p && !write && k->rom && gpa >= k->rom->gpa && n <= k->rom->size &&
        gpa - k->rom->gpa <= k->rom->size - n) {
        *p = (uint8_t *)(uintptr_t)(k->rom->data + (gpa - k->rom->gpa));
    }
    return *p ? 0 : -EFAULT;
}

static size_t page_chunk(uint64_t gva, size_t len)
{
    size_t room = (size_t)(PAGE_SIZE - (gva & (PAGE_SIZE - 1)));
    return len < room ? len : room;
}

static int kvm_read_virt(void *opaque, uint64_t gva, void *buf, size_t len)
{
    uint8_t *out = buf;
    while (len) {
        size_t n = page_chunk(gva, len);
        uint8_t *p;
        int err = chunk_ptr(opaque, gva, n, false, &p);
        if (err) {
            return err;
        }
        memcpy(out, p, n);
        out += n;
        gva += n;
        len -= n;
    }
    return 0;
}

static int kvm_write_virt(void *opaque, uint64_t gva, const void *buf, size_t len)
{
    /* Translate every page first so a fault on the second page writes nothing. */
    uint8_t *ptrs[2];
    size_t sizes[2];
    unsigned nchunks = 0;
    uint64_t a = gva;
    size_t left = len;
    while (left) {
        if (nchunks == 2) {
            return -EOPNOTSUPP; /* emulated stores are at most 8 bytes */
        }
        size_t n = page_chunk(a, left);
        int err = chunk_ptr(opaque, a, n, true, &ptrs[nchunks]);
        if (err) {
            return err;
        }
        sizes[nchunks++] = n;
        a += n;
        left -= n;
    }
    const uint8_t *in = buf;
    for (unsigned i = 0; i < nchunks; i++) {
        memcpy(ptrs[i], in, sizes[i]);
        in += sizes[i];
    }
    return 0;
}

/* Fetch up to EMU_MAX_INSN bytes at CS:RIP, stopping at the first page we cannot read. */
static size_t fetch_insn(struct kvm_mem_ctx *k, uint8_t *buf)
{
    const struct emu_cpu *cpu = k->cpu;
    unsigned bits = emulate_code_bits(cpu);
    uint64_t lin = cpu->regs.rip;
    if (bits != 64) {
        lin = (cpu->sregs.cs.base + lin) & 0xffffffffull;
    }
    size_t got = 0;
    while (got < EMU_MAX_INSN) {
        size_t n = page_chunk(lin + got, EMU_MAX_INSN - got);
        if (kvm_read_virt(k, lin + got, buf + got, n)) {
            break;
        }
        got += n;
    }
    return got;
}

/*
 * x87/SSE state through the XSAVE image (KVM_GET_XSAVE; legacy region layout of SDM vol. 1,
 * 10.5.1). On our development host KVM_GET_FPU returned all zeroes and KVM_SET_FPU had no
 * effect, while KVM_GET_XSAVE gave the right MXCSR. KVM_GET_FPU remains the fallback where
 * XSAVE is absent (or the image is larger than struct kvm_xsave, e.g. AMX guests).
 */
#define XS_FCW 0
#define XS_FSW 2
#define XS_FTW 4
#define XS_FOP 6
#define XS_FIP 8
#define XS_FDP 16
#define XS_MXCSR 24
#define XS_ST 32
#define XS_XMM 160
#define XS_XSTATE_BV 512
#define XFEATURE_X87 0x1ull
#define XFEATURE_SSE_YMM 0x6ull

static void xsave_to_fpu(const struct kvm_xsave *xs, struct kvm_fpu *fpu)
{
    const uint8_t *r = (const uint8_t *)xs->region;
    uint64_t bv;
    memcpy(&bv, r + XS_XSTATE_BV, 8);
    memset(fpu, 0, sizeof(*fpu));
    if (bv & XFEATURE_X87) {
        memcpy(&fpu->fcw, r + XS_FCW, 2);
        memcpy(&fpu->fsw, r + XS_FSW, 2);
        fpu->ftwx = r[XS_FTW];
        memcpy(&fpu->last_opcode, r + XS_FOP, 2);
        memcpy(&fpu->last_ip, r + XS_FIP, 8);
        memcpy(&fpu->last_dp, r + XS_FDP, 8);
        memcpy(fpu->fpr, r + XS_ST, sizeof(fpu->fpr));
    } else {
        fpu->fcw = 0x37f; /* XSTATE_BV[0] clear: the x87 state is in its initial configuration */
    }
    memcpy(&fpu->mxcsr, r + XS_MXCSR, 4);
    memcpy(fpu->xmm, r + XS_XMM, sizeof(fpu->xmm));
}

/* The x87 part of the image (FCW ... ST7), marked present in XSTATE_BV. */
static void xsave_set_x87(struct kvm_xsave *xs, const struct kvm_fpu *fpu)
{
    uint8_t *r = (uint8_t *)xs->region;
    uint64_t bv;
    memcpy(&bv, r + XS_XSTATE_BV, 8);
    bv |= XFEATURE_X87;
    memcpy(r + XS_XSTATE_BV, &bv, 8);
    memcpy(r + XS_FCW, &fpu->fcw, 2);
    memcpy(r + XS_FSW, &fpu->fsw, 2);
    r[XS_FTW] = fpu->ftwx;
    memcpy(r + XS_FOP, &fpu->last_opcode, 2);
    memcpy(r + XS_FIP, &fpu->last_ip, 8);
    memcpy(r + XS_FDP, &fpu->last_dp, 8);
    memcpy(r + XS_ST, fpu->fpr, sizeof(fpu->fpr));
}

static void xsave_set_mxcsr(struct kvm_xsave *xs, uint32_t mxcsr)
{
    uint8_t *r = (uint8_t *)xs->region;
    uint64_t bv;
    memcpy(&bv, r + XS_XSTATE_BV, 8);
    /*
     * KVM takes MXCSR from the image only when XSTATE_BV has SSE or AVX. If neither is set
     * the XMM registers are in their initial (zero) state: mark SSE present with zeroes.
     */
    if (!(bv & XFEATURE_SSE_YMM)) {
        memset(r + XS_XMM, 0, 16 * 16);
        bv |= 0x2;
        memcpy(r + XS_XSTATE_BV, &bv, 8);
    }
    memcpy(r + XS_MXCSR, &mxcsr, 4);
}

static int fail(const struct emu_cpu *cpu, int vcpu_index, const uint8_t *bytes, size_t len,
                const char *why, char *report, size_t reportlen)
{
    emulate_report(cpu, vcpu_index, bytes, len, why, report, reportlen);
    return -1;
}

int emulate_kvm_handle(int vcpu_fd, struct kvm_run *run, const struct guest_mem *mem,
                       const struct emulate_rom *rom, int vcpu_index, char *report,
                       size_t reportlen)
{
    struct emu_cpu cpu;
    memset(&cpu, 0, sizeof(cpu));
    struct kvm_mem_ctx k = {.mem = mem, .rom = rom, .cpu = &cpu};
    cpu.read_virt = kvm_read_virt;
    cpu.write_virt = kvm_write_virt;
    cpu.opaque = &k;
    char why[256];

    struct kvm_xsave xs; /* 4 KiB */
    bool have_xsave = false;
    if (ioctl(vcpu_fd, KVM_GET_REGS, &cpu.regs) < 0 ||
        ioctl(vcpu_fd, KVM_GET_SREGS, &cpu.sregs) < 0) {
        snprintf(why, sizeof(why), "cannot read vCPU state: %s", strerror(errno));
        return fail(&cpu, vcpu_index, NULL, 0, why, report, reportlen);
    }
    if (ioctl(vcpu_fd, KVM_GET_XSAVE, &xs) == 0) {
        have_xsave = true;
        xsave_to_fpu(&xs, &cpu.fpu);
    } else if (ioctl(vcpu_fd, KVM_GET_FPU, &cpu.fpu) < 0) {
        snprintf(why, sizeof(why), "cannot read FPU state: %s", strerror(errno));
        return fail(&cpu, vcpu_index, NULL, 0, why, report, reportlen);
    }
    /* Without XSAVE on the host KVM_GET_XCRS fails; XCR0 = 0 then makes VEX forms #UD. */
    struct kvm_xcrs xcrs;
    memset(&xcrs, 0, sizeof(xcrs));
    if (ioctl(vcpu_fd, KVM_GET_XCRS, &xcrs) == 0) {
        for (unsigned i = 0; i < xcrs.nr_xcrs && i < KVM_MAX_XCRS; i++) {
            if (xcrs.xcrs[i].xcr == 0) {
                cpu.xcr0 = xcrs.xcrs[i].value;
            }
        }
    }
    struct kvm_debugregs dbg;
    memset(&dbg, 0, sizeof(dbg));
    if (ioctl(vcpu_fd, KVM_GET_DEBUGREGS, &dbg) < 0) {
        snprintf(why, sizeof(why), "cannot read debug registers: %s", strerror(errno));
        return fail(&cpu, vcpu_index, NULL, 0, why, report, reportlen);
    }
    cpu.dr7 = dbg.dr7;

    uint8_t bytes[EMU_MAX_INSN];
    size_t len;
    bool is_emu_failure = run->exit_reason == KVM_EXIT_INTERNAL_ERROR &&
                          run->emulation_failure.suberror == KVM_INTERNAL_ERROR_EMULATION;
    if (is_emu_failure && run->emulation_failure.ndata >= 3 &&
        (run->emulation_failure.flags & KVM_INTERNAL_ERROR_EMULATION_FLAG_INSTRUCTION_BYTES)) {
        /* The bytes the host's emulator fetched: no second fetch racing with the guest. */
        len = run->emulation_failure.insn_size;
        if (len > EMU_MAX_INSN) {
            len = EMU_MAX_INSN;
        }
        memcpy(bytes, run->emulation_failure.insn_bytes, len);
    } else {
        len = fetch_insn(&k, bytes);
    }
    if (!is_emu_failure) {
        return fail(&cpu, vcpu_index, bytes, len, "not an emulation-failure exit", report,
                    reportlen);
    }

    struct kvm_vcpu_events ev;
    memset(&ev, 0, sizeof(ev));
    if (ioctl(vcpu_fd, KVM_GET_VCPU_EVENTS, &ev) < 0) {
        snprintf(why, sizeof(why), "cannot read vCPU events: %s", strerror(errno));
        return fail(&cpu, vcpu_index, bytes, len, why, report, reportlen);
    }
    if (ev.exception.injected || ev.exception.pending) {
        snprintf(why, sizeof(why), "exception %u already in flight", ev.exception.nr);
        return fail(&cpu, vcpu_index, bytes, len, why, report, reportlen);
    }

    enum emu_result res = emulate_insn(&cpu, bytes, len, why, sizeof(why));
    if (res == EMU_UNHANDLED) {
        return fail(&cpu, vcpu_index, bytes, len, why, report, reportlen);
    }
    if (cpu.fpu_dirty && have_xsave) {
        xsave_set_mxcsr(&xs, cpu.fpu.mxcsr);
        xsave_set_x87(&xs, &cpu.fpu); /* fninit, fldcw, fild, fst... change the x87 part */
    }
    if ((cpu.regs_dirty && ioctl(vcpu_fd, KVM_SET_REGS, &cpu.regs) < 0) ||
        (cpu.fpu_dirty && have_xsave && ioctl(vcpu_fd, KVM_SET_XSAVE, &xs) < 0) ||
        (cpu.fpu_dirty && !have_xsave && ioctl(vcpu_fd, KVM_SET_FPU, &cpu.fpu) < 0)) {
        snprintf(why, sizeof(why), "cannot write vCPU state: %s", strerror(errno));
        return fail(&cpu, vcpu_index, bytes, len, why, report, reportlen);
    }
    /*
     * The instruction completed (or raised its exception), so an STI/MOV SS interrupt shadow
     * ends here. flags = VALID_SHADOW only: the other flag-gated fields are left alone, and the
     * ungated ones (interrupt, nmi) go back as KVM_GET_VCPU_EVENTS gave them.
     */
    ev.flags = KVM_VCPUEVENT_VALID_SHADOW;
    ev.interrupt.shadow = 0;
    if (cpu.inject) {
        /* Without KVM_CAP_EXCEPTION_PAYLOAD (not enabled by us) `injected` is the field. */
        ev.exception.injected = 1;
        ev.exception.pending = 0;
        ev.exception.nr = cpu.vector;
        ev.exception.has_error_code = cpu.has_error_code;
        ev.exception.error_code = cpu.error_code;
    }
    if (ioctl(vcpu_fd, KVM_SET_VCPU_EVENTS, &ev) < 0) {
        snprintf(why, sizeof(why), "cannot inject exception: %s", strerror(errno));
        return fail(&cpu, vcpu_index, bytes, len, why, report, reportlen);
    }
    if (report && reportlen) {
        snprintf(report, reportlen, "vCPU %d: %s", vcpu_index, why);
    }
    return 0;
}
