// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * virtio-console: the multiport control handshake (DEVICE_READY, PORT_ADD, PORT_READY,
 * CONSOLE_PORT, PORT_NAME, PORT_OPEN), transmit to each port's back-end, receive into posted
 * buffers, single-port mode, emergency write, control messages waiting for buffers, faults,
 * and the state description.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "io/virtio_console.h"
#include "tests/helpers/virtq_driver.h"
#include "vmm/chardev.h"
#include "vmm/device.h"
#include "vmm/memory.h"

#define RAM_SIZE (1u << 21)
#define QSIZE 32
#define NQ 8 /* 3 ports: 2 + 2 * 3 */
#define AGENT "org.deskvm.agent.0"
#define MP (VIRTIO_F_BIT(VIRTIO_F_VERSION_1) | VIRTIO_F_BIT(VIRTIO_CONSOLE_F_MULTIPORT))

struct capture {
    struct chardev chr; /* first: the write callback gets this pointer */
    char buf[512];
    size_t len;
};

struct fixture {
    uint8_t *ram;
    struct guest_mem mem;
    struct virtio_console con;
    struct capture out0, out1;
    struct vdrv drv[NQ];
    uint64_t ctrl_buf[QSIZE]; /* gpa of the control receive buffer posted under each head */
    unsigned queue_irqs, config_irqs, rx_ready[4];
};

static ssize_t capture_write(struct chardev *chr, const void *buf, size_t len)
{
    struct capture *c = (struct capture *)chr;
    size_t n = len < sizeof(c->buf) - c->len ? len : sizeof(c->buf) - c->len;
    memcpy(c->buf + c->len, buf, n);
    c->len += n;
    return (ssize_t)n;
}

static void fake_interrupt(void *transport, unsigned kind, unsigned q)
{
    struct fixture *f = transport;
    if (kind == VIRTIO_IRQ_QUEUE) {
        f->queue_irqs++;
    } else {
        f->config_irqs++;
    }
}

static void on_rx_ready(void *opaque, unsigned port)
{
    struct fixture *f = opaque;
    f->rx_ready[port]++;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->ram = calloc(1, RAM_SIZE);
    assert_non_null(f->ram);
    guest_mem_init_host(&f->mem, f->ram, RAM_SIZE);
    f->out0.chr.write = capture_write;
    f->out1.chr.write = capture_write;
    assert_int_equal(virtio_console_init(&f->con, &f->mem, &f->out0.chr), 0);
    assert_int_equal(virtio_console_add_port(&f->con, AGENT, &f->out1.chr), 1);
    assert_int_equal(virtio_console_add_port(&f->con, "unconnected", NULL), 2);
    assert_int_equal(f->con.vdev.num_queues, NQ);
    virtio_dev_set_interrupt(&f->con.vdev, fake_interrupt, f);
    f->con.rx_ready = on_rx_ready;
    f->con.rx_ready_opaque = f;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    virtio_console_destroy(&f->con);
    free(f->ram);
    free(f);
    return 0;
}

/* Negotiate, set up queues 0..nq-1 (each with its own rings and heap), DRIVER_OK. */
static void start(struct fixture *f, uint64_t features, unsigned nq)
{
    assert_int_equal(vdrv_negotiate(&f->con.vdev, features), 0);
    for (unsigned q = 0; q < nq; q++) {
        uint64_t heap = 0x100000 + q * 0x10000;
        assert_int_equal(vdrv_setup(&f->drv[q], &f->con.vdev, q, f->ram, 0x1000 * (q + 1), QSIZE,
                                    heap, heap + 0x10000),
                         0);
    }
    assert_int_equal(vdrv_driver_ok(&f->con.vdev), 0);
}

static void kick(struct fixture *f, unsigned q)
{
    virtio_dev_queue_notify(&f->con.vdev, q);
}

static void post_ctrl_buffers(struct fixture *f, unsigned n, uint32_t len)
{
    struct vdrv *d = &f->drv[VIRTIO_CONSOLE_CTRL_RXQ];
    for (unsigned i = 0; i < n; i++) {
        uint64_t a;
        uint16_t head = vdrv_chain(d, &len, 0, 1, &a);
        f->ctrl_buf[head] = a;
        vdrv_post(d, head);
    }
    kick(f, VIRTIO_CONSOLE_CTRL_RXQ);
}

