// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Q35-style PCI host bridge: configuration mechanism #1 (PCI 3.0 3.2.2.3.2) and ECAM
 * (PCIe 4.0 7.2.2) decoded to one function's config space. The reset control register at
 * 0xCF9 sits inside 0xCF8-0xCFF; as on ICH chipsets, only a dword access at 0xCF8 is the
 * config address and a byte access at 0xCF9 is RST_CNT.
 */
#include "io/pci_host.h"

#include <errno.h>
#include <string.h>

static uint32_t ones(unsigned size)
{
    return size >= 4 ? UINT32_MAX : (1u << (8 * size)) - 1;
}

/* Where PCIEXBAR says ECAM is, or PCI_BAR_UNMAPPED when disabled. */
static uint64_t pciexbar_decoded(const struct pci_host *h)
{
    uint64_t v = pci_get_le(h->bridge.cfg + Q35_PCIEXBAR, 4) |
                 ((uint64_t)pci_get_le(h->bridge.cfg + Q35_PCIEXBAR + 4, 4) << 32);
    if (!(v & Q35_PCIEXBAR_EN)) {
        return PCI_BAR_UNMAPPED;
    }
    return v & 0xff0000000ull; /* bits 35:28 for the 256 MiB length */
}

static void ecam_update(struct pci_host *h)
{
    uint64_t want = pciexbar_decoded(h);
    if (want == h->ecam_base) {
        return;
    }
    if (h->ecam_moved && h->ecam_moved(h->opaque, h->ecam_base, want) < 0) {
        h->refused_ecam++;
        want = PCI_BAR_UNMAPPED;
    }
    h->ecam_base = want;
}

static void pam_update(struct pci_host *h)
{
    if (h->pam_changed) {
        h->pam_changed(h->pam_opaque, h->bridge.cfg + Q35_PAM0);
    }
}

static void bridge_cfg_write(void *opaque, unsigned off, uint32_t val, unsigned size)
{
    (void)val;
    if (off < Q35_PCIEXBAR + 8 && off + size > Q35_PCIEXBAR) {
        ecam_update(opaque);
    }
    if (off < Q35_PAM0 + Q35_PAM_COUNT && off + size > Q35_PAM0) {
        pam_update(opaque);
    }
}

static const struct pci_dev_ops bridge_ops = {
    .cfg_write = bridge_cfg_write,
};

int pci_host_init(struct pci_host *h, uint64_t ecam_base, const struct bus_ops *cf9_ops,
                  void *cf9_opaque)
{
    if ((ecam_base & (Q35_PCIEXBAR_SIZE - 1)) || ecam_base == 0 || ecam_base >= (1ull << 36)) {
        return -EINVAL;
    }
    memset(h, 0, sizeof(*h));
    int r = pci_dev_init(&h->bridge, "q35-host", PCI_HOST_VENDOR, PCI_HOST_DEVICE,
                         PCI_CLASS_BRIDGE_HOST, 0, PCI_INTX_NONE);
    if (r < 0) {
        return r;
    }
    /* A host bridge decodes memory and is a bus master; its COMMAND bits are fixed. */
    pci_put_le(h->bridge.cfg + PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
    memset(h->bridge.wmask + PCI_COMMAND, 0, 2);
    h->bridge.wmask[PCI_INTERRUPT_LINE] = 0;
    pci_put_le(h->bridge.cfg + Q35_PCIEXBAR, (uint32_t)ecam_base | Q35_PCIEXBAR_EN, 4);
    pci_put_le(h->bridge.cfg + Q35_PCIEXBAR + 4, (uint32_t)(ecam_base >> 32), 4);
    static const uint8_t pciexbar_wmask[8] = {Q35_PCIEXBAR_EN, 0, 0, 0xf0, 0x0f, 0, 0, 0};
    pci_set_wmask(&h->bridge, Q35_PCIEXBAR, pciexbar_wmask, sizeof(pciexbar_wmask));
    static const uint8_t storage[8] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0};
    pci_set_wmask(&h->bridge, Q35_PAM0, storage, 7);
    pci_set_wmask(&h->bridge, Q35_SMRAM, storage, 1);
    pci_dev_set_ops(&h->bridge, &bridge_ops, h);
    pci_set_dev_cfg_range(&h->bridge, Q35_PCIEXBAR, Q35_PAM0 + Q35_PAM_COUNT);
    pci_dev_realize(&h->bridge);
    h->ecam_base = PCI_BAR_UNMAPPED;
    h->cf9_ops = cf9_ops;
    h->cf9_opaque = cf9_opaque;
    return 0;
}

