// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * virtio functions on the PCI machine, without KVM: --device specs become functions in
 * consecutive free slots with BAR 0 decoding on the MMIO bus, their state entries are
 * registered, a doorbell eventfd reaches the device through the event loop, the generic
 * entry point takes any struct virtio_dev, and teardown leaves the machine as it was.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "io/reset_port.h"
#include "io/virtio_pci.h"
#include "io/virtio_rng.h"
#include "vmm/evloop.h"
#include "vmm/pci_machine.h"
#include "vmm/virtio_machine.h"
#include "vmm/vm.h"

#define RAM_SIZE (16u << 20)

struct fixture {
    struct vm vm;
    void *ram;
    struct reset_port rst;
    unsigned base_devices;
};

static void on_reset(void *opaque)
{
    (void)opaque;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->vm.fd = -1;
    pthread_mutex_init(&f->vm.dev_lock, NULL);
    bus_init(&f->vm.pio, "pio");
    bus_init(&f->vm.mmio, "mmio");
    f->ram = calloc(1, RAM_SIZE);
    assert_non_null(f->ram);
    guest_mem_init_host(&f->vm.mem, f->ram, RAM_SIZE);
    irq_routing_init(&f->vm.routing, -1);
    f->vm.loop = evloop_new(&f->vm.dev_lock);
    assert_non_null(f->vm.loop);
    reset_port_init(&f->rst, on_reset, f);
    char err[256];
    assert_int_equal(pci_machine_init(&f->vm, &reset_port_ops, &f->rst, err, sizeof(err)), 0);
    f->base_devices = f->vm.ndevices;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    virtio_machine_destroy(&f->vm);
    pci_machine_destroy(&f->vm);
    evloop_free(f->vm.loop);
    irq_routing_destroy(&f->vm.routing);
    bus_destroy(&f->vm.pio);
    bus_destroy(&f->vm.mmio);
    free(f->ram);
    free(f);
    return 0;
}

static uint32_t cfg32(struct fixture *f, unsigned slot, unsigned reg)
{
    return pci_host_cfg_read(&f->vm.pci->host, 0, slot, 0, reg, 4);
}

static uint64_t mmio_read(struct fixture *f, uint64_t addr, unsigned size)
{
    uint64_t v = 0;
    assert_true(bus_read(&f->vm.mmio, addr, &v, size));
    return v;
}

static void test_specs_in_slot_order(void **state)
{
    struct fixture *f = *state;
    const char *args[] = {"virtio-rng", "virtio-console,chardev=null"};
    char err[256] = "";
    assert_int_equal(virtio_machine_add_specs(&f->vm, args, 2, true, err, sizeof(err)), 0);
    assert_int_equal(cfg32(f, 1, 0), 0x10441af4);
    assert_int_equal(cfg32(f, 2, 0), 0x10431af4);
    assert_int_equal(cfg32(f, 3, 0), UINT32_MAX);
    /* BAR 0 decodes on the MMIO bus where the engine put it: num_queues reads through it. */
    uint64_t rng_bar = pci_bar_addr(pci_host_dev(&f->vm.pci->host, 0, 1, 0), 0);
    uint64_t con_bar = pci_bar_addr(pci_host_dev(&f->vm.pci->host, 0, 2, 0), 0);
    assert_int_equal(mmio_read(f, rng_bar + VIRTIO_PCI_COMMON_NUMQ, 2), 1);
    assert_int_equal(mmio_read(f, con_bar + VIRTIO_PCI_COMMON_NUMQ, 2), 4); /* 1 port */
    /* State: rng core + queue + transport + config; console core + 4 queues + own + two. */
    assert_int_equal(f->vm.ndevices, f->base_devices + 4 + 8);
    bool transport = false;
    for (unsigned i = 0; i < f->vm.ndevices; i++) {
        transport |= !strcmp(f->vm.devices[i].name, "virtio-rng-pci.transport");
    }
    assert_true(transport);

    virtio_machine_destroy(&f->vm);
    assert_null(f->vm.virtio);
    assert_int_equal(f->vm.ndevices, f->base_devices);
    assert_int_equal(cfg32(f, 1, 0), UINT32_MAX);
    assert_null(bus_find(&f->vm.mmio, rng_bar));
    assert_null(bus_find(&f->vm.mmio, con_bar));
}

static void stop_loop(void *opaque)
{
    evloop_stop(opaque, 0);
}

