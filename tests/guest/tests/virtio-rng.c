// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * virtio-rng: finds the modern virtio-pci entropy device (1af4:1044), checks its PCI identity
 * and the transport basics (revision >= 1, one queue, a queue past the end has size 0),
 * negotiates VERSION_1, fills four 64-byte buffers through the request queue and requires
 * bytes that are not constant and buffers that differ, polling at CPL3. Then again with
 * MSI-X: table entry 0 sends VEC_VIRTIO to this CPU, the queue uses it, and a completed
 * request must raise that interrupt (deskvm: through its irqfd), with no config interrupt.
 */
#include "guest.h"
#include "virtio_guest.h"

#define VEC_VIRTIO 0x50
#define NBUF 4
#define BUFLEN 64

static struct vq_mem ring __attribute__((aligned(4096)));
static uint8_t bufs[NBUF][BUFLEN] __attribute__((aligned(64)));

void test_main(void)
{
    struct vpci d;
    CHECK(vpci_find(VIRTIO_ID_RNG, 0, &d) == 0, "no usable virtio-rng device");
    uint8_t rev = pci_cfg_read8(d.dev, d.fn, 0x08);
    uint16_t subsys_vendor = pci_cfg_read16(d.dev, d.fn, 0x2c);
    printf("virtio-rng at 00:%02x.%u revision %u subsystem %04x:%04x\n", d.dev, d.fn, rev,
           subsys_vendor, pci_cfg_read16(d.dev, d.fn, 0x2e));
    CHECK(rev >= 1, "revision %u: a modern-only device has revision 1 or more", rev);
    CHECK(subsys_vendor == VIRTIO_PCI_VENDOR, "subsystem vendor %04x", subsys_vendor);
    CHECK(d.isr != 0, "no ISR capability");

    CHECK(vpci_reset(&d) == 0, "reset failed");
    CHECK(vpci_num_queues(&d) == 1, "num_queues %u, want 1", vpci_num_queues(&d));
    CHECK(vpci_negotiate(&d, 0) == 0, "feature negotiation failed");
    printf("features offered %#lx\n", d.features);

    /* A queue that does not exist reads size 0 (4.1.4.3.2). */
    mmio_write16(d.common + 0x16, 5);
    CHECK(mmio_read16(d.common + 0x18) == 0, "queue 5 has size %u", mmio_read16(d.common + 0x18));

    struct vq vq;
    CHECK(vq_setup(&d, &vq, 0, &ring, 16) == 0, "queue setup failed");
    vpci_driver_ok(&d);
    uint8_t st = vpci_status(&d);
    CHECK((st & VIRTIO_STATUS_DRIVER_OK) && !(st & VIRTIO_STATUS_NEEDS_RESET), "status %#x", st);

    memset(bufs, 0, sizeof(bufs));
    for (unsigned i = 0; i < NBUF; i++) {
        vq_post(&vq, bufs[i], BUFLEN, true);
    }
    vq_kick(&vq);
    uint32_t total = 0;
    for (unsigned i = 0; i < NBUF; i++) {
        uint32_t id, len;
        CHECK(vq_poll(&vq, &id, &len, 5000), "request %u not completed (used idx %u)", i,
              vq.mem->used.idx);
        CHECK(id < NBUF && len <= BUFLEN, "used entry id %u len %u", id, len);
        total += len;
    }
    CHECK(total >= BUFLEN, "only %u random bytes in %u requests", total, NBUF);

    /* Not constant within a buffer, and not the same buffer twice. */
    unsigned distinct = 0;
    for (unsigned i = 1; i < BUFLEN; i++) {
        distinct += bufs[0][i] != bufs[0][0];
    }
    CHECK(distinct > 0, "buffer 0 is constant (%#x)", bufs[0][0]);
    CHECK(memcmp(bufs[0], bufs[1], BUFLEN) != 0, "buffers 0 and 1 are equal");
    printf("random: %02x %02x %02x %02x %02x %02x %02x %02x ... (%u bytes)\n", bufs[0][0],
           bufs[0][1], bufs[0][2], bufs[0][3], bufs[0][4], bufs[0][5], bufs[0][6], bufs[0][7],
           total);

    /* Reset: status reads 0 and the queue is disabled again. */
    mmio_write8(d.common + 0x14, 0);
    CHECK(vpci_status(&d) == 0, "status %#x after reset", vpci_status(&d));
    mmio_write16(d.common + 0x16, 0);
    CHECK(mmio_read16(d.common + 0x1c) == 0, "queue 0 still enabled after reset");

    /* MSI-X round: same device, interrupts this time. */
    lapic_enable();
    int nvec = vpci_msix_setup(&d, 0, VEC_VIRTIO);
    CHECK(nvec >= 2, "MSI-X table size %d, want >= 2 (queue + config)", nvec);
    CHECK(vpci_reset(&d) == 0, "second reset failed");
    CHECK(vpci_negotiate(&d, 0) == 0, "second negotiation failed");
    CHECK(vq_setup(&d, &vq, 0, &ring, 16) == 0, "second queue setup failed");
    CHECK(vpci_set_config_vector(&d, 0xffff) == 0xffff, "config vector not NO_VECTOR");
    uint16_t got = vq_set_vector(&vq, 0);
    CHECK(got == 0, "queue vector reads %#x after writing 0", got);
    vpci_driver_ok(&d);
    irq_enable();
    uint32_t before = irq_stats.count[VEC_VIRTIO];
    vq_post(&vq, bufs[0], BUFLEN, true);
    vq_kick(&vq);
    uint32_t id, len;
    CHECK(vq_poll(&vq, &id, &len, 5000), "MSI-X round: request not completed");
    uint64_t start = rdtsc();
    while (irq_stats.count[VEC_VIRTIO] == before && rdtsc() - start < 5000ull * 4000000ull) {
        cpu_relax();
    }
    irq_disable();
    CHECK(irq_stats.count[VEC_VIRTIO] > before, "no MSI-X interrupt on vector %#x", VEC_VIRTIO);
    /* The ISR's value with MSI-X on is unspecified (QEMU sets bit 0, deskvm leaves it 0);
     * 4.1.4.5: a driver should not read it then. Not checked. */
    printf("MSI-X: %u interrupt(s) on vector %#x\n", irq_stats.count[VEC_VIRTIO] - before,
           VEC_VIRTIO);
}