void pci_host_destroy(struct pci_host *h)
{
    if (h) {
        pci_dev_destroy(&h->bridge);
    }
}

void pci_host_set_pam_hook(struct pci_host *h,
                           void (*fn)(void *opaque, const uint8_t pam[Q35_PAM_COUNT]), void *opaque)
{
    h->pam_changed = fn;
    h->pam_opaque = opaque;
    pam_update(h);
}

void pci_host_set_ecam_hook(struct pci_host *h,
                            int (*fn)(void *opaque, uint64_t old_addr, uint64_t new_addr),
                            void *opaque)
{
    h->ecam_moved = fn;
    h->opaque = opaque;
    ecam_update(h);
}

static void set_multifunction(struct pci_host *h, unsigned slot)
{
    struct pci_dev *f0 = h->fn[slot][0];
    if (!f0) {
        return;
    }
    bool multi = false;
    for (unsigned fn = 1; fn < PCI_HOST_FUNCS; fn++) {
        multi |= h->fn[slot][fn] != NULL;
    }
    uint8_t bit = multi ? PCI_HEADER_MULTI_FUNCTION : 0;
    f0->cfg[PCI_HEADER_TYPE] = (uint8_t)((f0->cfg[PCI_HEADER_TYPE] & 0x7f) | bit);
    f0->cfg_init[PCI_HEADER_TYPE] = f0->cfg[PCI_HEADER_TYPE];
}

int pci_host_attach(struct pci_host *h, unsigned slot, unsigned fn, struct pci_dev *dev)
{
    if (slot >= PCI_HOST_SLOTS || fn >= PCI_HOST_FUNCS || (slot == 0 && fn == 0) || !dev) {
        return -EINVAL;
    }
    if (h->fn[slot][fn]) {
        return -EEXIST;
    }
    h->fn[slot][fn] = dev;
    set_multifunction(h, slot);
    return 0;
}

void pci_host_detach(struct pci_host *h, unsigned slot, unsigned fn)
{
    if (slot < PCI_HOST_SLOTS && fn < PCI_HOST_FUNCS && !(slot == 0 && fn == 0)) {
        h->fn[slot][fn] = NULL;
        set_multifunction(h, slot);
    }
}

struct pci_dev *pci_host_dev(struct pci_host *h, unsigned bus, unsigned slot, unsigned fn)
{
    /* guest-controlled: bus, slot and function numbers come from the config address */
    if (bus != 0 || slot >= PCI_HOST_SLOTS || fn >= PCI_HOST_FUNCS) {
        return NULL;
    }
    if (slot == 0 && fn == 0) {
        return &h->bridge;
    }
    return h->fn[slot][fn];
}

uint32_t pci_host_cfg_read(struct pci_host *h, unsigned bus, unsigned slot, unsigned fn,
                           unsigned off, unsigned size)
{
    struct pci_dev *dev = pci_host_dev(h, bus, slot, fn);
    if (!dev) {
        return ones(size); /* master abort: no function answers */
    }
    return pci_cfg_read(dev, off, size);
}

void pci_host_cfg_write(struct pci_host *h, unsigned bus, unsigned slot, unsigned fn, unsigned off,
                        uint32_t val, unsigned size)
{
    struct pci_dev *dev = pci_host_dev(h, bus, slot, fn);
    if (dev) {
        pci_cfg_write(dev, off, val, size);
    }
}

/* ---- Configuration mechanism #1 ---------------------------------------------------------- */

/* The data port at 0xCFC + lane reaches register (address & 0xfc) + lane. */
static bool cf8_target(struct pci_host *h, uint64_t off, unsigned size, unsigned *bus,
                       unsigned *slot, unsigned *fn, unsigned *reg)
{
    uint32_t ca = h->config_address;
    unsigned lane = (unsigned)off - 4;
    /* guest-controlled: the access must stay inside the data dword */
    if (!(ca & PCI_CONFIG_ADDRESS_ENABLE) || lane + size > 4) {
        return false;
    }
    *bus = (ca >> 16) & 0xff;
    *slot = (ca >> 11) & 0x1f;
    *fn = (ca >> 8) & 0x7;
    *reg = (ca & 0xfc) + lane;
    return true;
}

