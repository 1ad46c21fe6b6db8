// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ELF64 kernel loading: PT_LOAD segments placed by physical address (p_paddr), and the PVH
 * boot ABI (Xen docs/misc/pvh.pandoc: XEN_ELFNOTE_PHYS32_ENTRY, struct hvm_start_info).
 */
#include <elf.h>
#include <errno.h>
#include <string.h>

#include "vmm/boot_internal.h"
#include "vmm/memory.h"

bool boot_elf_is_elf(const uint8_t *data, size_t size)
{
    return size >= SELFMAG && memcmp(data, ELFMAG, SELFMAG) == 0;
}

/* True when [off, off+len) lies inside a buffer of `size` bytes, without overflow. */
static bool in_file(uint64_t off, uint64_t len, size_t size)
{
    return off <= size && len <= size - off;
}

static uint64_t align4(uint64_t v)
{
    return (v + 3) & ~3ull;
}

/* Scans one PT_NOTE segment for the Xen PHYS32_ENTRY note. */
static int parse_notes(struct boot_ctx *ctx, const uint8_t *p, uint64_t len,
                       struct boot_elf_info *info)
{
    uint64_t off = 0;
    while (len - off >= 12) {
        uint32_t hdr[3];
        memcpy(hdr, p + off, sizeof(hdr));
        uint64_t namesz = hdr[0], descsz = hdr[1], type = hdr[2];
        uint64_t name_off = off + 12;
        uint64_t desc_off = name_off + align4(namesz);
        if (desc_off > len || align4(descsz) > len - desc_off) {
            return boot_fail(ctx, -ENOEXEC,
                             "ELF note at segment offset %llu runs past its "
                             "segment",
                             (unsigned long long)off);
        }
        if (namesz == 4 && memcmp(p + name_off, "Xen", 4) == 0 && type == PVH_NOTE_PHYS32_ENTRY) {
            if (descsz == 4) {
                uint32_t e;
                memcpy(&e, p + desc_off, 4);
                info->pvh_entry = e;
            } else if (descsz == 8) {
                uint64_t e;
                memcpy(&e, p + desc_off, 8);
                if (e >= MEM_4G) {
                    return boot_fail(ctx, -ENOEXEC, "PVH entry 0x%llx is not a 32-bit address",
                                     (unsigned long long)e);
                }
                info->pvh_entry = e;
            } else {
                return boot_fail(ctx, -ENOEXEC, "PVH entry note has a %llu-byte value",
                                 (unsigned long long)descsz);
            }
            info->has_pvh = true;
        }
        off = desc_off + align4(descsz);
    }
    return 0;
}

/* Validates one PT_LOAD segment against the file and guest RAM. */
static int check_load(struct boot_ctx *ctx, const Elf64_Phdr *ph, size_t size, unsigned i)
{
    if (ph->p_filesz > ph->p_memsz) {
        return boot_fail(ctx, -ENOEXEC, "ELF segment %u has filesz > memsz", i);
    }
    if (!in_file(ph->p_offset, ph->p_filesz, size)) {
        return boot_fail(ctx, -ENOEXEC,
                         "ELF segment %u lies outside the file (offset %llu, "
                         "%llu bytes, file %zu bytes)",
                         i, (unsigned long long)ph->p_offset, (unsigned long long)ph->p_filesz,
                         size);
    }
    /* The bottom MiB holds the GDT, page tables, boot info, command line, EBDA and ACPI. */
    if (ph->p_paddr < HIGH_RAM_START) {
        return boot_fail(ctx, -ENOEXEC, "ELF segment %u at 0x%llx is below 1 MiB", i,
                         (unsigned long long)ph->p_paddr);
    }
    /* The entry modes run with paging off or an identity map of the first 4 GiB. */
    if (ph->p_paddr >= MEM_4G || ph->p_memsz > MEM_4G - ph->p_paddr ||
        !guest_mem_ptr(ctx->mem, ph->p_paddr, ph->p_memsz)) {
        return boot_fail(ctx, -ENOEXEC,
                         "ELF segment %u at 0x%llx (%llu bytes) does not fit in "
                         "guest RAM below 4 GiB",
                         i, (unsigned long long)ph->p_paddr, (unsigned long long)ph->p_memsz);
    }
    return 0;
}

static bool entry_loaded(const Elf64_Phdr *ph, unsigned n, uint64_t entry)
{
    for (unsigned i = 0; i < n; i++) {
        if (ph[i].p_type == PT_LOAD && entry >= ph[i].p_paddr &&
            entry - ph[i].p_paddr < ph[i].p_memsz) {
            return true;
        }
    }
    return false;
}

