// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Split virtqueues and the virtio core: chains (direct, indirect), the used ring, 16-bit
 * index wrap-around, notification suppression with and without event idx, every malformed
 * ring putting the device into NEEDS_RESET without touching memory outside RAM, the status
 * and feature rules, config range checks, and the state description.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "io/virtio.h"
#include "tests/helpers/virtq_driver.h"
#include "vmm/device.h"
#include "vmm/memory.h"

#define RAM_SIZE (1u << 20)
#define RING_BASE 0x1000u
#define HEAP 0x10000u
#define QSIZE 16
#define FEAT_BASIC VIRTIO_F_BIT(VIRTIO_F_VERSION_1)
#define FEAT_ALL (VIRTIO_CORE_FEATURES | VIRTIO_F_BIT(3))

struct fixture {
    uint8_t *ram;
    struct guest_mem mem;
    struct virtio_dev dev;
    struct vdrv drv;
    unsigned queue_irqs, config_irqs, notifies, resets;
    uint8_t config[8];
    struct iovec rd[32], wr[32];
    struct virtq_elem elem;
};

static void fake_interrupt(void *transport, unsigned kind, unsigned q)
{
    struct fixture *f = transport;
    if (kind == VIRTIO_IRQ_QUEUE) {
        f->queue_irqs++;
    } else if (kind == VIRTIO_IRQ_CONFIG) {
        f->config_irqs++;
    }
}

static void test_notify(void *opaque, unsigned q)
{
    struct fixture *f = opaque;
    f->notifies++;
}

static void test_reset(void *opaque)
{
    struct fixture *f = opaque;
    f->resets++;
}

static uint64_t test_config_read(void *opaque, uint32_t off, unsigned size)
{
    struct fixture *f = opaque;
    uint64_t v = 0;
    assert_true(off + size <= sizeof(f->config));
    memcpy(&v, f->config + off, size);
    return v;
}

static void test_config_write(void *opaque, uint32_t off, uint64_t val, unsigned size)
{
    struct fixture *f = opaque;
    assert_true(off + size <= sizeof(f->config));
    memcpy(f->config + off, &val, size);
}

static const struct virtio_ops test_ops = {
    .name = "virtio-test",
    .device_id = 99,
    .config_size = 8,
    .config_read = test_config_read,
    .config_write = test_config_write,
    .queue_notify = test_notify,
    .reset = test_reset,
};

static struct virtqueue *vq0(struct fixture *f)
{
    return virtio_dev_queue(&f->dev, 0);
}

/* Device with 2 queues, negotiated features, queue 0 set up, DRIVER_OK. */
static void start(struct fixture *f, uint64_t features)
{
    assert_int_equal(vdrv_negotiate(&f->dev, features), 0);
    assert_int_equal(vdrv_setup(&f->drv, &f->dev, 0, f->ram, RING_BASE, QSIZE, HEAP, RAM_SIZE), 0);
    assert_int_equal(vdrv_driver_ok(&f->dev), 0);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->ram = calloc(1, RAM_SIZE);
    assert_non_null(f->ram);
    guest_mem_init_host(&f->mem, f->ram, RAM_SIZE);
    assert_int_equal(virtio_dev_init(&f->dev, &test_ops, f, &f->mem, VIRTIO_F_BIT(3), 2, 256), 0);
    virtio_dev_set_interrupt(&f->dev, fake_interrupt, f);
    f->elem = (struct virtq_elem){.rd = f->rd, .rd_max = 32, .wr = f->wr, .wr_max = 32};
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    free(f->ram);
    free(f);
    return 0;
}

/* After a malformed ring: error state, counted, config interrupt, nothing used, no more pops. */
static void assert_broken(struct fixture *f, int ret, int want)
{
    assert_int_equal(ret, want);
    assert_true(f->dev.status & VIRTIO_STATUS_NEEDS_RESET);
    assert_int_equal(f->dev.error_count, 1);
    assert_int_equal(f->config_irqs, 1);
    assert_int_equal(vdrv_used_idx(&f->drv), 0);
    assert_int_equal(virtqueue_pop(vq0(f), &f->elem), -EIO);
    assert_false(virtio_dev_live(&f->dev));
}