static uint64_t cf8_read(void *opaque, uint64_t off, unsigned size)
{
    struct pci_host *h = opaque;
    unsigned bus, slot, fn, reg;
    if (off == 0 && size == 4) {
        return h->config_address;
    }
    if (off == PCI_HOST_RESET_OFF && size == 1) {
        return h->cf9_ops && h->cf9_ops->read ? h->cf9_ops->read(h->cf9_opaque, 0, 1) : 0xff;
    }
    if (off >= 4) {
        if (!cf8_target(h, off, size, &bus, &slot, &fn, &reg)) {
            return ones(size);
        }
        return pci_host_cfg_read(h, bus, slot, fn, reg, size);
    }
    /* Other accesses to 0xCF8-0xCFB are plain I/O cycles nothing claims. */
    h->bad_access++;
    return ones(size);
}

static void cf8_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    struct pci_host *h = opaque;
    unsigned bus, slot, fn, reg;
    if (off == 0 && size == 4) {
        h->config_address = (uint32_t)val & PCI_CONFIG_ADDRESS_MASK;
        return;
    }
    if (off == PCI_HOST_RESET_OFF && size == 1) {
        if (h->cf9_ops && h->cf9_ops->write) {
            /* Last: the reset register may reset the machine, this bridge included. */
            h->cf9_ops->write(h->cf9_opaque, 0, val, 1);
        }
        return;
    }
    if (off >= 4) {
        if (cf8_target(h, off, size, &bus, &slot, &fn, &reg)) {
            pci_host_cfg_write(h, bus, slot, fn, reg, (uint32_t)val, size);
        }
        return;
    }
    h->bad_access++;
}

const struct bus_ops pci_host_cf8_ops = {
    .read = cf8_read,
    .write = cf8_write,
    .min_size = 1,
    .max_size = 4,
};

/* ---- ECAM -------------------------------------------------------------------------------- */

static uint64_t ecam_read(void *opaque, uint64_t off, unsigned size)
{
    struct pci_host *h = opaque;
    /* guest-controlled: the offset is decoded field by field, each field bounded */
    if (off >= Q35_PCIEXBAR_SIZE) {
        return ones(size);
    }
    return pci_host_cfg_read(h, (unsigned)(off >> 20), (unsigned)(off >> 15) & 0x1f,
                             (unsigned)(off >> 12) & 7, (unsigned)off & 0xfff, size);
}

static void ecam_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    struct pci_host *h = opaque;
    /* guest-controlled: as for reads */
    if (off >= Q35_PCIEXBAR_SIZE) {
        return;
    }
    pci_host_cfg_write(h, (unsigned)(off >> 20), (unsigned)(off >> 15) & 0x1f,
                       (unsigned)(off >> 12) & 7, (unsigned)off & 0xfff, (uint32_t)val, size);
}

const struct bus_ops pci_host_ecam_ops = {
    .read = ecam_read,
    .write = ecam_write,
    .min_size = 1,
    .max_size = 4,
};

/* ---- Lifecycle and state ----------------------------------------------------------------- */

void pci_host_reset(struct pci_host *h)
{
    h->config_address = 0;
    pci_dev_reset(&h->bridge);
    ecam_update(h);
    pam_update(h);
}

void pci_host_sync(struct pci_host *h)
{
    ecam_update(h);
    pam_update(h);
}

static int pci_host_post_load(void *opaque)
{
    struct pci_host *h = opaque;
    if (h->config_address & ~PCI_CONFIG_ADDRESS_MASK) {
        return -EINVAL;
    }
    int r = pci_dev_vmstate.post_load(&h->bridge);
    if (r == 0) {
        pci_host_sync(h); /* ECAM and shadow RAM where the loaded PCIEXBAR and PAM say */
    }
    return r;
}

static const struct vmstate_field pci_host_fields[] = {
    VMSTATE_FIELD(struct pci_host, config_address),
    VMSTATE_ARRAY(struct pci_host, bridge.cfg),
    VMSTATE_END,
};

const struct vmstate pci_host_vmstate = {
    .name = "pci-host",
    .version = 1,
    .fields = pci_host_fields,
    .post_load = pci_host_post_load,
};

static void pci_host_reset_cb(void *opaque)
{
    pci_host_reset(opaque);
}

struct device pci_host_device(struct pci_host *h)
{
    return (struct device){
        .name = "pci-host",
        .opaque = h,
        .reset = pci_host_reset_cb,
        .state = &pci_host_vmstate,
    };
}
