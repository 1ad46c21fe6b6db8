/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The configuration space of one PCI function (PCI Local Bus 3.0 chapter 6, PCIe 4.0 7.5-7.9):
 * a 256-byte type 0 header plus 4 KiB extended space, per-byte write / write-1-to-clear masks,
 * capability lists, BARs with sizing and guest reprogramming, INTx, and MSI-X (PCI 3.0 6.8.2).
 * The function knows no bus address: the machine learns of BAR moves through hooks.
 */
#ifndef DESKVM_IO_PCI_H
#define DESKVM_IO_PCI_H

#include <stdbool.h>
#include <stdint.h>

#include "vmm/bus.h"
#include "vmm/device.h"
#include "vmm/irq.h"

#define PCI_CFG_SIZE 4096  /* with PCIe extended space */
#define PCI_CFG_LEGACY 256 /* what config mechanism #1 reaches */
#define PCI_NUM_BARS 6
#define PCI_BAR_UNMAPPED UINT64_MAX

/* Type 0 header offsets. */
#define PCI_VENDOR_ID 0x00
#define PCI_DEVICE_ID 0x02
#define PCI_COMMAND 0x04
#define PCI_STATUS 0x06
#define PCI_REVISION_ID 0x08
#define PCI_CLASS_PROG 0x09
#define PCI_CLASS_DEVICE 0x0a /* sub-class, base class */
#define PCI_HEADER_TYPE 0x0e
#define PCI_BAR0 0x10
#define PCI_SUBSYSTEM_VENDOR_ID 0x2c
#define PCI_SUBSYSTEM_ID 0x2e
#define PCI_ROM_ADDRESS 0x30
#define PCI_CAPABILITY_LIST 0x34
#define PCI_INTERRUPT_LINE 0x3c
#define PCI_INTERRUPT_PIN 0x3d

#define PCI_COMMAND_IO (1u << 0)
#define PCI_COMMAND_MEMORY (1u << 1)
#define PCI_COMMAND_MASTER (1u << 2)
#define PCI_COMMAND_PARITY (1u << 6)
#define PCI_COMMAND_SERR (1u << 8)
#define PCI_COMMAND_INTX_DISABLE (1u << 10)

#define PCI_STATUS_INTERRUPT (1u << 3)
#define PCI_STATUS_CAP_LIST (1u << 4)
/* Error bits 8 and 11-15 are write-1-to-clear. */
#define PCI_STATUS_W1C 0xf900u

#define PCI_HEADER_MULTI_FUNCTION 0x80

#define PCI_BAR_IO_FLAG 0x1u
#define PCI_BAR_MEM_TYPE_64 0x4u
#define PCI_BAR_MEM_PREFETCH 0x8u

#define PCI_CAP_ID_MSIX 0x11
#define PCI_CAP_ID_VNDR 0x09
#define PCI_CAP_ID_EXP 0x10

#define PCI_MSIX_FLAGS_ENABLE (1u << 15)
#define PCI_MSIX_FLAGS_MASKALL (1u << 14)
#define PCI_MSIX_ENTRY_SIZE 16
#define PCI_MSIX_ENTRY_CTRL_MASKBIT 1u
#define PCI_MSIX_MAX_VECTORS 64 /* kept inline so the state is a fixed-size table */

/* Interrupt pins as the INTERRUPT_PIN register holds them. */
enum pci_intx_pin { PCI_INTX_NONE = 0, PCI_INTA = 1, PCI_INTB, PCI_INTC, PCI_INTD };

enum pci_bar_type {
    PCI_BAR_NONE = 0,
    PCI_BAR_IO,    /* size 4..256 bytes by the spec; we allow up to 64 KiB */
    PCI_BAR_MEM32, /* size >= 16 bytes */
    PCI_BAR_MEM64, /* takes two BAR slots: bar and bar + 1 */
};

struct pci_bar {
    enum pci_bar_type type;
    bool prefetch;
    uint64_t size;        /* a power of two */
    uint64_t mapped_addr; /* where the machine decodes it now, or PCI_BAR_UNMAPPED */
    bool upper_half;      /* this slot holds the high dword of the MEM64 BAR below */
};

struct pci_dev;

/*
 * Set by the machine that places the function (vmm/pci_machine.c). bar_moved is called with
 * PCI_BAR_UNMAPPED as old_addr for a fresh mapping and as new_addr for an unmapping; it
 * unmaps old_addr first and returns -errno when it refuses new_addr (overlap with RAM or
 * another range), which leaves the BAR unmapped and counted in refused_bars.
 */