static void test_simple_chain(void **state)
{
    struct fixture *f = *state;
    start(f, FEAT_BASIC);
    assert_int_equal(virtqueue_pop(vq0(f), &f->elem), 0);

    uint32_t lens[] = {10, 20, 64};
    uint64_t addrs[3];
    uint16_t head = vdrv_chain(&f->drv, lens, 2, 1, addrs);
    memcpy(f->ram + addrs[0], "0123456789", 10);
    vdrv_post(&f->drv, head);

    assert_int_equal(virtqueue_pop(vq0(f), &f->elem), 1);
    assert_int_equal(f->elem.head, head);
    assert_int_equal(f->elem.rd_num, 2);
    assert_int_equal(f->elem.wr_num, 1);
    assert_ptr_equal(f->elem.rd[0].iov_base, f->ram + addrs[0]);
    assert_ptr_equal(f->elem.rd[1].iov_base, f->ram + addrs[1]);
    assert_ptr_equal(f->elem.wr[0].iov_base, f->ram + addrs[2]);
    assert_int_equal(f->elem.rd_len, 30);
    assert_int_equal(f->elem.wr_len, 64);

    char got[12] = {0};
    assert_int_equal(virtq_elem_read(&f->elem, 5, got, sizeof(got)), 12);
    assert_memory_equal(got, "56789", 5);
    assert_int_equal(virtq_elem_write(&f->elem, 60, "abcdefgh", 8), 4);
    assert_memory_equal(f->ram + addrs[2] + 60, "abcd", 4);

    /* A device that claims more than was offered is clamped to the writable length. */
    assert_int_equal(virtqueue_push(vq0(f), &f->elem, 1000), 0);
    uint32_t id, len;
    assert_true(vdrv_get_used(&f->drv, &id, &len));
    assert_int_equal(id, head);
    assert_int_equal(len, 64);
    assert_false(vdrv_get_used(&f->drv, &id, &len));
    assert_int_equal(virtqueue_pop(vq0(f), &f->elem), 0);
    assert_int_equal(f->dev.error_count, 0);
}

static void test_indirect(void **state)
{
    struct fixture *f = *state;
    start(f, FEAT_ALL);
    uint64_t table = vdrv_alloc(&f->drv, 3 * 16);
    uint64_t b0 = vdrv_alloc(&f->drv, 8), b1 = vdrv_alloc(&f->drv, 100),
             b2 = vdrv_alloc(&f->drv, 50);
    /* Indirect entries in a scrambled order: 2 -> 0 -> 1. */
    vdrv_indirect_desc(&f->drv, table, 2, b0, 8, VIRTQ_DESC_F_NEXT, 0);
    vdrv_indirect_desc(&f->drv, table, 0, b1, 100, VIRTQ_DESC_F_NEXT | VIRTQ_DESC_F_WRITE, 1);
    vdrv_indirect_desc(&f->drv, table, 1, b2, 50, VIRTQ_DESC_F_WRITE, 0);
    /* A direct readable descriptor first, then the indirect one ends the chain. */
    uint64_t h = vdrv_alloc(&f->drv, 4);
    vdrv_desc(&f->drv, 5, h, 4, VIRTQ_DESC_F_NEXT, 6);
    vdrv_desc(&f->drv, 6, table, 3 * 16, VIRTQ_DESC_F_INDIRECT, 0);
    /* The table walk starts at entry 0, so entry 2 is never reached: only 0 -> 1. */
    vdrv_post(&f->drv, 5);
    assert_int_equal(virtqueue_pop(vq0(f), &f->elem), 1);
    assert_int_equal(f->elem.head, 5);
    assert_int_equal(f->elem.rd_num, 1);
    assert_int_equal(f->elem.wr_num, 2);
    assert_ptr_equal(f->elem.rd[0].iov_base, f->ram + h);
    assert_ptr_equal(f->elem.wr[0].iov_base, f->ram + b1);
    assert_ptr_equal(f->elem.wr[1].iov_base, f->ram + b2);
    assert_int_equal(f->elem.wr_len, 150);
    assert_int_equal(virtqueue_push(vq0(f), &f->elem, 120), 0);
    uint32_t id, len;
    assert_true(vdrv_get_used(&f->drv, &id, &len));
    assert_int_equal(id, 5);
    assert_int_equal(len, 120);
    assert_int_equal(f->dev.error_count, 0);
}

/* Post a chain that walks through an indirect table built by the caller at `table`. */
static void post_indirect(struct fixture *f, uint64_t table, uint32_t len, uint16_t flags)
{
    vdrv_desc(&f->drv, 0, table, len, VIRTQ_DESC_F_INDIRECT | flags, 1);
    vdrv_post(&f->drv, 0);
}