static void test_generic_entry_and_doorbell(void **state)
{
    struct fixture *f = *state;
    struct virtio_rng rng;
    assert_int_equal(virtio_rng_init(&rng, &f->vm.mem), 0);
    char err[256] = "";
    struct virtio_pci *vp =
        virtio_machine_add(&f->vm, &rng.vdev, "rng-x", NULL, 0, err, sizeof(err));
    assert_non_null(vp);
    /* Common sections of the device (core + 1 queue), the transport, the config space. */
    assert_int_equal(f->vm.ndevices, f->base_devices + 4);
    uint64_t bar = pci_bar_addr(&vp->pci, 0);
    assert_int_not_equal(bar, 0);

    /* Bring the device up through the BAR, then ring the doorbell by its eventfd. */
    uint8_t *ram = f->ram;
    const uint64_t desc = 0x10000, avail = 0x11000, used = 0x12000, buf = 0x13000;
    virtio_pci_bar_write(vp, VIRTIO_PCI_COMMON_STATUS, 3, 1);
    virtio_pci_bar_write(vp, VIRTIO_PCI_COMMON_GFSELECT, 1, 4);
    virtio_pci_bar_write(vp, VIRTIO_PCI_COMMON_GF, 1, 4);
    virtio_pci_bar_write(vp, VIRTIO_PCI_COMMON_STATUS, 0xb, 1);
    virtio_pci_bar_write(vp, VIRTIO_PCI_COMMON_Q_SIZE, 4, 2);
    virtio_pci_bar_write(vp, VIRTIO_PCI_COMMON_Q_DESCLO, desc, 8);
    virtio_pci_bar_write(vp, VIRTIO_PCI_COMMON_Q_AVAILLO, avail, 8);
    virtio_pci_bar_write(vp, VIRTIO_PCI_COMMON_Q_USEDLO, used, 8);
    virtio_pci_bar_write(vp, VIRTIO_PCI_COMMON_Q_ENABLE, 1, 2);
    virtio_pci_bar_write(vp, VIRTIO_PCI_COMMON_STATUS, 0xf, 1);
    assert_true(virtio_dev_live(&rng.vdev));
    /* One writable descriptor of 16 bytes, made available. */
    uint64_t a = buf;
    uint32_t len = 16;
    uint16_t flags = 2;
    memcpy(ram + desc, &a, 8);
    memcpy(ram + desc + 8, &len, 4);
    memcpy(ram + desc + 12, &flags, 2);
    uint16_t one = 1;
    memcpy(ram + avail + 2, &one, 2);

    /* KVM's ioeventfd would signal this eventfd; the event loop serves it, but not while
     * the VM is paused: the kick waits for the resume. */
    int kick = virtio_machine_doorbell_fd(vp, 0);
    assert_true(kick >= 0);
    assert_int_equal(virtio_machine_doorbell_fd(vp, 1), -1);
    f->vm.state = VM_PAUSED;
    uint64_t n = 1;
    assert_int_equal(write(kick, &n, sizeof(n)), sizeof(n));
    assert_int_equal(evloop_call(f->vm.loop, stop_loop, f->vm.loop), 0);
    assert_int_equal(evloop_run(f->vm.loop), 0);
    uint16_t used_idx;
    memcpy(&used_idx, ram + used + 2, 2);
    assert_int_equal(used_idx, 0);
    f->vm.state = VM_RUNNING;
    virtio_machine_resumed(&f->vm);
    memcpy(&used_idx, ram + used + 2, 2);
    assert_int_equal(used_idx, 1);
    virtio_machine_resumed(&f->vm); /* served once only */

    /* Running: a second buffer is served by the kick itself. */
    uint16_t two = 2, zero = 0;
    memcpy(ram + avail + 4 + 2, &zero, 2); /* ring[1] = descriptor 0 again */
    memcpy(ram + avail + 2, &two, 2);
    assert_int_equal(write(kick, &n, sizeof(n)), sizeof(n));
    assert_int_equal(evloop_call(f->vm.loop, stop_loop, f->vm.loop), 0);
    assert_int_equal(evloop_run(f->vm.loop), 0);
    memcpy(&used_idx, ram + used + 2, 2);
    assert_int_equal(used_idx, 2);

    virtio_machine_destroy(&f->vm);
    assert_int_equal(f->vm.ndevices, f->base_devices);
    virtio_rng_destroy(&rng);
}

static void test_machine_reset_keeps_bars(void **state)
{
    struct fixture *f = *state;
    const char *args[] = {"virtio-rng"};
    char err[256] = "";
    assert_int_equal(virtio_machine_add_specs(&f->vm, args, 1, true, err, sizeof(err)), 0);
    struct pci_dev *p = pci_host_dev(&f->vm.pci->host, 0, 1, 0);
    uint64_t bar = pci_bar_addr(p, 0);
    struct virtio_pci *vp = (struct virtio_pci *)((char *)p - offsetof(struct virtio_pci, pci));
    virtio_pci_bar_write(vp, VIRTIO_PCI_COMMON_STATUS, 3, 1);
    for (unsigned i = 0; i < f->vm.ndevices; i++) {
        if (f->vm.devices[i].reset) {
            f->vm.devices[i].reset(f->vm.devices[i].opaque);
        }
    }
    assert_int_equal(pci_bar_addr(p, 0), bar);
    assert_int_equal(vp->vdev->status, 0);
    assert_int_equal(mmio_read(f, bar + VIRTIO_PCI_COMMON_NUMQ, 2), 1);
}

static void test_bad_specs(void **state)
{
    struct fixture *f = *state;
    const char *args[] = {"virtio-console,chardev=file:/nonexistent-dir/x"};
    char err[256] = "";
    assert_int_equal(virtio_machine_add_specs(&f->vm, args, 1, true, err, sizeof(err)), -ENOENT);
    assert_non_null(strstr(err, "/nonexistent-dir/x"));
    assert_int_equal(f->vm.ndevices, f->base_devices);
    assert_int_equal(cfg32(f, 1, 0), UINT32_MAX);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_specs_in_slot_order),
        T(test_generic_entry_and_doorbell),
        T(test_machine_reset_keeps_bars),
        T(test_bad_specs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
