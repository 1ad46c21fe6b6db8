/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Firmware boot (--firmware): the BIOS image mapped read-only at the top of 4 GiB with its
 * last 128 KiB aliased at 0xE0000-0xFFFFF, shadow RAM for 0xC0000-0xFFFFF following the Q35
 * MCH's PAM registers, and the fw_cfg items the firmware reads.
 */
#ifndef DESKVM_VMM_FIRMWARE_H
#define DESKVM_VMM_FIRMWARE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "io/fw_cfg.h"
#include "io/pci_host.h"
#include "io/pflash.h"

struct vm;

/* Debian's seabios package: what "--firmware bios" means. */
#define FIRMWARE_BIOS_PATH "/usr/share/seabios/bios-256k.bin"
/* Debian's ovmf package: what "--firmware uefi" means (code, and the variable store template). */
#define FIRMWARE_UEFI_CODE "/usr/share/OVMF/OVMF_CODE_4M.fd"
#define FIRMWARE_UEFI_VARS "/usr/share/OVMF/OVMF_VARS_4M.fd"
#define FIRMWARE_MIN_SIZE (128u << 10) /* the 0xE0000-0xFFFFF alias must be full */
#define FIRMWARE_MAX_SIZE (256u << 10) /* a BIOS image */
/* A UEFI image (code) and its variable store: together at most 16 MiB below 4 GiB. */
#define FIRMWARE_UEFI_MAX_SIZE (12u << 20)
#define FIRMWARE_VARS_MAX_SIZE (4u << 20)
#define FIRMWARE_ALIAS_SIZE (128u << 10)
#define FIRMWARE_PAM_SEGS 13 /* 0xF0000 (64 KiB), then 0xC0000-0xEFFFF in 16 KiB pieces */

/* What a PAM segment decodes now. */
enum firmware_seg {
    FW_SEG_NONE,   /* no slot: reads all ones (PCI/ISA), writes dropped or to RAM (mode 2) */
    FW_SEG_ROM,    /* the BIOS alias, read-only slot */
    FW_SEG_RAM_RO, /* shadow RAM, read-only slot: writes exit and are dropped */
    FW_SEG_RAM,    /* shadow RAM, read-write */
};

enum firmware_kind {
    FIRMWARE_KIND_BIOS, /* SeaBIOS-style: one ROM, 128-256 KiB */
    FIRMWARE_KIND_UEFI, /* OVMF-style: code volume + a CFI flash variable store below it */
};

struct firmware {
    struct vm *vm;
    enum firmware_kind kind;
    uint8_t *rom; /* page-aligned copy of the image, mapped read-only by KVM */
    size_t rom_size;
    uint8_t *vars; /* UEFI: the variable store (a shared mapping of the file, or private) */
    size_t vars_size;
    int vars_fd;      /* the file, locked; -1 for a private copy */
    bool vars_mapped; /* the store's read-only slot is there (flash in read-array mode) */
    struct pflash flash;
    uint8_t pam[Q35_PAM_COUNT];
    enum firmware_seg seg[FIRMWARE_PAM_SEGS];
    struct fw_cfg cfg;
    uint64_t slot_errors; /* KVM refused a slot change (logged once) */
};

/*
 * Read and check a firmware image: a BIOS of 128-256 KiB, or a UEFI code image (a firmware
 * volume, "_FVH" at offset 0x28, up to FIRMWARE_UEFI_MAX_SIZE); either a multiple of 4 KiB
 * with a jump at the reset vector. One line in err naming the file on failure.
 */
int firmware_load_image(const char *path, uint8_t **rom, size_t *size, enum firmware_kind *kind,
                        char *err, size_t errlen);
/* Does the image start with a variable store volume (a unified OVMF.fd, or a VARS file)? */
bool firmware_has_vars(const uint8_t *img, size_t n);
/*
 * The UEFI variable store: path (created from template when missing, then locked) mapped
 * shared so variables persist, or with path NULL a private copy of template. It must be a
 * firmware volume of 4 KiB blocks up to FIRMWARE_VARS_MAX_SIZE. *fd is -1 for a copy.
 */
int firmware_open_vars(const char *path, const char *template, uint8_t **buf, size_t *size, int *fd,
                       char *err, size_t errlen);

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
 * The whole of a regular file of min to max bytes into a malloc'd *buf (the caller frees it).
 * 0, or -errno with one line in err that names the file ("not WHAT (min to max bytes)" when
 * its type or size is wrong).
 */
__attribute__((warn_unused_result)) int firmware_read_file(const char *path, const char *what,
                                                           uint64_t min, uint64_t max,
                                                           uint8_t **buf, size_t *len, char *err,
                                                           size_t errlen);
/*
 * fw_cfg "bootorder": one Open Firmware device path per line, most preferred first, as
 * SeaBIOS matches them (e.g. "/pci@i0cf8/sata@1f,2/drive@1/disk@0" for AHCI port 1).
 */
__attribute__((warn_unused_result)) int firmware_set_bootorder(struct vm *vm,
                                                               const char *const *paths, unsigned n,
                                                               char *err, size_t errlen);

#endif
