/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Internals of the kernel loaders, shared by vmm/boot*.c, the unit tests and the fuzz target:
 * the Linux zero page and setup header (Documentation/arch/x86/zero-page.rst and boot.rst),
 * the PVH start info (Xen public/arch-x86/hvm/start_info.h), and the buffer-level entry point.
 */
#ifndef DESKVM_VMM_BOOT_INTERNAL_H
#define DESKVM_VMM_BOOT_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/boot.h"
#include "vmm/e820.h"

/* Limits on what we accept from image files (hostile input). */
#define BOOT_KERNEL_MAX (512ull << 20)
#define BOOT_DECOMP_MAX (1ull << 30)
#define BOOT_ELF_MAX_PHDRS 64u

/* ---- Linux boot protocol (boot.rst "The Real-Mode Kernel Header") ---- */

#define LINUX_HDR_OFFSET 0x1f1u
#define LINUX_BOOT_FLAG 0xaa55u
#define LINUX_HDRS_MAGIC 0x53726448u /* "HdrS" */
#define LINUX_LOADED_HIGH 0x01u
#define LINUX_KEEP_SEGMENTS 0x40u
#define LINUX_CAN_USE_HEAP 0x80u
#define LINUX_XLF_KERNEL_64 0x01u
#define LINUX_LOADER_UNDEFINED 0xffu
#define LINUX_INITRD_ADDR_MAX_DEFAULT 0x37ffffffu
#define LINUX_E820_MAX 128u
/* __START_KERNEL_map: where x86-64 maps the kernel image virtually. */
#define LINUX_START_KERNEL_MAP 0xffffffff80000000ull

struct linux_setup_header {
    uint8_t setup_sects;            /* 0x1f1 */
    uint16_t root_flags;            /* 0x1f2 */
    uint32_t syssize;               /* 0x1f4 */
    uint16_t ram_size;              /* 0x1f8 */
    uint16_t vid_mode;              /* 0x1fa */
    uint16_t root_dev;              /* 0x1fc */
    uint16_t boot_flag;             /* 0x1fe */
    uint16_t jump;                  /* 0x200 */
    uint32_t header;                /* 0x202 */
    uint16_t version;               /* 0x206 */
    uint32_t realmode_swtch;        /* 0x208 */
    uint16_t start_sys_seg;         /* 0x20c */
    uint16_t kernel_version;        /* 0x20e */
    uint8_t type_of_loader;         /* 0x210 */
    uint8_t loadflags;              /* 0x211 */
    uint16_t setup_move_size;       /* 0x212 */
    uint32_t code32_start;          /* 0x214 */
    uint32_t ramdisk_image;         /* 0x218 */
    uint32_t ramdisk_size;          /* 0x21c */
    uint32_t bootsect_kludge;       /* 0x220 */
    uint16_t heap_end_ptr;          /* 0x224 */
    uint8_t ext_loader_ver;         /* 0x226 */
    uint8_t ext_loader_type;        /* 0x227 */
    uint32_t cmd_line_ptr;          /* 0x228 */
    uint32_t initrd_addr_max;       /* 0x22c */
    uint32_t kernel_alignment;      /* 0x230 */
    uint8_t relocatable_kernel;     /* 0x234 */
    uint8_t min_alignment;          /* 0x235 */
    uint16_t xloadflags;            /* 0x236 */
    uint32_t cmdline_size;          /* 0x238 */
    uint32_t hardware_subarch;      /* 0x23c */
    uint64_t hardware_subarch_data; /* 0x240 */
    uint32_t payload_offset;        /* 0x248 */
    uint32_t payload_length;        /* 0x24c */
    uint64_t setup_data;            /* 0x250 */
    uint64_t pref_address;          /* 0x258 */
    uint32_t init_size;             /* 0x260 */
    uint32_t handover_offset;       /* 0x264 */
    uint32_t kernel_info_offset;    /* 0x268 */
} __attribute__((packed));

struct linux_e820_entry {
    uint64_t addr;
    uint64_t size;
    uint32_t type;
} __attribute__((packed));

