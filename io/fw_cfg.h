/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * QEMU's firmware configuration interface (fw_cfg, QEMU docs/specs/fw_cfg.rst) as SeaBIOS and
 * OVMF read it on x86: a 16-bit selector at 0x510, a byte-wide data port at 0x511, and the
 * DMA interface (big-endian address registers at 0x514/0x518). Items are byte strings that
 * the machine adds before the guest starts; the guest can only read them.
 */
#ifndef DESKVM_IO_FW_CFG_H
#define DESKVM_IO_FW_CFG_H

#include <stdint.h>

#include "snapshots/vmstate.h"
#include "vmm/bus.h"

struct device;
struct guest_mem;

/* Fixed keys (fw_cfg.rst "Selector Register"). */
#define FW_CFG_SIGNATURE 0x00
#define FW_CFG_ID 0x01
#define FW_CFG_RAM_SIZE 0x03
#define FW_CFG_NOGRAPHIC 0x04
#define FW_CFG_NB_CPUS 0x05
#define FW_CFG_KERNEL_ADDR 0x07
#define FW_CFG_KERNEL_SIZE 0x08
#define FW_CFG_KERNEL_CMDLINE 0x09
#define FW_CFG_INITRD_ADDR 0x0a
#define FW_CFG_INITRD_SIZE 0x0b
#define FW_CFG_BOOT_DEVICE 0x0c
#define FW_CFG_NUMA 0x0d
#define FW_CFG_BOOT_MENU 0x0e
#define FW_CFG_MAX_CPUS 0x0f
/* Firmware-mediated kernel boot: where and what linuxboot_dma.bin / OVMF load. */
#define FW_CFG_KERNEL_DATA 0x11
#define FW_CFG_INITRD_DATA 0x12
#define FW_CFG_CMDLINE_ADDR 0x13
#define FW_CFG_CMDLINE_SIZE 0x14
#define FW_CFG_CMDLINE_DATA 0x15
#define FW_CFG_SETUP_ADDR 0x16
#define FW_CFG_SETUP_SIZE 0x17
#define FW_CFG_SETUP_DATA 0x18
#define FW_CFG_FILE_DIR 0x19
#define FW_CFG_FILE_FIRST 0x20
#define FW_CFG_MAX_FILES 32
#define FW_CFG_KEYS (FW_CFG_FILE_FIRST + FW_CFG_MAX_FILES)
#define FW_CFG_NAME_LEN 56           /* including the NUL */
#define FW_CFG_MAX_ITEM (512u << 20) /* a kernel or initrd is the largest item we carry */

/* FW_CFG_ID bits. */
#define FW_CFG_VERSION 0x01
#define FW_CFG_VERSION_DMA 0x02

/* DMA control bits (FWCfgDmaAccess.control, big-endian in guest memory). */
#define FW_CFG_DMA_ERROR 0x01
#define FW_CFG_DMA_READ 0x02
#define FW_CFG_DMA_SKIP 0x04
#define FW_CFG_DMA_SELECT 0x08
#define FW_CFG_DMA_WRITE 0x10
#define FW_CFG_DMA_SIGNATURE 0x51454d5520434647ull /* "QEMU CFG" */

/* Port layout from the base (0x510 on x86). */
#define FW_CFG_PORT_BASE 0x510
#define FW_CFG_PORT_LEN 12
#define FW_CFG_OFF_SELECTOR 0 /* 16-bit */
#define FW_CFG_OFF_DATA 1     /* 8-bit */
#define FW_CFG_OFF_DMA_HI 4   /* 32-bit, big-endian value */
#define FW_CFG_OFF_DMA_LO 8   /* 32-bit, big-endian value; writing it starts the transfer */

struct fw_cfg_item {
    uint8_t *data; /* owned; NULL for an absent key */
    uint32_t len;
    /* Called when the guest selects the item: may rewrite data in place (not its length). */
    void (*on_select)(void *opaque, uint8_t *data, uint32_t len);
    void *opaque;
};

struct fw_cfg {
    const struct guest_mem *mem;
    struct fw_cfg_item items[FW_CFG_KEYS];
    char names[FW_CFG_MAX_FILES][FW_CFG_NAME_LEN];
    unsigned nfiles;

    /* Guest-visible cursor (saved). */
    uint16_t selector;
    uint32_t offset;
    uint32_t dma_hi; /* address bits 63:32, latched until the low half is written */

    uint64_t dma_errors; /* DMA requests refused: bad descriptor address, range, write */
    uint64_t bad_access; /* accesses of the wrong size or offset */
};

/* The signature, ID (with DMA) and an empty file directory. */
int fw_cfg_init(struct fw_cfg *f, const struct guest_mem *mem);
void fw_cfg_destroy(struct fw_cfg *f);

/* Items, added by the machine before the guest runs (copies data). -EINVAL, -ENOSPC, -ENOMEM. */
__attribute__((warn_unused_result)) int fw_cfg_add_bytes(struct fw_cfg *f, uint16_t key,
                                                         const void *data, uint32_t len);
__attribute__((warn_unused_result)) int fw_cfg_add_i16(struct fw_cfg *f, uint16_t key, uint16_t v);
__attribute__((warn_unused_result)) int fw_cfg_add_i32(struct fw_cfg *f, uint16_t key, uint32_t v);
__attribute__((warn_unused_result)) int fw_cfg_add_i64(struct fw_cfg *f, uint16_t key, uint64_t v);
/* A named file ("etc/e820", "bootorder"): gets the next key from FW_CFG_FILE_FIRST. */
__attribute__((warn_unused_result)) int fw_cfg_add_file(struct fw_cfg *f, const char *name,
                                                        const void *data, uint32_t len);

/*
 * Refresh a file's contents whenever the guest selects it (QEMU rebuilds its ACPI tables
 * this way, so they describe the machine as the firmware has programmed it). -ENOENT.
 */
int fw_cfg_set_select_hook(struct fw_cfg *f, const char *name,
                           void (*fn)(void *opaque, uint8_t *data, uint32_t len), void *opaque);

/* The key of a file by name, or -ENOENT. */
int fw_cfg_file_key(const struct fw_cfg *f, const char *name);

/* Run the DMA descriptor at gpa (what a write of the low address half does). */
void fw_cfg_dma(struct fw_cfg *f, uint64_t gpa);

extern const struct bus_ops fw_cfg_ops;
void fw_cfg_reset(struct fw_cfg *f);
extern const struct vmstate fw_cfg_vmstate;
void fw_cfg_device(struct fw_cfg *f, struct device *out);

#endif
