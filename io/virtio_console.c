// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * virtio console (virtio 1.x 5.3) with multiple ports: data queues per port, and the control
 * handshake ("Multiport Device Operation"): the driver says DEVICE_READY, we add every port, the
 * driver answers PORT_READY per port, we mark the console port and name the others, and both sides
 * report PORT_OPEN as their ends connect.
 */
#include "io/virtio_console.h"

#include <errno.h>
#include <string.h>

#include "vmm/chardev.h"
#include "vmm/device.h"

#define CTRL_HDR_SIZE 8 /* le32 id, le16 event, le16 value */

static unsigned rx_queue(unsigned port)
{
    return port == 0 ? 0 : 2 + 2 * port;
}

static bool multiport(const struct virtio_console *con)
{
    return virtio_dev_has_feature(&con->vdev, VIRTIO_CONSOLE_F_MULTIPORT);
}

static struct virtq_elem new_elem(struct virtio_console *con)
{
    return (struct virtq_elem){
        .rd = con->rd_iov,
        .rd_max = VIRTIO_CONSOLE_MAX_IOV,
        .wr = con->wr_iov,
        .wr_max = VIRTIO_CONSOLE_MAX_IOV,
    };
}

static void ctrl_enqueue(struct virtio_console *con, unsigned id, uint16_t event, uint16_t value)
{
    if (con->ctrl_count >= VIRTIO_CONSOLE_CTRL_PENDING) {
        /* Only a driver that never posts control buffers gets here. */
        con->ctrl_dropped++;
        return;
    }
    unsigned slot = (con->ctrl_head + con->ctrl_count) % VIRTIO_CONSOLE_CTRL_PENDING;
    con->ctrl_id[slot] = id;
    con->ctrl_event[slot] = event;
    con->ctrl_value[slot] = value;
    con->ctrl_count++;
}

/* Deliver pending control messages into the buffers posted on the control receive queue. */
static void ctrl_flush(struct virtio_console *con)
{
    if (!virtio_dev_live(&con->vdev) || !multiport(con)) {
        return;
    }
    struct virtqueue *vq = &con->vdev.vqs[VIRTIO_CONSOLE_CTRL_RXQ];
    struct virtq_elem elem = new_elem(con);
    bool pushed = false;
    while (con->ctrl_count && virtqueue_pop(vq, &elem) > 0) {
        unsigned slot = con->ctrl_head;
        uint32_t id = con->ctrl_id[slot];
        uint8_t hdr[CTRL_HDR_SIZE];
        memcpy(hdr, &id, 4);
        memcpy(hdr + 4, &con->ctrl_event[slot], 2);
        memcpy(hdr + 6, &con->ctrl_value[slot], 2);
        size_t len = 0;
        if (elem.wr_len >= CTRL_HDR_SIZE) { /* guest-controlled: too small loses the message */
            len = virtq_elem_write(&elem, 0, hdr, CTRL_HDR_SIZE);
            if (con->ctrl_event[slot] == VIRTIO_CONSOLE_PORT_NAME && id < con->nr_ports) {
                /* The name follows the header, without a terminating NUL. */
                const char *name = con->ports[id].name;
                len += virtq_elem_write(&elem, CTRL_HDR_SIZE, name, strlen(name));
            }
        }
        virtqueue_push(vq, &elem, (uint32_t)len);
        pushed = true;
        con->ctrl_head = (uint16_t)((slot + 1) % VIRTIO_CONSOLE_CTRL_PENDING);
        con->ctrl_count--;
    }
    if (pushed) {
        virtio_dev_notify_queue(&con->vdev, VIRTIO_CONSOLE_CTRL_RXQ);
    }
}

static void port_ready(struct virtio_console *con, unsigned id)
{
    con->guest_ready[id] = 1;
    if (id == 0) {
        ctrl_enqueue(con, id, VIRTIO_CONSOLE_CONSOLE_PORT, 1);
    }
    if (con->ports[id].name[0]) {
        ctrl_enqueue(con, id, VIRTIO_CONSOLE_PORT_NAME, 1);
    }
    if (con->host_open[id]) {
        ctrl_enqueue(con, id, VIRTIO_CONSOLE_PORT_OPEN, 1);
    }
}

static void ctrl_handle(struct virtio_console *con, uint32_t id, uint16_t event, uint16_t value)
{
    switch (event) {
    case VIRTIO_CONSOLE_DEVICE_READY:
        if (value == 1) {
            for (unsigned p = 0; p < con->nr_ports; p++) {
                ctrl_enqueue(con, p, VIRTIO_CONSOLE_PORT_ADD, 0);
            }
        }
        break;
    case VIRTIO_CONSOLE_PORT_READY:
        if (id >= con->nr_ports) { /* guest-controlled */
            break;
        }
        if (value == 1) {
            port_ready(con, id);
        } else {
            con->guest_ready[id] = 0; /* the driver could not set the port up */
        }
        break;
    case VIRTIO_CONSOLE_PORT_OPEN:
        if (id < con->nr_ports) { /* guest-controlled */
            con->guest_open[id] = value != 0;
        }
        break;
    default:
        break; /* guest-controlled: events meant for the driver, or unknown: ignored */
    }
}

