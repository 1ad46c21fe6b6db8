// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer harness for AHCI command parsing: the input is read twice, as the start of guest
 * RAM (where the command lists point, so it holds the command headers, tables, FISes, ATAPI
 * packets and PRDTs) and as a list of register writes and reads on the HBA and its ports,
 * media changes included. Addresses and lengths in those
 * structures point anywhere, outside RAM and across its end included.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "io/ahci.h"
#include "vmm/memory.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RAM (256u << 10)

static char disk_path[64], iso_path[64];

static void make_file(char *path, size_t len, const char *name, size_t size)
{
    int fd = memfd_create(name, 0);
    if (fd < 0 || ftruncate(fd, (off_t)size) < 0) {
        abort();
    }
    snprintf(path, len, "/proc/self/fd/%d", fd); /* kept open for the process */
}

static struct block_image *open_image(const char *path, bool ro)
{
    struct block_image *img;
    if (block_open(path, BLOCK_FORMAT_RAW, ro, BLOCK_CACHE_WRITEBACK, &img, NULL, 0) < 0) {
        abort();
    }
    return img;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static uint8_t ram[RAM];
    if (!disk_path[0]) {
        make_file(disk_path, sizeof(disk_path), "disk", 64 * 512);
        make_file(iso_path, sizeof(iso_path), "iso", 16 * 2048);
    }
    memset(ram, 0, sizeof(ram));
    memcpy(ram, data, size < RAM ? size : RAM);

    struct guest_mem mem;
    guest_mem_init_host(&mem, ram, RAM);
    struct ahci a;
    char err[256];
    if (ahci_init(&a, &mem) != 0 ||
        ahci_attach(&a, 0, AHCI_DRIVE_DISK, open_image(disk_path, false), "d", err, sizeof(err)) !=
            0 ||
        ahci_attach(&a, 1, AHCI_DRIVE_CDROM, open_image(iso_path, true), "c", err, sizeof(err)) !=
            0) {
        abort();
    }
    /* Both ports started with their command lists at the start of RAM. */
    for (unsigned p = 0; p < 2; p++) {
        uint64_t base = AHCI_PORT_BASE + p * AHCI_PORT_LEN;
        ahci_write(&a, base + AHCI_PxCLB, 0, 4); /* both at 0: slots overlap the ops */
        ahci_write(&a, base + AHCI_PxFB, 0x8000 + p * 0x100, 4);
        ahci_write(&a, base + AHCI_PxCMD, AHCI_PxCMD_ST | AHCI_PxCMD_FRE, 4);
    }
    size_t i = 0;
    while (i + 6 <= size) {
        uint8_t op = data[i];
        uint64_t reg = (uint64_t)data[i + 1] * 4; /* HBA, ports 0-5 and past them */
        uint32_t v;
        memcpy(&v, data + i + 2, 4);
        i += 6;
        switch (op & 3) {
        case 0: /* issue slots on port 0 or 1; sometimes wait for their I/O to complete */
            ahci_write(&a, AHCI_PORT_BASE + (op >> 7) * AHCI_PORT_LEN + AHCI_PxCI, v, 4);
            if (op & 0x40) {
                ahci_drain(&a);
            }
            break;
        case 1: /* any register write, any size (odd ones are refused and counted) */
            ahci_write(&a, reg | (op >> 6), v, 1u << ((op >> 2) & 3));
            break;
        case 2: /* a register read, after finishing whatever I/O is done */
            ahci_process(&a);
            (void)ahci_read(&a, reg, 4);
            break;
        default: /* media change: eject or insert */
            if (v & 1) {
                (void)ahci_change_medium(&a, 1, NULL, v & 2);
            } else {
                struct block_image *img = open_image(iso_path, true);
                if (ahci_change_medium(&a, 1, img, v & 2) < 0) {
                    block_close(img);
                }
            }
            break;
        }
    }
    ahci_destroy(&a);
    return 0;
}