static void test_indirect_not_negotiated(void **state)
{
    struct fixture *f = *state;
    start(f, FEAT_BASIC);
    uint64_t table = vdrv_alloc(&f->drv, 16);
    vdrv_indirect_desc(&f->drv, table, 0, vdrv_alloc(&f->drv, 8), 8, 0, 0);
    post_indirect(f, table, 16, 0);
    assert_broken(f, virtqueue_pop(vq0(f), &f->elem), -EINVAL);
}

static void test_indirect_nested(void **state)
{
    struct fixture *f = *state;
    start(f, FEAT_ALL);
    uint64_t inner = vdrv_alloc(&f->drv, 16), table = vdrv_alloc(&f->drv, 16);
    vdrv_indirect_desc(&f->drv, inner, 0, vdrv_alloc(&f->drv, 8), 8, 0, 0);
    vdrv_indirect_desc(&f->drv, table, 0, inner, 16, VIRTQ_DESC_F_INDIRECT, 0);
    post_indirect(f, table, 16, 0);
    assert_broken(f, virtqueue_pop(vq0(f), &f->elem), -EINVAL);
}

static void test_indirect_with_next(void **state)
{
    struct fixture *f = *state;
    start(f, FEAT_ALL);
    uint64_t table = vdrv_alloc(&f->drv, 16);
    vdrv_indirect_desc(&f->drv, table, 0, vdrv_alloc(&f->drv, 8), 8, 0, 0);
    vdrv_desc(&f->drv, 1, vdrv_alloc(&f->drv, 8), 8, 0, 0);
    post_indirect(f, table, 16, VIRTQ_DESC_F_NEXT);
    assert_broken(f, virtqueue_pop(vq0(f), &f->elem), -EINVAL);
}

static void test_indirect_bad_length(void **state)
{
    struct fixture *f = *state;
    start(f, FEAT_ALL);
    uint64_t table = vdrv_alloc(&f->drv, 32);
    vdrv_indirect_desc(&f->drv, table, 0, vdrv_alloc(&f->drv, 8), 8, 0, 0);
    post_indirect(f, table, 24, 0);
    assert_broken(f, virtqueue_pop(vq0(f), &f->elem), -EINVAL);
}

static void test_indirect_zero_length(void **state)
{
    struct fixture *f = *state;
    start(f, FEAT_ALL);
    post_indirect(f, vdrv_alloc(&f->drv, 16), 0, 0);
    assert_broken(f, virtqueue_pop(vq0(f), &f->elem), -EINVAL);
}

static void test_indirect_outside_ram(void **state)
{
    struct fixture *f = *state;
    start(f, FEAT_ALL);
    /* The table starts in RAM and runs 16 bytes past its end. */
    post_indirect(f, RAM_SIZE - 16, 32, 0);
    assert_broken(f, virtqueue_pop(vq0(f), &f->elem), -EFAULT);
}

static void test_indirect_loop(void **state)
{
    struct fixture *f = *state;
    start(f, FEAT_ALL);
    uint64_t table = vdrv_alloc(&f->drv, 2 * 16);
    uint64_t b = vdrv_alloc(&f->drv, 8);
    vdrv_indirect_desc(&f->drv, table, 0, b, 8, VIRTQ_DESC_F_NEXT, 1);
    vdrv_indirect_desc(&f->drv, table, 1, b, 8, VIRTQ_DESC_F_NEXT, 0);
    post_indirect(f, table, 32, 0);
    assert_broken(f, virtqueue_pop(vq0(f), &f->elem), -EINVAL);
}

static void test_loop(void **state)
{
    struct fixture *f = *state;
    start(f, FEAT_BASIC);
    uint64_t b = vdrv_alloc(&f->drv, 8);
    vdrv_desc(&f->drv, 3, b, 8, VIRTQ_DESC_F_NEXT, 4);
    vdrv_desc(&f->drv, 4, b, 8, VIRTQ_DESC_F_NEXT, 3);
    vdrv_post(&f->drv, 3);
    assert_broken(f, virtqueue_pop(vq0(f), &f->elem), -EINVAL);
}

static void test_full_length_chain_ok(void **state)
{
    struct fixture *f = *state;
    start(f, FEAT_BASIC);
    /* A chain through every descriptor of the table is legal: the TTL is the table size. */
    uint32_t lens[QSIZE];
    for (unsigned i = 0; i < QSIZE; i++) {
        lens[i] = 4;
    }
    f->elem.rd_max = 8;
    f->elem.wr_max = 8;
    vdrv_post(&f->drv, vdrv_chain(&f->drv, lens, 8, 8, NULL));
    assert_int_equal(virtqueue_pop(vq0(f), &f->elem), 1);
    assert_int_equal(f->elem.rd_num + f->elem.wr_num, QSIZE);
}

