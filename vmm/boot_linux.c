// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Linux x86 boot protocol (Documentation/arch/x86/boot.rst, zero-page.rst): bzImage setup
 * header parsing, payload decompression to the vmlinux ELF (entered at startup_64 through the
 * 64-bit boot protocol), the self-decompressing fallback, and the zero page with cmdline,
 * initrd and e820 table.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/boot_internal.h"
#include "vmm/memory.h"

#define LINUX_PROTO(maj, min) (((maj) << 8) | (min))
#define LINUX_SETUP_SECTS_DEFAULT 4u
#define LINUX_LEGACY_CMDLINE_MAX 255u /* before protocol 2.06 */
#define LINUX_DEFAULT_LOAD 0x100000u
#define LINUX_ENTRY64_OFFSET 0x200u
#define LINUX_HDR_END (LINUX_HDR_OFFSET + sizeof(struct linux_setup_header))

static uint32_t rd32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

bool boot_linux_is_bzimage(const uint8_t *data, size_t size)
{
    return size >= 0x206 && rd32(data + 0x202) == LINUX_HDRS_MAGIC;
}

/*
 * Places cmdline and initrd, then writes the zero page from hdr (the kernel's header, or one
 * we made up) with the fields a boot loader owns filled in.
 */
static int linux_finish(struct boot_ctx *ctx, struct linux_setup_header *hdr, uint64_t kernel_end,
                        uint64_t cmdline_max)
{
    int r = boot_place_cmdline(ctx, cmdline_max);
    if (r < 0) {
        return r;
    }
    uint64_t initrd_max =
        hdr->initrd_addr_max ? hdr->initrd_addr_max : LINUX_INITRD_ADDR_MAX_DEFAULT;
    uint64_t initrd_addr, initrd_size;
    r = boot_place_initrd(ctx, kernel_end, initrd_max, &initrd_addr, &initrd_size);
    if (r < 0) {
        return r;
    }
    struct linux_boot_params *bp = guest_mem_ptr(ctx->mem, BOOT_INFO_ADDR, sizeof(*bp));
    if (!bp) {
        return boot_fail(ctx, -ENOMEM, "no RAM for boot_params at 0x%llx",
                         (unsigned long long)BOOT_INFO_ADDR);
    }
    hdr->type_of_loader = LINUX_LOADER_UNDEFINED;
    hdr->loadflags |= LINUX_CAN_USE_HEAP;
    hdr->heap_end_ptr = 0xfe00; /* only the real-mode setup uses it; the usual value */
    hdr->cmd_line_ptr = (uint32_t)BOOT_CMDLINE_ADDR;
    hdr->ramdisk_image = (uint32_t)initrd_addr;
    hdr->ramdisk_size = (uint32_t)initrd_size;
    hdr->setup_data = 0;

    memset(bp, 0, sizeof(*bp));
    bp->hdr = *hdr;
    bp->ext_cmd_line_ptr = (uint32_t)(BOOT_CMDLINE_ADDR >> 32);
    bp->ext_ramdisk_image = (uint32_t)(initrd_addr >> 32);
    bp->ext_ramdisk_size = (uint32_t)(initrd_size >> 32);
    bp->acpi_rsdp_addr = ctx->cfg->rsdp_gpa;
    bp->e820_entries = (uint8_t)ctx->e820.n; /* E820_MAX (32) < LINUX_E820_MAX (128) */
    for (unsigned i = 0; i < ctx->e820.n; i++) {
        bp->e820_table[i].addr = ctx->e820.e[i].addr;
        bp->e820_table[i].size = ctx->e820.e[i].size;
        bp->e820_table[i].type = ctx->e820.e[i].type;
    }
    return 0;
}

