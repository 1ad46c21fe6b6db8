// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The five capstone calls the emulation fallback makes (cs_open, cs_option, cs_disasm,
 * cs_free, cs_close), resolved with dlopen on first use (vmm/lazy_lib.h). Capstone is only
 * needed when KVM's emulator gives up on an instruction, yet linking it makes every VM pay for
 * it at start-up: ~78,000 relative relocations that dirty 1.3 MiB of its data and read 1.8 MiB
 * of its tables, 3.2 MiB of the engine's ~6 MiB RSS (docs/benchmarks.md). Unlike the other
 * lazy libraries, the calls keep capstone's own names, so emulate.c is written as if linked.
 */
#include <capstone/capstone.h>

#include "vmm/lazy_lib.h"

/* Names, not wrappers: the table is filled by dlsym() on the library's handle, which finds
 * capstone's cs_open, never the wrapper below of the same name. */
#define LAZY_CAPSTONE_FUNCS(X) X(cs_open) X(cs_option) X(cs_disasm) X(cs_free) X(cs_close)

LAZY_LIB_DECLARE(capstone, LAZY_CAPSTONE_FUNCS)
LAZY_LIB_DEFINE(capstone, LAZY_CAPSTONE_FUNCS, "capstone", "libcapstone4", CAPSTONE_LIBDIR,
                CAPSTONE_SONAME)

cs_err cs_open(cs_arch arch, cs_mode mode, csh *handle)
{
    if (lazy_capstone_load(NULL) < 0) {
        /* The callers report "capstone unavailable" / "(undecodable)" and carry on. */
        return CS_ERR_MEM;
    }
    return lazy_capstone.cs_open(arch, mode, handle);
}

/* The others are only reached with a handle from a successful cs_open. */
cs_err cs_option(csh handle, cs_opt_type type, size_t value)
{
    return lazy_capstone_load(NULL) == 0 ? lazy_capstone.cs_option(handle, type, value)
                                         : CS_ERR_HANDLE;
}

size_t cs_disasm(csh handle, const uint8_t *code, size_t code_size, uint64_t address, size_t count,
                 cs_insn **insn)
{
    return lazy_capstone_load(NULL) == 0
               ? lazy_capstone.cs_disasm(handle, code, code_size, address, count, insn)
               : 0;
}

void cs_free(cs_insn *insn, size_t count)
{
    if (lazy_capstone_load(NULL) == 0) {
        lazy_capstone.cs_free(insn, count);
    }
}

cs_err cs_close(csh *handle)
{
    return lazy_capstone_load(NULL) == 0 ? lazy_capstone.cs_close(handle) : CS_ERR_HANDLE;
}
