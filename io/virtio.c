// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The transport-independent part of a virtio 1.x device (2 "Basic Facilities of a Virtio
 * Device"): status and feature negotiation rules, config space and its generation, queue
 * notification dispatch, interrupts through the transport, and the error state.
 */
#include "io/virtio.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "vmm/clock.h"
#include "vmm/device.h"

#define LOG_INTERVAL_NS 1000000000ll
/* The bits a driver may write; NEEDS_RESET is the device's, 0x10 and 0x20 are reserved. */
#define STATUS_DRIVER_BITS                                                                         \
    (VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_DRIVER_OK |                  \
     VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_FAILED)

int virtio_dev_init(struct virtio_dev *dev, const struct virtio_ops *ops, void *opaque,
                    const struct guest_mem *mem, uint64_t device_features, unsigned num_queues,
                    uint16_t max_queue_size)
{
    memset(dev, 0, sizeof(*dev));
    if (!ops || num_queues == 0 || num_queues > VIRTIO_QUEUES_MAX || max_queue_size == 0 ||
        max_queue_size > VIRTQ_MAX_SIZE || (max_queue_size & (max_queue_size - 1))) {
        return -EINVAL;
    }
    dev->ops = ops;
    dev->opaque = opaque;
    dev->mem = mem;
    dev->device_features = device_features | VIRTIO_CORE_FEATURES;
    dev->num_queues = num_queues;
    dev->log_last_ns = -LOG_INTERVAL_NS;
    for (unsigned i = 0; i < VIRTIO_QUEUES_MAX; i++) {
        struct virtqueue *vq = &dev->vqs[i];
        vq->dev = dev;
        vq->index = i;
        vq->max_size = max_queue_size;
        snprintf(vq->state_name, sizeof(vq->state_name), "%.20s.q%u",
                 ops->name ? ops->name : "virtio", i);
        virtqueue_reset(vq);
    }
    return 0;
}

void virtio_dev_set_interrupt(struct virtio_dev *dev,
                              void (*interrupt)(void *transport, unsigned kind, unsigned q),
                              void *transport)
{
    dev->interrupt = interrupt;
    dev->transport = transport;
}

void virtio_dev_reset(struct virtio_dev *dev)
{
    dev->driver_features = 0;
    dev->status = 0;
    for (unsigned i = 0; i < VIRTIO_QUEUES_MAX; i++) {
        virtqueue_reset(&dev->vqs[i]);
    }
    if (dev->ops->reset) {
        dev->ops->reset(dev->opaque);
    }
}

static void send_irq(struct virtio_dev *dev, unsigned kind, unsigned q)
{
    if (dev->interrupt) {
        dev->interrupt(dev->transport, kind, q);
    }
}

static bool features_acceptable(const struct virtio_dev *dev, uint64_t f)
{
    /* A driver must not accept what was not offered, and we are a modern device only. */
    return !(f & ~dev->device_features) && (f & VIRTIO_F_BIT(VIRTIO_F_VERSION_1));
}

int virtio_dev_set_status(struct virtio_dev *dev, uint8_t status)
{
    uint8_t old = dev->status;
    if (status == 0) {
        virtio_dev_reset(dev);
        if (dev->ops->set_status) {
            dev->ops->set_status(dev->opaque, old, 0);
        }
        return 0;
    }
    /* guest-controlled: NEEDS_RESET belongs to the device, a write neither sets nor clears it. */
    uint8_t next = (status & STATUS_DRIVER_BITS) | (old & VIRTIO_STATUS_NEEDS_RESET);
    if ((old & ~next) != 0) { /* guest-controlled: only a reset clears bits */
        return -EINVAL;
    }
    int ret = 0;
    if ((next & VIRTIO_STATUS_FEATURES_OK) && !(old & VIRTIO_STATUS_FEATURES_OK) &&
        !features_acceptable(dev, dev->driver_features)) { /* guest-controlled */
        /* The driver reads FEATURES_OK back and gives up on finding it clear. */
        next &= (uint8_t)~VIRTIO_STATUS_FEATURES_OK;
        ret = -ENOTSUP;
    }
    if ((next & VIRTIO_STATUS_DRIVER_OK) && !(next & VIRTIO_STATUS_FEATURES_OK)) {
        /* guest-controlled: a 1.x driver negotiates before it drives queues. */
        next &= (uint8_t)~VIRTIO_STATUS_DRIVER_OK;
        dev->status = next;
        virtio_dev_set_error(dev, "DRIVER_OK without FEATURES_OK");
        return -EINVAL;
    }
    dev->status = next;
    if (dev->ops->set_status && next != old) {
        dev->ops->set_status(dev->opaque, old, next);
    }
    return ret;
}

int virtio_dev_set_driver_features(struct virtio_dev *dev, uint64_t features)
{
    if (dev->status & VIRTIO_STATUS_FEATURES_OK) {
        return -EBUSY;
    }
    dev->driver_features = features;
    return 0;
}

bool virtio_dev_has_feature(const struct virtio_dev *dev, unsigned bit)
{
    return bit < 64 && (dev->driver_features & VIRTIO_F_BIT(bit));
}

bool virtio_dev_live(const struct virtio_dev *dev)
{
    return (dev->status & VIRTIO_STATUS_DRIVER_OK) && !(dev->status & VIRTIO_STATUS_NEEDS_RESET);
}

