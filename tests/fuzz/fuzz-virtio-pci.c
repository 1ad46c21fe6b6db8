// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer harness for the virtio-pci transport: bytes become register accesses on BAR 0
 * (common config with any offset and width, ISR, device config, doorbells, MSI-X table),
 * config-space accesses (BAR moves, MSI-X enable, the PCI_CFG window), guest RAM writes,
 * host input and transport state reloads, against a virtio-console (multiport, 4 queues,
 * a device config space) in an exact-size RAM buffer under ASan. After every step the
 * transport's invariants must hold: vectors in range or NO_VECTOR, only ISR bits 0-1.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/virtio_console.h"
#include "io/virtio_pci.h"
#include "tests/helpers/fake_irq.h"
#include "vmm/memory.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define RAM_SIZE 0x10000u

struct input {
    const uint8_t *p;
    size_t n;
};

static uint64_t take(struct input *in, unsigned bytes)
{
    uint64_t v = 0;
    for (unsigned i = 0; i < bytes && in->n; i++, in->p++, in->n--) {
        v |= (uint64_t)in->p[0] << (8 * i);
    }
    return v;
}

static void deliver(void *opaque, struct pci_dev *dev, unsigned vector, uint64_t addr,
                    uint32_t data)
{
    (void)opaque;
    (void)addr;
    (void)data;
    if (vector >= dev->msix.nvec) {
        abort();
    }
}

static void moved(void *opaque, uint64_t old_addr, uint64_t new_addr)
{
    uint64_t *where = opaque;
    if (*where != old_addr) {
        abort(); /* the transport's idea of the old doorbell address must match ours */
    }
    *where = new_addr;
}

static void check(const struct virtio_pci *vp)
{
    if (vp->msix_config != VIRTIO_MSI_NO_VECTOR && vp->msix_config >= vp->nvec) {
        abort();
    }
    for (unsigned q = 0; q < VIRTIO_QUEUES_MAX; q++) {
        if (vp->queue_msix[q] != VIRTIO_MSI_NO_VECTOR && vp->queue_msix[q] >= vp->nvec) {
            abort();
        }
    }
    if (vp->isr & ~3u) {
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const unsigned widths[4] = {1, 2, 4, 8};
    struct input in = {data, size};
    uint8_t *ram = calloc(1, RAM_SIZE);
    struct virtio_console *con = calloc(1, sizeof(*con));
    struct virtio_pci *vp = calloc(1, sizeof(*vp));
    struct guest_mem mem;
    struct fake_irq irq;
    uint64_t doorbell = PCI_BAR_UNMAPPED;
    if (!ram || !con || !vp) {
        abort();
    }
    guest_mem_init_host(&mem, ram, RAM_SIZE);
    if (virtio_console_init(con, &mem, NULL) < 0 || virtio_console_add_port(con, "p1", NULL) < 0) {
        abort();
    }
    con->vdev.quiet = true;
    if (virtio_pci_init(vp, &con->vdev, "fuzz") < 0) {
        abort();
    }
    fake_irq_init(&irq, 16);
    vp->pci.intx = &irq.line;
    vp->pci.hooks.msix_deliver = deliver;
    virtio_pci_set_hooks(vp,
                         &(struct virtio_pci_hooks){.notify_moved = moved, .opaque = &doorbell});
    pci_cfg_write(&vp->pci, PCI_BAR0, 0xc0000000u, 4);
    pci_cfg_write(&vp->pci, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);

    uint8_t saved[1024];
    while (in.n) {
        uint8_t op = (uint8_t)take(&in, 1);
        unsigned w = widths[(op >> 4) & 3];
        switch (op & 0xf) {
        case 0: /* anywhere in BAR 0 */
            (void)virtio_pci_bar_read(vp, take(&in, 2) % VIRTIO_PCI_BAR_SIZE, w);
            break;
        case 1:
        case 2: {
            uint64_t off = take(&in, 2) % VIRTIO_PCI_BAR_SIZE;
            virtio_pci_bar_write(vp, off, take(&in, w), w);
            break;
        }
        case 3: /* common config, where the rules are */
        case 4: {
            uint64_t off = take(&in, 1) % VIRTIO_PCI_COMMON_LEN;
            virtio_pci_bar_write(vp, VIRTIO_PCI_COMMON_OFF + off, take(&in, w), w);
            break;
        }
        case 5:
            (void)virtio_pci_bar_read(vp, VIRTIO_PCI_COMMON_OFF + take(&in, 1) % 0x40, w);
            break;
        case 6: /* doorbells */
            virtio_pci_queue_kick(vp, (unsigned)take(&in, 1));
            break;
        case 7: { /* config space, the capabilities and the PCI_CFG window */
            unsigned cw = w > 4 ? 4 : w;
            unsigned off = (unsigned)take(&in, 1) & ~(cw - 1);
            if (op & 0x40) {
                (void)pci_cfg_read(&vp->pci, off, cw);
            } else {
                pci_cfg_write(&vp->pci, off, (uint32_t)take(&in, 4), cw);
            }
            break;
        }
        case 8: { /* guest RAM: ring contents */
            uint32_t at = (uint32_t)take(&in, 2) % RAM_SIZE;
            unsigned len = (unsigned)take(&in, 1) % 32;
            for (unsigned i = 0; i < len && at + i < RAM_SIZE; i++) {
                ram[at + i] = (uint8_t)take(&in, 1);
            }
            break;
        }
        case 9: { /* host input */
            uint8_t buf[64];
            unsigned len = (unsigned)take(&in, 1) % sizeof(buf);
            memset(buf, 'x', len);
            (void)virtio_console_receive(con, (unsigned)take(&in, 1) % 3, buf, len);
            break;
        }
        case 10: { /* transport state: save, corrupt a byte, load */
            long n = vmstate_save(&virtio_pci_vmstate, vp, saved, sizeof(saved));
            if (n <= 0) {
                abort();
            }
            saved[take(&in, 2) % (uint64_t)n] ^= (uint8_t)take(&in, 1);
            (void)vmstate_load(&virtio_pci_vmstate, vp, saved, (size_t)n);
            break;
        }
        case 11:
            virtio_pci_reset(vp);
            break;
        default: /* a quick path to a working device: the usual bring-up writes */
            virtio_pci_bar_write(vp, VIRTIO_PCI_COMMON_OFF + VIRTIO_PCI_COMMON_STATUS, take(&in, 1),
                                 1);
            break;
        }
        check(vp);
    }
    virtio_pci_destroy(vp);
    virtio_console_destroy(con);
    free(vp);
    free(con);
    free(ram);
    return 0;
}
