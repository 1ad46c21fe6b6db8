// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Firmware-mediated direct kernel boot (docs/firmware.md "Kernel boot through the firmware"):
 * the bzImage's real-mode setup (setup_sects + 1 sectors) and protected-mode kernel become
 * separate fw_cfg items, as the firmwares expect them. The setup header is patched as a boot
 * loader does it (boot.rst "Details of header fields"): loader type, CAN_USE_HEAP with
 * heap_end_ptr, cmd_line_ptr and the initrd's place, the highest page-aligned spot below both
 * initrd_addr_max and the firmware's ACPI area at the top of low RAM.
 */
#include "vmm/firmware_kernel.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vmm/boot_internal.h"
#include "vmm/firmware.h"
#include "vmm/vm.h"

#define XLF_CAN_BE_LOADED_ABOVE_4G 0x02u

static uint32_t rd32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, sizeof(v));
    return v;
}

int fw_kernel_prepare(const uint8_t *image, size_t n, uint64_t initrd_size, size_t cmdline_len,
                      uint64_t low_top, struct fw_kernel *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    if (boot_elf_is_elf(image, n)) {
        snprintf(err, errlen,
                 "an ELF kernel (vmlinux or PVH) cannot boot through the firmware, which loads "
                 "a bzImage: drop --firmware or use the bzImage");
        return -EINVAL;
    }
    struct linux_setup_header hdr;
    if (n < LINUX_HDR_OFFSET + sizeof(hdr) || rd32(image + 0x202) != LINUX_HDRS_MAGIC) {
        snprintf(err, errlen,
                 "not a Linux bzImage (no \"HdrS\" boot header): the firmware "
                 "boots a bzImage only");
        return -EINVAL;
    }
    memcpy(&hdr, image + LINUX_HDR_OFFSET, sizeof(hdr));
    if (hdr.version < FW_KERNEL_MIN_VERSION) {
        snprintf(err, errlen,
                 "bzImage boot protocol %u.%02u: the firmware path needs 2.06 or later",
                 hdr.version >> 8, hdr.version & 0xff);
        return -EINVAL;
    }
    if (hdr.boot_flag != LINUX_BOOT_FLAG || !(hdr.loadflags & LINUX_LOADED_HIGH)) {
        snprintf(err, errlen, "not a bzImage (%s)",
                 hdr.boot_flag != LINUX_BOOT_FLAG ? "no 55 AA boot flag"
                                                  : "zImage: not loaded high");
        return -EINVAL;
    }
    uint64_t setup_size = ((uint64_t)(hdr.setup_sects ? hdr.setup_sects : 4) + 1) * 512;
    /* The setup, its heap and stack end below the command line (64 KiB). */
    if (setup_size >= n || setup_size > FW_KERNEL_CMDLINE_ADDR - FW_KERNEL_SETUP_ADDR) {
        snprintf(err, errlen, "bzImage: %llu setup bytes for a %zu-byte image",
                 (unsigned long long)setup_size, n);
        return -EINVAL;
    }
    uint64_t kernel_size = n - setup_size;
    if (n > BOOT_KERNEL_MAX || FW_KERNEL_PROT_ADDR + kernel_size > low_top) {
        snprintf(err, errlen, "bzImage of %zu bytes does not fit in RAM", n);
        return -E2BIG;
    }
    if (cmdline_len > hdr.cmdline_size || cmdline_len >= BOOT_CMDLINE_MAX) {
        snprintf(err, errlen, "--append: %zu characters, the kernel takes at most %u", cmdline_len,
                 hdr.cmdline_size < BOOT_CMDLINE_MAX ? hdr.cmdline_size
                                                     : (unsigned)BOOT_CMDLINE_MAX - 1);
        return -E2BIG;
    }
    uint64_t initrd_max = hdr.initrd_addr_max ? hdr.initrd_addr_max : LINUX_INITRD_ADDR_MAX_DEFAULT;
    if (hdr.version >= 0x20c && (hdr.xloadflags & XLF_CAN_BE_LOADED_ABOVE_4G)) {
        initrd_max = UINT32_MAX;
    }
    if (low_top < FW_KERNEL_TOP_RESERVE + FW_KERNEL_PROT_ADDR) {
        snprintf(err, errlen, "too little RAM for a kernel");
        return -E2BIG;
    }
    if (initrd_max >= low_top - FW_KERNEL_TOP_RESERVE) {
        initrd_max = low_top - FW_KERNEL_TOP_RESERVE - 1;
    }
    uint64_t initrd_addr = 0;
    if (initrd_size) {
        /* Inclusive initrd_max, as the kernel reads the field. */
        initrd_addr = initrd_size > initrd_max ? 0 : (initrd_max - initrd_size) & ~0xfffull;
        uint64_t kernel_end =
            FW_KERNEL_PROT_ADDR + (hdr.init_size > kernel_size ? hdr.init_size : kernel_size);
        if (initrd_addr < kernel_end) {
            snprintf(err, errlen, "--initrd: %llu bytes do not fit between the kernel and 0x%llx",
                     (unsigned long long)initrd_size, (unsigned long long)initrd_max);
            return -E2BIG;
        }
    }
    out->setup = malloc(setup_size);
    if (!out->setup) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    hdr.type_of_loader = LINUX_LOADER_UNDEFINED;
    hdr.loadflags |= LINUX_CAN_USE_HEAP;
    /* The heap ends 0x200 below the command line, counted from the setup's start. */
    hdr.heap_end_ptr = FW_KERNEL_CMDLINE_ADDR - FW_KERNEL_SETUP_ADDR - 0x200;
    hdr.cmd_line_ptr = FW_KERNEL_CMDLINE_ADDR;
    hdr.ramdisk_image = (uint32_t)initrd_addr;
    hdr.ramdisk_size = (uint32_t)initrd_size;
    memcpy(out->setup, image, setup_size);
    memcpy(out->setup + LINUX_HDR_OFFSET, &hdr, sizeof(hdr));
    out->setup_size = (uint32_t)setup_size;
    out->kernel = image + setup_size;
    out->kernel_size = (uint32_t)kernel_size;
    out->initrd_addr = (uint32_t)initrd_addr;
    out->version = hdr.version;
    return 0;
}

