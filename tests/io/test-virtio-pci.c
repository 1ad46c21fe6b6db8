// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * virtio-pci transport: PCI identity and capabilities, every common-config register's rules
 * (selects, feature halves, status and reset, queue registers refused when the spec forbids
 * them), ISR read-to-clear with INTx, MSI-X vectors through pci_msix_notify and through
 * eventfds, doorbells, the PCI_CFG access window, and the transport state. A virtio-rng with
 * a fake entropy source is the device; RAM is a host buffer, the IRQ line a fake one.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cmocka.h>

#include "io/virtio_pci.h"
#include "io/virtio_rng.h"
#include "tests/helpers/fake_irq.h"
#include "tests/helpers/virtq_driver.h"
#include "vmm/device.h"
#include "vmm/memory.h"

#define RAM_SIZE (1u << 20)
#define DESC 0x1000u
#define AVAIL 0x2000u
#define USED 0x3000u
#define HEAP 0x10000u
#define QSIZE 16
#define BAR_ADDR 0xc0000000ull

struct fixture {
    uint8_t *ram;
    struct guest_mem mem;
    struct virtio_rng rng;
    struct virtio_pci vp;
    struct fake_irq irq;
    struct vdrv drv;
    unsigned msix_sent[PCI_MSIX_MAX_VECTORS];
    uint64_t notify_old, notify_new;
    unsigned notify_moves, releases;
    int efd[PCI_MSIX_MAX_VECTORS];
    bool use_efd;
    uint8_t next;
};

static ssize_t fake_fill(void *opaque, void *buf, size_t len)
{
    struct fixture *f = opaque;
    uint8_t *p = buf;
    for (size_t i = 0; i < len; i++) {
        p[i] = ++f->next;
    }
    return (ssize_t)len;
}

static void fake_deliver(void *opaque, struct pci_dev *dev, unsigned vector, uint64_t addr,
                         uint32_t data)
{
    struct fixture *f = opaque;
    (void)dev;
    (void)addr;
    (void)data;
    f->msix_sent[vector]++;
}

static void fake_notify_moved(void *opaque, uint64_t old_addr, uint64_t new_addr)
{
    struct fixture *f = opaque;
    f->notify_old = old_addr;
    f->notify_new = new_addr;
    f->notify_moves++;
}

static int fake_vector_fd(void *opaque, unsigned vector)
{
    struct fixture *f = opaque;
    if (!f->use_efd) {
        return -ENOTSUP;
    }
    if (f->efd[vector] < 0) {
        f->efd[vector] = eventfd(0, EFD_NONBLOCK);
    }
    return f->efd[vector];
}

