// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * PCI function configuration space (PCI Local Bus 3.0 chapter 6; PCIe 4.0 7.5 for the
 * extended space): every byte has a write mask and a write-1-to-clear mask, so the header,
 * BARs and capabilities are all handled by one write path. BAR decoding follows the COMMAND
 * register and is pushed to the machine through hooks; MSI-X follows PCI 3.0 6.8.2.
 */
#include "io/pci.h"

#include <errno.h>
#include <string.h>

/* Highest address a 64-bit BAR may decode; beyond any host's guest physical address width. */
#define PCI_MEM64_LIMIT (1ull << 48)
#define PCI_IO_LIMIT 0x10000ull
#define PCI_MEM32_LIMIT 0x100000000ull
#define PCI_CAP_START 0x40
#define PCI_EXT_CAP_START 0x100
/* A legal list of 4-byte-aligned capabilities in 0x40..0xff has at most 48 entries. */
#define PCI_CAP_HOPS 48

uint32_t pci_get_le(const uint8_t *p, unsigned size)
{
    uint32_t v = 0;
    for (unsigned i = 0; i < size; i++) {
        v |= (uint32_t)p[i] << (8 * i);
    }
    return v;
}

void pci_put_le(uint8_t *p, uint32_t v, unsigned size)
{
    for (unsigned i = 0; i < size; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

static uint16_t cfg16(const struct pci_dev *dev, unsigned off)
{
    return (uint16_t)pci_get_le(dev->cfg + off, 2);
}

static uint32_t cfg32(const struct pci_dev *dev, unsigned off)
{
    return pci_get_le(dev->cfg + off, 4);
}

static void set_mask(uint8_t *m, unsigned off, uint32_t v, unsigned size)
{
    pci_put_le(m + off, v, size);
}

int pci_dev_init(struct pci_dev *dev, const char *name, uint16_t vendor, uint16_t device,
                 uint32_t class_code, uint8_t revision, enum pci_intx_pin pin)
{
    if ((unsigned)pin > PCI_INTD) {
        return -EINVAL;
    }
    memset(dev, 0, sizeof(*dev));
    dev->name = name;
    pci_put_le(dev->cfg + PCI_VENDOR_ID, vendor, 2);
    pci_put_le(dev->cfg + PCI_DEVICE_ID, device, 2);
    dev->cfg[PCI_REVISION_ID] = revision;
    pci_put_le(dev->cfg + PCI_CLASS_PROG, class_code & 0xffffffu, 3);
    dev->cfg[PCI_HEADER_TYPE] = 0;
    dev->cfg[PCI_INTERRUPT_PIN] = (uint8_t)pin;
    /* The guest writes the decode enables, bus mastering, error reporting and INTx disable. */
    set_mask(dev->wmask, PCI_COMMAND,
             PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_PARITY |
                 PCI_COMMAND_SERR | PCI_COMMAND_INTX_DISABLE,
             2);
    set_mask(dev->w1cmask, PCI_STATUS, PCI_STATUS_W1C, 2);
    dev->wmask[0x0c] = 0xff; /* cache line size: storage only */
    dev->wmask[0x0d] = 0xff; /* latency timer: storage only */
    dev->wmask[PCI_INTERRUPT_LINE] = 0xff;
    for (unsigned i = 0; i < PCI_NUM_BARS; i++) {
        dev->bars[i].mapped_addr = PCI_BAR_UNMAPPED;
    }
    dev->cap_next = PCI_CAP_START;
    dev->ext_cap_next = PCI_EXT_CAP_START;
    memcpy(dev->cfg_init, dev->cfg, sizeof(dev->cfg));
    return 0;
}

void pci_dev_destroy(struct pci_dev *dev)
{
    (void)dev; /* nothing allocated: kept so owners need not change when that changes */
}

void pci_dev_set_subsystem(struct pci_dev *dev, uint16_t vendor, uint16_t id)
{
    pci_put_le(dev->cfg + PCI_SUBSYSTEM_VENDOR_ID, vendor, 2);
    pci_put_le(dev->cfg + PCI_SUBSYSTEM_ID, id, 2);
}

void pci_dev_set_ops(struct pci_dev *dev, const struct pci_dev_ops *ops, void *opaque)
{
    dev->ops = ops;
    dev->opaque = opaque;
}

static bool is_pow2(uint64_t v)
{
    return v && !(v & (v - 1));
}

int pci_dev_set_bar(struct pci_dev *dev, unsigned bar, enum pci_bar_type type, uint64_t size,
                    bool prefetch)
{
    if (bar >= PCI_NUM_BARS || !is_pow2(size) || dev->bars[bar].type != PCI_BAR_NONE ||
        dev->bars[bar].upper_half) {
        return -EINVAL;
    }
    unsigned reg = PCI_BAR0 + 4 * bar;
    uint32_t flags;
    switch (type) {
    case PCI_BAR_IO:
        if (size < 4 || size > PCI_IO_LIMIT || prefetch) {
            return -EINVAL;
        }
        flags = PCI_BAR_IO_FLAG;
        set_mask(dev->wmask, reg, (uint32_t) ~(size - 1) & ~3u, 4);
        break;
    case PCI_BAR_MEM32:
        if (size < 16 || size > (1ull << 31)) {
            return -EINVAL;
        }
        flags = prefetch ? PCI_BAR_MEM_PREFETCH : 0;
        set_mask(dev->wmask, reg, (uint32_t) ~(size - 1) & ~0xfu, 4);
        break;
    case PCI_BAR_MEM64:
        if (size < 16 || size > (1ull << 40) || bar + 1 >= PCI_NUM_BARS ||
            dev->bars[bar + 1].type != PCI_BAR_NONE) {
            return -EINVAL;
        }
        flags = PCI_BAR_MEM_TYPE_64 | (prefetch ? PCI_BAR_MEM_PREFETCH : 0);
        set_mask(dev->wmask, reg, (uint32_t) ~(size - 1) & ~0xfu, 4);
        set_mask(dev->wmask, reg + 4, (uint32_t)(~(size - 1) >> 32), 4);
        dev->bars[bar + 1].upper_half = true;
        break;
    default:
        return -EINVAL;
    }
    pci_put_le(dev->cfg + reg, flags, 4);
    dev->bars[bar].type = type;
    dev->bars[bar].size = size;
    dev->bars[bar].prefetch = prefetch;
    return 0;
}

uint64_t pci_bar_addr(const struct pci_dev *dev, unsigned bar)
{
    if (bar >= PCI_NUM_BARS) {
        return 0;
    }
    const struct pci_bar *b = &dev->bars[bar];
    uint32_t lo = cfg32(dev, PCI_BAR0 + 4 * bar);
    switch (b->type) {
    case PCI_BAR_IO:
        return lo & ~3u;
    case PCI_BAR_MEM32:
        return lo & ~0xfu;
    case PCI_BAR_MEM64:
        return (lo & ~0xfu) | ((uint64_t)cfg32(dev, PCI_BAR0 + 4 * bar + 4) << 32);
    default:
        return 0;
    }
}

/* Where BAR n decodes with the current COMMAND and address, or PCI_BAR_UNMAPPED. */
static uint64_t bar_decoded(const struct pci_dev *dev, unsigned n)
{
    const struct pci_bar *b = &dev->bars[n];
    uint16_t cmd = cfg16(dev, PCI_COMMAND);
    uint64_t addr = pci_bar_addr(dev, n);
    uint64_t limit;
    switch (b->type) {
    case PCI_BAR_IO:
        if (!(cmd & PCI_COMMAND_IO)) {
            return PCI_BAR_UNMAPPED;
        }
        limit = PCI_IO_LIMIT;
        break;
    case PCI_BAR_MEM32:
        if (!(cmd & PCI_COMMAND_MEMORY)) {
            return PCI_BAR_UNMAPPED;
        }
        /* The all-ones sizing pattern ends at 4 GiB - 1: never a placement. */
        limit = PCI_MEM32_LIMIT - 1;
        break;
    case PCI_BAR_MEM64:
        if (!(cmd & PCI_COMMAND_MEMORY)) {
            return PCI_BAR_UNMAPPED;
        }
        limit = PCI_MEM64_LIMIT;
        break;
    default:
        return PCI_BAR_UNMAPPED;
    }
    /* guest-controlled: address 0 means unassigned; the BAR must end below the limit */
    if (addr == 0 || addr > limit || b->size > limit - addr) {
        return PCI_BAR_UNMAPPED;
    }
    return addr;
}

static void bars_update(struct pci_dev *dev)
{
    for (unsigned i = 0; i < PCI_NUM_BARS; i++) {
        struct pci_bar *b = &dev->bars[i];
        if (b->type == PCI_BAR_NONE) {
            continue;
        }
        uint64_t want = bar_decoded(dev, i);
        uint64_t old = b->mapped_addr;
        if (want == old) {
            continue;
        }
        int r = 0;
        if (dev->hooks.bar_moved) {
            r = dev->hooks.bar_moved(dev->hooks.opaque, dev, i, old, want);
        }
        if (r < 0) {
            /* The machine unmapped old and refused want: the BAR decodes nowhere. */
            dev->refused_bars++;
            want = PCI_BAR_UNMAPPED;
        }
        b->mapped_addr = want;
        if (want != old && dev->ops && dev->ops->bar_moved) {
            dev->ops->bar_moved(dev->opaque, i, old, want);
        }
    }
}

static void intx_update(struct pci_dev *dev, bool force)
{
    uint16_t st = cfg16(dev, PCI_STATUS);
    st = dev->intx_level ? (st | PCI_STATUS_INTERRUPT) : (st & ~PCI_STATUS_INTERRUPT);
    pci_put_le(dev->cfg + PCI_STATUS, st, 2);
    /* With MSI-X enabled a function must not assert INTx (PCI 3.0 6.8.2). */
    bool out = dev->intx_level && !(cfg16(dev, PCI_COMMAND) & PCI_COMMAND_INTX_DISABLE) &&
               !pci_msix_enabled(dev);
    if (out != dev->intx_out || force) {
        dev->intx_out = out;
        irq_set(dev->intx, out);
    }
}

void pci_set_irq(struct pci_dev *dev, bool level)
{
    dev->intx_level = level;
    intx_update(dev, false);
}

/* ---- Capabilities ------------------------------------------------------------------------ */

int pci_add_cap(struct pci_dev *dev, uint8_t id, unsigned len, unsigned *off)
{
    unsigned at = dev->cap_next;
    if (len < 2 || at + len > PCI_CFG_LEGACY) {
        return -ENOSPC;
    }
    dev->cfg[at] = id;
    dev->cfg[at + 1] = 0;
    if (dev->cap_last) {
        dev->cfg[dev->cap_last + 1] = (uint8_t)at;
    } else {
        dev->cfg[PCI_CAPABILITY_LIST] = (uint8_t)at;
    }
    pci_put_le(dev->cfg + PCI_STATUS, cfg16(dev, PCI_STATUS) | PCI_STATUS_CAP_LIST, 2);
    dev->cap_last = at;
    dev->cap_next = (at + len + 3) & ~3u;
    if (off) {
        *off = at;
    }
    return 0;
}

int pci_add_ext_cap(struct pci_dev *dev, uint16_t id, uint8_t version, unsigned len, unsigned *off)
{
    unsigned at = dev->ext_cap_next;
    if (len < 4 || at + len > PCI_CFG_SIZE || version > 0xf) {
        return -ENOSPC;
    }
    pci_put_le(dev->cfg + at, id | ((uint32_t)version << 16), 4);
    if (dev->ext_cap_last) {
        uint32_t h = cfg32(dev, dev->ext_cap_last);
        pci_put_le(dev->cfg + dev->ext_cap_last, (h & 0xfffffu) | ((uint32_t)at << 20), 4);
    }
    dev->ext_cap_last = at;
    dev->ext_cap_next = (at + len + 3) & ~3u;
    if (off) {
        *off = at;
    }
    return 0;
}

unsigned pci_find_cap(const struct pci_dev *dev, uint8_t id)
{
    if (!(cfg16(dev, PCI_STATUS) & PCI_STATUS_CAP_LIST)) {
        return 0;
    }
    unsigned at = dev->cfg[PCI_CAPABILITY_LIST] & ~3u;
    for (unsigned hops = 0; at >= PCI_CAP_START && hops < PCI_CAP_HOPS; hops++) {
        if (dev->cfg[at] == id) {
            return at;
        }
        at = dev->cfg[at + 1] & ~3u;
    }
    return 0;
}

void pci_set_wmask(struct pci_dev *dev, unsigned off, const uint8_t *mask, unsigned len)
{
    for (unsigned i = 0; i < len && off + i < PCI_CFG_SIZE; i++) {
        dev->wmask[off + i] |= mask[i];
    }
}

void pci_set_w1cmask(struct pci_dev *dev, unsigned off, const uint8_t *mask, unsigned len)
{
    for (unsigned i = 0; i < len && off + i < PCI_CFG_SIZE; i++) {
        dev->w1cmask[off + i] |= mask[i];
    }
}

void pci_set_dev_cfg_range(struct pci_dev *dev, unsigned start, unsigned end)
{
    dev->dev_cfg_start = start < PCI_CFG_SIZE ? start : PCI_CFG_SIZE;
    dev->dev_cfg_end = end < PCI_CFG_SIZE ? end : PCI_CFG_SIZE;
}

/* ---- MSI-X ------------------------------------------------------------------------------- */

static uint16_t msix_ctrl(const struct pci_dev *dev)
{
    return dev->msix.nvec ? cfg16(dev, dev->msix.cap + 2) : 0;
}

bool pci_msix_enabled(const struct pci_dev *dev)
{
    return msix_ctrl(dev) & PCI_MSIX_FLAGS_ENABLE;
}

static bool vector_masked(const struct pci_dev *dev, unsigned v)
{
    const uint8_t *e = dev->msix.table + v * PCI_MSIX_ENTRY_SIZE;
    return (msix_ctrl(dev) & PCI_MSIX_FLAGS_MASKALL) ||
           (pci_get_le(e + 12, 4) & PCI_MSIX_ENTRY_CTRL_MASKBIT);
}

bool pci_msix_vector(const struct pci_dev *dev, unsigned vector, uint64_t *addr, uint32_t *data,
                     bool *masked)
{
    if (vector >= dev->msix.nvec) {
        return false;
    }
    const uint8_t *e = dev->msix.table + vector * PCI_MSIX_ENTRY_SIZE;
    if (addr) {
        *addr = pci_get_le(e, 4) | ((uint64_t)pci_get_le(e + 4, 4) << 32);
    }
    if (data) {
        *data = pci_get_le(e + 8, 4);
    }
    if (masked) {
        *masked = vector_masked(dev, vector);
    }
    return true;
}

bool pci_msix_pending(const struct pci_dev *dev, unsigned vector)
{
    return vector < dev->msix.nvec && (dev->msix.pba[vector / 64] >> (vector % 64)) & 1;
}

static void msix_deliver(struct pci_dev *dev, unsigned v)
{
    uint64_t addr;
    uint32_t data;
    pci_msix_vector(dev, v, &addr, &data, NULL);
    if (dev->hooks.msix_deliver) {
        dev->hooks.msix_deliver(dev->hooks.opaque, dev, v, addr, data);
    }
}

int pci_msix_notify(struct pci_dev *dev, unsigned vector)
{
    if (vector >= dev->msix.nvec) {
        return -EINVAL;
    }
    if (!pci_msix_enabled(dev)) {
        return -ENODEV;
    }
    if (vector_masked(dev, vector)) {
        dev->msix.pba[vector / 64] |= 1ull << (vector % 64);
        return 0;
    }
    msix_deliver(dev, vector);
    return 0;
}

/* Send what became deliverable: pending vectors that are no longer masked. */
static void msix_flush_pending(struct pci_dev *dev, unsigned first, unsigned last)
{
    if (!pci_msix_enabled(dev)) {
        return;
    }
    for (unsigned v = first; v <= last && v < dev->msix.nvec; v++) {
        if (pci_msix_pending(dev, v) && !vector_masked(dev, v)) {
            dev->msix.pba[v / 64] &= ~(1ull << (v % 64));
            msix_deliver(dev, v);
        }
    }
}

static void msix_changed(struct pci_dev *dev, unsigned vector)
{
    if (dev->hooks.msix_changed) {
        dev->hooks.msix_changed(dev->hooks.opaque, dev, vector);
    }
}

int pci_msix_init(struct pci_dev *dev, unsigned nvec, unsigned table_bar, uint32_t table_off,
                  unsigned pba_bar, uint32_t pba_off)
{
    if (nvec == 0 || nvec > PCI_MSIX_MAX_VECTORS || dev->msix.nvec || table_bar >= PCI_NUM_BARS ||
        pba_bar >= PCI_NUM_BARS || (table_off & 7) || (pba_off & 7)) {
        return -EINVAL;
    }
    const struct pci_bar *tb = &dev->bars[table_bar], *pb = &dev->bars[pba_bar];
    uint64_t tlen = (uint64_t)nvec * PCI_MSIX_ENTRY_SIZE;
    uint64_t plen = (uint64_t)((nvec + 63) / 64) * 8;
    if (tb->type == PCI_BAR_NONE || tb->type == PCI_BAR_IO || pb->type == PCI_BAR_NONE ||
        pb->type == PCI_BAR_IO || table_off + tlen > tb->size || pba_off + plen > pb->size) {
        return -EINVAL;
    }
    if (table_bar == pba_bar && table_off < pba_off + plen && pba_off < table_off + tlen) {
        return -EINVAL;
    }
    unsigned cap;
    int r = pci_add_cap(dev, PCI_CAP_ID_MSIX, 12, &cap);
    if (r < 0) {
        return r;
    }
    dev->msix.nvec = nvec;
    dev->msix.cap = (uint8_t)cap;
    dev->msix.table_bar = (uint8_t)table_bar;
    dev->msix.pba_bar = (uint8_t)pba_bar;
    dev->msix.table_off = table_off;
    dev->msix.pba_off = pba_off;
    pci_put_le(dev->cfg + cap + 2, nvec - 1, 2);
    pci_put_le(dev->cfg + cap + 4, table_off | table_bar, 4);
    pci_put_le(dev->cfg + cap + 8, pba_off | pba_bar, 4);
    dev->wmask[cap + 3] = (PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL) >> 8;
    for (unsigned v = 0; v < nvec; v++) {
        /* Every vector starts masked (PCI 3.0 6.8.2.9). */
        dev->msix.table[v * PCI_MSIX_ENTRY_SIZE + 12] = PCI_MSIX_ENTRY_CTRL_MASKBIT;
    }
    return 0;
}

static void msix_table_reset(struct pci_dev *dev)
{
    memset(dev->msix.table, 0, sizeof(dev->msix.table));
    memset(dev->msix.pba, 0, sizeof(dev->msix.pba));
    for (unsigned v = 0; v < dev->msix.nvec; v++) {
        dev->msix.table[v * PCI_MSIX_ENTRY_SIZE + 12] = PCI_MSIX_ENTRY_CTRL_MASKBIT;
    }
}

/* Offset into the table or PBA region of bar, or -1. Sizes 4 and 8, naturally aligned. */
static long msix_region(const struct pci_dev *dev, unsigned bar, uint64_t off, unsigned size,
                        bool *is_pba)
{
    const struct pci_msix *m = &dev->msix;
    uint64_t tlen = (uint64_t)m->nvec * PCI_MSIX_ENTRY_SIZE;
    uint64_t plen = (uint64_t)((m->nvec + 63) / 64) * 8;
    if (!m->nvec) {
        return -1;
    }
    if (bar == m->table_bar && off >= m->table_off && off - m->table_off < tlen) {
        *is_pba = false;
        return (long)(off - m->table_off);
    }
    if (bar == m->pba_bar && off >= m->pba_off && off - m->pba_off < plen) {
        *is_pba = true;
        return (long)(off - m->pba_off);
    }
    (void)size;
    return -1;
}

bool pci_msix_bar_read(struct pci_dev *dev, unsigned bar, uint64_t off, unsigned size,
                       uint64_t *val)
{
    bool pba;
    long at = msix_region(dev, bar, off, size, &pba);
    if (at < 0) {
        return false;
    }
    /* guest-controlled: the spec allows aligned dword and qword accesses only */
    if ((size != 4 && size != 8) || (at & (size - 1))) {
        dev->bad_access++;
        *val = size >= 8 ? UINT64_MAX : (1ull << (8 * size)) - 1;
        return true;
    }
    uint64_t v = 0;
    if (pba) {
        uint64_t word = dev->msix.pba[at / 8];
        v = size == 8 ? word : (word >> (8 * (at & 4))) & 0xffffffffu;
    } else {
        const uint8_t *p = dev->msix.table + at;
        v = pci_get_le(p, 4);
        if (size == 8) {
            v |= (uint64_t)pci_get_le(p + 4, 4) << 32;
        }
    }
    *val = v;
    return true;
}

static void msix_table_write32(struct pci_dev *dev, unsigned at, uint32_t v)
{
    unsigned vec = at / PCI_MSIX_ENTRY_SIZE;
    unsigned field = at % PCI_MSIX_ENTRY_SIZE;
    uint8_t *p = dev->msix.table + at;
    bool was_masked = vector_masked(dev, vec);
    if (field == 12) {
        v &= PCI_MSIX_ENTRY_CTRL_MASKBIT; /* the rest is reserved, reads 0 */
    }
    if (pci_get_le(p, 4) == v) {
        return;
    }
    pci_put_le(p, v, 4);
    msix_changed(dev, vec);
    if (was_masked && !vector_masked(dev, vec)) {
        msix_flush_pending(dev, vec, vec);
    }
}

bool pci_msix_bar_write(struct pci_dev *dev, unsigned bar, uint64_t off, uint64_t val,
                        unsigned size)
{
    bool pba;
    long at = msix_region(dev, bar, off, size, &pba);
    if (at < 0) {
        return false;
    }
    /* guest-controlled: aligned dword and qword accesses only */
    if ((size != 4 && size != 8) || (at & (size - 1))) {
        dev->bad_access++;
        return true;
    }
    if (pba) {
        return true; /* read-only; writes are ignored (PCI 3.0 6.8.2.10) */
    }
    msix_table_write32(dev, (unsigned)at, (uint32_t)val);
    if (size == 8) {
        msix_table_write32(dev, (unsigned)at + 4, (uint32_t)(val >> 32));
    }
    return true;
}

static uint64_t msix_bar_read(void *opaque, uint64_t off, unsigned size)
{
    struct pci_msix_bar *mb = opaque;
    uint64_t v;
    if (!pci_msix_bar_read(mb->dev, mb->bar, off, size, &v)) {
        v = 0; /* space between and after the table and PBA reads as zero */
    }
    return v;
}

static void msix_bar_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    struct pci_msix_bar *mb = opaque;
    pci_msix_bar_write(mb->dev, mb->bar, off, val, size);
}

const struct bus_ops pci_msix_bar_ops = {
    .read = msix_bar_read,
    .write = msix_bar_write,
    .min_size = 1,
    .max_size = 8,
};

/* ---- Config accesses --------------------------------------------------------------------- */

static bool cfg_access_ok(const struct pci_dev *dev, unsigned off, unsigned size)
{
    (void)dev;
    return (size == 1 || size == 2 || size == 4) && (off & (size - 1)) == 0 && off < PCI_CFG_SIZE;
}

static bool in_dev_range(const struct pci_dev *dev, unsigned off, unsigned size)
{
    return dev->ops && off < dev->dev_cfg_end && off + size > dev->dev_cfg_start;
}

uint32_t pci_cfg_read(struct pci_dev *dev, unsigned off, unsigned size)
{
    /* guest-controlled: size and alignment come from the guest's access */
    if (!cfg_access_ok(dev, off, size)) {
        dev->bad_access++;
        return size >= 4 ? UINT32_MAX : (1u << (8 * size)) - 1;
    }
    if (in_dev_range(dev, off, size) && dev->ops->cfg_read) {
        return dev->ops->cfg_read(dev->opaque, off, size);
    }
    return pci_get_le(dev->cfg + off, size);
}

static bool touches(unsigned off, unsigned size, unsigned start, unsigned len)
{
    return off < start + len && off + size > start;
}

void pci_cfg_write(struct pci_dev *dev, unsigned off, uint32_t val, unsigned size)
{
    /* guest-controlled: size and alignment come from the guest's access */
    if (!cfg_access_ok(dev, off, size)) {
        dev->bad_access++;
        return;
    }
    uint16_t old_msix = msix_ctrl(dev);
    uint16_t old_cmd = cfg16(dev, PCI_COMMAND);
    for (unsigned i = 0; i < size; i++) {
        uint8_t b = (uint8_t)(val >> (8 * i));
        uint8_t *c = &dev->cfg[off + i];
        uint8_t wm = dev->wmask[off + i], w1c = dev->w1cmask[off + i];
        *c = (uint8_t)((*c & ~wm) | (b & wm));
        *c = (uint8_t)(*c & ~(b & w1c));
    }
    if (touches(off, size, PCI_COMMAND, 2) || touches(off, size, PCI_BAR0, 4 * PCI_NUM_BARS)) {
        bars_update(dev);
    }
    if (touches(off, size, PCI_COMMAND, 2) &&
        ((old_cmd ^ cfg16(dev, PCI_COMMAND)) & PCI_COMMAND_INTX_DISABLE)) {
        intx_update(dev, false);
    }
    if (dev->msix.nvec && touches(off, size, dev->msix.cap + 2, 2)) {
        uint16_t now = msix_ctrl(dev);
        if ((now ^ old_msix) & (PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL)) {
            msix_changed(dev, PCI_MSIX_ALL);
            intx_update(dev, false);
            msix_flush_pending(dev, 0, dev->msix.nvec - 1);
        }
    }
    if (in_dev_range(dev, off, size) && dev->ops->cfg_write) {
        dev->ops->cfg_write(dev->opaque, off, val, size);
    }
}

/* ---- Lifecycle and state ----------------------------------------------------------------- */

void pci_dev_realize(struct pci_dev *dev)
{
    memcpy(dev->cfg_init, dev->cfg, sizeof(dev->cfg));
}

void pci_dev_reset(struct pci_dev *dev)
{
    memcpy(dev->cfg, dev->cfg_init, sizeof(dev->cfg));
    msix_table_reset(dev);
    bars_update(dev); /* COMMAND is 0 again: every BAR is unmapped */
    msix_changed(dev, PCI_MSIX_ALL);
    dev->intx_level = false;
    intx_update(dev, false);
}

void pci_dev_sync(struct pci_dev *dev)
{
    bars_update(dev);
    msix_changed(dev, PCI_MSIX_ALL);
    intx_update(dev, true);
}

static int pci_dev_post_load(void *opaque)
{
    struct pci_dev *dev = opaque;
    for (unsigned i = 0; i < PCI_CFG_SIZE; i++) {
        uint8_t fixed = (uint8_t) ~(dev->wmask[i] | dev->w1cmask[i]);
        if (i == PCI_STATUS) {
            fixed &= (uint8_t)~PCI_STATUS_INTERRUPT; /* derived from intx_level */
        }
        if ((dev->cfg[i] ^ dev->cfg_init[i]) & fixed) {
            return -EINVAL;
        }
    }
    if (dev->intx_level > 1) {
        return -EINVAL;
    }
    for (unsigned v = 0; v < PCI_MSIX_MAX_VECTORS; v++) {
        uint32_t ctl = pci_get_le(dev->msix.table + v * PCI_MSIX_ENTRY_SIZE + 12, 4);
        bool used = v < dev->msix.nvec;
        if ((ctl & ~PCI_MSIX_ENTRY_CTRL_MASKBIT) ||
            (!used && (dev->msix.pba[v / 64] >> (v % 64)) & 1)) {
            return -EINVAL;
        }
    }
    return 0;
}

static const struct vmstate_field pci_dev_fields[] = {
    VMSTATE_ARRAY(struct pci_dev, cfg),
    VMSTATE_ARRAY(struct pci_dev, msix.table),
    VMSTATE_ARRAY(struct pci_dev, msix.pba),
    VMSTATE_FIELD(struct pci_dev, intx_level),
    VMSTATE_END,
};

const struct vmstate pci_dev_vmstate = {
    .name = "pci-dev",
    .version = 1,
    .fields = pci_dev_fields,
    .post_load = pci_dev_post_load,
};

static void pci_dev_reset_cb(void *opaque)
{
    pci_dev_reset(opaque);
}

struct device pci_dev_device(struct pci_dev *dev)
{
    return (struct device){
        .name = dev->name,
        .opaque = dev,
        .reset = pci_dev_reset_cb,
        .state = &pci_dev_vmstate,
    };
}