static void send_ctrl(struct fixture *f, uint32_t id, uint16_t event, uint16_t value)
{
    struct vdrv *d = &f->drv[VIRTIO_CONSOLE_CTRL_TXQ];
    uint32_t len = 8;
    uint64_t a;
    uint16_t head = vdrv_chain(d, &len, 1, 0, &a);
    memcpy(f->ram + a, &id, 4);
    memcpy(f->ram + a + 4, &event, 2);
    memcpy(f->ram + a + 6, &value, 2);
    vdrv_post(d, head);
    kick(f, VIRTIO_CONSOLE_CTRL_TXQ);
}

/* Expect the next control message from the device; name (may be NULL) must follow it. */
static void expect_ctrl(struct fixture *f, uint32_t id, uint16_t event, uint16_t value,
                        const char *name)
{
    uint32_t head, len;
    assert_true(vdrv_get_used(&f->drv[VIRTIO_CONSOLE_CTRL_RXQ], &head, &len));
    const uint8_t *p = f->ram + f->ctrl_buf[head];
    uint32_t got_id;
    uint16_t got_event, got_value;
    memcpy(&got_id, p, 4);
    memcpy(&got_event, p + 4, 2);
    memcpy(&got_value, p + 6, 2);
    assert_int_equal(got_event, event);
    assert_int_equal(got_id, id);
    assert_int_equal(got_value, value);
    size_t name_len = name ? strlen(name) : 0;
    assert_int_equal(len, 8 + name_len);
    if (name) {
        assert_memory_equal(p + 8, name, name_len);
    }
}

static void expect_no_ctrl(struct fixture *f)
{
    uint32_t head, len;
    assert_false(vdrv_get_used(&f->drv[VIRTIO_CONSOLE_CTRL_RXQ], &head, &len));
}

/* The whole handshake for every port, as Linux does it. */
static void handshake(struct fixture *f)
{
    start(f, MP, NQ);
    post_ctrl_buffers(f, 16, 128);
    send_ctrl(f, 0, VIRTIO_CONSOLE_DEVICE_READY, 1);
    for (unsigned p = 0; p < 3; p++) {
        expect_ctrl(f, p, VIRTIO_CONSOLE_PORT_ADD, 0, NULL);
    }
    expect_no_ctrl(f);
    for (unsigned p = 0; p < 3; p++) {
        send_ctrl(f, p, VIRTIO_CONSOLE_PORT_READY, 1);
    }
    expect_ctrl(f, 0, VIRTIO_CONSOLE_CONSOLE_PORT, 1, NULL);
    expect_ctrl(f, 0, VIRTIO_CONSOLE_PORT_OPEN, 1, NULL);
    expect_ctrl(f, 1, VIRTIO_CONSOLE_PORT_NAME, 1, AGENT);
    expect_ctrl(f, 1, VIRTIO_CONSOLE_PORT_OPEN, 1, NULL);
    expect_ctrl(f, 2, VIRTIO_CONSOLE_PORT_NAME, 1, "unconnected"); /* no back-end: not open */
    expect_no_ctrl(f);
    /* Every control message the driver sent came back used, with nothing written. */
    uint32_t head, len;
    unsigned n = 0;
    while (vdrv_get_used(&f->drv[VIRTIO_CONSOLE_CTRL_TXQ], &head, &len)) {
        assert_int_equal(len, 0);
        n++;
    }
    assert_int_equal(n, 4);
}

static void test_handshake(void **state)
{
    struct fixture *f = *state;
    handshake(f);
    assert_int_equal(f->con.vdev.error_count, 0);
    assert_true(f->con.guest_ready[1]);
    assert_false(f->con.guest_open[1]);
    send_ctrl(f, 1, VIRTIO_CONSOLE_PORT_OPEN, 1);
    assert_true(f->con.guest_open[1]);
    send_ctrl(f, 1, VIRTIO_CONSOLE_PORT_OPEN, 0);
    assert_false(f->con.guest_open[1]);
    /* Out-of-range ids and unknown events are ignored, not faults. */
    send_ctrl(f, 77, VIRTIO_CONSOLE_PORT_READY, 1);
    send_ctrl(f, 0xffffffff, VIRTIO_CONSOLE_PORT_OPEN, 1);
    send_ctrl(f, 0, 999, 1);
    expect_no_ctrl(f);
    assert_int_equal(f->con.vdev.error_count, 0);
}