/* The zero page. Fields we never write are kept as opaque byte arrays. */
struct linux_boot_params {
    uint8_t screen_info[0x40];                          /* 0x000 */
    uint8_t apm_bios_info[0x14];                        /* 0x040 */
    uint8_t pad1[4];                                    /* 0x054 */
    uint64_t tboot_addr;                                /* 0x058 */
    uint8_t ist_info[0x10];                             /* 0x060 */
    uint64_t acpi_rsdp_addr;                            /* 0x070 */
    uint8_t pad2[8];                                    /* 0x078 */
    uint8_t hd0_info[0x10];                             /* 0x080 */
    uint8_t hd1_info[0x10];                             /* 0x090 */
    uint8_t sys_desc_table[0x10];                       /* 0x0a0 */
    uint8_t olpc_ofw_header[0x10];                      /* 0x0b0 */
    uint32_t ext_ramdisk_image;                         /* 0x0c0 */
    uint32_t ext_ramdisk_size;                          /* 0x0c4 */
    uint32_t ext_cmd_line_ptr;                          /* 0x0c8 */
    uint8_t pad3[0x13c - 0xcc];                         /* 0x0cc */
    uint32_t cc_blob_address;                           /* 0x13c */
    uint8_t edid_info[0x80];                            /* 0x140 */
    uint8_t efi_info[0x20];                             /* 0x1c0 */
    uint32_t alt_mem_k;                                 /* 0x1e0 */
    uint32_t scratch;                                   /* 0x1e4 */
    uint8_t e820_entries;                               /* 0x1e8 */
    uint8_t eddbuf_entries;                             /* 0x1e9 */
    uint8_t edd_mbr_sig_buf_entries;                    /* 0x1ea */
    uint8_t kbd_status;                                 /* 0x1eb */
    uint8_t secure_boot;                                /* 0x1ec */
    uint8_t pad4[2];                                    /* 0x1ed */
    uint8_t sentinel;                                   /* 0x1ef */
    uint8_t pad5[1];                                    /* 0x1f0 */
    struct linux_setup_header hdr;                      /* 0x1f1 */
    uint8_t pad6[0x290 - 0x26c];                        /* 0x26c */
    uint32_t edd_mbr_sig_buffer[16];                    /* 0x290 */
    struct linux_e820_entry e820_table[LINUX_E820_MAX]; /* 0x2d0 */
    uint8_t pad7[0xd00 - 0xcd0];                        /* 0xcd0 */
    uint8_t eddbuf[0x1ec];                              /* 0xd00 */
    uint8_t pad8[0x1000 - 0xeec];                       /* 0xeec */
} __attribute__((packed));

_Static_assert(sizeof(struct linux_setup_header) == 0x26c - 0x1f1, "setup header size");
_Static_assert(sizeof(struct linux_e820_entry) == 20, "boot_e820_entry size");
_Static_assert(sizeof(struct linux_boot_params) == 4096, "zero page size");
_Static_assert(offsetof(struct linux_boot_params, acpi_rsdp_addr) == 0x070, "acpi_rsdp_addr");
_Static_assert(offsetof(struct linux_boot_params, ext_ramdisk_image) == 0x0c0, "ext_ramdisk");
_Static_assert(offsetof(struct linux_boot_params, ext_ramdisk_size) == 0x0c4, "ext_ramdisk_sz");
_Static_assert(offsetof(struct linux_boot_params, ext_cmd_line_ptr) == 0x0c8, "ext_cmd_line");
_Static_assert(offsetof(struct linux_boot_params, e820_entries) == 0x1e8, "e820_entries");
_Static_assert(offsetof(struct linux_boot_params, sentinel) == 0x1ef, "sentinel");
_Static_assert(offsetof(struct linux_boot_params, hdr) == 0x1f1, "hdr");
_Static_assert(offsetof(struct linux_boot_params, e820_table) == 0x2d0, "e820_table");
_Static_assert(offsetof(struct linux_boot_params, eddbuf) == 0xd00, "eddbuf");
_Static_assert(offsetof(struct linux_boot_params, hdr.boot_flag) == 0x1fe, "boot_flag");
_Static_assert(offsetof(struct linux_boot_params, hdr.header) == 0x202, "header");
_Static_assert(offsetof(struct linux_boot_params, hdr.cmd_line_ptr) == 0x228, "cmd_line_ptr");
_Static_assert(offsetof(struct linux_boot_params, hdr.xloadflags) == 0x236, "xloadflags");
_Static_assert(offsetof(struct linux_boot_params, hdr.payload_offset) == 0x248, "payload");
_Static_assert(offsetof(struct linux_boot_params, hdr.pref_address) == 0x258, "pref_address");
_Static_assert(offsetof(struct linux_boot_params, hdr.kernel_info_offset) == 0x268, "kinfo");

/* ---- PVH (Xen public/arch-x86/hvm/start_info.h, version 1) ---- */

#define PVH_START_MAGIC 0x336ec578u
#define PVH_NOTE_PHYS32_ENTRY 18u /* XEN_ELFNOTE_PHYS32_ENTRY */

struct pvh_start_info {
    uint32_t magic;
    uint32_t version;
    uint32_t flags;
    uint32_t nr_modules;
    uint64_t modlist_paddr;
    uint64_t cmdline_paddr;
    uint64_t rsdp_paddr;
    uint64_t memmap_paddr;
    uint32_t memmap_entries;
    uint32_t reserved;
};

struct pvh_modlist_entry {
    uint64_t paddr;
    uint64_t size;
    uint64_t cmdline_paddr;
    uint64_t reserved;
};

struct pvh_memmap_entry {
    uint64_t addr;
    uint64_t size;
    uint32_t type;
    uint32_t reserved;
};