static void test_head_out_of_range(void **state)
{
    struct fixture *f = *state;
    start(f, FEAT_BASIC);
    vdrv_post(&f->drv, QSIZE);
    assert_broken(f, virtqueue_pop(vq0(f), &f->elem), -EINVAL);
}

static void test_next_out_of_range(void **state)
{
    struct fixture *f = *state;
    start(f, FEAT_BASIC);
    vdrv_desc(&f->drv, 0, vdrv_alloc(&f->drv, 8), 8, VIRTQ_DESC_F_NEXT, QSIZE);
    vdrv_post(&f->drv, 0);
    assert_broken(f, virtqueue_pop(vq0(f), &f->elem), -EINVAL);
}

static void test_buffer_outside_ram(void **state)
{
    struct fixture *f = *state;
    start(f, FEAT_BASIC);
    /* Starts inside RAM, ends 4 bytes beyond it: the whole range is checked. */
    vdrv_desc(&f->drv, 0, RAM_SIZE - 4, 8, VIRTQ_DESC_F_WRITE, 0);
    vdrv_post(&f->drv, 0);
    assert_broken(f, virtqueue_pop(vq0(f), &f->elem), -EFAULT);
}

static void test_buffer_address_wraps(void **state)
{
    struct fixture *f = *state;
    start(f, FEAT_BASIC);
    vdrv_desc(&f->drv, 0, UINT64_MAX - 3, 0xffffffffu, 0, 0);
    vdrv_post(&f->drv, 0);
    assert_broken(f, virtqueue_pop(vq0(f), &f->elem), -EFAULT);
}

static void test_zero_length(void **state)
{
    struct fixture *f = *state;
    start(f, FEAT_BASIC);
    vdrv_desc(&f->drv, 0, vdrv_alloc(&f->drv, 8), 0, 0, 0);
    vdrv_post(&f->drv, 0);
    assert_broken(f, virtqueue_pop(vq0(f), &f->elem), -EINVAL);
}

static void test_readable_after_writable(void **state)
{
    struct fixture *f = *state;
    start(f, FEAT_BASIC);
    uint64_t b = vdrv_alloc(&f->drv, 8);
    vdrv_desc(&f->drv, 0, b, 8, VIRTQ_DESC_F_WRITE | VIRTQ_DESC_F_NEXT, 1);
    vdrv_desc(&f->drv, 1, b, 8, 0, 0);
    vdrv_post(&f->drv, 0);
    assert_broken(f, virtqueue_pop(vq0(f), &f->elem), -EINVAL);
}

static void test_avail_idx_jump(void **state)
{
    struct fixture *f = *state;
    start(f, FEAT_BASIC);
    vdrv_set_avail_idx(&f->drv, QSIZE + 1);
    assert_broken(f, virtqueue_pop(vq0(f), &f->elem), -EINVAL);
}

static void test_too_many_segments(void **state)
{
    struct fixture *f = *state;
    start(f, FEAT_BASIC);
    uint32_t lens[9] = {1, 1, 1, 1, 1, 1, 1, 1, 1};
    f->elem.wr_max = 8;
    vdrv_post(&f->drv, vdrv_chain(&f->drv, lens, 0, 9, NULL));
    assert_broken(f, virtqueue_pop(vq0(f), &f->elem), -EINVAL);
}

static void test_wraparound(void **state)
{
    struct fixture *f = *state;
    start(f, FEAT_BASIC);
    /* Start both sides just below 2^16 and run across the wrap. */
    uint16_t start_idx = 65533;
    struct virtqueue *vq = vq0(f);
    vq->last_avail_idx = start_idx;
    vq->used_idx = start_idx;
    f->drv.last_used = start_idx;
    vdrv_set_avail_idx(&f->drv, start_idx);
    for (unsigned round = 0; round < 3; round++) {
        uint16_t heads[6];
        for (unsigned i = 0; i < 6; i++) {
            uint32_t len = 8 + i;
            heads[i] = vdrv_chain(&f->drv, &len, 0, 1, NULL);
            vdrv_post(&f->drv, heads[i]);
        }
        for (unsigned i = 0; i < 6; i++) {
            assert_int_equal(virtqueue_pop(vq, &f->elem), 1);
            assert_int_equal(f->elem.head, heads[i]);
            assert_int_equal(virtqueue_push(vq, &f->elem, 8 + i), 0);
        }
        assert_int_equal(virtqueue_pop(vq, &f->elem), 0);
        for (unsigned i = 0; i < 6; i++) {
            uint32_t id, len;
            assert_true(vdrv_get_used(&f->drv, &id, &len));
            assert_int_equal(id, heads[i]);
            assert_int_equal(len, 8 + i);
        }
    }
    assert_int_equal(vdrv_used_idx(&f->drv), (uint16_t)(start_idx + 18));
    assert_int_equal(f->dev.error_count, 0);
}

