/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A CFI parallel NOR flash with the Intel/Sharp command set (JEDEC JESD68 CFI; Intel
 * "Common Flash Interface and Command Sets" AP-646 / 3 Volt Intel StrataFlash command
 * definitions), 8 bits wide, as QEMU's pflash_cfi01 presents OVMF's variable store: read
 * array (FF), read status (70), clear status (50), byte/word program (10/40), block erase
 * (20 then D0), CFI query (98). In read-array mode the machine maps the contents read-only
 * and only writes reach the device; in every other mode reads come here too.
 */
#ifndef DESKVM_IO_PFLASH_H
#define DESKVM_IO_PFLASH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/bus.h"
#include "vmm/device.h"

#define PFLASH_CMD_READ_ARRAY 0xff
#define PFLASH_CMD_READ_ARRAY0 0x00 /* accepted as read array, as QEMU does */
#define PFLASH_CMD_PROGRAM 0x10
#define PFLASH_CMD_PROGRAM_ALT 0x40
#define PFLASH_CMD_ERASE 0x20
#define PFLASH_CMD_CONFIRM 0xd0
#define PFLASH_CMD_CLEAR_STATUS 0x50
#define PFLASH_CMD_READ_STATUS 0x70
#define PFLASH_CMD_CFI_QUERY 0x98

/* Status register bits. */
#define PFLASH_SR_READY 0x80     /* write state machine ready */
#define PFLASH_SR_ERASE_ERR 0x20 /* erase or command sequence error */
#define PFLASH_SR_PROG_ERR 0x10  /* program or command sequence error */

#define PFLASH_BLOCK_SIZE                                                                          \
    4096u /* what OVMF's QemuFlash driver erases (PcdOvmfFirmwareBlockSize)                        \
           */
#define PFLASH_CFI_LEN 0x40

/* The device's mode: what the next read returns and what the next write means. */
enum pflash_mode {
    PFLASH_ARRAY,   /* reads: contents */
    PFLASH_STATUS,  /* reads: the status register */
    PFLASH_CFI,     /* reads: the CFI query table */
    PFLASH_PROGRAM, /* the next write is data to program; reads: status */
    PFLASH_ERASE,   /* the next write must be the D0 confirm; reads: status */
};

struct pflash {
    uint8_t *data; /* size bytes, owned by the caller (a file mapping) */
    size_t size;   /* a multiple of PFLASH_BLOCK_SIZE */

    /* Saved state. */
    uint8_t mode; /* enum pflash_mode */
    uint8_t status;

    /*
     * Told when reads must switch between the mapped contents and the device (array); after
     * a state load it is told the loaded mode, which may be the one it has already.
     */
    void (*array_changed)(void *opaque, bool array);
    void *opaque;
    uint8_t cfi[PFLASH_CFI_LEN];

    uint64_t writes;     /* bytes programmed and blocks erased since start */
    uint64_t bad_cmd;    /* unknown commands and broken sequences: counted, status error */
    uint64_t bad_access; /* programs outside the device or of other widths: dropped */
};

/* data/size: the contents (size a multiple of PFLASH_BLOCK_SIZE, at most 16 MiB). -EINVAL. */
__attribute__((warn_unused_result)) int pflash_init(struct pflash *f, uint8_t *data, size_t size,
                                                    void (*array_changed)(void *, bool),
                                                    void *opaque);
bool pflash_array_mode(const struct pflash *f);
/* Read array mode, status ready (the contents are untouched: they are the flash). */
void pflash_reset(struct pflash *f);

/* Byte offsets into the device; accesses of 1, 2 or 4 bytes. */
extern const struct bus_ops pflash_ops;
extern const struct vmstate pflash_vmstate;
struct device pflash_device(struct pflash *f);

#endif