_Static_assert(sizeof(struct pvh_start_info) == 56, "hvm_start_info size");
_Static_assert(offsetof(struct pvh_start_info, memmap_paddr) == 40, "memmap_paddr");
_Static_assert(sizeof(struct pvh_modlist_entry) == 32, "hvm_modlist_entry size");
_Static_assert(sizeof(struct pvh_memmap_entry) == 24, "hvm_memmap_table_entry size");

/* Layout of the boot information page at BOOT_INFO_ADDR in PVH mode. */
#define PVH_MEMMAP_OFFSET 0x40u
#define PVH_MODLIST_OFFSET (PVH_MEMMAP_OFFSET + E820_MAX * sizeof(struct pvh_memmap_entry))
_Static_assert(PVH_MODLIST_OFFSET + sizeof(struct pvh_modlist_entry) <= 4096, "PVH page");

/* ---- loader internals ---- */

/* An input file: either in memory (tests, fuzzing) or an open fd read on demand. */
struct boot_blob {
    const char *name; /* for messages */
    const uint8_t *data;
    int fd; /* used when data is NULL */
    uint64_t size;
};

struct boot_ctx {
    const struct guest_mem *mem;
    const struct boot_config *cfg;
    struct e820_map e820; /* cfg->e820, or built from mem when the caller gave none */
    const char *kname;
    const struct boot_blob *initrd; /* NULL: none */
    char *err;
    size_t errlen;
};

/* What boot_elf_load() found in an ELF image. */
struct boot_elf_info {
    uint64_t entry;     /* e_entry, made physical (x86-64 vmlinux: startup_64) */
    bool entry_loaded;  /* entry lies inside a loaded segment */
    uint64_t pvh_entry; /* XEN_ELFNOTE_PHYS32_ENTRY when has_pvh */
    bool has_pvh;
    uint64_t lowest; /* lowest p_paddr loaded */
    uint64_t end;    /* highest p_paddr + p_memsz */
};

/* Buffer-level loader: what boot_load() does after reading the kernel file. */
int boot_load_buffer(const struct guest_mem *mem, const struct boot_config *cfg,
                     const uint8_t *kernel, size_t ksize, const struct boot_blob *initrd,
                     struct boot_entry *out, char *err, size_t errlen);

/* Writes "NAME: message" into ctx->err and returns ret. */
int boot_fail(struct boot_ctx *ctx, int ret, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Places the command line at BOOT_CMDLINE_ADDR if its length is at most max_len. */
int boot_place_cmdline(struct boot_ctx *ctx, uint64_t max_len);
/*
 * Copies the initrd (if any) page-aligned as high as possible in RAM, below max_addr
 * (inclusive last byte) and at or above kernel_end. *addr and *size are 0 without one.
 */
int boot_place_initrd(struct boot_ctx *ctx, uint64_t kernel_end, uint64_t max_addr, uint64_t *addr,
                      uint64_t *size);

/* ELF (boot_elf.c). */
bool boot_elf_is_elf(const uint8_t *data, size_t size);
/* Validates the whole image, then copies the segments; on error nothing was written. */
int boot_elf_load(struct boot_ctx *ctx, const uint8_t *data, size_t size,
                  struct boot_elf_info *info);
/* Writes hvm_start_info, memmap, module list; fills out for BOOT_PVH32. */
int boot_pvh_finish(struct boot_ctx *ctx, const struct boot_elf_info *info, struct boot_entry *out);

/* Linux (boot_linux.c). */
bool boot_linux_is_bzimage(const uint8_t *data, size_t size);
int boot_linux_bzimage(struct boot_ctx *ctx, const uint8_t *data, size_t size,
                       struct boot_entry *out);
/* An ELF vmlinux already loaded: synthesized setup header, boot_params, BOOT_LINUX64. */
int boot_linux_vmlinux(struct boot_ctx *ctx, const struct boot_elf_info *info,
                       struct boot_entry *out);

/* Decompression (boot_decompress.c). */
enum boot_comp {
    BOOT_COMP_UNKNOWN,
    BOOT_COMP_GZIP,
    BOOT_COMP_XZ,
    BOOT_COMP_LZ4,
    BOOT_COMP_ZSTD,
    BOOT_COMP_BZIP2, /* recognised, not supported */
    BOOT_COMP_LZMA,  /* recognised, not supported */
    BOOT_COMP_LZO,   /* recognised, not supported */
};

enum boot_comp boot_comp_detect(const uint8_t *data, size_t size);
const char *boot_comp_name(enum boot_comp c);
/*
 * Decompresses one stream (trailing bytes, such as the size the kernel build appends, are
 * ignored). hint: expected output size or 0. At most max bytes are produced. Returns 0 with
 * a malloc'd *out, -ENOTSUP for a format we do not decode, -EFBIG past max, -EINVAL for
 * corrupt data, -ENOMEM.
 */
int boot_decompress(enum boot_comp c, const uint8_t *in, size_t inlen, size_t hint, size_t max,
                    uint8_t **out, size_t *outlen);

#endif