static void test_no_interrupt_flag(void **state)
{
    struct fixture *f = *state;
    start(f, FEAT_BASIC);
    uint32_t len = 8;
    vdrv_post(&f->drv, vdrv_chain(&f->drv, &len, 0, 1, NULL));
    assert_int_equal(virtqueue_pop(vq0(f), &f->elem), 1);
    virtqueue_push(vq0(f), &f->elem, 0);
    vdrv_set_avail_flags(&f->drv, VIRTQ_AVAIL_F_NO_INTERRUPT);
    virtio_dev_notify_queue(&f->dev, 0);
    assert_int_equal(f->queue_irqs, 0);
    vdrv_set_avail_flags(&f->drv, 0);
    virtio_dev_notify_queue(&f->dev, 0);
    assert_int_equal(f->queue_irqs, 1);

    /* Kick suppression for the driver: the device's flag in the used ring. */
    virtqueue_set_notification(vq0(f), false);
    assert_int_equal(vdrv_used_flags(&f->drv), VIRTQ_USED_F_NO_NOTIFY);
    virtqueue_set_notification(vq0(f), true);
    assert_int_equal(vdrv_used_flags(&f->drv), 0);
}

static void pop_push_one(struct fixture *f)
{
    uint32_t len = 8;
    vdrv_post(&f->drv, vdrv_chain(&f->drv, &len, 0, 1, NULL));
    assert_int_equal(virtqueue_pop(vq0(f), &f->elem), 1);
    assert_int_equal(virtqueue_push(vq0(f), &f->elem, 4), 0);
}

static void test_event_idx(void **state)
{
    struct fixture *f = *state;
    start(f, FEAT_ALL);
    /* First decision always interrupts (no previous point to compare with). */
    pop_push_one(f);
    assert_int_equal(vdrv_avail_event(&f->drv), 1);
    virtio_dev_notify_queue(&f->dev, 0);
    assert_int_equal(f->queue_irqs, 1);

    /* The driver wants to hear only once used idx passes 3. */
    vdrv_set_used_event(&f->drv, 3);
    pop_push_one(f); /* used idx 2 */
    virtio_dev_notify_queue(&f->dev, 0);
    assert_int_equal(f->queue_irqs, 1);
    pop_push_one(f); /* used idx 3: not yet past 3 */
    virtio_dev_notify_queue(&f->dev, 0);
    assert_int_equal(f->queue_irqs, 1);
    pop_push_one(f); /* used idx 4: crossed */
    virtio_dev_notify_queue(&f->dev, 0);
    assert_int_equal(f->queue_irqs, 2);
    /* Nothing new pushed: no interrupt, whatever used_event says. */
    vdrv_set_used_event(&f->drv, 3);
    virtio_dev_notify_queue(&f->dev, 0);
    assert_int_equal(f->queue_irqs, 2);

    /* Two pushes in one batch crossing used_event give one interrupt. */
    vdrv_set_used_event(&f->drv, 4);
    pop_push_one(f);
    pop_push_one(f);
    virtio_dev_notify_queue(&f->dev, 0);
    assert_int_equal(f->queue_irqs, 3);

    /* avail_event tracks what we popped, and an empty pop re-arms it at avail idx. */
    assert_int_equal(vdrv_avail_event(&f->drv), 6);
    assert_int_equal(virtqueue_pop(vq0(f), &f->elem), 0);
    assert_int_equal(vdrv_avail_event(&f->drv), 6);
    /* With notifications off, avail_event stays behind; enabling catches it up. */
    virtqueue_set_notification(vq0(f), false);
    pop_push_one(f);
    assert_int_equal(vdrv_avail_event(&f->drv), 6);
    virtqueue_set_notification(vq0(f), true);
    assert_int_equal(vdrv_avail_event(&f->drv), 7);
    assert_true(virtqueue_empty(vq0(f)));
}

