/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Builders for synthetic kernel images (ELF64 with or without the PVH note, bzImage with a
 * chosen payload) used by the boot loader tests and as fuzzing seeds.
 */
#ifndef DESKVM_TESTS_BOOT_IMAGES_H
#define DESKVM_TESTS_BOOT_IMAGES_H

#include <elf.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define IMG_MAX_SEGS 4

struct img_elf {
    unsigned nseg;
    uint64_t paddr[IMG_MAX_SEGS];
    uint64_t filesz[IMG_MAX_SEGS];
    uint64_t memsz[IMG_MAX_SEGS];
    uint64_t entry;
    bool pvh;
    unsigned pvh_desc; /* 4 or 8 (or a wrong size) */
    uint64_t pvh_entry;
    uint64_t phoff_override; /* 0: correct */
};

/* Byte `i` of segment `s`: never zero, so a missing copy or a zeroed byte shows. */
static inline uint8_t img_seg_byte(unsigned s, uint64_t i)
{
    return (uint8_t)(((s * 37 + i * 7) % 255) + 1);
}

/* Layout: ehdr | phdrs | PVH note | segment data (last, so any truncation cuts into it). */
static inline uint8_t *img_build_elf(const struct img_elf *o, size_t *size)
{
    unsigned nph = o->nseg + (o->pvh ? 1 : 0);
    size_t note_off = sizeof(Elf64_Ehdr) + nph * sizeof(Elf64_Phdr);
    size_t note_len = o->pvh ? 12 + 4 + ((o->pvh_desc + 3) & ~3u) : 0;
    size_t data_off = note_off + note_len;
    size_t total = data_off;
    for (unsigned s = 0; s < o->nseg; s++) {
        total += o->filesz[s];
    }
    uint8_t *buf = calloc(1, total);
    Elf64_Ehdr eh = {
        .e_type = ET_EXEC,
        .e_machine = EM_X86_64,
        .e_version = EV_CURRENT,
        .e_entry = o->entry,
        .e_phoff = o->phoff_override ? o->phoff_override : sizeof(Elf64_Ehdr),
        .e_ehsize = sizeof(Elf64_Ehdr),
        .e_phentsize = sizeof(Elf64_Phdr),
        .e_phnum = (uint16_t)nph,
    };
    memcpy(eh.e_ident, ELFMAG, SELFMAG);
    eh.e_ident[EI_CLASS] = ELFCLASS64;
    eh.e_ident[EI_DATA] = ELFDATA2LSB;
    eh.e_ident[EI_VERSION] = EV_CURRENT;
    memcpy(buf, &eh, sizeof(eh));
    size_t off = data_off;
    for (unsigned s = 0; s < o->nseg; s++) {
        Elf64_Phdr ph = {
            .p_type = PT_LOAD,
            .p_flags = PF_R | PF_W | PF_X,
            .p_offset = off,
            .p_vaddr = o->paddr[s] + 0xffffffff80000000ull,
            .p_paddr = o->paddr[s],
            .p_filesz = o->filesz[s],
            .p_memsz = o->memsz[s],
            .p_align = 0x1000,
        };
        memcpy(buf + sizeof(Elf64_Ehdr) + s * sizeof(Elf64_Phdr), &ph, sizeof(ph));
        for (uint64_t i = 0; i < o->filesz[s]; i++) {
            buf[off + i] = img_seg_byte(s, i);
        }
        off += o->filesz[s];
    }
    if (o->pvh) {
        Elf64_Phdr ph = {
            .p_type = PT_NOTE, .p_offset = note_off, .p_filesz = note_len, .p_align = 4};
        memcpy(buf + sizeof(Elf64_Ehdr) + o->nseg * sizeof(Elf64_Phdr), &ph, sizeof(ph));
        uint32_t nh[3] = {4, o->pvh_desc, 18};
        memcpy(buf + note_off, nh, sizeof(nh));
        memcpy(buf + note_off + 12, "Xen", 4);
        uint64_t e = o->pvh_entry;
        memcpy(buf + note_off + 16, &e, o->pvh_desc < 8 ? o->pvh_desc : 8);
    }
    *size = total;
    return buf;
}

