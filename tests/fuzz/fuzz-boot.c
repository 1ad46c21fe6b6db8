// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer harness for the kernel loaders: the input is a kernel file (ELF, bzImage with any
 * payload, or junk) loaded into a small guest RAM with a small initrd, and split for the
 * firmware path (vmm/firmware_kernel.c). Any outcome but a clean load or a clean one-line
 * error is a bug.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/boot.h"
#include "vmm/boot_internal.h"
#include "vmm/firmware_kernel.h"
#include "vmm/memory.h"

#define FUZZ_RAM (32u << 20)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* One RAM buffer for the whole run: allocating 32 MiB per input would dominate. */
    static uint8_t *ram;
    static uint8_t initrd_data[4096 + 7];
    if (!ram) {
        ram = malloc(FUZZ_RAM);
        if (!ram) {
            abort();
        }
        memset(initrd_data, 0x5a, sizeof(initrd_data));
    }
    struct guest_mem mem;
    guest_mem_init_host(&mem, ram, FUZZ_RAM);
    struct boot_blob initrd = {
        .name = "fuzz-initrd", .data = initrd_data, .fd = -1, .size = sizeof(initrd_data)};
    struct boot_config cfg = {
        .kernel = "fuzz-kernel",
        .cmdline = "console=ttyS0",
        .rsdp_gpa = ACPI_TABLES_ADDR,
    };
    struct boot_entry out;
    char err[256];
    /* Odd sizes load without an initrd, to reach both placements. */
    int r = boot_load_buffer(&mem, &cfg, data, size, (size & 1) ? NULL : &initrd, &out, err,
                             sizeof(err));
    if (r == 0) {
        if (!out.format || out.arg != BOOT_INFO_ADDR || out.rip >= FUZZ_RAM || err[0]) {
            abort();
        }
    } else if (r > 0 || err[0] == '\0' || memchr(err, '\0', sizeof(err)) == NULL ||
               strchr(err, '\n')) {
        abort();
    }

    /* The same file through the firmware path (--firmware --kernel): split and patch only. */
    struct fw_kernel k;
    uint64_t isize = (size & 1) ? 0 : sizeof(initrd_data);
    err[0] = '\0';
    r = fw_kernel_prepare(data, size, isize, 13, FUZZ_RAM, &k, err, sizeof(err));
    if (r == 0) {
        if (k.setup_size % 512 || (uint64_t)k.setup_size + k.kernel_size != size ||
            k.kernel != data + k.setup_size || (k.initrd_addr & 0xfff) ||
            (uint64_t)k.initrd_addr + isize > FUZZ_RAM || (isize && !k.initrd_addr) ||
            FW_KERNEL_PROT_ADDR + (uint64_t)k.kernel_size > FUZZ_RAM) {
            abort();
        }
        fw_kernel_free(&k);
    } else if (r > 0 || err[0] == '\0' || memchr(err, '\0', sizeof(err)) == NULL ||
               strchr(err, '\n') || k.setup) {
        abort();
    }
    return 0;
}