int boot_linux_vmlinux(struct boot_ctx *ctx, const struct boot_elf_info *info,
                       struct boot_entry *out)
{
    /* No header in an ELF vmlinux: describe ourselves as a 2.15 loader would see a kernel. */
    struct linux_setup_header hdr = {
        .boot_flag = LINUX_BOOT_FLAG,
        .header = LINUX_HDRS_MAGIC,
        .version = LINUX_PROTO(2, 15),
        .loadflags = LINUX_LOADED_HIGH,
        .kernel_alignment = 0x1000000,
        .initrd_addr_max = LINUX_INITRD_ADDR_MAX_DEFAULT,
        .cmdline_size = BOOT_CMDLINE_MAX - 1,
    };
    int r = linux_finish(ctx, &hdr, info->end, BOOT_CMDLINE_MAX - 1);
    if (r < 0) {
        return r;
    }
    out->mode = BOOT_LINUX64;
    out->rip = info->entry;
    out->arg = BOOT_INFO_ADDR;
    out->format = "vmlinux";
    return 0;
}

static const char *bzimage_format(enum boot_comp c)
{
    switch (c) {
    case BOOT_COMP_GZIP:
        return "bzImage+gzip";
    case BOOT_COMP_XZ:
        return "bzImage+xz";
    case BOOT_COMP_LZ4:
        return "bzImage+lz4";
    case BOOT_COMP_ZSTD:
        return "bzImage+zstd";
    default:
        return "bzImage";
    }
}

/*
 * Decompresses the payload and loads the vmlinux ELF inside it. Returns 1 when the image is
 * loaded, 0 when the caller should fall back to the self-decompressing entry.
 */
static int try_payload(struct boot_ctx *ctx, const struct linux_setup_header *hdr,
                       const uint8_t *payload, uint64_t plen, struct boot_elf_info *info,
                       enum boot_comp *comp)
{
    *comp = boot_comp_detect(payload, plen);
    uint64_t max = ctx->mem->size < BOOT_DECOMP_MAX ? ctx->mem->size : BOOT_DECOMP_MAX;
    /* The build appends the decompressed size; init_size is the next best guess. */
    uint64_t hint = plen >= 4 ? rd32(payload + plen - 4) : 0;
    if (hint == 0 || hint > max) {
        hint = hdr->init_size <= max ? hdr->init_size : 0;
    }
    uint8_t *elf;
    size_t elf_size;
    if (boot_decompress(*comp, payload, plen, hint, max, &elf, &elf_size) < 0) {
        return 0;
    }
    int r = 0;
    if (boot_elf_is_elf(elf, elf_size) && boot_elf_load(ctx, elf, elf_size, info) == 0) {
        r = info->entry_loaded ? 1 : 0;
    }
    free(elf);
    if (r == 0 && ctx->err && ctx->errlen) {
        ctx->err[0] = '\0'; /* the fallback gets its own chance */
    }
    return r;
}

int boot_linux_bzimage(struct boot_ctx *ctx, const uint8_t *data, size_t size,
                       struct boot_entry *out)
{
    /* The header runs from 0x1f1 to the target of the jump at 0x200 (boot.rst). */
    size_t hdr_end = 0x202 + (size_t)data[0x201];
    if (hdr_end > LINUX_HDR_END) {
        hdr_end = LINUX_HDR_END;
    }
    if (hdr_end > size) {
        hdr_end = size;
    }
    struct linux_setup_header hdr;
    memset(&hdr, 0, sizeof(hdr));
    memcpy(&hdr, data + LINUX_HDR_OFFSET, hdr_end - LINUX_HDR_OFFSET);
    /* Fields past hdr_end do not exist in this protocol version and stay zero. */