static void test_event_idx_wrap(void **state)
{
    struct fixture *f = *state;
    start(f, FEAT_ALL);
    struct virtqueue *vq = vq0(f);
    vq->last_avail_idx = vq->used_idx = 65534;
    f->drv.last_used = 65534;
    vdrv_set_avail_idx(&f->drv, 65534);
    pop_push_one(f);
    virtio_dev_notify_queue(&f->dev, 0); /* sets the decision point at 65535 */
    assert_int_equal(f->queue_irqs, 1);
    vdrv_set_used_event(&f->drv, 0); /* wants an interrupt when used idx passes 0 */
    pop_push_one(f);                 /* 0 */
    virtio_dev_notify_queue(&f->dev, 0);
    assert_int_equal(f->queue_irqs, 1);
    pop_push_one(f); /* 1 */
    virtio_dev_notify_queue(&f->dev, 0);
    assert_int_equal(f->queue_irqs, 2);
}

static void test_enable_checks(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(vdrv_negotiate(&f->dev, FEAT_BASIC), 0);
    struct virtqueue *vq = vq0(f);
    assert_int_equal(virtqueue_set_size(vq, 0), -EINVAL);
    assert_int_equal(virtqueue_set_size(vq, 24), -EINVAL);
    assert_int_equal(virtqueue_set_size(vq, 512), -EINVAL); /* above the device's max 256 */
    assert_int_equal(virtqueue_set_size(vq, 8), 0);
    /* Misaligned descriptor table. */
    assert_int_equal(virtqueue_set_addrs(vq, 0x1008, 0x2000, 0x3000), 0);
    assert_int_equal(virtqueue_enable(vq), -EINVAL);
    assert_true(f->dev.status & VIRTIO_STATUS_NEEDS_RESET);
    assert_false(vq->enabled);

    virtio_dev_set_status(&f->dev, 0);
    assert_int_equal(f->resets, 1);
    assert_int_equal(f->dev.status, 0);
    assert_int_equal(vdrv_negotiate(&f->dev, FEAT_BASIC), 0);
    /* Used ring straddling the end of RAM. */
    assert_int_equal(virtqueue_set_addrs(vq, 0x1000, 0x2000, RAM_SIZE - 16), 0);
    assert_int_equal(virtqueue_enable(vq), -EFAULT);
    assert_true(f->dev.status & VIRTIO_STATUS_NEEDS_RESET);

    virtio_dev_set_status(&f->dev, 0);
    assert_int_equal(vdrv_negotiate(&f->dev, FEAT_BASIC), 0);
    assert_int_equal(virtqueue_set_addrs(vq, 0x1000, 0x2000, 0x3000), 0);
    assert_int_equal(virtqueue_enable(vq), 0);
    assert_int_equal(virtqueue_set_size(vq, 4), -EBUSY);
    assert_int_equal(virtqueue_set_addrs(vq, 0, 0, 0), -EBUSY);
    assert_null(virtio_dev_queue(&f->dev, 2));
}

static void test_status_rules(void **state)
{
    struct fixture *f = *state;
    struct virtio_dev *d = &f->dev;
    uint8_t ad = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER;
    /* A feature the device did not offer. */
    assert_int_equal(vdrv_negotiate(d, FEAT_BASIC | VIRTIO_F_BIT(5)), -ENOTSUP);
    assert_int_equal(d->status, ad);
    /* A legacy driver (no VERSION_1). */
    virtio_dev_set_status(d, 0);
    assert_int_equal(vdrv_negotiate(d, VIRTIO_F_BIT(3)), -ENOTSUP);
    assert_false(d->status & VIRTIO_STATUS_FEATURES_OK);
    /* Accepted; then features are frozen. */
    virtio_dev_set_status(d, 0);
    assert_int_equal(vdrv_negotiate(d, FEAT_BASIC | VIRTIO_F_BIT(3)), 0);
    assert_true(virtio_dev_has_feature(d, 3));
    assert_int_equal(virtio_dev_set_driver_features(d, FEAT_BASIC), -EBUSY);
    assert_true(virtio_dev_has_feature(d, 3));
    /* Clearing a bit is refused. */
    assert_int_equal(virtio_dev_set_status(d, VIRTIO_STATUS_ACKNOWLEDGE), -EINVAL);
    assert_true(d->status & VIRTIO_STATUS_FEATURES_OK);
    /* The driver cannot set NEEDS_RESET itself. */
    assert_int_equal(virtio_dev_set_status(d, d->status | VIRTIO_STATUS_NEEDS_RESET), 0);
    assert_false(d->status & VIRTIO_STATUS_NEEDS_RESET);
    assert_int_equal(vdrv_driver_ok(d), 0);
    assert_true(virtio_dev_live(d));
    /* Reset. */
    assert_int_equal(virtio_dev_set_status(d, 0), 0);
    assert_int_equal(d->status, 0);
    assert_int_equal(d->driver_features, 0);

    /* DRIVER_OK without FEATURES_OK is a driver bug: error state. */
    virtio_dev_set_status(d, ad);
    assert_int_equal(virtio_dev_set_status(d, ad | VIRTIO_STATUS_DRIVER_OK), -EINVAL);
    assert_true(d->status & VIRTIO_STATUS_NEEDS_RESET);
    assert_false(d->status & VIRTIO_STATUS_DRIVER_OK);
    assert_int_equal(d->error_count, 1);
}