int boot_elf_load(struct boot_ctx *ctx, const uint8_t *data, size_t size,
                  struct boot_elf_info *info)
{
    memset(info, 0, sizeof(*info));
    Elf64_Ehdr eh;
    if (size < sizeof(eh)) {
        return boot_fail(ctx, -ENOEXEC, "ELF header truncated (%zu bytes)", size);
    }
    memcpy(&eh, data, sizeof(eh));
    if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_ident[EI_DATA] != ELFDATA2LSB ||
        eh.e_machine != EM_X86_64) {
        return boot_fail(ctx, -ENOEXEC, "not a little-endian x86-64 ELF64 file");
    }
    if (eh.e_type != ET_EXEC) {
        return boot_fail(ctx, -ENOEXEC, "ELF type %u is not an executable", eh.e_type);
    }
    if (eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum == 0 ||
        eh.e_phnum > BOOT_ELF_MAX_PHDRS) {
        return boot_fail(ctx, -ENOEXEC, "ELF has %u program headers of %u bytes", eh.e_phnum,
                         eh.e_phentsize);
    }
    unsigned n = eh.e_phnum;
    if (!in_file(eh.e_phoff, (uint64_t)n * sizeof(Elf64_Phdr), size)) {
        return boot_fail(ctx, -ENOEXEC,
                         "ELF program headers at offset %llu lie past the end of "
                         "the file (%zu bytes)",
                         (unsigned long long)eh.e_phoff, size);
    }
    Elf64_Phdr ph[BOOT_ELF_MAX_PHDRS];
    memcpy(ph, data + eh.e_phoff, n * sizeof(Elf64_Phdr));

    /* Pass 1: validate everything so that a bad image leaves guest memory untouched. */
    unsigned nload = 0;
    for (unsigned i = 0; i < n; i++) {
        int r = 0;
        if (ph[i].p_type == PT_LOAD && ph[i].p_memsz) {
            r = check_load(ctx, &ph[i], size, i);
            if (r == 0) {
                uint64_t end = ph[i].p_paddr + ph[i].p_memsz;
                if (nload == 0 || ph[i].p_paddr < info->lowest) {
                    info->lowest = ph[i].p_paddr;
                }
                if (end > info->end) {
                    info->end = end;
                }
                nload++;
            }
        } else if (ph[i].p_type == PT_NOTE) {
            if (!in_file(ph[i].p_offset, ph[i].p_filesz, size)) {
                return boot_fail(ctx, -ENOEXEC, "ELF note segment %u lies outside the file", i);
            }
            r = parse_notes(ctx, data + ph[i].p_offset, ph[i].p_filesz, info);
        }
        if (r < 0) {
            return r;
        }
    }
    if (nload == 0) {
        return boot_fail(ctx, -ENOEXEC, "ELF has no loadable segment");
    }
    if (info->has_pvh && !entry_loaded(ph, n, info->pvh_entry)) {
        return boot_fail(ctx, -ENOEXEC, "PVH entry 0x%llx is not inside a loaded segment",
                         (unsigned long long)info->pvh_entry);
    }
    /* x86-64 vmlinux says ENTRY(phys_startup_64); accept a virtual one too. */
    info->entry = eh.e_entry;
    if (info->entry >= LINUX_START_KERNEL_MAP) {
        info->entry -= LINUX_START_KERNEL_MAP;
    }
    info->entry_loaded = entry_loaded(ph, n, info->entry);
    if (!info->has_pvh && !info->entry_loaded) {
        return boot_fail(ctx, -ENOEXEC, "ELF entry 0x%llx is not inside a loaded segment",
                         (unsigned long long)eh.e_entry);
    }

    /* Pass 2: copy. */
    for (unsigned i = 0; i < n; i++) {
        if (ph[i].p_type != PT_LOAD || !ph[i].p_memsz) {
            continue;
        }
        uint8_t *dst = guest_mem_ptr(ctx->mem, ph[i].p_paddr, ph[i].p_memsz);
        memcpy(dst, data + ph[i].p_offset, ph[i].p_filesz);
        memset(dst + ph[i].p_filesz, 0, ph[i].p_memsz - ph[i].p_filesz);
    }
    return 0;
}

int boot_pvh_finish(struct boot_ctx *ctx, const struct boot_elf_info *info, struct boot_entry *out)
{
    int r = boot_place_cmdline(ctx, BOOT_CMDLINE_MAX - 1);
    if (r < 0) {
        return r;
    }
    uint64_t initrd_addr, initrd_size;
    r = boot_place_initrd(ctx, info->end, LINUX_INITRD_ADDR_MAX_DEFAULT, &initrd_addr,
                          &initrd_size);
    if (r < 0) {
        return r;
    }
    uint8_t *page = guest_mem_ptr(ctx->mem, BOOT_INFO_ADDR, 4096);
    if (!page) {
        return boot_fail(ctx, -ENOMEM, "no RAM for the boot information at 0x%llx",
                         (unsigned long long)BOOT_INFO_ADDR);
    }
    memset(page, 0, 4096);
    struct pvh_start_info si = {
        .magic = PVH_START_MAGIC,
        .version = 1,
        .cmdline_paddr = BOOT_CMDLINE_ADDR,
        .rsdp_paddr = ctx->cfg->rsdp_gpa,
        .memmap_paddr = BOOT_INFO_ADDR + PVH_MEMMAP_OFFSET,
        .memmap_entries = ctx->e820.n,
    };
    for (unsigned i = 0; i < ctx->e820.n; i++) {
        struct pvh_memmap_entry me = {
            .addr = ctx->e820.e[i].addr,
            .size = ctx->e820.e[i].size,
            .type = ctx->e820.e[i].type, /* PVH memmap types are the e820 types */
        };
        memcpy(page + PVH_MEMMAP_OFFSET + i * sizeof(me), &me, sizeof(me));
    }
    if (initrd_size) {
        struct pvh_modlist_entry mod = {.paddr = initrd_addr, .size = initrd_size};
        memcpy(page + PVH_MODLIST_OFFSET, &mod, sizeof(mod));
        si.nr_modules = 1;
        si.modlist_paddr = BOOT_INFO_ADDR + PVH_MODLIST_OFFSET;
    }
    memcpy(page, &si, sizeof(si));
    out->mode = BOOT_PVH32;
    out->rip = info->pvh_entry;
    out->arg = BOOT_INFO_ADDR;
    out->format = "pvh-elf";
    return 0;
}