static void tx(struct fixture *f, unsigned q, const char *a, const char *b)
{
    struct vdrv *d = &f->drv[q];
    uint32_t lens[2] = {(uint32_t)strlen(a), (uint32_t)strlen(b)};
    uint64_t addr[2];
    uint16_t head = vdrv_chain(d, lens, 2, 0, addr);
    memcpy(f->ram + addr[0], a, lens[0]);
    memcpy(f->ram + addr[1], b, lens[1]);
    vdrv_post(d, head);
    kick(f, q);
}

static void test_transmit(void **state)
{
    struct fixture *f = *state;
    handshake(f);
    tx(f, 1, "hel", "lo");
    tx(f, 1, ", ", "world");
    assert_int_equal(f->out0.len, 12);
    assert_memory_equal(f->out0.buf, "hello, world", 12);
    tx(f, 5, "agent", "!");
    assert_int_equal(f->out1.len, 6);
    assert_memory_equal(f->out1.buf, "agent!", 6);
    assert_int_equal(f->out0.len, 12);
    /* Port 2 has no back-end: its output is dropped, the buffers still come back. */
    tx(f, 7, "x", "y");
    uint32_t head, len;
    assert_true(vdrv_get_used(&f->drv[7], &head, &len));
    assert_int_equal(len, 0);
}

static uint64_t post_rx(struct fixture *f, unsigned q, uint32_t len)
{
    uint64_t a;
    vdrv_post(&f->drv[q], vdrv_chain(&f->drv[q], &len, 0, 1, &a));
    return a;
}

static void test_receive(void **state)
{
    struct fixture *f = *state;
    /* Nothing flows before the driver is up. */
    assert_int_equal(virtio_console_receive(&f->con, 0, "abc", 3), 0);
    handshake(f);
    uint64_t a0 = post_rx(f, 0, 4), a1 = post_rx(f, 0, 4);
    kick(f, 0);
    assert_int_equal(f->rx_ready[0], 1);
    unsigned irqs = f->queue_irqs;
    assert_int_equal(virtio_console_receive(&f->con, 0, "abcdefghij", 10), 8);
    assert_memory_equal(f->ram + a0, "abcd", 4);
    assert_memory_equal(f->ram + a1, "efgh", 4);
    uint32_t head, len;
    assert_true(vdrv_get_used(&f->drv[0], &head, &len));
    assert_int_equal(len, 4);
    assert_true(vdrv_get_used(&f->drv[0], &head, &len));
    assert_int_equal(len, 4);
    assert_int_equal(f->queue_irqs, irqs + 1);
    /* No buffer left: the host keeps the rest. */
    assert_int_equal(virtio_console_receive(&f->con, 0, "ij", 2), 0);
    uint64_t a2 = post_rx(f, 0, 16);
    assert_int_equal(virtio_console_receive(&f->con, 0, "ij", 2), 2);
    assert_memory_equal(f->ram + a2, "ij", 2);
    assert_true(vdrv_get_used(&f->drv[0], &head, &len));
    assert_int_equal(len, 2);

    /* An agent port takes data only once the guest opened it. */
    uint64_t b = post_rx(f, 4, 16);
    assert_int_equal(virtio_console_receive(&f->con, 1, "ping", 4), 0);
    send_ctrl(f, 1, VIRTIO_CONSOLE_PORT_OPEN, 1);
    assert_int_equal(virtio_console_receive(&f->con, 1, "ping", 4), 4);
    assert_memory_equal(f->ram + b, "ping", 4);
    assert_int_equal(virtio_console_receive(&f->con, 3, "x", 1), 0); /* no such port */
}