static void test_notify_dispatch(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(vdrv_negotiate(&f->dev, FEAT_BASIC), 0);
    assert_int_equal(vdrv_setup(&f->drv, &f->dev, 0, f->ram, RING_BASE, QSIZE, HEAP, RAM_SIZE), 0);
    virtio_dev_queue_notify(&f->dev, 0); /* before DRIVER_OK */
    assert_int_equal(f->notifies, 0);
    assert_int_equal(vdrv_driver_ok(&f->dev), 0);
    virtio_dev_queue_notify(&f->dev, 0);
    assert_int_equal(f->notifies, 1);
    virtio_dev_queue_notify(&f->dev, 1); /* not enabled */
    virtio_dev_queue_notify(&f->dev, 2); /* out of range */
    virtio_dev_queue_notify(&f->dev, 0xffff);
    assert_int_equal(f->notifies, 1);
}

static void test_config(void **state)
{
    struct fixture *f = *state;
    struct virtio_dev *d = &f->dev;
    virtio_dev_config_write(d, 4, 0xdeadbeef, 4);
    assert_int_equal(virtio_dev_config_read(d, 4, 4), 0xdeadbeef);
    assert_int_equal(virtio_dev_config_read(d, 6, 2), 0xdead);
    assert_int_equal(virtio_dev_config_read(d, 0, 8), 0xdeadbeef00000000ull);
    /* Out of range, straddling, odd widths: refused before reaching the device. */
    assert_int_equal(virtio_dev_config_read(d, 6, 4), 0);
    assert_int_equal(virtio_dev_config_read(d, 8, 1), 0);
    assert_int_equal(virtio_dev_config_read(d, 0xffffffff, 2), 0);
    assert_int_equal(virtio_dev_config_read(d, 0, 3), 0);
    virtio_dev_config_write(d, 7, 0x1234, 2);
    virtio_dev_config_write(d, 0xfffffffe, 0x1234, 4);
    assert_int_equal(virtio_dev_config_read(d, 4, 4), 0xdeadbeef);

    uint8_t gen = d->config_generation;
    virtio_dev_config_changed(d); /* before DRIVER_OK: no interrupt */
    assert_int_equal(d->config_generation, (uint8_t)(gen + 1));
    assert_int_equal(f->config_irqs, 0);
    start(f, FEAT_BASIC);
    virtio_dev_config_changed(d);
    assert_int_equal(f->config_irqs, 1);
}

