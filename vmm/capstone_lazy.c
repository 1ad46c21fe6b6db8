// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The five capstone calls the emulation fallback makes (cs_open, cs_option, cs_disasm,
 * cs_free, cs_close), resolved with dlopen on first use. Capstone is only needed when KVM's
 * emulator gives up on an instruction, yet linking it makes every VM pay for it at start-up:
 * ~78,000 relative relocations that dirty 1.3 MiB of its data and read 1.8 MiB of its
 * tables, 3.2 MiB of the engine's ~6 MiB RSS (docs/benchmarks.md).
 */
#include <capstone/capstone.h>
#include <dlfcn.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

struct capstone_syms {
    cs_err (*open)(cs_arch arch, cs_mode mode, csh *handle);
    cs_err (*option)(csh handle, cs_opt_type type, size_t value);
    size_t (*disasm)(csh handle, const uint8_t *code, size_t code_size, uint64_t address,
                     size_t count, cs_insn **insn);
    void (*free)(cs_insn *insn, size_t count);
    cs_err (*close)(csh *handle);
};

/* One process-wide library, like the dynamic linker's own state; written once under
 * pthread_once, so vCPU threads that fail emulation at the same time load it once. */
static struct capstone_syms syms;
static bool syms_ok;
static pthread_once_t syms_once = PTHREAD_ONCE_INIT;

static void capstone_load(void)
{
    /* The build's libdir first (a capstone outside the loader's search path), then the
     * soname through the loader's search path (a binary moved to another layout). */
    void *lib = dlopen(CAPSTONE_LIBDIR "/" CAPSTONE_SONAME, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        lib = dlopen(CAPSTONE_SONAME, RTLD_NOW | RTLD_LOCAL);
    }
    if (!lib) {
        return;
    }
    struct capstone_syms s = {
        .open = (cs_err(*)(cs_arch, cs_mode, csh *))dlsym(lib, "cs_open"),
        .option = (cs_err(*)(csh, cs_opt_type, size_t))dlsym(lib, "cs_option"),
        .disasm = (size_t(*)(csh, const uint8_t *, size_t, uint64_t, size_t, cs_insn **))dlsym(
            lib, "cs_disasm"),
        .free = (void (*)(cs_insn *, size_t))dlsym(lib, "cs_free"),
        .close = (cs_err(*)(csh *))dlsym(lib, "cs_close"),
    };
    if (!s.open || !s.option || !s.disasm || !s.free || !s.close) {
        dlclose(lib);
        return;
    }
    syms = s;
    syms_ok = true;
}

static bool capstone_ready(void)
{
    pthread_once(&syms_once, capstone_load);
    return syms_ok;
}

cs_err cs_open(cs_arch arch, cs_mode mode, csh *handle)
{
    if (!capstone_ready()) {
        /* The callers report "capstone unavailable" / "(undecodable)" and carry on. */
        return CS_ERR_MEM;
    }
    return syms.open(arch, mode, handle);
}

/* The others are only reached with a handle from a successful cs_open. */
cs_err cs_option(csh handle, cs_opt_type type, size_t value)
{
    return capstone_ready() ? syms.option(handle, type, value) : CS_ERR_HANDLE;
}

size_t cs_disasm(csh handle, const uint8_t *code, size_t code_size, uint64_t address, size_t count,
                 cs_insn **insn)
{
    return capstone_ready() ? syms.disasm(handle, code, code_size, address, count, insn) : 0;
}

void cs_free(cs_insn *insn, size_t count)
{
    if (capstone_ready()) {
        syms.free(insn, count);
    }
}

cs_err cs_close(csh *handle)
{
    return capstone_ready() ? syms.close(handle) : CS_ERR_HANDLE;
}