static void ctrl_tx(struct virtio_console *con)
{
    struct virtqueue *vq = &con->vdev.vqs[VIRTIO_CONSOLE_CTRL_TXQ];
    struct virtq_elem elem = new_elem(con);
    bool pushed = false;
    while (virtqueue_pop(vq, &elem) > 0) {
        uint8_t hdr[CTRL_HDR_SIZE];
        /* guest-controlled: a short message is ignored, not guessed at. */
        if (virtq_elem_read(&elem, 0, hdr, sizeof(hdr)) == sizeof(hdr)) {
            uint32_t id;
            uint16_t event, value;
            memcpy(&id, hdr, 4);
            memcpy(&event, hdr + 4, 2);
            memcpy(&value, hdr + 6, 2);
            ctrl_handle(con, id, event, value);
        }
        virtqueue_push(vq, &elem, 0);
        pushed = true;
    }
    if (pushed) {
        virtio_dev_notify_queue(&con->vdev, VIRTIO_CONSOLE_CTRL_TXQ);
    }
    ctrl_flush(con);
}

static void port_tx(struct virtio_console *con, unsigned port, unsigned q)
{
    struct virtqueue *vq = &con->vdev.vqs[q];
    struct virtq_elem elem = new_elem(con);
    bool pushed = false;
    while (virtqueue_pop(vq, &elem) > 0) {
        for (unsigned i = 0; i < elem.rd_num; i++) {
            chardev_write(con->ports[port].chr, elem.rd[i].iov_base, elem.rd[i].iov_len);
        }
        virtqueue_push(vq, &elem, 0);
        pushed = true;
    }
    if (pushed) {
        virtio_dev_notify_queue(&con->vdev, q);
    }
}

static void console_queue_notify(void *opaque, unsigned q)
{
    struct virtio_console *con = opaque;
    if (q >= 2 && !multiport(con)) {
        return; /* guest-controlled: without MULTIPORT only port 0's queues exist */
    }
    if (q == VIRTIO_CONSOLE_CTRL_RXQ) {
        ctrl_flush(con);
        return;
    }
    if (q == VIRTIO_CONSOLE_CTRL_TXQ) {
        ctrl_tx(con);
        return;
    }
    unsigned port = q < 2 ? 0 : (q - 2) / 2;
    if (port >= con->nr_ports) { /* guest-controlled, though the core checked num_queues */
        return;
    }
    if (q == rx_queue(port)) {
        if (con->rx_ready) {
            con->rx_ready(con->rx_ready_opaque, port);
        }
    } else {
        port_tx(con, port, q);
    }
}

static uint64_t console_config_read(void *opaque, uint32_t off, unsigned size)
{
    struct virtio_console *con = opaque;
    uint8_t cfg[VIRTIO_CONSOLE_CONFIG_SIZE] = {0};
    uint32_t max_ports = con->nr_ports;
    /* cols and rows stay 0: VIRTIO_CONSOLE_F_SIZE is not offered. emerg_wr reads 0. */
    memcpy(cfg + 4, &max_ports, 4);
    uint64_t v = 0;
    memcpy(&v, cfg + off, size);
    return v;
}

static void console_config_write(void *opaque, uint32_t off, uint64_t val, unsigned size)
{
    struct virtio_console *con = opaque;
    /* emerg_wr (offset 8): one character for port 0, usable before the queues exist. */
    if (off == 8) {
        uint8_t c = (uint8_t)val;
        chardev_write(con->ports[0].chr, &c, 1);
    }
}

static void console_reset(void *opaque)
{
    struct virtio_console *con = opaque;
    memset(con->guest_ready, 0, sizeof(con->guest_ready));
    memset(con->guest_open, 0, sizeof(con->guest_open));
    con->ctrl_head = con->ctrl_count = 0;
}

static const struct virtio_ops console_ops = {
    .name = "virtio-console",
    .device_id = VIRTIO_ID_CONSOLE,
    .config_size = VIRTIO_CONSOLE_CONFIG_SIZE,
    .config_read = console_config_read,
    .config_write = console_config_write,
    .queue_notify = console_queue_notify,
    .reset = console_reset,
};

static uint64_t console_features(void)
{
    return VIRTIO_F_BIT(VIRTIO_CONSOLE_F_MULTIPORT) | VIRTIO_F_BIT(VIRTIO_CONSOLE_F_EMERG_WRITE);
}

