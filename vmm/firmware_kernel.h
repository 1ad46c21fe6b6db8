/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Firmware-mediated direct kernel boot (--firmware with --kernel, docs/firmware.md): the
 * bzImage is split as the Linux x86 boot protocol (Documentation/arch/x86/boot.rst) lays it
 * out, its setup header gets the fields a boot loader sets, and the pieces go to fw_cfg
 * (FW_CFG_SETUP_*, FW_CFG_KERNEL_*, FW_CFG_INITRD_*, FW_CFG_CMDLINE_*), where SeaBIOS's
 * linuxboot_dma.bin option ROM or OVMF's QemuKernelLoaderFsDxe pick them up.
 */
#ifndef DESKVM_VMM_FIRMWARE_KERNEL_H
#define DESKVM_VMM_FIRMWARE_KERNEL_H

#include <stddef.h>
#include <stdint.h>

#include "io/fw_cfg.h"

struct vm;

/* Debian's qemu-system-data: the option ROM that loads the items and runs the kernel setup. */
#define FW_KERNEL_ROM "/usr/share/qemu/linuxboot_dma.bin"
#define FW_KERNEL_ROM_NAME "genroms/linuxboot_dma.bin"
#define FW_KERNEL_ROM_BOOTPATH "/rom@" FW_KERNEL_ROM_NAME

/* Guest layout (a bzImage loaded high, boot protocol 2.02+): real-mode setup, command line,
 * protected-mode kernel. */
#define FW_KERNEL_SETUP_ADDR 0x10000u
#define FW_KERNEL_CMDLINE_ADDR 0x20000u
#define FW_KERNEL_PROT_ADDR 0x100000u
/* Kept free at the top of low RAM for the firmware's ACPI tables (as QEMU q35 does): no
 * initrd there. */
#define FW_KERNEL_TOP_RESERVE 0x30000u
#define FW_KERNEL_MIN_VERSION 0x206u

/* What goes to fw_cfg: setup is a patched copy; kernel points into the image. */
struct fw_kernel {
    uint8_t *setup; /* malloc'd, setup_size bytes */
    uint32_t setup_size;
    const uint8_t *kernel;
    uint32_t kernel_size;
    uint32_t initrd_addr; /* 0 without an initrd */
    uint16_t version;     /* boot protocol, e.g. 0x20f */
};

/*
 * Check a bzImage (image, n bytes) and lay it out for a guest whose RAM below 4 GiB ends at
 * low_top, with an initrd of initrd_size bytes (0: none) and a command line of cmdline_len
 * characters. -EINVAL with one line in err for anything a firmware cannot boot (an ELF
 * vmlinux/PVH kernel, no "HdrS", protocol before 2.06, sizes), -ENOMEM, -E2BIG.
 */
int fw_kernel_prepare(const uint8_t *image, size_t n, uint64_t initrd_size, size_t cmdline_len,
                      uint64_t low_top, struct fw_kernel *out, char *err, size_t errlen);
void fw_kernel_free(struct fw_kernel *k);

/* Add the setup, kernel, initrd (when initrd_size) and command line items to f. */
__attribute__((warn_unused_result)) int
fw_kernel_publish(struct fw_cfg *f, const struct fw_kernel *k, const uint8_t *initrd,
                  uint32_t initrd_size, const char *cmdline);

/*
 * With vm->fw set up: read kernel, initrd (may be NULL) and cmdline (may be NULL), publish
 * them, and for a BIOS also the linuxboot_dma.bin ROM first in the boot order.
 */
int firmware_add_kernel(struct vm *vm, const char *kernel, const char *initrd, const char *cmdline,
                        char *err, size_t errlen);

#endif