static void test_vmstate(void **state)
{
    struct fixture *f = *state;
    start(f, FEAT_ALL);
    pop_push_one(f);
    pop_push_one(f);
    virtio_dev_notify_queue(&f->dev, 0);

    struct device secs[3];
    assert_int_equal(virtio_dev_state_sections(&f->dev, secs, 3), 3);
    assert_string_equal(secs[1].name, "virtio-test.q0");

    uint8_t a[2][256], b[256];
    long n[2];
    for (unsigned i = 0; i < 2; i++) {
        n[i] = vmstate_save(secs[i].state, secs[i].opaque, a[i], sizeof(a[i]));
        assert_true(n[i] > 0);
    }
    /* Restore into a fresh device over the same RAM: identical state, the ring works on. */
    struct virtio_dev *fresh = calloc(1, sizeof(*fresh));
    assert_non_null(fresh);
    assert_int_equal(virtio_dev_init(fresh, &test_ops, f, &f->mem, VIRTIO_F_BIT(3), 2, 256), 0);
    struct device fsecs[3];
    virtio_dev_state_sections(fresh, fsecs, 3);
    for (unsigned i = 0; i < 2; i++) {
        assert_int_equal(vmstate_load(fsecs[i].state, fsecs[i].opaque, a[i], (size_t)n[i]), 0);
        assert_int_equal(vmstate_save(fsecs[i].state, fsecs[i].opaque, b, sizeof(b)), n[i]);
        assert_memory_equal(a[i], b, (size_t)n[i]);
    }
    assert_true(virtio_dev_live(fresh));
    uint32_t len = 8;
    vdrv_post(&f->drv, vdrv_chain(&f->drv, &len, 0, 1, NULL));
    struct virtqueue *fq = virtio_dev_queue(fresh, 0);
    assert_int_equal(virtqueue_pop(fq, &f->elem), 1);
    assert_int_equal(virtqueue_push(fq, &f->elem, 8), 0);
    assert_int_equal(vdrv_used_idx(&f->drv), 3);

    /* Hostile states are refused and leave the device as it was. */
    struct virtqueue before = *fq;
    struct virtqueue evil = *vq0(f);
    evil.size = 12;
    vmstate_save(&virtqueue_vmstate, &evil, b, sizeof(b));
    assert_int_equal(vmstate_load(&virtqueue_vmstate, fq, b, (size_t)n[1]), -EINVAL);
    assert_memory_equal(&before, fq, sizeof(before));
    evil = *vq0(f);
    evil.used_gpa = RAM_SIZE - 8;
    vmstate_save(&virtqueue_vmstate, &evil, b, sizeof(b));
    assert_int_equal(vmstate_load(&virtqueue_vmstate, fq, b, (size_t)n[1]), -EINVAL);
    evil = *vq0(f);
    evil.enabled = 2;
    vmstate_save(&virtqueue_vmstate, &evil, b, sizeof(b));
    assert_int_equal(vmstate_load(&virtqueue_vmstate, fq, b, (size_t)n[1]), -EINVAL);
    assert_memory_equal(&before, fq, sizeof(before));

    struct virtio_dev *evil_dev = calloc(1, sizeof(*evil_dev));
    assert_non_null(evil_dev);
    *evil_dev = f->dev;
    evil_dev->driver_features |= VIRTIO_F_BIT(5);
    vmstate_save(&virtio_dev_vmstate, evil_dev, b, sizeof(b));
    assert_int_equal(vmstate_load(&virtio_dev_vmstate, fresh, b, (size_t)n[0]), -EINVAL);
    *evil_dev = f->dev;
    evil_dev->status = VIRTIO_STATUS_DRIVER_OK;
    vmstate_save(&virtio_dev_vmstate, evil_dev, b, sizeof(b));
    assert_int_equal(vmstate_load(&virtio_dev_vmstate, fresh, b, (size_t)n[0]), -EINVAL);
    assert_true(virtio_dev_live(fresh));
    free(evil_dev);
    free(fresh);
}

static void test_unpop(void **state)
{
    struct fixture *f = *state;
    start(f, FEAT_BASIC);
    uint32_t len = 8;
    uint16_t head = vdrv_chain(&f->drv, &len, 0, 1, NULL);
    vdrv_post(&f->drv, head);
    assert_int_equal(virtqueue_pop(vq0(f), &f->elem), 1);
    virtqueue_unpop(vq0(f), 1);
    assert_false(virtqueue_empty(vq0(f)));
    assert_int_equal(virtqueue_pop(vq0(f), &f->elem), 1);
    assert_int_equal(f->elem.head, head);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_simple_chain),
        T(test_indirect),
        T(test_indirect_not_negotiated),
        T(test_indirect_nested),
        T(test_indirect_with_next),
        T(test_indirect_bad_length),
        T(test_indirect_zero_length),
        T(test_indirect_outside_ram),
        T(test_indirect_loop),
        T(test_loop),
        T(test_full_length_chain_ok),
        T(test_head_out_of_range),
        T(test_next_out_of_range),
        T(test_buffer_outside_ram),
        T(test_buffer_address_wraps),
        T(test_zero_length),
        T(test_readable_after_writable),
        T(test_avail_idx_jump),
        T(test_too_many_segments),
        T(test_wraparound),
        T(test_no_interrupt_flag),
        T(test_event_idx),
        T(test_event_idx_wrap),
        T(test_enable_checks),
        T(test_status_rules),
        T(test_notify_dispatch),
        T(test_config),
        T(test_vmstate),
        T(test_unpop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
