/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The transport-independent virtio device (virtio 1.x, "Basic Facilities of a Virtio
 * Device"): feature negotiation, the device status rules, config space with its generation,
 * the queues, and the error state (DEVICE_NEEDS_RESET). A device fills a struct virtio_ops;
 * a transport (virtio-pci) drives struct virtio_dev through the virtio_dev_* calls below and
 * implements the interrupt callback. Neither side knows the other.
 */
#ifndef DESKVM_IO_VIRTIO_H
#define DESKVM_IO_VIRTIO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "io/virtqueue.h"
#include "snapshots/vmstate.h"

struct device;
struct guest_mem;

/* Device status bits ("Device Status Field"). */
#define VIRTIO_STATUS_ACKNOWLEDGE 0x01
#define VIRTIO_STATUS_DRIVER 0x02
#define VIRTIO_STATUS_DRIVER_OK 0x04
#define VIRTIO_STATUS_FEATURES_OK 0x08
#define VIRTIO_STATUS_NEEDS_RESET 0x40
#define VIRTIO_STATUS_FAILED 0x80

/* Reserved feature bits ("Reserved Feature Bits") that the core implements for every device. */
#define VIRTIO_F_INDIRECT_DESC 28
#define VIRTIO_F_EVENT_IDX 29
#define VIRTIO_F_VERSION_1 32
#define VIRTIO_F_BIT(n) (1ull << (n))
#define VIRTIO_CORE_FEATURES                                                                       \
    (VIRTIO_F_BIT(VIRTIO_F_INDIRECT_DESC) | VIRTIO_F_BIT(VIRTIO_F_EVENT_IDX) |                     \
     VIRTIO_F_BIT(VIRTIO_F_VERSION_1))

/* Device ids ("Device Types"). */
#define VIRTIO_ID_CONSOLE 3
#define VIRTIO_ID_RNG 4

/* Interrupt kinds, equal to the ISR status bits an INTx transport reports. */
#define VIRTIO_IRQ_QUEUE 0x1
#define VIRTIO_IRQ_CONFIG 0x2

/* Queues per device, enough for a console with 31 ports (2 + 2 * 31). */
#define VIRTIO_QUEUES_MAX 64

/* What a device type provides, in the manner of kvmtool's struct virtio_ops. */
struct virtio_ops {
    const char *name;   /* for logs and state section names */
    uint16_t device_id; /* VIRTIO_ID_* */
    uint32_t config_size;
    /* Config space accesses, already range-checked: off + size <= config_size. */
    uint64_t (*config_read)(void *opaque, uint32_t off, unsigned size);
    void (*config_write)(void *opaque, uint32_t off, uint64_t val, unsigned size);
    /* The driver kicked queue q (in range, device live, queue enabled). */
    void (*queue_notify)(void *opaque, unsigned q);
    /* Device-specific reset; the core has already reset features, status and queues. */
    void (*reset)(void *opaque);
    /* Status changed (after the core's checks); DRIVER_OK is where a device may start. */
    void (*set_status)(void *opaque, uint8_t old_status, uint8_t new_status);
};

struct virtio_dev {
    /* Wiring, set at init; not saved. */
    const struct virtio_ops *ops;
    void *opaque; /* the device */
    const struct guest_mem *mem;
    uint64_t device_features; /* offered: device bits | VIRTIO_CORE_FEATURES */
    unsigned num_queues;
    /* Set by the transport: raise a queue (kind VIRTIO_IRQ_QUEUE, queue q) or config interrupt. */
    void (*interrupt)(void *transport, unsigned kind, unsigned q);
    void *transport;

    /* Negotiated state (virtio_dev_vmstate). */
    uint64_t driver_features;
    uint8_t status;
    uint8_t config_generation;

    /* Diagnostics, not saved. quiet: count errors but log nothing (fuzzers). */
    bool quiet;
    uint64_t error_count;
    uint64_t log_suppressed;
    int64_t log_last_ns;

    struct virtqueue vqs[VIRTIO_QUEUES_MAX];
};

/*
 * Set up the common state for a device with num_queues queues of at most max_queue_size
 * entries (a power of 2). Returns 0 or -EINVAL.
 */
__attribute__((warn_unused_result)) int
virtio_dev_init(struct virtio_dev *dev, const struct virtio_ops *ops, void *opaque,
                const struct guest_mem *mem, uint64_t device_features, unsigned num_queues,
                uint16_t max_queue_size);
/* The transport's interrupt callback (may stay NULL: interrupts are dropped). */
void virtio_dev_set_interrupt(struct virtio_dev *dev,
                              void (*interrupt)(void *transport, unsigned kind, unsigned q),
                              void *transport);

/* Device reset (status 0 written, or machine reset): features, status, queues, device. */
void virtio_dev_reset(struct virtio_dev *dev);

/*
 * A status write from the driver. 0 resets. Bits cannot be cleared other than by reset
 * (-EINVAL, nothing changes); NEEDS_RESET is the device's and is kept. FEATURES_OK is only
 * accepted for features the device offered including VERSION_1, otherwise it stays clear
 * and the driver sees that on reading back (returns -ENOTSUP).
 */
int virtio_dev_set_status(struct virtio_dev *dev, uint8_t status);
/* Driver feature write; refused (-EBUSY) once FEATURES_OK is set. */
int virtio_dev_set_driver_features(struct virtio_dev *dev, uint64_t features);
bool virtio_dev_has_feature(const struct virtio_dev *dev, unsigned bit);
/* DRIVER_OK set and not in the error state: queues may be processed. */
bool virtio_dev_live(const struct virtio_dev *dev);

/* Config space accesses from the transport; out-of-range or odd sizes read 0 / are dropped. */
uint64_t virtio_dev_config_read(struct virtio_dev *dev, uint32_t off, unsigned size);
void virtio_dev_config_write(struct virtio_dev *dev, uint32_t off, uint64_t val, unsigned size);
/* The device changed its config: bump the generation and raise a config interrupt. */
void virtio_dev_config_changed(struct virtio_dev *dev);

/* Queue q for the transport's queue registers, or NULL when q is out of range. */
struct virtqueue *virtio_dev_queue(struct virtio_dev *dev, unsigned q);
/* A driver notification (queue_notify write) for queue q; ignored unless it can be served. */
void virtio_dev_queue_notify(struct virtio_dev *dev, unsigned q);
/* After pushing a batch to queue q: interrupt the driver if it asked for one. */
void virtio_dev_notify_queue(struct virtio_dev *dev, unsigned q);

/*
 * A guest fault: set DEVICE_NEEDS_RESET, count it, log it (rate-limited: at most one line
 * per second per device) and tell a live driver through a config interrupt.
 */
__attribute__((format(printf, 2, 3))) void virtio_dev_set_error(struct virtio_dev *dev,
                                                                const char *fmt, ...);

/*
 * Snapshot sections of the common state: entry 0 is the device's negotiated state (with
 * reset), then one per queue. Fills at most max entries; returns how many there are
 * (1 + num_queues). A device adds its own section after these.
 */
unsigned virtio_dev_state_sections(struct virtio_dev *dev, struct device *out, unsigned max);

/* Common state; post_load refuses features the device does not offer. */
extern const struct vmstate virtio_dev_vmstate;

#endif