static void test_single_port(void **state)
{
    struct fixture *f = *state;
    start(f, VIRTIO_F_BIT(VIRTIO_F_VERSION_1), 2);
    uint64_t a = post_rx(f, 0, 8);
    assert_int_equal(virtio_console_receive(&f->con, 0, "hi", 2), 2);
    assert_memory_equal(f->ram + a, "hi", 2);
    assert_int_equal(virtio_console_receive(&f->con, 1, "hi", 2), 0);
    tx(f, 1, "o", "k");
    assert_memory_equal(f->out0.buf, "ok", 2);
    /* Control queues do not exist without MULTIPORT: kicks are ignored. */
    kick(f, VIRTIO_CONSOLE_CTRL_TXQ);
    assert_int_equal(f->con.vdev.error_count, 0);
}

static void test_ctrl_waits_for_buffers(void **state)
{
    struct fixture *f = *state;
    start(f, MP, NQ);
    send_ctrl(f, 0, VIRTIO_CONSOLE_DEVICE_READY, 1);
    assert_int_equal(f->con.ctrl_count, 3);
    /* A buffer too small for a header loses that one message, not the others. */
    post_ctrl_buffers(f, 1, 4);
    uint32_t head, len;
    assert_true(vdrv_get_used(&f->drv[VIRTIO_CONSOLE_CTRL_RXQ], &head, &len));
    assert_int_equal(len, 0);
    post_ctrl_buffers(f, 4, 64);
    expect_ctrl(f, 1, VIRTIO_CONSOLE_PORT_ADD, 0, NULL);
    expect_ctrl(f, 2, VIRTIO_CONSOLE_PORT_ADD, 0, NULL);
    expect_no_ctrl(f);
    assert_int_equal(f->con.ctrl_count, 0);

    /* A name longer than the buffer is cut to fit. */
    send_ctrl(f, 1, VIRTIO_CONSOLE_PORT_READY, 1);
    expect_ctrl(f, 1, VIRTIO_CONSOLE_PORT_NAME, 1, AGENT);
    expect_ctrl(f, 1, VIRTIO_CONSOLE_PORT_OPEN, 1, NULL);
    post_ctrl_buffers(f, 1, 12);
    send_ctrl(f, 1, VIRTIO_CONSOLE_PORT_READY, 1);
    expect_ctrl(f, 1, VIRTIO_CONSOLE_PORT_NAME, 1, "org.");

    /* A driver that never posts buffers cannot grow the queue without bound. */
    for (unsigned i = 0; i < VIRTIO_CONSOLE_CTRL_PENDING; i++) {
        send_ctrl(f, 0, VIRTIO_CONSOLE_PORT_READY, 1);
    }
    assert_int_equal(f->con.ctrl_count, VIRTIO_CONSOLE_CTRL_PENDING);
    assert_true(f->con.ctrl_dropped > 0);
}

static void test_host_open(void **state)
{
    struct fixture *f = *state;
    handshake(f);
    assert_int_equal(virtio_console_set_host_open(&f->con, 2, true), 0);
    expect_ctrl(f, 2, VIRTIO_CONSOLE_PORT_OPEN, 1, NULL);
    assert_int_equal(virtio_console_set_host_open(&f->con, 2, true), 0);
    expect_no_ctrl(f);
    assert_int_equal(virtio_console_set_host_open(&f->con, 1, false), 0);
    expect_ctrl(f, 1, VIRTIO_CONSOLE_PORT_OPEN, 0, NULL);
    assert_int_equal(virtio_console_set_host_open(&f->con, 3, true), -EINVAL);
}

static void test_config(void **state)
{
    struct fixture *f = *state;
    struct virtio_dev *d = &f->con.vdev;
    assert_int_equal(d->ops->device_id, VIRTIO_ID_CONSOLE);
    assert_true(d->device_features & VIRTIO_F_BIT(VIRTIO_CONSOLE_F_MULTIPORT));
    assert_int_equal(virtio_dev_config_read(d, 4, 4), 3); /* max_nr_ports */
    assert_int_equal(virtio_dev_config_read(d, 0, 2), 0);
    assert_int_equal(virtio_dev_config_read(d, 10, 4), 0); /* past the 12 bytes */
    virtio_dev_config_write(d, 8, 'E', 4);                 /* emerg_wr */
    virtio_dev_config_write(d, 8, 'W', 4);
    virtio_dev_config_write(d, 4, 'X', 4); /* read-only field */
    assert_int_equal(f->out0.len, 2);
    assert_memory_equal(f->out0.buf, "EW", 2);
}