static void fake_release(void *opaque)
{
    struct fixture *f = opaque;
    f->releases++;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->ram = calloc(1, RAM_SIZE);
    assert_non_null(f->ram);
    guest_mem_init_host(&f->mem, f->ram, RAM_SIZE);
    assert_int_equal(virtio_rng_init(&f->rng, &f->mem), 0);
    f->rng.fill = fake_fill;
    f->rng.fill_opaque = f;
    f->rng.vdev.quiet = true;
    for (unsigned v = 0; v < PCI_MSIX_MAX_VECTORS; v++) {
        f->efd[v] = -1;
    }
    assert_int_equal(virtio_pci_init(&f->vp, &f->rng.vdev, "rng-test"), 0);
    fake_irq_init(&f->irq, 16);
    f->vp.pci.intx = &f->irq.line;
    f->vp.pci.hooks.msix_deliver = fake_deliver;
    f->vp.pci.hooks.opaque = f;
    virtio_pci_set_hooks(&f->vp, &(struct virtio_pci_hooks){
                                     .notify_moved = fake_notify_moved,
                                     .vector_fd = fake_vector_fd,
                                     .vectors_release = fake_release,
                                     .opaque = f,
                                 });
    /* Place BAR 0 and enable decoding, as firmware would. */
    pci_cfg_write(&f->vp.pci, PCI_BAR0, (uint32_t)BAR_ADDR, 4);
    pci_cfg_write(&f->vp.pci, PCI_BAR0 + 4, 0, 4);
    pci_cfg_write(&f->vp.pci, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    for (unsigned v = 0; v < PCI_MSIX_MAX_VECTORS; v++) {
        if (f->efd[v] >= 0) {
            close(f->efd[v]);
        }
    }
    virtio_pci_destroy(&f->vp);
    virtio_rng_destroy(&f->rng);
    free(f->ram);
    free(f);
    return 0;
}

static uint64_t rd(struct fixture *f, uint64_t off, unsigned size)
{
    return virtio_pci_bar_read(&f->vp, off, size);
}

static void wr(struct fixture *f, uint64_t off, uint64_t v, unsigned size)
{
    virtio_pci_bar_write(&f->vp, off, v, size);
}

#define COMMON(r) (VIRTIO_PCI_COMMON_OFF + VIRTIO_PCI_COMMON_##r)

static void negotiate(struct fixture *f)
{
    wr(f, COMMON(STATUS), VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER, 1);
    wr(f, COMMON(GFSELECT), 1, 4);
    wr(f, COMMON(GF), 1, 4); /* VERSION_1 */
    wr(f, COMMON(STATUS),
       VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK, 1);
}

static void queue_program(struct fixture *f)
{
    wr(f, COMMON(Q_SELECT), 0, 2);
    wr(f, COMMON(Q_SIZE), QSIZE, 2);
    wr(f, COMMON(Q_DESCLO), DESC, 4);
    wr(f, COMMON(Q_DESCHI), 0, 4);
    wr(f, COMMON(Q_AVAILLO), AVAIL, 8);
    wr(f, COMMON(Q_USEDLO), USED, 4);
    wr(f, COMMON(Q_USEDHI), 0, 4);
}

/* Negotiate, set queue 0 up through the registers, DRIVER_OK; the test driver shares it. */
static void bring_up(struct fixture *f)
{
    negotiate(f);
    queue_program(f);
    wr(f, COMMON(Q_ENABLE), 1, 2);
    assert_int_equal(rd(f, COMMON(Q_ENABLE), 2), 1);
    wr(f, COMMON(STATUS), rd(f, COMMON(STATUS), 1) | VIRTIO_STATUS_DRIVER_OK, 1);
    assert_true(virtio_dev_live(&f->rng.vdev));
    f->drv = (struct vdrv){.dev = &f->rng.vdev,
                           .q = 0,
                           .ram = f->ram,
                           .size = QSIZE,
                           .desc = DESC,
                           .avail = AVAIL,
                           .used = USED,
                           .heap = HEAP,
                           .heap_end = RAM_SIZE};
}

static void post_request(struct fixture *f)
{
    uint32_t len = 32;
    vdrv_post(&f->drv, vdrv_chain(&f->drv, &len, 0, 1, NULL));
}

static void test_identity_and_caps(void **state)
{
    struct fixture *f = *state;
    struct pci_dev *p = &f->vp.pci;
    assert_int_equal(pci_cfg_read(p, PCI_VENDOR_ID, 2), 0x1af4);
    assert_int_equal(pci_cfg_read(p, PCI_DEVICE_ID, 2), 0x1040 + VIRTIO_ID_RNG);
    assert_int_equal(pci_cfg_read(p, PCI_REVISION_ID, 1), 1);
    assert_int_equal(pci_cfg_read(p, PCI_SUBSYSTEM_VENDOR_ID, 2), 0x1af4);
    assert_int_equal(pci_cfg_read(p, PCI_INTERRUPT_PIN, 1), PCI_INTA);
    /* BAR 0 is 64-bit memory of the documented size. */
    pci_cfg_write(p, PCI_COMMAND, 0, 2);
    pci_cfg_write(p, PCI_BAR0, UINT32_MAX, 4);
    assert_int_equal(pci_cfg_read(p, PCI_BAR0, 4), (uint32_t)-VIRTIO_PCI_BAR_SIZE | 0x4);

    unsigned seen[6] = {0}, cap = pci_cfg_read(p, PCI_CAPABILITY_LIST, 1), hops = 0;
    bool msix = false;
    while (cap && hops++ < 16) {
        unsigned id = pci_cfg_read(p, cap, 1);
        if (id == PCI_CAP_ID_MSIX) {
            msix = true;
            assert_int_equal((pci_cfg_read(p, cap + 2, 2) & 0x7ff) + 1, 2); /* 1 queue + config */
        } else {
            assert_int_equal(id, PCI_CAP_ID_VNDR);
            unsigned type = pci_cfg_read(p, cap + 3, 1);
            assert_true(type >= 1 && type <= 5);
            seen[type]++;
            assert_int_equal(pci_cfg_read(p, cap + 4, 1), 0); /* bar */
            uint32_t off = pci_cfg_read(p, cap + 8, 4), len = pci_cfg_read(p, cap + 12, 4);
            switch (type) {
            case VIRTIO_PCI_CAP_COMMON_CFG:
                assert_int_equal(off, VIRTIO_PCI_COMMON_OFF);
                assert_int_equal(len, 0x38);
                break;
            case VIRTIO_PCI_CAP_ISR_CFG:
                assert_int_equal(off, VIRTIO_PCI_ISR_OFF);
                break;
            case VIRTIO_PCI_CAP_NOTIFY_CFG:
                assert_int_equal(off, VIRTIO_PCI_NOTIFY_OFF);
                assert_int_equal(len, 4);
                assert_int_equal(pci_cfg_read(p, cap + 16, 4), VIRTIO_PCI_NOTIFY_MULT);
                break;
            default:
                break;
            }
        }
        cap = pci_cfg_read(p, cap + 1, 1);
    }
    assert_true(msix);
    assert_int_equal(seen[VIRTIO_PCI_CAP_COMMON_CFG], 1);
    assert_int_equal(seen[VIRTIO_PCI_CAP_NOTIFY_CFG], 1);
    assert_int_equal(seen[VIRTIO_PCI_CAP_ISR_CFG], 1);
    assert_int_equal(seen[VIRTIO_PCI_CAP_DEVICE_CFG], 0); /* rng has no config space */
    assert_int_equal(seen[VIRTIO_PCI_CAP_PCI_CFG], 1);
}

static void test_notify_area_follows_bar(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(f->notify_new, BAR_ADDR + VIRTIO_PCI_NOTIFY_OFF);
    pci_cfg_write(&f->vp.pci, PCI_BAR0, 0xd0000000u, 4);
    assert_int_equal(f->notify_old, BAR_ADDR + VIRTIO_PCI_NOTIFY_OFF);
    assert_int_equal(f->notify_new, 0xd0000000ull + VIRTIO_PCI_NOTIFY_OFF);
    pci_cfg_write(&f->vp.pci, PCI_COMMAND, 0, 2);
    assert_int_equal(f->notify_new, PCI_BAR_UNMAPPED);
}

static void test_features(void **state)
{
    struct fixture *f = *state;
    uint64_t offered = f->rng.vdev.device_features;
    wr(f, COMMON(DFSELECT), 0, 4);
    assert_int_equal(rd(f, COMMON(DF), 4), (uint32_t)offered);
    wr(f, COMMON(DFSELECT), 1, 4);
    assert_int_equal(rd(f, COMMON(DF), 4), (uint32_t)(offered >> 32));
    assert_int_equal(rd(f, COMMON(DFSELECT), 4), 1);
    wr(f, COMMON(DFSELECT), 2, 4);
    assert_int_equal(rd(f, COMMON(DF), 4), 0);

    /* Driver features: each half on its own, read back; a select past 1 is refused. */
    wr(f, COMMON(GFSELECT), 0, 4);
    wr(f, COMMON(GF), 1u << VIRTIO_F_INDIRECT_DESC, 4);
    wr(f, COMMON(GFSELECT), 1, 4);
    wr(f, COMMON(GF), 1, 4);
    assert_int_equal(f->rng.vdev.driver_features,
                     VIRTIO_F_BIT(VIRTIO_F_INDIRECT_DESC) | VIRTIO_F_BIT(VIRTIO_F_VERSION_1));
    assert_int_equal(rd(f, COMMON(GF), 4), 1);
    uint64_t refused = f->vp.refused;
    wr(f, COMMON(GFSELECT), 7, 4);
    wr(f, COMMON(GF), 0xffffffff, 4);
    assert_int_equal(f->vp.refused, refused + 1);
    assert_int_equal(rd(f, COMMON(GF), 4), 0);

    /* After FEATURES_OK the features are fixed. */
    negotiate(f);
    assert_true(rd(f, COMMON(STATUS), 1) & VIRTIO_STATUS_FEATURES_OK);
    wr(f, COMMON(GFSELECT), 0, 4);
    wr(f, COMMON(GF), 0, 4); /* refused: INDIRECT_DESC from above stays */
    assert_int_equal(f->rng.vdev.driver_features,
                     VIRTIO_F_BIT(VIRTIO_F_INDIRECT_DESC) | VIRTIO_F_BIT(VIRTIO_F_VERSION_1));

    /* Read-only registers ignore writes. */
    wr(f, COMMON(NUMQ), 9, 2);
    assert_int_equal(rd(f, COMMON(NUMQ), 2), 1);
}

static void test_features_ok_refused_without_version1(void **state)
{
    struct fixture *f = *state;
    wr(f, COMMON(STATUS), VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER, 1);
    wr(f, COMMON(GFSELECT), 0, 4);
    wr(f, COMMON(GF), 0, 4);
    wr(f, COMMON(STATUS),
       VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK, 1);
    assert_false(rd(f, COMMON(STATUS), 1) & VIRTIO_STATUS_FEATURES_OK);
}

static void test_queue_registers(void **state)
{
    struct fixture *f = *state;
    negotiate(f);
    /* Out-of-range select: size 0, vector NO_VECTOR, writes refused and harmless. */
    wr(f, COMMON(Q_SELECT), 1, 2);
    assert_int_equal(rd(f, COMMON(Q_SELECT), 2), 1);
    assert_int_equal(rd(f, COMMON(Q_SIZE), 2), 0);
    assert_int_equal(rd(f, COMMON(Q_MSIX), 2), VIRTIO_MSI_NO_VECTOR);
    uint64_t refused = f->vp.refused;
    wr(f, COMMON(Q_SIZE), 8, 2);
    wr(f, COMMON(Q_ENABLE), 1, 2);
    wr(f, COMMON(Q_DESCLO), 0x5000, 4);
    assert_int_equal(f->vp.refused, refused + 3);
    wr(f, COMMON(Q_SELECT), 0xffff, 2);
    assert_int_equal(rd(f, COMMON(Q_SIZE), 2), 0);

    wr(f, COMMON(Q_SELECT), 0, 2);
    assert_int_equal(rd(f, COMMON(Q_SIZE), 2), VIRTIO_RNG_QUEUE_SIZE);
    assert_int_equal(rd(f, COMMON(Q_NOFF), 2), 0);
    /* Sizes that are not a power of 2 or above the maximum are refused. */
    wr(f, COMMON(Q_SIZE), 24, 2);
    assert_int_equal(rd(f, COMMON(Q_SIZE), 2), VIRTIO_RNG_QUEUE_SIZE);
    wr(f, COMMON(Q_SIZE), 2 * VIRTIO_RNG_QUEUE_SIZE, 2);
    assert_int_equal(rd(f, COMMON(Q_SIZE), 2), VIRTIO_RNG_QUEUE_SIZE);
    wr(f, COMMON(Q_SIZE), 0, 2);
    assert_int_equal(rd(f, COMMON(Q_SIZE), 2), VIRTIO_RNG_QUEUE_SIZE);

    /* 64-bit addresses: as two dwords in either order, or one qword. */
    wr(f, COMMON(Q_DESCHI), 0x12, 4);
    wr(f, COMMON(Q_DESCLO), 0x3400, 4);
    assert_int_equal(rd(f, COMMON(Q_DESCLO), 8), 0x1200003400ull);
    assert_int_equal(rd(f, COMMON(Q_DESCHI), 4), 0x12);
    wr(f, COMMON(Q_AVAILLO), 0xabcdef0012345678ull, 8);
    assert_int_equal(rd(f, COMMON(Q_AVAILLO), 4), 0x12345678);
    assert_int_equal(rd(f, COMMON(Q_AVAILHI), 4), 0xabcdef00);

    /* Enabling a layout outside RAM puts the device into NEEDS_RESET. */
    wr(f, COMMON(Q_ENABLE), 1, 2);
    assert_int_equal(rd(f, COMMON(Q_ENABLE), 2), 0);
    assert_true(rd(f, COMMON(STATUS), 1) & VIRTIO_STATUS_NEEDS_RESET);
    /* Reset clears it and the queue registers. */
    wr(f, COMMON(STATUS), 0, 1);
    assert_int_equal(rd(f, COMMON(STATUS), 1), 0);
    assert_int_equal(rd(f, COMMON(Q_DESCLO), 8), 0);
}

static void test_queue_fixed_while_enabled(void **state)
{
    struct fixture *f = *state;
    bring_up(f);
    uint64_t refused = f->vp.refused;
    wr(f, COMMON(Q_SIZE), 8, 2);
    wr(f, COMMON(Q_DESCLO), 0x8000, 4);
    wr(f, COMMON(Q_ENABLE), 0, 2); /* the driver must not write 0 */
    assert_int_equal(f->vp.refused, refused + 3);
    assert_int_equal(rd(f, COMMON(Q_SIZE), 2), QSIZE);
    assert_int_equal(rd(f, COMMON(Q_DESCLO), 8), DESC);
    assert_int_equal(rd(f, COMMON(Q_ENABLE), 2), 1);
    assert_true(virtio_dev_live(&f->rng.vdev));
}

static void test_enable_before_features_ok_is_an_error(void **state)
{
    struct fixture *f = *state;
    wr(f, COMMON(STATUS), VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER, 1);
    queue_program(f);
    wr(f, COMMON(Q_ENABLE), 1, 2);
    assert_int_equal(rd(f, COMMON(Q_ENABLE), 2), 0);
    assert_true(rd(f, COMMON(STATUS), 1) & VIRTIO_STATUS_NEEDS_RESET);
}

static void test_intx_and_isr(void **state)
{
    struct fixture *f = *state;
    bring_up(f);
    post_request(f);
    wr(f, VIRTIO_PCI_NOTIFY_OFF, 0, 2); /* doorbell through the BAR */
    uint32_t id, len;
    assert_true(vdrv_get_used(&f->drv, &id, &len));
    assert_int_equal(len, 32);
    assert_true(f->irq.level);
    assert_int_equal(f->irq.raises, 1);
    assert_true(pci_cfg_read(&f->vp.pci, PCI_STATUS, 2) & PCI_STATUS_INTERRUPT);
    /* Read-to-clear: the first read says "queue", the second 0, and the line drops. */
    assert_int_equal(rd(f, VIRTIO_PCI_ISR_OFF, 1), VIRTIO_IRQ_QUEUE);
    assert_false(f->irq.level);
    assert_int_equal(rd(f, VIRTIO_PCI_ISR_OFF, 1), 0);
    /* A config change sets bit 1. */
    virtio_dev_config_changed(&f->rng.vdev);
    assert_int_equal(rd(f, COMMON(CFGGENERATION), 1), 1);
    assert_int_equal(rd(f, VIRTIO_PCI_ISR_OFF, 1), VIRTIO_IRQ_CONFIG);
    /* Writes to the ISR are ignored; the line stays low. */
    wr(f, VIRTIO_PCI_ISR_OFF, 3, 1);
    assert_int_equal(rd(f, VIRTIO_PCI_ISR_OFF, 1), 0);
    assert_false(f->irq.level);
    /* A doorbell for a queue that does not exist does nothing. */
    wr(f, VIRTIO_PCI_NOTIFY_OFF + 4, 1, 2);
    assert_int_equal(f->irq.raises, 2);
}

static void msix_enable(struct fixture *f)
{
    unsigned cap = f->vp.pci.msix.cap;
    pci_cfg_write(&f->vp.pci, cap + 2, PCI_MSIX_FLAGS_ENABLE, 2);
    for (unsigned v = 0; v < 2; v++) {
        uint64_t e = VIRTIO_PCI_MSIX_TABLE_OFF + 16 * v;
        wr(f, e, 0xfee00000, 4);
        wr(f, e + 4, 0, 4);
        wr(f, e + 8, 0x40 + v, 4);
        wr(f, e + 12, 0, 4); /* unmask */
    }
}

static void test_msix_vectors(void **state)
{
    struct fixture *f = *state;
    msix_enable(f);
    /* Only vectors the function has stick; others read back NO_VECTOR. */
    wr(f, COMMON(MSIX), 5, 2);
    assert_int_equal(rd(f, COMMON(MSIX), 2), VIRTIO_MSI_NO_VECTOR);
    wr(f, COMMON(MSIX), 0, 2);
    assert_int_equal(rd(f, COMMON(MSIX), 2), 0);
    bring_up(f);
    wr(f, COMMON(Q_SELECT), 0, 2);
    wr(f, COMMON(Q_MSIX), 1, 2);
    assert_int_equal(rd(f, COMMON(Q_MSIX), 2), 1);

    post_request(f);
    virtio_pci_queue_kick(&f->vp, 0);
    assert_int_equal(f->msix_sent[1], 1);
    assert_int_equal(f->irq.raises, 0); /* no INTx while MSI-X is on */
    assert_int_equal(rd(f, VIRTIO_PCI_ISR_OFF, 1), 0);
    virtio_dev_config_changed(&f->rng.vdev);
    assert_int_equal(f->msix_sent[0], 1);

    /* NO_VECTOR: the driver asked for no interrupt. */
    wr(f, COMMON(MSIX), VIRTIO_MSI_NO_VECTOR, 2);
    virtio_dev_config_changed(&f->rng.vdev);
    assert_int_equal(f->msix_sent[0], 1);
    assert_int_equal(f->vp.irqs_dropped, 1);

    /* Reset: vectors back to NO_VECTOR and the machine told to release its routes. */
    unsigned releases = f->releases;
    wr(f, COMMON(STATUS), 0, 1);
    assert_int_equal(f->releases, releases + 1);
    wr(f, COMMON(Q_SELECT), 0, 2);
    assert_int_equal(rd(f, COMMON(Q_MSIX), 2), VIRTIO_MSI_NO_VECTOR);
    assert_int_equal(rd(f, COMMON(MSIX), 2), VIRTIO_MSI_NO_VECTOR);
}

static void test_msix_through_eventfd(void **state)
{
    struct fixture *f = *state;
    f->use_efd = true;
    msix_enable(f);
    bring_up(f);
    wr(f, COMMON(Q_MSIX), 1, 2);
    post_request(f);
    virtio_pci_queue_kick(&f->vp, 0);
    post_request(f);
    virtio_pci_queue_kick(&f->vp, 0);
    assert_int_equal(f->msix_sent[1], 0); /* not through the synchronous path */
    assert_true(f->efd[1] >= 0);
    uint64_t n = 0;
    assert_int_equal(read(f->efd[1], &n, sizeof(n)), sizeof(n));
    assert_int_equal(n, 2);
}

static void test_pci_cfg_window(void **state)
{
    struct fixture *f = *state;
    struct pci_dev *p = &f->vp.pci;
    unsigned cap = p->dev_cfg_start - 16;
    assert_int_equal(pci_cfg_read(p, cap + 3, 1), VIRTIO_PCI_CAP_PCI_CFG);
    /* num_queues through the window: bar 0, offset 0x12, length 2. */
    pci_cfg_write(p, cap + 4, 0, 1);
    pci_cfg_write(p, cap + 8, VIRTIO_PCI_COMMON_NUMQ, 4);
    pci_cfg_write(p, cap + 12, 2, 4);
    assert_int_equal(pci_cfg_read(p, cap + 16, 4), 1);
    /* A status write through the window. */
    pci_cfg_write(p, cap + 8, VIRTIO_PCI_COMMON_STATUS, 4);
    pci_cfg_write(p, cap + 12, 1, 4);
    pci_cfg_write(p, cap + 16, VIRTIO_STATUS_ACKNOWLEDGE, 4);
    assert_int_equal(f->rng.vdev.status, VIRTIO_STATUS_ACKNOWLEDGE);
    /* Nonsense windows (bar 3, odd length, misaligned, past the BAR) read 0. */
    uint64_t bad = f->vp.bad_access;
    pci_cfg_write(p, cap + 4, 3, 1);
    assert_int_equal(pci_cfg_read(p, cap + 16, 4), 0);
    pci_cfg_write(p, cap + 4, 0, 1);
    pci_cfg_write(p, cap + 12, 3, 4);
    assert_int_equal(pci_cfg_read(p, cap + 16, 4), 0);
    pci_cfg_write(p, cap + 12, 4, 4);
    pci_cfg_write(p, cap + 8, 0x13, 4);
    assert_int_equal(pci_cfg_read(p, cap + 16, 4), 0);
    pci_cfg_write(p, cap + 8, 0xfffffffc, 4);
    pci_cfg_write(p, cap + 16, 0, 4);
    assert_int_equal(f->vp.bad_access, bad + 4);
}

static void test_bad_widths(void **state)
{
    struct fixture *f = *state;
    uint64_t bad = f->vp.bad_access;
    assert_int_equal(rd(f, COMMON(STATUS), 4), 0);   /* a byte register read as a dword */
    wr(f, COMMON(Q_SELECT), 0x10000, 4);             /* a word register written as a dword */
    assert_int_equal(rd(f, COMMON(NUMQ) + 1, 1), 0); /* the middle of a field */
    assert_int_equal(rd(f, VIRTIO_PCI_ISR_OFF, 4), 0);
    assert_int_equal(rd(f, 0x7000, 4), 0); /* empty part of the BAR */
    wr(f, COMMON(Q_DESCHI), 1, 8);         /* a qword over two fields' boundary */
    assert_int_equal(f->vp.bad_access, bad + 6);
    assert_int_equal(rd(f, COMMON(Q_SELECT), 2), 0);
    assert_int_equal(f->rng.vdev.status, 0);
}

static void test_state_round_trip(void **state)
{
    struct fixture *f = *state;
    msix_enable(f);
    bring_up(f);
    wr(f, COMMON(MSIX), 1, 2);
    wr(f, COMMON(Q_MSIX), 0, 2);
    wr(f, COMMON(DFSELECT), 1, 4);
    uint8_t buf[512], again[512];
    long n = vmstate_save(&virtio_pci_vmstate, &f->vp, buf, sizeof(buf));
    assert_true(n > 0);

    struct virtio_pci *copy = calloc(1, sizeof(*copy));
    assert_non_null(copy);
    struct virtio_rng rng2;
    assert_int_equal(virtio_rng_init(&rng2, &f->mem), 0);
    assert_int_equal(virtio_pci_init(copy, &rng2.vdev, "copy"), 0);
    assert_int_equal(vmstate_load(&virtio_pci_vmstate, copy, buf, (size_t)n), 0);
    assert_int_equal(copy->msix_config, 1);
    assert_int_equal(copy->queue_msix[0], 0);
    assert_int_equal(copy->device_feature_select, 1);
    assert_int_equal(vmstate_save(&virtio_pci_vmstate, copy, again, sizeof(again)), n);
    assert_memory_equal(buf, again, (size_t)n);

    /* Hostile: a vector the function does not have, an ISR bit that does not exist. */
    f->vp.queue_msix[3] = 7;
    n = vmstate_save(&virtio_pci_vmstate, &f->vp, buf, sizeof(buf));
    assert_int_equal(vmstate_load(&virtio_pci_vmstate, copy, buf, (size_t)n), -EINVAL);
    f->vp.queue_msix[3] = VIRTIO_MSI_NO_VECTOR;
    f->vp.isr = 0x80;
    n = vmstate_save(&virtio_pci_vmstate, &f->vp, buf, sizeof(buf));
    assert_int_equal(vmstate_load(&virtio_pci_vmstate, copy, buf, (size_t)n), -EINVAL);
    assert_int_equal(copy->msix_config, 1); /* left as it was */
    virtio_pci_destroy(copy);
    free(copy);
}

static void test_device_reset_entry(void **state)
{
    struct fixture *f = *state;
    bring_up(f);
    wr(f, COMMON(Q_SELECT), 0, 2);
    struct device d = virtio_pci_device(&f->vp);
    assert_string_equal(d.name, "rng-test.transport");
    d.reset(d.opaque);
    assert_int_equal(f->rng.vdev.status, 0);
    assert_int_equal(rd(f, COMMON(Q_ENABLE), 2), 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_identity_and_caps),
        T(test_notify_area_follows_bar),
        T(test_features),
        T(test_features_ok_refused_without_version1),
        T(test_queue_registers),
        T(test_queue_fixed_while_enabled),
        T(test_enable_before_features_ok_is_an_error),
        T(test_intx_and_isr),
        T(test_msix_vectors),
        T(test_msix_through_eventfd),
        T(test_pci_cfg_window),
        T(test_bad_widths),
        T(test_state_round_trip),
        T(test_device_reset_entry),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