struct pci_machine_hooks {
    int (*bar_moved)(void *opaque, struct pci_dev *dev, unsigned bar, uint64_t old_addr,
                     uint64_t new_addr);
    /* Send MSI-X message (addr, data) for vector now: the machine signals the interrupt. */
    void (*msix_deliver)(void *opaque, struct pci_dev *dev, unsigned vector, uint64_t addr,
                         uint32_t data);
    /*
     * A vector's address, data or mask changed (vector == PCI_MSIX_ALL: the enable or
     * function mask bit): the machine refreshes its routes and irqfds.
     */
    void (*msix_changed)(void *opaque, struct pci_dev *dev, unsigned vector);
    void *opaque;
};
#define PCI_MSIX_ALL UINT32_MAX

/* Set by the device model that owns the function (a virtio transport, AHCI, ...). */
struct pci_dev_ops {
    /*
     * Device-specific registers: called after the generic handling for accesses that touch
     * bytes listed in the device's own region [dev_cfg_start, dev_cfg_end). Optional.
     */
    uint32_t (*cfg_read)(void *opaque, unsigned off, unsigned size);
    void (*cfg_write)(void *opaque, unsigned off, uint32_t val, unsigned size);
    /* Told after the machine has moved a BAR (e.g. to move ioeventfds). Optional. */
    void (*bar_moved)(void *opaque, unsigned bar, uint64_t old_addr, uint64_t new_addr);
};

struct pci_msix {
    unsigned nvec; /* 0: no MSI-X */
    uint8_t cap;   /* offset of the capability */
    uint8_t table_bar, pba_bar;
    uint32_t table_off, pba_off;
    uint8_t table[PCI_MSIX_MAX_VECTORS * PCI_MSIX_ENTRY_SIZE]; /* the guest's view */
    uint64_t pba[PCI_MSIX_MAX_VECTORS / 64];
};

struct pci_dev {
    const char *name;
    uint8_t cfg[PCI_CFG_SIZE];
    uint8_t wmask[PCI_CFG_SIZE];    /* bits the guest may write */
    uint8_t w1cmask[PCI_CFG_SIZE];  /* bits a guest write of 1 clears */
    uint8_t cfg_init[PCI_CFG_SIZE]; /* the power-on image, restored by reset */
    struct pci_bar bars[PCI_NUM_BARS];
    struct pci_msix msix;
    unsigned cap_next;     /* next free byte for a capability in 0x40..0xff */
    unsigned cap_last;     /* last capability in the list, 0 = none */
    unsigned ext_cap_next; /* next free byte in 0x100..0xfff */
    unsigned ext_cap_last;
    unsigned dev_cfg_start, dev_cfg_end; /* range forwarded to ops->cfg_read/write */
    uint8_t intx_level;                  /* as the device drives it (0/1; saved) */
    bool intx_out;                       /* as the line is driven now (after INTx disable) */

    const struct irq_line *intx; /* set by the machine; NULL = not wired */
    struct pci_machine_hooks hooks;
    const struct pci_dev_ops *ops;
    void *opaque;

    uint64_t bad_access;   /* malformed config or MSI-X accesses: counted, ignored */
    uint64_t refused_bars; /* BAR placements the machine refused */
};

/*
 * Set up a type 0 header: IDs, class (base << 16 | sub << 8 | prog-if), revision, INTx pin.
 * Returns 0 or -EINVAL (pin above INTD).
 */
int pci_dev_init(struct pci_dev *dev, const char *name, uint16_t vendor, uint16_t device,
                 uint32_t class_code, uint8_t revision, enum pci_intx_pin pin);
void pci_dev_destroy(struct pci_dev *dev);
void pci_dev_set_subsystem(struct pci_dev *dev, uint16_t vendor, uint16_t id);
void pci_dev_set_ops(struct pci_dev *dev, const struct pci_dev_ops *ops, void *opaque);

/*
 * Define BAR n (before the function is attached). size is a power of two, at least 4 (I/O)
 * or 16 (memory), at most 64 KiB for I/O and 2^40 for memory; a MEM64 BAR also takes n + 1.
 * prefetch only for memory. Returns 0 or -EINVAL (bad size, index or slot in use).
 */
__attribute__((warn_unused_result)) int pci_dev_set_bar(struct pci_dev *dev, unsigned bar,
                                                        enum pci_bar_type type, uint64_t size,
                                                        bool prefetch);
/* The address programmed in BAR n now (type bits cleared), whether decoded or not. */
uint64_t pci_bar_addr(const struct pci_dev *dev, unsigned bar);