static void test_port_limits(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(virtio_console_add_port(&f->con, "", NULL), -EINVAL);
    char longname[VIRTIO_CONSOLE_NAME_MAX + 2];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = 0;
    assert_int_equal(virtio_console_add_port(&f->con, longname, NULL), -EINVAL);
    int id = 0;
    while (id >= 0 && id < 100) {
        id = virtio_console_add_port(&f->con, "p", NULL);
    }
    assert_int_equal(id, -ENOSPC);
    assert_int_equal(f->con.nr_ports, VIRTIO_CONSOLE_MAX_PORTS);
    assert_int_equal(f->con.vdev.num_queues, VIRTIO_QUEUES_MAX);
}

static void test_guest_fault(void **state)
{
    struct fixture *f = *state;
    handshake(f);
    struct vdrv *d = &f->drv[VIRTIO_CONSOLE_CTRL_TXQ];
    vdrv_desc(d, 0, RAM_SIZE - 4, 8, 0, 0);
    vdrv_post(d, 0);
    kick(f, VIRTIO_CONSOLE_CTRL_TXQ);
    assert_true(f->con.vdev.status & VIRTIO_STATUS_NEEDS_RESET);
    assert_int_equal(f->config_irqs, 1);
    /* The whole device stops: no data moves on any port until reset. */
    post_rx(f, 0, 8);
    assert_int_equal(virtio_console_receive(&f->con, 0, "x", 1), 0);
    tx(f, 1, "a", "b");
    assert_int_equal(f->out0.len, 0);
    virtio_dev_set_status(&f->con.vdev, 0);
    assert_false(f->con.guest_ready[0]);
    assert_int_equal(f->con.ctrl_count, 0);
}

static void test_vmstate(void **state)
{
    struct fixture *f = *state;
    handshake(f);
    send_ctrl(f, 1, VIRTIO_CONSOLE_PORT_OPEN, 1);
    send_ctrl(f, 2, VIRTIO_CONSOLE_PORT_READY, 1); /* leaves nothing pending: buffers posted */
    static uint8_t a[4096], b[4096];
    long n = vmstate_save(&virtio_console_vmstate, &f->con, a, sizeof(a));
    assert_true(n > 0);
    struct virtio_console *fresh = calloc(1, sizeof(*fresh));
    assert_non_null(fresh);
    assert_int_equal(virtio_console_init(fresh, &f->mem, NULL), 0);
    assert_int_equal(virtio_console_add_port(fresh, AGENT, NULL), 1);
    assert_int_equal(virtio_console_add_port(fresh, "unconnected", NULL), 2);
    assert_int_equal(vmstate_load(&virtio_console_vmstate, fresh, a, (size_t)n), 0);
    assert_int_equal(vmstate_save(&virtio_console_vmstate, fresh, b, sizeof(b)), n);
    assert_memory_equal(a, b, (size_t)n);
    assert_true(fresh->guest_open[1]);

    struct device secs[NQ + 2];
    assert_int_equal(virtio_console_state_sections(&f->con, secs, NQ + 2), NQ + 2);
    assert_ptr_equal(secs[NQ + 1].state, &virtio_console_vmstate);

    /* Hostile: a pending count beyond the queue, a pending message for a missing port. */
    f->con.ctrl_count = VIRTIO_CONSOLE_CTRL_PENDING + 1;
    vmstate_save(&virtio_console_vmstate, &f->con, b, sizeof(b));
    assert_int_equal(vmstate_load(&virtio_console_vmstate, fresh, b, (size_t)n), -EINVAL);
    f->con.ctrl_count = 1;
    f->con.ctrl_id[f->con.ctrl_head] = 9;
    vmstate_save(&virtio_console_vmstate, &f->con, b, sizeof(b));
    assert_int_equal(vmstate_load(&virtio_console_vmstate, fresh, b, (size_t)n), -EINVAL);
    assert_int_equal(fresh->ctrl_count, 0);
    free(fresh);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(test_handshake),
        T(test_transmit),
        T(test_receive),
        T(test_single_port),
        T(test_ctrl_waits_for_buffers),
        T(test_host_open),
        T(test_config),
        T(test_port_limits),
        T(test_guest_fault),
        T(test_vmstate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