static bool config_access_ok(const struct virtio_dev *dev, uint32_t off, unsigned size)
{
    /* guest-controlled: offset and width come straight from the transport's register. */
    return (size == 1 || size == 2 || size == 4 || size == 8) && off <= dev->ops->config_size &&
           size <= dev->ops->config_size - off;
}

uint64_t virtio_dev_config_read(struct virtio_dev *dev, uint32_t off, unsigned size)
{
    if (!config_access_ok(dev, off, size) || !dev->ops->config_read) {
        return 0;
    }
    return dev->ops->config_read(dev->opaque, off, size);
}

void virtio_dev_config_write(struct virtio_dev *dev, uint32_t off, uint64_t val, unsigned size)
{
    if (!config_access_ok(dev, off, size) || !dev->ops->config_write) {
        return;
    }
    dev->ops->config_write(dev->opaque, off, val, size);
}

void virtio_dev_config_changed(struct virtio_dev *dev)
{
    dev->config_generation++;
    if (dev->status & VIRTIO_STATUS_DRIVER_OK) {
        send_irq(dev, VIRTIO_IRQ_CONFIG, 0);
    }
}

struct virtqueue *virtio_dev_queue(struct virtio_dev *dev, unsigned q)
{
    if (q >= dev->num_queues) { /* guest-controlled */
        return NULL;
    }
    return &dev->vqs[q];
}

void virtio_dev_queue_notify(struct virtio_dev *dev, unsigned q)
{
    if (q >= dev->num_queues) { /* guest-controlled */
        return;
    }
    if (!virtio_dev_live(dev) || !virtqueue_is_ready(&dev->vqs[q]) || !dev->ops->queue_notify) {
        return;
    }
    dev->ops->queue_notify(dev->opaque, q);
}

void virtio_dev_notify_queue(struct virtio_dev *dev, unsigned q)
{
    if (q >= dev->num_queues) {
        return;
    }
    if (virtqueue_notify_needed(&dev->vqs[q])) {
        send_irq(dev, VIRTIO_IRQ_QUEUE, q);
    }
}

void virtio_dev_set_error(struct virtio_dev *dev, const char *fmt, ...)
{
    bool first = !(dev->status & VIRTIO_STATUS_NEEDS_RESET);
    dev->error_count++;
    dev->status |= VIRTIO_STATUS_NEEDS_RESET;

    /* A hostile guest can fault in a loop: one line per second per device is enough. */
    int64_t t = (int64_t)host_now_ns();
    if (dev->quiet) {
        dev->log_suppressed++;
    } else if (t - dev->log_last_ns >= LOG_INTERVAL_NS) {
        char msg[256];
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        fprintf(stderr, "%s: guest error, device needs reset: %s", dev->ops->name, msg);
        if (dev->log_suppressed) {
            fprintf(stderr, " (%llu more suppressed)", (unsigned long long)dev->log_suppressed);
        }
        fputc('\n', stderr);
        dev->log_last_ns = t;
        dev->log_suppressed = 0;
    } else {
        dev->log_suppressed++;
    }
    /* "Device Status Field": a live driver learns about NEEDS_RESET through a config change
     * notification. */
    if (first && (dev->status & VIRTIO_STATUS_DRIVER_OK)) {
        send_irq(dev, VIRTIO_IRQ_CONFIG, 0);
    }
}

static int virtio_dev_post_load(void *opaque)
{
    struct virtio_dev *dev = opaque;
    /* Saved state is hostile input: what was negotiated must still be on offer. */
    if (dev->driver_features & ~dev->device_features) {
        return -EINVAL;
    }
    if ((dev->status & VIRTIO_STATUS_FEATURES_OK) &&
        !features_acceptable(dev, dev->driver_features)) {
        return -EINVAL;
    }
    if ((dev->status & VIRTIO_STATUS_DRIVER_OK) && !(dev->status & VIRTIO_STATUS_FEATURES_OK)) {
        return -EINVAL;
    }
    if (dev->status & ~(STATUS_DRIVER_BITS | VIRTIO_STATUS_NEEDS_RESET)) {
        return -EINVAL;
    }
    return 0;
}

static const struct vmstate_field virtio_dev_fields[] = {
    VMSTATE_FIELD(struct virtio_dev, driver_features),
    VMSTATE_FIELD(struct virtio_dev, status),
    VMSTATE_FIELD(struct virtio_dev, config_generation),
    VMSTATE_END,
};

const struct vmstate virtio_dev_vmstate = {
    .name = "virtio",
    .version = 1,
    .fields = virtio_dev_fields,
    .post_load = virtio_dev_post_load,
};

static void reset_adapter(void *opaque)
{
    virtio_dev_reset(opaque);
}

unsigned virtio_dev_state_sections(struct virtio_dev *dev, struct device *out, unsigned max)
{
    unsigned n = 1 + dev->num_queues;
    if (max > 0) {
        out[0] = (struct device){
            .name = dev->ops->name,
            .opaque = dev,
            .reset = reset_adapter,
            .state = &virtio_dev_vmstate,
        };
    }
    for (unsigned i = 0; i < dev->num_queues && i + 1 < max; i++) {
        out[i + 1] = (struct device){
            .name = dev->vqs[i].state_name,
            .opaque = &dev->vqs[i],
            .state = &virtqueue_vmstate,
        };
    }
    return n;
}
