// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * virtio-rng: writable buffers are filled exactly (nothing around them touched), partial and
 * empty reads from the source, the per-request bound, interrupts, guest faults.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "io/virtio_rng.h"
#include "tests/helpers/virtq_driver.h"
#include "vmm/device.h"
#include "vmm/memory.h"

#define RAM_SIZE (1u << 20)
#define RING_BASE 0x1000u
#define HEAP 0x10000u
#define QSIZE 32

struct fixture {
    uint8_t *ram;
    struct guest_mem mem;
    struct virtio_rng rng;
    struct vdrv drv;
    unsigned queue_irqs, config_irqs;
    uint8_t next;        /* fake source: a running byte counter */
    size_t budget;       /* bytes the fake source gives before EAGAIN */
    size_t max_per_call; /* at most this many per call (a short read) */
};

static void fake_interrupt(void *transport, unsigned kind, unsigned q)
{
    struct fixture *f = transport;
    if (kind == VIRTIO_IRQ_QUEUE) {
        f->queue_irqs++;
    } else {
        f->config_irqs++;
    }
}

static ssize_t fake_fill(void *opaque, void *buf, size_t len)
{
    struct fixture *f = opaque;
    if (f->budget == 0) {
        return -EAGAIN;
    }
    size_t n = len < f->budget ? len : f->budget;
    n = n < f->max_per_call ? n : f->max_per_call;
    uint8_t *p = buf;
    for (size_t i = 0; i < n; i++) {
        p[i] = ++f->next;
    }
    f->budget -= n;
    return (ssize_t)n;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->ram = malloc(RAM_SIZE);
    assert_non_null(f->ram);
    memset(f->ram, 0x55, RAM_SIZE);
    guest_mem_init_host(&f->mem, f->ram, RAM_SIZE);
    assert_int_equal(virtio_rng_init(&f->rng, &f->mem), 0);
    virtio_dev_set_interrupt(&f->rng.vdev, fake_interrupt, f);
    f->rng.fill = fake_fill;
    f->rng.fill_opaque = f;
    f->budget = SIZE_MAX;
    f->max_per_call = SIZE_MAX;
    assert_int_equal(vdrv_negotiate(&f->rng.vdev, VIRTIO_F_BIT(VIRTIO_F_VERSION_1)), 0);
    assert_int_equal(vdrv_setup(&f->drv, &f->rng.vdev, 0, f->ram, RING_BASE, QSIZE, HEAP, RAM_SIZE),
                     0);
    assert_int_equal(vdrv_driver_ok(&f->rng.vdev), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    virtio_rng_destroy(&f->rng);
    free(f->ram);
    free(f);
    return 0;
}

static void kick(struct fixture *f)
{
    virtio_dev_queue_notify(&f->rng.vdev, 0);
}

static bool all_bytes(const uint8_t *p, size_t n, uint8_t v)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] != v) {
            return false;
        }
    }
    return true;
}

/* The counter pattern starting after `first`, for n bytes. */
static bool counter_bytes(const uint8_t *p, size_t n, uint8_t first)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] != (uint8_t)(first + 1 + i)) {
            return false;
        }
    }
    return true;
}

static void test_fills_exactly_writable(void **state)
{
    struct fixture *f = *state;
    /* A readable buffer (ignored) then two writable ones, with guard bytes between them. */
    uint32_t lens[] = {16, 100, 50};
    uint64_t a[3];
    uint16_t head = vdrv_chain(&f->drv, lens, 1, 2, a);
    vdrv_post(&f->drv, head);
    kick(f);

    uint32_t id, len;
    assert_true(vdrv_get_used(&f->drv, &id, &len));
    assert_int_equal(id, head);
    assert_int_equal(len, 150);
    assert_true(all_bytes(f->ram + a[0], 16, 0x55));
    assert_true(counter_bytes(f->ram + a[1], 100, 0));
    assert_true(counter_bytes(f->ram + a[2], 50, 100));
    /* Guard bytes: the alignment padding after each buffer, and what follows the last. */
    assert_true(all_bytes(f->ram + a[1] + 100, a[2] - a[1] - 100, 0x55));
    assert_true(all_bytes(f->ram + a[2] + 50, 64, 0x55));
    assert_int_equal(f->queue_irqs, 1);
    assert_int_equal(f->rng.bytes_served, 150);
}

static void test_short_reads(void **state)
{
    struct fixture *f = *state;
    f->max_per_call = 7; /* the source hands out a little at a time: we keep asking */
    f->budget = 30;      /* then runs dry (EAGAIN): we return what we have */
    uint32_t lens[] = {20, 20};
    uint64_t a[2];
    vdrv_post(&f->drv, vdrv_chain(&f->drv, lens, 0, 2, a));
    kick(f);
    uint32_t id, len;
    assert_true(vdrv_get_used(&f->drv, &id, &len));
    assert_int_equal(len, 30);
    assert_true(counter_bytes(f->ram + a[0], 20, 0));
    assert_true(counter_bytes(f->ram + a[1], 10, 20));
    assert_true(all_bytes(f->ram + a[1] + 10, 10, 0x55));

    /* Nothing at all: the buffer comes back empty rather than being held forever. */
    vdrv_post(&f->drv, vdrv_chain(&f->drv, lens, 0, 1, a));
    kick(f);
    assert_true(vdrv_get_used(&f->drv, &id, &len));
    assert_int_equal(len, 0);
    assert_true(all_bytes(f->ram + a[0], 20, 0x55));
}