int virtio_console_init(struct virtio_console *con, const struct guest_mem *mem,
                        struct chardev *chr)
{
    memset(con, 0, sizeof(*con));
    con->nr_ports = 1;
    con->ports[0].chr = chr;
    con->host_open[0] = chr != NULL;
    return virtio_dev_init(&con->vdev, &console_ops, con, mem, console_features(), 4,
                           VIRTIO_CONSOLE_QUEUE_SIZE);
}

void virtio_console_destroy(struct virtio_console *con)
{
    (void)con;
}

int virtio_console_add_port(struct virtio_console *con, const char *name, struct chardev *chr)
{
    if (!name || !name[0] || strlen(name) > VIRTIO_CONSOLE_NAME_MAX) {
        return -EINVAL;
    }
    if (con->nr_ports >= VIRTIO_CONSOLE_MAX_PORTS) {
        return -ENOSPC;
    }
    unsigned id = con->nr_ports++;
    strcpy(con->ports[id].name, name);
    con->ports[id].chr = chr;
    con->host_open[id] = chr != NULL;
    con->vdev.num_queues = 2 + 2 * con->nr_ports;
    return (int)id;
}

size_t virtio_console_receive(struct virtio_console *con, unsigned port, const void *buf,
                              size_t len)
{
    if (port >= con->nr_ports || !virtio_dev_live(&con->vdev)) {
        return 0;
    }
    if (multiport(con)) {
        /* Linux drops data for a port nobody opened; keep it on the host side instead. */
        if (port == 0 ? !con->guest_ready[0] : !con->guest_open[port]) {
            return 0;
        }
    } else if (port != 0) {
        return 0;
    }
    unsigned q = rx_queue(port);
    struct virtqueue *vq = &con->vdev.vqs[q];
    struct virtq_elem elem = new_elem(con);
    const uint8_t *in = buf;
    size_t taken = 0;
    bool pushed = false;
    while (taken < len && virtqueue_pop(vq, &elem) > 0) {
        size_t n = virtq_elem_write(&elem, 0, in + taken, len - taken);
        virtqueue_push(vq, &elem, (uint32_t)n);
        taken += n;
        pushed = true;
    }
    if (pushed) {
        virtio_dev_notify_queue(&con->vdev, q);
    }
    return taken;
}

int virtio_console_set_host_open(struct virtio_console *con, unsigned port, bool open)
{
    if (port >= con->nr_ports) {
        return -EINVAL;
    }
    if (con->host_open[port] == open) {
        return 0;
    }
    con->host_open[port] = open;
    if (multiport(con) && con->guest_ready[port]) {
        ctrl_enqueue(con, port, VIRTIO_CONSOLE_PORT_OPEN, open);
        ctrl_flush(con);
    }
    return 0;
}

static int console_post_load(void *opaque)
{
    struct virtio_console *con = opaque;
    /* Saved state is hostile input: flags are 0/1, the pending queue is in range. */
    for (unsigned p = 0; p < VIRTIO_CONSOLE_MAX_PORTS; p++) {
        if (con->guest_ready[p] > 1 || con->guest_open[p] > 1 || con->host_open[p] > 1) {
            return -EINVAL;
        }
    }
    if (con->ctrl_head >= VIRTIO_CONSOLE_CTRL_PENDING ||
        con->ctrl_count > VIRTIO_CONSOLE_CTRL_PENDING) {
        return -EINVAL;
    }
    for (unsigned i = 0; i < con->ctrl_count; i++) {
        unsigned slot = (con->ctrl_head + i) % VIRTIO_CONSOLE_CTRL_PENDING;
        if (con->ctrl_id[slot] >= con->nr_ports ||
            con->ctrl_event[slot] > VIRTIO_CONSOLE_PORT_NAME) {
            return -EINVAL;
        }
    }
    return 0;
}

static const struct vmstate_field console_fields[] = {
    VMSTATE_ARRAY(struct virtio_console, guest_ready),
    VMSTATE_ARRAY(struct virtio_console, guest_open),
    VMSTATE_ARRAY(struct virtio_console, host_open),
    VMSTATE_ARRAY(struct virtio_console, ctrl_id),
    VMSTATE_ARRAY(struct virtio_console, ctrl_event),
    VMSTATE_ARRAY(struct virtio_console, ctrl_value),
    VMSTATE_FIELD(struct virtio_console, ctrl_head),
    VMSTATE_FIELD(struct virtio_console, ctrl_count),
    VMSTATE_END,
};

const struct vmstate virtio_console_vmstate = {
    .name = "virtio-console",
    .version = 1,
    .fields = console_fields,
    .post_load = console_post_load,
};

unsigned virtio_console_state_sections(struct virtio_console *con, struct device *out, unsigned max)
{
    unsigned n = virtio_dev_state_sections(&con->vdev, out, max);
    if (n < max) {
        out[n] = (struct device){
            .name = "virtio-console.ports",
            .opaque = con,
            .state = &virtio_console_vmstate,
        };
    }
    return n + 1;
}