    if (hdr.boot_flag != LINUX_BOOT_FLAG) {
        return boot_fail(ctx, -ENOEXEC, "bzImage boot_flag is 0x%04x, not 0xaa55", hdr.boot_flag);
    }
    if (hdr.version < LINUX_PROTO(2, 2)) {
        return boot_fail(ctx, -ENOEXEC, "boot protocol %u.%02u is too old (need 2.02)",
                         hdr.version >> 8, hdr.version & 0xff);
    }
    if (!(hdr.loadflags & LINUX_LOADED_HIGH)) {
        return boot_fail(ctx, -ENOEXEC, "zImage (kernel loaded below 1 MiB) is not supported");
    }
    uint64_t setup_sects = hdr.setup_sects ? hdr.setup_sects : LINUX_SETUP_SECTS_DEFAULT;
    uint64_t pm_off = (setup_sects + 1) * 512;
    if (pm_off >= size) {
        return boot_fail(ctx, -ENOEXEC,
                         "setup_sects %llu puts the kernel past the end of the "
                         "file (%zu bytes)",
                         (unsigned long long)setup_sects, size);
    }
    const uint8_t *pm = data + pm_off;
    uint64_t pm_size = size - pm_off;
    if (hdr.version >= LINUX_PROTO(2, 4) && (uint64_t)hdr.syssize * 16 > pm_size) {
        return boot_fail(ctx, -ENOEXEC,
                         "file is truncated: syssize says %llu bytes of kernel, "
                         "%llu present",
                         (unsigned long long)hdr.syssize * 16, (unsigned long long)pm_size);
    }
    uint64_t cmdline_max =
        hdr.version >= LINUX_PROTO(2, 6) ? hdr.cmdline_size : LINUX_LEGACY_CMDLINE_MAX;
    if (hdr.version < LINUX_PROTO(2, 3)) {
        hdr.initrd_addr_max = LINUX_INITRD_ADDR_MAX_DEFAULT;
    }
    uint64_t init_size = hdr.version >= LINUX_PROTO(2, 10) ? hdr.init_size : 0;

    /* Preferred path: decompress the vmlinux ourselves and enter startup_64 directly. */
    enum boot_comp comp = BOOT_COMP_UNKNOWN;
    if (hdr.version >= LINUX_PROTO(2, 8) && hdr.payload_length) {
        if (hdr.payload_offset > pm_size || hdr.payload_length > pm_size - hdr.payload_offset) {
            return boot_fail(ctx, -ENOEXEC,
                             "payload (offset %u, %u bytes) lies outside the "
                             "file",
                             hdr.payload_offset, hdr.payload_length);
        }
        struct boot_elf_info info;
        if (try_payload(ctx, &hdr, pm + hdr.payload_offset, hdr.payload_length, &info, &comp) ==
            1) {
            /* The kernel needs init_size bytes from its start before it reads the e820. */
            uint64_t end = info.end;
            if (init_size && info.lowest + init_size > end) {
                end = info.lowest + init_size;
            }
            int r = linux_finish(ctx, &hdr, end, cmdline_max);
            if (r < 0) {
                return r;
            }
            out->mode = BOOT_LINUX64;
            out->rip = info.entry;
            out->arg = BOOT_INFO_ADDR;
            out->format = bzimage_format(comp);
            return 0;
        }
    }

    /* Fallback: load the protected-mode kernel and let it decompress itself. */
    uint64_t load = LINUX_DEFAULT_LOAD;
    if (hdr.version >= LINUX_PROTO(2, 10) && hdr.relocatable_kernel) {
        load = hdr.pref_address;
    } else if (hdr.code32_start >= HIGH_RAM_START) {
        load = hdr.code32_start;
    }
    bool k64 = hdr.version >= LINUX_PROTO(2, 12) && (hdr.xloadflags & LINUX_XLF_KERNEL_64);
    if (k64 && pm_size <= LINUX_ENTRY64_OFFSET) {
        return boot_fail(ctx, -ENOEXEC, "kernel is %llu bytes, too short for its 64-bit entry",
                         (unsigned long long)pm_size);
    }
    uint64_t need = pm_size > init_size ? pm_size : init_size;
    if (load < HIGH_RAM_START) {
        return boot_fail(ctx, -ENOEXEC, "kernel load address 0x%llx is below 1 MiB",
                         (unsigned long long)load);
    }
    if (load >= MEM_4G || need > MEM_4G - load || !guest_mem_ptr(ctx->mem, load, need)) {
        return boot_fail(ctx, -ENOEXEC, "kernel needs %llu bytes at 0x%llx, beyond guest RAM",
                         (unsigned long long)need, (unsigned long long)load);
    }
    memcpy(guest_mem_ptr(ctx->mem, load, pm_size), pm, pm_size);
    hdr.code32_start = (uint32_t)load;
    int r = linux_finish(ctx, &hdr, load + need, cmdline_max);
    if (r < 0) {
        return r;
    }
    out->mode = k64 ? BOOT_LINUX64 : BOOT_LINUX32;
    out->rip = k64 ? load + LINUX_ENTRY64_OFFSET : load;
    out->arg = BOOT_INFO_ADDR;
    out->format = "bzImage";
    return 0;
}
