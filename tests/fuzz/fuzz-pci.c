// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer harness for the PCI layer: bytes become config accesses through the host
 * bridge (0xCF8/0xCFC and ECAM), MSI-X table and PBA accesses, interrupt requests, resets
 * and hostile state loads, against two fake endpoints with IO, MEM32, MEM64 BARs and MSI-X.
 * The BAR hook keeps a map of decoded ranges and checks no two ever overlap.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/pci_host.h"
#include "tests/helpers/fake_irq.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct world {
    struct pci_host h;
    struct pci_dev d[2];
    struct fake_irq irq[2];
    uint64_t mapped[2][PCI_NUM_BARS];
    unsigned delivered;
};

static int bar_moved(void *opaque, struct pci_dev *dev, unsigned bar, uint64_t old_addr,
                     uint64_t new_addr)
{
    struct world *w = opaque;
    unsigned i = dev == &w->d[1];
    if (w->mapped[i][bar] != old_addr) {
        abort(); /* the layer's idea of the old mapping must match ours */
    }
    w->mapped[i][bar] = new_addr;
    if (new_addr == PCI_BAR_UNMAPPED) {
        return 0;
    }
    /* Refuse overlaps with the other mapped BARs of the same space, as the machine does. */
    bool io = dev->bars[bar].type == PCI_BAR_IO;
    for (unsigned j = 0; j < 2; j++) {
        for (unsigned b = 0; b < PCI_NUM_BARS; b++) {
            const struct pci_bar *o = &w->d[j].bars[b];
            uint64_t a = w->mapped[j][b];
            if ((j == i && b == bar) || a == PCI_BAR_UNMAPPED || (o->type == PCI_BAR_IO) != io) {
                continue;
            }
            if (new_addr < a + o->size && a < new_addr + dev->bars[bar].size) {
                w->mapped[i][bar] = PCI_BAR_UNMAPPED;
                return -17;
            }
        }
    }
    return new_addr < 0x1000 ? (w->mapped[i][bar] = PCI_BAR_UNMAPPED, -17) : 0;
}

static void deliver(void *opaque, struct pci_dev *dev, unsigned vector, uint64_t addr,
                    uint32_t data)
{
    struct world *w = opaque;
    (void)dev;
    (void)addr;
    (void)data;
    if (vector >= dev->msix.nvec) {
        abort();
    }
    w->delivered++;
}

static void setup(struct world *w)
{
    memset(w, 0, sizeof(*w));
    if (pci_host_init(&w->h, 0xe0000000ull, NULL, NULL) < 0) {
        abort();
    }
    for (unsigned i = 0; i < 2; i++) {
        struct pci_dev *d = &w->d[i];
        pci_dev_init(d, "f", 0x1af4, (uint16_t)(0x1040 + i), 0x020000, 0, PCI_INTA + i);
        if (pci_dev_set_bar(d, 0, PCI_BAR_IO, 32u << i, false) < 0 ||
            pci_dev_set_bar(d, 1, PCI_BAR_MEM32, 4096u << i, false) < 0 ||
            pci_dev_set_bar(d, 2, PCI_BAR_MEM64, 16384, i == 0) < 0 ||
            pci_msix_init(d, i ? 64 : 3, 1, 0, i ? 1 : 2, i ? 0x800 : 0x100) < 0) {
            abort();
        }
        unsigned cap;
        if (pci_add_cap(d, PCI_CAP_ID_VNDR, 16, &cap) < 0 ||
            pci_add_ext_cap(d, 0x000b, 1, 16, &cap) < 0) {
            abort();
        }
        pci_dev_realize(d);
        fake_irq_init(&w->irq[i], 16 + i);
        d->intx = &w->irq[i].line;
        d->hooks = (struct pci_machine_hooks){bar_moved, deliver, NULL, w};
        for (unsigned b = 0; b < PCI_NUM_BARS; b++) {
            w->mapped[i][b] = PCI_BAR_UNMAPPED;
        }
        if (pci_host_attach(&w->h, 3 + i, i, d) < 0) {
            abort();
        }
    }
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct world w; /* 40 KiB: too big for the fuzzer's stack frame limit */
    setup(&w);
    static const unsigned sizes[] = {1, 2, 4, 8, 3, 0};
    size_t i = 0;
    while (i + 7 <= size) {
        uint8_t op = data[i];
        unsigned sz = sizes[data[i + 1] % 6];
        uint32_t arg = get32(data + i + 2);
        uint8_t extra = data[i + 6];
        i += 7;
        switch (op % 10) {
        case 0:
            pci_host_cf8_ops.write(&w.h, extra % 8, arg, sz);
            break;
        case 1:
            pci_host_cf8_ops.read(&w.h, extra % 8, sz);
            break;
        case 2: /* ECAM, mostly near the attached functions */
            pci_host_ecam_ops.write(&w.h, (extra & 1) ? (arg & 0xfffffff) : (arg & 0x3ffff), arg,
                                    sz);
            break;
        case 3:
            pci_host_ecam_ops.read(&w.h, (extra & 1) ? (arg & 0xfffffff) : (arg & 0x3ffff), sz);
            break;
        case 4: { /* MSI-X table / PBA */
            uint64_t v;
            struct pci_dev *d = &w.d[extra & 1];
            unsigned bar = (extra >> 1) % PCI_NUM_BARS;
            if (extra & 0x80) {
                pci_msix_bar_write(d, bar, arg & 0x1fff, (uint64_t)arg * 0x100000001ull, sz);
            } else {
                pci_msix_bar_read(d, bar, arg & 0x1fff, sz, &v);
            }
            break;
        }
        case 5:
            pci_msix_notify(&w.d[extra & 1], arg % 70);
            break;
        case 6:
            pci_set_irq(&w.d[extra & 1], arg & 1);
            break;
        case 7:
            if ((extra & 3) == 3) {
                pci_host_reset(&w.h);
            } else {
                pci_dev_reset(&w.d[extra & 1]);
            }
            break;
        case 8: { /* hostile state load */
            static uint8_t st[sizeof(struct pci_dev) * 2];
            struct pci_dev *d = &w.d[extra & 1];
            long n = vmstate_save(&pci_dev_vmstate, d, st, sizeof(st));
            if (n <= 8) {
                abort();
            }
            st[8 + arg % (uint32_t)(n - 8)] ^= (uint8_t)(arg >> 24);
            if (vmstate_load(&pci_dev_vmstate, d, st, (size_t)n) == 0) {
                pci_dev_sync(d);
            }
            break;
        }
        default:
            pci_host_cfg_write(&w.h, 0, 3 + (extra & 1), extra & 1, arg & 0xfff, arg, sz);
            break;
        }
    }
    /* What the layer thinks is mapped matches what the hook recorded. */
    for (unsigned d = 0; d < 2; d++) {
        for (unsigned b = 0; b < PCI_NUM_BARS; b++) {
            if (w.d[d].bars[b].type != PCI_BAR_NONE &&
                w.d[d].bars[b].mapped_addr != w.mapped[d][b]) {
                abort();
            }
        }
        /* The fake line follows what the device drives. */
        if (w.irq[d].level != w.d[d].intx_out) {
            abort();
        }
    }
    return 0;
}