/* A PVH ELF with a text segment at 1 MiB and a data+bss segment at 2 MiB. */
static inline struct img_elf img_default_pvh(void)
{
    struct img_elf o = {
        .nseg = 2,
        .paddr = {0x100000, 0x200000},
        .filesz = {0x300, 0x100},
        .memsz = {0x300, 0x2000},
        .entry = 0x100010,
        .pvh = true,
        .pvh_desc = 4,
        .pvh_entry = 0x100020,
    };
    return o;
}

/* A vmlinux-like ELF at 16 MiB, as the x86-64 link puts it (ENTRY(phys_startup_64)). */
static inline struct img_elf img_default_vmlinux(void)
{
    struct img_elf o = {
        .nseg = 2,
        .paddr = {0x1000000, 0x1200000},
        .filesz = {0x1000, 0x200},
        .memsz = {0x1000, 0x10000},
        .entry = 0x1000000,
    };
    return o;
}

struct img_bz {
    uint16_t version;
    uint8_t setup_sects;
    uint8_t loadflags;
    uint8_t relocatable;
    uint16_t xloadflags;
    uint64_t pref_address;
    uint32_t code32_start;
    uint32_t init_size;
    uint32_t cmdline_size;
    uint32_t initrd_addr_max;
    uint16_t boot_flag;
    const uint8_t *payload; /* may be NULL: payload_length 0 */
    size_t payload_len;
    uint32_t syssize_extra; /* added to the correct syssize (truncation tests) */
    uint32_t payload_offset_extra;
};

#define IMG_BZ_PM_HEAD 0x400 /* protected-mode code before the payload */

static inline void img_put16(uint8_t *p, uint16_t v)
{
    memcpy(p, &v, 2);
}

static inline void img_put32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

static inline struct img_bz img_default_bz(void)
{
    struct img_bz b = {
        .version = 0x020f,
        .setup_sects = 4,
        .loadflags = 0x01,
        .relocatable = 1,
        .xloadflags = 0x01,
        .pref_address = 0x1000000,
        .code32_start = 0x100000,
        .init_size = 0x200000,
        .cmdline_size = 2047,
        .initrd_addr_max = 0x7fffffff,
        .boot_flag = 0xaa55,
    };
    return b;
}

static inline uint8_t *img_build_bz(const struct img_bz *b, size_t *size)
{
    size_t setup = ((size_t)(b->setup_sects ? b->setup_sects : 4) + 1) * 512;
    size_t pm = IMG_BZ_PM_HEAD + b->payload_len;
    size_t total = setup + pm;
    uint8_t *buf = calloc(1, total);
    buf[0x1f1] = b->setup_sects;
    img_put32(buf + 0x1f4, (uint32_t)(pm / 16) + b->syssize_extra);
    img_put16(buf + 0x1fe, b->boot_flag);
    buf[0x200] = 0xeb;
    buf[0x201] = 0x6a; /* header ends at 0x26c */
    img_put32(buf + 0x202, 0x53726448);
    img_put16(buf + 0x206, b->version);
    buf[0x211] = b->loadflags;
    img_put32(buf + 0x214, b->code32_start);
    img_put32(buf + 0x22c, b->initrd_addr_max);
    img_put32(buf + 0x230, 0x200000);
    buf[0x234] = b->relocatable;
    img_put16(buf + 0x236, b->xloadflags);
    img_put32(buf + 0x238, b->cmdline_size);
    img_put32(buf + 0x248, IMG_BZ_PM_HEAD + b->payload_offset_extra);
    img_put32(buf + 0x24c, (uint32_t)b->payload_len);
    memcpy(buf + 0x258, &b->pref_address, 8);
    img_put32(buf + 0x260, b->init_size);
    for (size_t i = 0; i < IMG_BZ_PM_HEAD; i++) {
        buf[setup + i] = img_seg_byte(7, i);
    }
    if (b->payload_len) {
        memcpy(buf + setup + IMG_BZ_PM_HEAD, b->payload, b->payload_len);
    }
    *size = total;
    return buf;
}

#endif