void fw_kernel_free(struct fw_kernel *k)
{
    free(k->setup);
    k->setup = NULL;
}

int fw_kernel_publish(struct fw_cfg *f, const struct fw_kernel *k, const uint8_t *initrd,
                      uint32_t initrd_size, const char *cmdline)
{
    const char *c = cmdline ? cmdline : "";
    int r;
    if ((r = fw_cfg_add_i32(f, FW_CFG_SETUP_ADDR, FW_KERNEL_SETUP_ADDR)) < 0 ||
        (r = fw_cfg_add_i32(f, FW_CFG_SETUP_SIZE, k->setup_size)) < 0 ||
        (r = fw_cfg_add_bytes(f, FW_CFG_SETUP_DATA, k->setup, k->setup_size)) < 0 ||
        (r = fw_cfg_add_i32(f, FW_CFG_KERNEL_ADDR, FW_KERNEL_PROT_ADDR)) < 0 ||
        (r = fw_cfg_add_i32(f, FW_CFG_KERNEL_SIZE, k->kernel_size)) < 0 ||
        (r = fw_cfg_add_bytes(f, FW_CFG_KERNEL_DATA, k->kernel, k->kernel_size)) < 0 ||
        (r = fw_cfg_add_i32(f, FW_CFG_CMDLINE_ADDR, FW_KERNEL_CMDLINE_ADDR)) < 0 ||
        (r = fw_cfg_add_i32(f, FW_CFG_CMDLINE_SIZE, (uint32_t)strlen(c) + 1)) < 0 ||
        (r = fw_cfg_add_bytes(f, FW_CFG_CMDLINE_DATA, c, (uint32_t)strlen(c) + 1)) < 0) {
        return r;
    }
    if (initrd_size && ((r = fw_cfg_add_i32(f, FW_CFG_INITRD_ADDR, k->initrd_addr)) < 0 ||
                        (r = fw_cfg_add_i32(f, FW_CFG_INITRD_SIZE, initrd_size)) < 0 ||
                        (r = fw_cfg_add_bytes(f, FW_CFG_INITRD_DATA, initrd, initrd_size)) < 0)) {
        return r;
    }
    return 0;
}

int firmware_add_kernel(struct vm *vm, const char *kernel, const char *initrd, const char *cmdline,
                        char *err, size_t errlen)
{
    struct firmware *fw = vm->fw;
    uint8_t *kbuf = NULL, *ibuf = NULL;
    size_t klen = 0, ilen = 0;
    struct fw_kernel k = {0};
    char why[256];
    int r;
    if (fw->kind == FIRMWARE_KIND_BIOS && access(FW_KERNEL_ROM, R_OK) < 0) {
        snprintf(err, errlen, "firmware kernel boot needs %s (package qemu-system-data)",
                 FW_KERNEL_ROM);
        return -ENOENT;
    }
    if ((r = firmware_read_file(kernel, "a regular file", 1, BOOT_KERNEL_MAX, &kbuf, &klen, err,
                                errlen)) < 0 ||
        (initrd && (r = firmware_read_file(initrd, "a regular file", 1, FW_CFG_MAX_ITEM, &ibuf,
                                           &ilen, err, errlen)) < 0)) {
        goto out;
    }
    r = fw_kernel_prepare(kbuf, klen, ilen, cmdline ? strlen(cmdline) : 0,
                          guest_mem_low_top(&vm->mem), &k, why, sizeof(why));
    if (r < 0) {
        snprintf(err, errlen, "%s: %s", kernel, why);
        goto out;
    }
    if ((r = fw_kernel_publish(&fw->cfg, &k, ibuf, (uint32_t)ilen, cmdline)) < 0) {
        snprintf(err, errlen, "cannot add the kernel to fw_cfg: %s", strerror(-r));
        goto out;
    }
    /* SeaBIOS runs genroms/ files as option ROMs; the boot order makes this one boot first.
     * OVMF reads the items itself. */
    if (fw->kind == FIRMWARE_KIND_BIOS) {
        const char *first = FW_KERNEL_ROM_BOOTPATH;
        if ((r = firmware_add_rom_file(vm, FW_KERNEL_ROM_NAME, FW_KERNEL_ROM, err, errlen)) < 0 ||
            (r = firmware_set_bootorder(vm, &first, 1, err, errlen)) < 0) {
            goto out;
        }
    }
out:
    fw_kernel_free(&k);
    free(kbuf);
    free(ibuf);
    return r;
}
