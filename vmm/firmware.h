/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Firmware boot (--firmware): the BIOS image mapped read-only at the top of 4 GiB with its
 * last 128 KiB aliased at 0xE0000-0xFFFFF, shadow RAM for 0xC0000-0xFFFFF following the Q35
 * MCH's PAM registers, and the fw_cfg items the firmware reads.
 */
#ifndef DESKVM_VMM_FIRMWARE_H
#define DESKVM_VMM_FIRMWARE_H

#include <stddef.h>
#include <stdint.h>

#include "io/fw_cfg.h"
#include "io/pci_host.h"

struct vm;

/* Debian's seabios package: what "--firmware bios" means. */
#define FIRMWARE_BIOS_PATH "/usr/share/seabios/bios-256k.bin"
#define FIRMWARE_MIN_SIZE (128u << 10) /* the 0xE0000-0xFFFFF alias must be full */
#define FIRMWARE_MAX_SIZE (256u << 10) /* KVM's TSS pages sit just below 0xFFFC0000 */
#define FIRMWARE_ALIAS_SIZE (128u << 10)
#define FIRMWARE_PAM_SEGS 13 /* 0xF0000 (64 KiB), then 0xC0000-0xEFFFF in 16 KiB pieces */

/* What a PAM segment decodes now. */
enum firmware_seg {
    FW_SEG_NONE,   /* no slot: reads all ones (PCI/ISA), writes dropped or to RAM (mode 2) */
    FW_SEG_ROM,    /* the BIOS alias, read-only slot */
    FW_SEG_RAM_RO, /* shadow RAM, read-only slot: writes exit and are dropped */
    FW_SEG_RAM,    /* shadow RAM, read-write */
};

struct firmware {
    struct vm *vm;
    uint8_t *rom; /* page-aligned copy of the image, mapped read-only by KVM */
    size_t rom_size;
    uint8_t pam[Q35_PAM_COUNT];
    enum firmware_seg seg[FIRMWARE_PAM_SEGS];
    struct fw_cfg cfg;
    uint64_t slot_errors; /* KVM refused a slot change (logged once) */
};

/*
 * Read and check a firmware image ("bios" for Debian's SeaBIOS): 128-256 KiB, a multiple
 * of 4 KiB, with a jump at the reset vector. One line in err naming the file on failure.
 */
int firmware_load_image(const char *path, uint8_t **rom, size_t *size, char *err, size_t errlen);

/* The segment kind that PAM attribute bits (RE = 1, WE = 2) give segment i. */
enum firmware_seg firmware_seg_kind(unsigned i, unsigned attr);
/* PAM attribute bits of segment i in pam[0..6]. */
unsigned firmware_seg_attr(const uint8_t *pam, unsigned i);
/* Guest address and size of segment i. */
uint64_t firmware_seg_base(unsigned i);
uint64_t firmware_seg_size(unsigned i);

/*
 * With vm's memory registered (guest_mem_set_shadow() done) and the PCI host bridge up:
 * map the ROM, hook PAM, create fw_cfg at 0x510. Sets vm->fw. The caller registers
 * fw_cfg_device(&vm->fw->cfg) with the VM (reset, snapshot).
 */
int firmware_init(struct vm *vm, const char *path, char *err, size_t errlen);
void firmware_destroy(struct vm *vm);

/*
 * A ROM file for the firmware through fw_cfg, before the guest runs: "vgaroms/NAME" is run by
 * SeaBIOS as the VGA BIOS (INT 10h on screen), "genroms/NAME" as another option ROM. The
 * file must carry the 55 AA signature. 0 or -errno with one line in err.
 */
#define FIRMWARE_OPTION_ROM_MAX (256u << 10)
#define FIRMWARE_VGA_ROM "/usr/share/seabios/vgabios-stdvga.bin"
__attribute__((warn_unused_result)) int
firmware_add_rom_file(struct vm *vm, const char *name, const char *path, char *err, size_t errlen);
/*
 * fw_cfg "bootorder": one Open Firmware device path per line, most preferred first, as
 * SeaBIOS matches them (e.g. "/pci@i0cf8/sata@1f/drive@1/disk@0" for AHCI port 1).
 */
__attribute__((warn_unused_result)) int firmware_set_bootorder(struct vm *vm,
                                                               const char *const *paths, unsigned n,
                                                               char *err, size_t errlen);

#endif
