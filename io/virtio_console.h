/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * virtio console (virtio 1.x 5.3, device id 3) with VIRTIO_CONSOLE_F_MULTIPORT: port 0 is
 * the console, further named ports (agent channels) are declared by the machine, each with
 * its own character back-end. Ports are announced to the driver over the control queues.
 */
#ifndef DESKVM_IO_VIRTIO_CONSOLE_H
#define DESKVM_IO_VIRTIO_CONSOLE_H

#include <stddef.h>
#include <stdint.h>

#include "io/virtio.h"

struct chardev;
struct device;
struct guest_mem;

#define VIRTIO_CONSOLE_F_SIZE 0
#define VIRTIO_CONSOLE_F_MULTIPORT 1
#define VIRTIO_CONSOLE_F_EMERG_WRITE 2

/* Control events ("Multiport Device Operation"). */
#define VIRTIO_CONSOLE_DEVICE_READY 0
#define VIRTIO_CONSOLE_PORT_ADD 1
#define VIRTIO_CONSOLE_PORT_REMOVE 2
#define VIRTIO_CONSOLE_PORT_READY 3
#define VIRTIO_CONSOLE_CONSOLE_PORT 4
#define VIRTIO_CONSOLE_RESIZE 5
#define VIRTIO_CONSOLE_PORT_OPEN 6
#define VIRTIO_CONSOLE_PORT_NAME 7

/* Queues: 0/1 port 0 receive/transmit, 2/3 control receive/transmit, 4+2(p-1) port p. */
#define VIRTIO_CONSOLE_CTRL_RXQ 2
#define VIRTIO_CONSOLE_CTRL_TXQ 3
#define VIRTIO_CONSOLE_MAX_PORTS 31 /* 2 + 2 * 31 queues = VIRTIO_QUEUES_MAX */
#define VIRTIO_CONSOLE_NAME_MAX 63
#define VIRTIO_CONSOLE_QUEUE_SIZE 256
#define VIRTIO_CONSOLE_CONFIG_SIZE 12 /* cols, rows, max_nr_ports, emerg_wr */
/* Control messages waiting for driver buffers; more are dropped (counted). */
#define VIRTIO_CONSOLE_CTRL_PENDING 128
#define VIRTIO_CONSOLE_MAX_IOV 64

struct virtio_console_port {
    char name[VIRTIO_CONSOLE_NAME_MAX + 1]; /* "" for port 0 and unnamed ports */
    struct chardev *chr;                    /* NULL: output dropped, host side closed */
};

struct virtio_console {
    struct virtio_dev vdev;
    struct virtio_console_port ports[VIRTIO_CONSOLE_MAX_PORTS];
    unsigned nr_ports;
    /* Called when the driver posts receive buffers on a port: input can flow again. */
    void (*rx_ready)(void *opaque, unsigned port);
    void *rx_ready_opaque;
    uint64_t ctrl_dropped;

    /* Driver-visible state (virtio_console_vmstate). */
    uint8_t guest_ready[VIRTIO_CONSOLE_MAX_PORTS]; /* PORT_READY 1 received */
    uint8_t guest_open[VIRTIO_CONSOLE_MAX_PORTS];  /* the guest opened the port */
    uint8_t host_open[VIRTIO_CONSOLE_MAX_PORTS];   /* the back-end is connected */
    uint32_t ctrl_id[VIRTIO_CONSOLE_CTRL_PENDING];
    uint16_t ctrl_event[VIRTIO_CONSOLE_CTRL_PENDING];
    uint16_t ctrl_value[VIRTIO_CONSOLE_CTRL_PENDING];
    uint16_t ctrl_head, ctrl_count;

    struct iovec rd_iov[VIRTIO_CONSOLE_MAX_IOV];
    struct iovec wr_iov[VIRTIO_CONSOLE_MAX_IOV];
};

/* Port 0 (the console) writes to chr. Returns 0 or -errno. */
__attribute__((warn_unused_result)) int
virtio_console_init(struct virtio_console *con, const struct guest_mem *mem, struct chardev *chr);
void virtio_console_destroy(struct virtio_console *con);
/*
 * Declare a named port (before the transport is attached: it fixes the queue count).
 * Returns the port id (1..) or -EINVAL (bad name), -ENOSPC (too many ports).
 */
__attribute__((warn_unused_result)) int
virtio_console_add_port(struct virtio_console *con, const char *name, struct chardev *chr);
/*
 * Host input for a port: fills the receive buffers the driver posted. Returns the bytes
 * taken (0 when the port is not open in the guest or no buffer is posted).
 */
size_t virtio_console_receive(struct virtio_console *con, unsigned port, const void *buf,
                              size_t len);
/* The back-end of a port connected or went away; the driver hears PORT_OPEN. */
int virtio_console_set_host_open(struct virtio_console *con, unsigned port, bool open);
unsigned virtio_console_state_sections(struct virtio_console *con, struct device *out,
                                       unsigned max);

extern const struct vmstate virtio_console_vmstate;

#endif
