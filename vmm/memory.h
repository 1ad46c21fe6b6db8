/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Guest physical memory: one memfd mapped MAP_SHARED, cut into regions around the PCI/MMIO
 * hole below 4 GiB. Every device reaches guest memory through guest_mem_ptr(), which checks
 * the whole range, never just its start.
 */
#ifndef DESKVM_VMM_MEMORY_H
#define DESKVM_VMM_MEMORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define GUEST_MEM_MAX_REGIONS 8

struct guest_region {
    uint64_t gpa;
    uint64_t size;
    uint8_t *hva;
    uint64_t fd_offset; /* offset of this region in the memfd */
    int slot;           /* KVM memory slot, -1 until registered */
    bool no_slot;       /* not registered here: the firmware's shadow RAM (vmm/firmware.c) */
};

struct guest_mem {
    struct guest_region regions[GUEST_MEM_MAX_REGIONS];
    unsigned nregions;
    int memfd;     /* -1 for host-backed (test) memory and after a lazy restore */
    uint8_t *base; /* the whole RAM mapping */
    bool owns_map; /* base is ours to munmap */
    uint64_t size; /* RAM bytes */
    bool shadow;   /* 0xC0000-0xFFFFF is a separate region left to the firmware's PAM slots */
    uint64_t hole; /* where low RAM ends at the latest (MEM_32BIT_HOLE_START unless lowered) */
    /*
     * While a live checkpoint is written: one bit per RAM page (memfd order) set for every
     * range handed to a device (guest_mem_ptr(), guest_mem_write(), guest_mem_mark_dirty()),
     * because KVM's dirty log sees only the vCPUs' writes. NULL otherwise.
     */
    uint64_t *sw_dirty;
};

/* Layout of the PC memory map we build. */
#define MEM_32BIT_HOLE_START 0xC0000000ull /* 3 GiB: MMIO, PCI, ECAM, IOAPIC, LAPIC, BIOS */
#define MEM_4G 0x100000000ull
/*
 * Firmware boot: SeaBIOS moves ECAM to 0xB000_0000 (256 MiB) on a Q35 chipset, so RAM
 * reaching 0xB000_0000 ends at 2 GiB instead and the rest goes above 4 GiB, as QEMU's q35
 * splits it (docs/firmware.md).
 */
#define MEM_FIRMWARE_ECAM 0xB0000000ull
#define MEM_FIRMWARE_LOW_SPLIT 0x80000000ull
/* The legacy VGA window: never RAM (io/vga.c decodes it), so low RAM is two regions. */
#define MEM_VGA_WINDOW_START 0xA0000ull
#define MEM_VGA_WINDOW_END 0xC0000ull
/* With firmware, 0xC0000-0xFFFFF is shadow RAM behind the chipset's PAM registers. */
#define MEM_SHADOW_START 0xC0000ull
#define MEM_SHADOW_END 0x100000ull

/*
 * Allocate RAM of `size` bytes in a memfd and map it: below 3 GiB at 0 (less the VGA window),
 * the rest from 4 GiB up. hugepages asks for MFD_HUGETLB. Returns 0 or -errno.
 */
__attribute__((warn_unused_result)) int guest_mem_init(struct guest_mem *m, uint64_t size,
                                                       bool hugepages);
/* Test memory: caller-owned buffer at gpa 0 (no memfd, no KVM). */
void guest_mem_init_host(struct guest_mem *m, void *buf, uint64_t size);
void guest_mem_destroy(struct guest_mem *m);
/*
 * Firmware boot: cut 0xC0000-0xFFFFF out as its own region that guest_mem_register() skips,
 * so the PAM emulation can map RAM or ROM there. Call before guest_mem_register().
 */
void guest_mem_set_shadow(struct guest_mem *m);
/*
 * Firmware boot: with size >= MEM_FIRMWARE_ECAM, low RAM ends at MEM_FIRMWARE_LOW_SPLIT and
 * the rest moves above 4 GiB (below that size nothing changes). Before guest_mem_register().
 */
void guest_mem_set_firmware_split(struct guest_mem *m);

/* Register every region as a KVM user memory slot on vm_fd. */
__attribute__((warn_unused_result)) int guest_mem_register(struct guest_mem *m, int vm_fd);

/* A RAM mapping and the memfd behind it (-1 if none), as handed over by guest_mem_rebase(). */
struct guest_mem_backing {
    uint8_t *base;
    uint64_t size;
    int memfd;
    bool owned; /* base is to be unmapped */
};

/*
 * Put RAM on another mapping of the same size (a restored checkpoint): every region and
 * KVM slot moves to base. Takes ownership of base and memfd (-1 for a mapping with no memfd
 * behind it) and hands the previous backing to *old, for guest_mem_backing_release() once
 * the VM runs again (unmapping hundreds of MiB takes a while). vCPUs must not be running.
 * On failure nothing changes and the caller keeps base.
 */
__attribute__((warn_unused_result)) int guest_mem_rebase(struct guest_mem *m, int vm_fd,
                                                         uint8_t *base, int memfd,
                                                         struct guest_mem_backing *old);
void guest_mem_backing_release(struct guest_mem_backing *b);

/*
 * Dirty logging of every RAM slot (KVM_MEM_LOG_DIRTY_PAGES), for a live checkpoint
 * (vm_snapshot_save()). on: also allocates the device-write bitmap (sw_dirty).
 */
__attribute__((warn_unused_result)) int guest_mem_dirty_log(struct guest_mem *m, int vm_fd,
                                                            bool on);
/*
 * OR the pages the vCPUs wrote since the last call (KVM_GET_DIRTY_LOG, which re-arms the
 * log) into bitmap, one bit per RAM page in memfd order. Regions without a KVM slot count as
 * wholly dirty. with_sw: also take (and clear) the device-write bitmap.
 */
__attribute__((warn_unused_result)) int guest_mem_dirty_fetch(struct guest_mem *m, int vm_fd,
                                                              uint64_t *bitmap, bool with_sw);
/*
 * Drop the device-write bitmap (guest_mem_dirty_log() off does too). No thread may be marking
 * pages: vCPUs parked, devices quiesced. The KVM log can then be switched off later, with the
 * guest running (changing the slots' flags is not free under shadow paging).
 */
void guest_mem_dirty_sw_stop(struct guest_mem *m);
/* A device wrote [hva, hva+len) of RAM behind KVM's back: mark it for a live checkpoint. */
void guest_mem_mark_dirty(const struct guest_mem *m, const void *hva, uint64_t len);

/* Host pointer for [gpa, gpa+len) if it lies entirely inside one RAM region, else NULL. */
void *guest_mem_ptr(const struct guest_mem *m, uint64_t gpa, uint64_t len);
/* Copies that may span regions; -EFAULT if any byte is not RAM. */
int guest_mem_read(const struct guest_mem *m, uint64_t gpa, void *buf, uint64_t len);
int guest_mem_write(const struct guest_mem *m, uint64_t gpa, const void *buf, uint64_t len);

/* Top of RAM below the 32-bit hole, and RAM above 4 GiB (0 if none). */
uint64_t guest_mem_low_top(const struct guest_mem *m);
uint64_t guest_mem_high_size(const struct guest_mem *m);

#endif