static void test_request_bound(void **state)
{
    struct fixture *f = *state;
    uint32_t lens[] = {VIRTIO_RNG_MAX_REQUEST - 10, 4096};
    uint64_t a[2];
    vdrv_post(&f->drv, vdrv_chain(&f->drv, lens, 0, 2, a));
    kick(f);
    uint32_t id, len;
    assert_true(vdrv_get_used(&f->drv, &id, &len));
    assert_int_equal(len, VIRTIO_RNG_MAX_REQUEST);
    assert_true(counter_bytes(f->ram + a[1], 10, (uint8_t)(VIRTIO_RNG_MAX_REQUEST - 10)));
    assert_true(all_bytes(f->ram + a[1] + 10, 4096 - 10, 0x55));
}

static void test_host_source(void **state)
{
    struct fixture *f = *state;
    virtio_rng_destroy(&f->rng);
    /* The real getrandom() source. */
    f->rng.fill = NULL;
    assert_int_equal(virtio_rng_init(&f->rng, &f->mem), 0);
    assert_non_null(f->rng.fill);
    assert_int_equal(vdrv_negotiate(&f->rng.vdev, VIRTIO_F_BIT(VIRTIO_F_VERSION_1)), 0);
    assert_int_equal(vdrv_setup(&f->drv, &f->rng.vdev, 0, f->ram, RING_BASE, QSIZE, HEAP, RAM_SIZE),
                     0);
    assert_int_equal(vdrv_driver_ok(&f->rng.vdev), 0);
    uint32_t l = 4096;
    uint64_t a;
    vdrv_post(&f->drv, vdrv_chain(&f->drv, &l, 0, 1, &a));
    kick(f);
    uint32_t id, len;
    assert_true(vdrv_get_used(&f->drv, &id, &len));
    assert_int_equal(len, 4096);
    /* 4 KiB of randomness equal to the fill pattern has probability 2^-32768. */
    assert_false(all_bytes(f->ram + a, 4096, 0x55));
}

static void test_batch_one_interrupt(void **state)
{
    struct fixture *f = *state;
    for (unsigned i = 0; i < 5; i++) {
        uint32_t l = 8;
        vdrv_post(&f->drv, vdrv_chain(&f->drv, &l, 0, 1, NULL));
    }
    kick(f);
    assert_int_equal(vdrv_used_idx(&f->drv), 5);
    assert_int_equal(f->queue_irqs, 1);
    /* The driver asked not to be interrupted. */
    vdrv_set_avail_flags(&f->drv, VIRTQ_AVAIL_F_NO_INTERRUPT);
    uint32_t l = 8;
    vdrv_post(&f->drv, vdrv_chain(&f->drv, &l, 0, 1, NULL));
    kick(f);
    assert_int_equal(vdrv_used_idx(&f->drv), 6);
    assert_int_equal(f->queue_irqs, 1);
    /* A kick with nothing posted does nothing. */
    kick(f);
    assert_int_equal(vdrv_used_idx(&f->drv), 6);
}

static void test_guest_fault(void **state)
{
    struct fixture *f = *state;
    vdrv_desc(&f->drv, 0, RAM_SIZE - 8, 64, VIRTQ_DESC_F_WRITE, 0);
    vdrv_post(&f->drv, 0);
    kick(f);
    assert_int_equal(vdrv_used_idx(&f->drv), 0);
    assert_true(f->rng.vdev.status & VIRTIO_STATUS_NEEDS_RESET);
    assert_int_equal(f->config_irqs, 1);
    assert_int_equal(f->rng.bytes_served, 0);
    /* The device stays quiet until reset, even for a good buffer. */
    uint32_t l = 8;
    vdrv_post(&f->drv, vdrv_chain(&f->drv, &l, 0, 1, NULL));
    kick(f);
    assert_int_equal(vdrv_used_idx(&f->drv), 0);
    /* After a reset and a fresh setup it works again. */
    virtio_dev_set_status(&f->rng.vdev, 0);
    assert_int_equal(vdrv_negotiate(&f->rng.vdev, VIRTIO_F_BIT(VIRTIO_F_VERSION_1)), 0);
    assert_int_equal(vdrv_setup(&f->drv, &f->rng.vdev, 0, f->ram, RING_BASE, QSIZE, HEAP, RAM_SIZE),
                     0);
    assert_int_equal(vdrv_driver_ok(&f->rng.vdev), 0);
    vdrv_post(&f->drv, vdrv_chain(&f->drv, &l, 0, 1, NULL));
    kick(f);
    assert_int_equal(vdrv_used_idx(&f->drv), 1);
}

static void test_identity_and_state(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(f->rng.vdev.ops->device_id, VIRTIO_ID_RNG);
    assert_int_equal(f->rng.vdev.num_queues, 1);
    assert_int_equal(virtio_dev_config_read(&f->rng.vdev, 0, 1), 0);
    struct device secs[4];
    assert_int_equal(virtio_rng_state_sections(&f->rng, secs, 4), 2);
    assert_string_equal(secs[0].name, "virtio-rng");
    assert_string_equal(secs[1].name, "virtio-rng.q0");
    assert_ptr_equal(secs[1].state, &virtqueue_vmstate);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_fills_exactly_writable), T(test_short_reads),
        T(test_request_bound),          T(test_host_source),
        T(test_batch_one_interrupt),    T(test_guest_fault),
        T(test_identity_and_state),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
