/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The PCI host bridge of a Q35-style machine: an Intel ICH9/Q35 MCH (8086:29c0) at 00:00.0,
 * configuration mechanism #1 at ports 0xCF8/0xCFC (PCI 3.0 3.2.2.3.2), the PCIe enhanced
 * configuration access mechanism (ECAM, PCIe 4.0 7.2.2) whose base the MCH's PCIEXBAR
 * register holds, and bus 0 with up to 32 devices of up to 8 functions.
 */
#ifndef DESKVM_IO_PCI_HOST_H
#define DESKVM_IO_PCI_HOST_H

#include <stdint.h>

#include "io/pci.h"
#include "vmm/bus.h"
#include "vmm/device.h"

#define PCI_HOST_SLOTS 32
#define PCI_HOST_FUNCS 8

#define PCI_HOST_VENDOR 0x8086
#define PCI_HOST_DEVICE 0x29c0 /* Q35 / ICH9 MCH (DRAM controller) */
#define PCI_CLASS_BRIDGE_HOST 0x060000

#define PCI_CONFIG_ADDRESS_ENABLE 0x80000000u
/* Config address (0xCF8) register bits the guest can set: enable, bus, device, fn, reg. */
#define PCI_CONFIG_ADDRESS_MASK 0x80fffffcu

/* The MCH's PCIEXBAR (Q35 datasheet 5.1.16): bit 0 enable, 2:1 length, 35:28 base. */
#define Q35_PCIEXBAR 0x60
#define Q35_PCIEXBAR_EN 1u
#define Q35_PCIEXBAR_SIZE 0x10000000ull /* only the 256 MiB length (field 00b) exists here */
/* PAM0-6 (shadow RAM control for 0xC0000-0xFFFFF, datasheet 5.1.18) and SMRAM (storage). */
#define Q35_PAM0 0x90
#define Q35_PAM_COUNT 7
#define Q35_SMRAM 0x9d

/* Offsets in the 8-port range at 0xCF8 that pci_host_cf8_ops handles. */
#define PCI_HOST_CF8_BASE 0xcf8
#define PCI_HOST_CF8_LEN 8
#define PCI_HOST_RESET_OFF 1 /* 0xCF9: byte accesses go to the reset control register */

struct pci_host {
    struct pci_dev bridge; /* 00:00.0 */
    struct pci_dev *fn[PCI_HOST_SLOTS][PCI_HOST_FUNCS];
    uint32_t config_address; /* saved */
    uint64_t ecam_base;      /* decoded now, or PCI_BAR_UNMAPPED */

    /* Byte accesses at 0xCF9 (the reset control register shares the port range). */
    const struct bus_ops *cf9_ops;
    void *cf9_opaque;
    /*
     * The guest moved or disabled ECAM (PCIEXBAR): the machine unmaps old and maps new
     * (either may be PCI_BAR_UNMAPPED); -errno refuses new, which stays unmapped.
     */
    int (*ecam_moved)(void *opaque, uint64_t old_addr, uint64_t new_addr);
    void *opaque;
    /* PAM0-6 changed (or reset/loaded): the machine maps 0xC0000-0xFFFFF to follow them. */
    void (*pam_changed)(void *opaque, const uint8_t pam[Q35_PAM_COUNT]);
    void *pam_opaque;

    uint64_t bad_access;   /* malformed accesses at 0xCF8-0xCFB: counted, ignored */
    uint64_t refused_ecam; /* PCIEXBAR placements the machine refused */
};

/*
 * ecam_base: the power-on PCIEXBAR (256 MiB aligned, below 64 GiB), enabled. cf9_ops may be
 * NULL (0xCF9 then reads all ones). The ECAM hook is set afterwards with
 * pci_host_set_ecam_hook(); -EINVAL for a bad base.
 */
int pci_host_init(struct pci_host *h, uint64_t ecam_base, const struct bus_ops *cf9_ops,
                  void *cf9_opaque);
void pci_host_destroy(struct pci_host *h);
void pci_host_set_ecam_hook(struct pci_host *h,
                            int (*fn)(void *opaque, uint64_t old_addr, uint64_t new_addr),
                            void *opaque);
/* Set the PAM hook and call it once with the current registers. */
void pci_host_set_pam_hook(struct pci_host *h,
                           void (*fn)(void *opaque, const uint8_t pam[Q35_PAM_COUNT]),
                           void *opaque);

/*
 * Put dev at slot/fn of bus 0 (the caller sets dev's hooks and INTx line). Function 0 gets
 * the multi-function header bit when other functions of its slot exist. -EINVAL for 00.0 (the
 * bridge) or out-of-range numbers, -EEXIST when taken.
 */
__attribute__((warn_unused_result)) int pci_host_attach(struct pci_host *h, unsigned slot,
                                                        unsigned fn, struct pci_dev *dev);
void pci_host_detach(struct pci_host *h, unsigned slot, unsigned fn);
/* The function at bus/slot/fn (the bridge for 0/0/0), or NULL. */
struct pci_dev *pci_host_dev(struct pci_host *h, unsigned bus, unsigned slot, unsigned fn);

/* Decoded config accesses; absent functions read all ones. */
uint32_t pci_host_cfg_read(struct pci_host *h, unsigned bus, unsigned slot, unsigned fn,
                           unsigned off, unsigned size);
void pci_host_cfg_write(struct pci_host *h, unsigned bus, unsigned slot, unsigned fn, unsigned off,
                        uint32_t val, unsigned size);

/* PCI_HOST_CF8_LEN ports at 0xCF8: address dword at 0, reset byte at 1, data at 4-7. */
extern const struct bus_ops pci_host_cf8_ops;
/* The ECAM window, Q35_PCIEXBAR_SIZE bytes: bus << 20 | slot << 15 | fn << 12 | reg. */
extern const struct bus_ops pci_host_ecam_ops;

/* Power-on: config address 0, the bridge's registers (PCIEXBAR back to its reset value). */
void pci_host_reset(struct pci_host *h);
/* After a state load: map ECAM where PCIEXBAR says. */
void pci_host_sync(struct pci_host *h);
extern const struct vmstate pci_host_vmstate;
struct device pci_host_device(struct pci_host *h);

#endif
