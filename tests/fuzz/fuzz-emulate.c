// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer harness for the emulation-failure fallback: the input is split into up to 15
 * instruction bytes, a vCPU state and a small guest memory; emulate_insn() and
 * emulate_report() must never crash, and a refused instruction must leave the state as it was.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/emulate.h"

#define FUZZ_MEM 4096

struct fuzz_mem {
    uint8_t bytes[FUZZ_MEM];
    uint64_t base; /* the memory sits at [base, base + FUZZ_MEM) in the fake linear space */
};

static int fz_read(void *opaque, uint64_t gva, void *buf, size_t len)
{
    struct fuzz_mem *m = opaque;
    if (gva < m->base || gva - m->base > FUZZ_MEM || len > FUZZ_MEM - (gva - m->base)) {
        return -EFAULT;
    }
    memcpy(buf, &m->bytes[gva - m->base], len);
    return 0;
}

static int fz_write(void *opaque, uint64_t gva, const void *buf, size_t len)
{
    struct fuzz_mem *m = opaque;
    if (gva < m->base || gva - m->base > FUZZ_MEM || len > FUZZ_MEM - (gva - m->base)) {
        return -EACCES;
    }
    memcpy(&m->bytes[gva - m->base], buf, len);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct emu_cpu cpu;
    static struct fuzz_mem mem;
    memset(&cpu, 0, sizeof(cpu));
    memset(&mem, 0, sizeof(mem));

    /* Instruction first (so mutations reach the decoder), then the state, then memory. */
    uint8_t insn[EMU_MAX_INSN];
    size_t ilen = 0;
    if (size) {
        ilen = data[0] % (EMU_MAX_INSN + 1);
        data++, size--;
        ilen = ilen < size ? ilen : size;
        memcpy(insn, data, ilen);
        data += ilen, size -= ilen;
    }
    if (size >= 17) {
        memcpy(&cpu.xcr0, data, 8);
        memcpy(&cpu.dr7, data + 8, 8);
        cpu.dr7 &= data[16] & 1 ? ~0ull : ~0xffull; /* mostly reach the emulator */
        data += 17, size -= 17;
    }
    size_t n = size < sizeof(cpu.regs) ? size : sizeof(cpu.regs);
    memcpy(&cpu.regs, data, n);
    data += n, size -= n;
    n = size < sizeof(cpu.sregs) ? size : sizeof(cpu.sregs);
    memcpy(&cpu.sregs, data, n);
    data += n, size -= n;
    n = size < sizeof(cpu.fpu) ? size : sizeof(cpu.fpu);
    memcpy(&cpu.fpu, data, n);
    data += n, size -= n;
    /* Memory near the registers' values, so effective addresses often land in it. */
    mem.base = cpu.regs.rbx & ~0xfffull;
    memcpy(mem.bytes, data, size < FUZZ_MEM ? size : FUZZ_MEM);
    cpu.read_virt = fz_read;
    cpu.write_virt = fz_write;
    cpu.opaque = &mem;

    struct emu_cpu before = cpu;
    char why[256];
    enum emu_result r = emulate_insn(&cpu, insn, ilen, why, sizeof(why));
    if (r == EMU_UNHANDLED &&
        (memcmp(&before.regs, &cpu.regs, sizeof(cpu.regs)) != 0 ||
         before.fpu.mxcsr != cpu.fpu.mxcsr || cpu.regs_dirty || cpu.fpu_dirty)) {
        abort(); /* refused instructions must not touch the state */
    }
    if (r == EMU_INJECT && cpu.vector != EMU_VEC_BP &&
        memcmp(&before.regs, &cpu.regs, sizeof(cpu.regs)) != 0) {
        abort(); /* faults leave RIP on the instruction */
    }
    char report[4096];
    emulate_report(&cpu, 0, insn, ilen, why, report, sizeof(report));
    emulate_report(&cpu, 0, insn, ilen, why, report, 7);
    return 0;
}