/*
 * Append a capability of len bytes (>= 2) to the list: id and next pointer are filled in,
 * *off receives its offset. -ENOSPC when 0x40..0xff is full.
 */
__attribute__((warn_unused_result)) int pci_add_cap(struct pci_dev *dev, uint8_t id, unsigned len,
                                                    unsigned *off);
/* Append a PCIe extended capability (4-byte header) in 0x100..0xfff. */
__attribute__((warn_unused_result)) int
pci_add_ext_cap(struct pci_dev *dev, uint16_t id, uint8_t version, unsigned len, unsigned *off);
/* Offset of the first capability with this id, or 0 (walks the list with a hop limit). */
unsigned pci_find_cap(const struct pci_dev *dev, uint8_t id);

/* Set bits in the write / write-1-to-clear masks, for device-specific registers. */
void pci_set_wmask(struct pci_dev *dev, unsigned off, const uint8_t *mask, unsigned len);
void pci_set_w1cmask(struct pci_dev *dev, unsigned off, const uint8_t *mask, unsigned len);
/* Forward accesses touching [start, end) to ops->cfg_read / cfg_write as well. */
void pci_set_dev_cfg_range(struct pci_dev *dev, unsigned start, unsigned end);

/* Little-endian helpers on cfg[] for device models and the machine. */
uint32_t pci_get_le(const uint8_t *p, unsigned size);
void pci_put_le(uint8_t *p, uint32_t v, unsigned size);

/*
 * Config accesses, as the host bridge decodes them: size 1, 2 or 4, off aligned to size and
 * below PCI_CFG_SIZE. Others read all ones / are dropped and counted.
 */
uint32_t pci_cfg_read(struct pci_dev *dev, unsigned off, unsigned size);
void pci_cfg_write(struct pci_dev *dev, unsigned off, uint32_t val, unsigned size);

/* Call once the capabilities and BARs are defined: takes the power-on image. */
void pci_dev_realize(struct pci_dev *dev);
/* Power-on state: BARs unmapped (hooks called), command 0, MSI-X off and all masked. */
void pci_dev_reset(struct pci_dev *dev);
/* Re-derive mappings and the INTx level from cfg (after a state load). */
void pci_dev_sync(struct pci_dev *dev);

/* INTx: level as the device wants it; the line follows unless INTx disable is set. */
void pci_set_irq(struct pci_dev *dev, bool level);

/*
 * MSI-X with nvec vectors, the table at table_off in BAR table_bar and the PBA at pba_off in
 * BAR pba_bar (both 8-byte aligned, inside defined memory BARs, not overlapping). The
 * device's BAR handlers pass accesses to pci_msix_bar_read/write, or the whole BAR uses
 * pci_msix_bar_ops when it holds nothing else. nvec 1..PCI_MSIX_MAX_VECTORS. -EINVAL for
 * bad layouts.
 */
__attribute__((warn_unused_result)) int pci_msix_init(struct pci_dev *dev, unsigned nvec,
                                                      unsigned table_bar, uint32_t table_off,
                                                      unsigned pba_bar, uint32_t pba_off);
bool pci_msix_enabled(const struct pci_dev *dev);
/* Vector state as the guest programmed it; false for an out-of-range vector. */
bool pci_msix_vector(const struct pci_dev *dev, unsigned vector, uint64_t *addr, uint32_t *data,
                     bool *masked);
/*
 * Signal vector: delivered through hooks.msix_deliver, or made pending when masked.
 * -EINVAL for a vector out of range, -ENODEV when MSI-X is off (the device uses INTx).
 */
int pci_msix_notify(struct pci_dev *dev, unsigned vector);
bool pci_msix_pending(const struct pci_dev *dev, unsigned vector);
/* True when (bar, off) falls in the table or PBA; *val gets the value for reads. */
bool pci_msix_bar_read(struct pci_dev *dev, unsigned bar, uint64_t off, unsigned size,
                       uint64_t *val);
bool pci_msix_bar_write(struct pci_dev *dev, unsigned bar, uint64_t off, uint64_t val,
                        unsigned size);
/* A BAR with only the MSI-X table and PBA: opaque is a struct pci_msix_bar. */
struct pci_msix_bar {
    struct pci_dev *dev;
    unsigned bar;
};
extern const struct bus_ops pci_msix_bar_ops;

/*
 * State: cfg, MSI-X table and PBA. post_load refuses read-only bytes that differ from the
 * power-on image; the machine then calls pci_dev_sync() to map the BARs again.
 */
extern const struct vmstate pci_dev_vmstate;
struct device pci_dev_device(struct pci_dev *dev);

#endif
