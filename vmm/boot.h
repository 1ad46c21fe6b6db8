/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Kernel loaders: PVH ELF, uncompressed vmlinux ELF, and bzImage (Linux x86 boot protocol).
 * A loader places the image, its command line, initrd and boot information in guest memory
 * and says how the boot vCPU must start.
 */
#ifndef DESKVM_VMM_BOOT_H
#define DESKVM_VMM_BOOT_H

#include <stddef.h>
#include <stdint.h>

#include "vmm/e820.h"

struct guest_mem;

enum boot_mode {
    /* 32-bit protected mode, paging off, flat segments; EBX = hvm_start_info. */
    BOOT_PVH32,
    /* 64-bit long mode, identity-mapped 4 GiB, flat segments; RSI = boot_params. */
    BOOT_LINUX64,
    /* 32-bit protected mode, paging off, flat segments; ESI = boot_params. */
    BOOT_LINUX32,
    /* Firmware (--firmware): KVM's reset state, CS:IP = F000:FFF0 (base 0xFFFF0000). */
    BOOT_FIRMWARE,
};

struct boot_entry {
    enum boot_mode mode;
    uint64_t rip;
    uint64_t arg;       /* gpa of hvm_start_info (PVH) or boot_params (Linux) */
    const char *format; /* "pvh-elf", "vmlinux", "bzImage+gzip", ... for logs */
};

struct boot_config {
    const char *kernel;  /* path */
    const char *initrd;  /* path or NULL */
    const char *cmdline; /* or NULL */
    const struct e820_map *e820;
    uint64_t rsdp_gpa; /* 0 if no ACPI */
};

/*
 * Load the kernel and friends. On error returns -errno or -EINVAL and writes one line
 * (no newline) naming the file and what is wrong with it into err.
 */
int boot_load(const struct guest_mem *mem, const struct boot_config *cfg, struct boot_entry *out,
              char *err, size_t errlen);

/* As boot_load() for a kernel image already in memory (the embedded demo guest); no initrd. */
int boot_load_image(const struct guest_mem *mem, const struct boot_config *cfg, const void *kernel,
                    size_t len, struct boot_entry *out, char *err, size_t errlen);

#endif
