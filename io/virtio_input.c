// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * virtio-input (virtio 1.x 5.8): the keyboard and the tablet. Host input becomes evdev
 * events in a bounded pending queue that drains into the buffers the driver posts on the
 * event queue, eight bytes each; a batch (ending in SYN_REPORT) is queued whole or dropped
 * whole, so the guest never sees half a report. The status queue carries LED changes back.
 */
#include "io/virtio_input.h"

#include <errno.h>
#include <stddef.h>
#include <string.h>

#include "vmm/device.h"

#define BUS_VIRTUAL 0x06
#define DEVIDS_VENDOR 0x0627 /* the vendor id QEMU's virtio-input devices report */

static void bit_set(uint8_t *map, unsigned bit)
{
    map[bit / 8] |= (uint8_t)(1u << (bit % 8));
}

/* The config window for the current select/subsel: 8 header bytes then the payload. */
static void config_image(const struct virtio_input *in, uint8_t cfg[VIRTIO_INPUT_CONFIG_SIZE])
{
    uint8_t *u = cfg + 8;
    unsigned size = 0;
    bool kbd = in->kind == VIRTIO_INPUT_KEYBOARD;
    memset(cfg, 0, VIRTIO_INPUT_CONFIG_SIZE);
    cfg[0] = in->select;
    cfg[1] = in->subsel;
    switch (in->select) {
    case VIRTIO_INPUT_CFG_ID_NAME:
        if (in->subsel == 0) {
            const char *name = kbd ? "deskvm virtio keyboard" : "deskvm virtio tablet";
            size = (unsigned)strlen(name);
            memcpy(u, name, size);
        }
        break;
    case VIRTIO_INPUT_CFG_ID_SERIAL:
        if (in->subsel == 0) {
            size = 4;
            memcpy(u, "0001", size);
        }
        break;
    case VIRTIO_INPUT_CFG_ID_DEVIDS:
        if (in->subsel == 0) {
            uint16_t ids[4] = {BUS_VIRTUAL, DEVIDS_VENDOR, kbd ? 1 : 3, 1};
            size = sizeof(ids);
            memcpy(u, ids, size);
        }
        break;
    case VIRTIO_INPUT_CFG_EV_BITS:
        if (kbd && in->subsel == EV_KEY) {
            for (unsigned k = 1; k < 128; k++) { /* KEY_ESC .. KEY_COMPOSE: display/keymap.c */
                bit_set(u, k);
            }
            size = 16;
        } else if (kbd && in->subsel == EV_LED) {
            bit_set(u, LED_NUML);
            bit_set(u, LED_CAPSL);
            bit_set(u, LED_SCROLLL);
            size = 1;
        } else if (!kbd && in->subsel == EV_KEY) {
            bit_set(u, BTN_LEFT);
            bit_set(u, BTN_RIGHT);
            bit_set(u, BTN_MIDDLE);
            size = BTN_MIDDLE / 8 + 1;
        } else if (!kbd && in->subsel == EV_REL) {
            bit_set(u, REL_WHEEL);
            size = 2;
        } else if (!kbd && in->subsel == EV_ABS) {
            bit_set(u, ABS_X);
            bit_set(u, ABS_Y);
            size = 1;
        }
        break;
    case VIRTIO_INPUT_CFG_ABS_INFO:
        if (!kbd && (in->subsel == ABS_X || in->subsel == ABS_Y)) {
            uint32_t abs[5] = {0, VIRTIO_INPUT_ABS_MAX, 0, 0, 0}; /* min max fuzz flat res */
            size = sizeof(abs);
            memcpy(u, abs, size);
        }
        break;
    default: /* UNSET, PROP_BITS (none) and unknown selectors: size 0 */
        break;
    }
    cfg[2] = (uint8_t)size;
}

static uint64_t input_config_read(void *opaque, uint32_t off, unsigned size)
{
    uint8_t cfg[VIRTIO_INPUT_CONFIG_SIZE];
    uint64_t v = 0;
    config_image(opaque, cfg);
    memcpy(&v, cfg + off, size); /* the core checked off + size */
    return v;
}

static void input_config_write(void *opaque, uint32_t off, uint64_t val, unsigned size)
{
    struct virtio_input *in = opaque;
    /* guest-controlled: only select and subsel are writable; any value reads back size 0 */
    for (unsigned i = 0; i < size; i++) {
        uint8_t b = (uint8_t)(val >> (8 * i));
        if (off + i == 0) {
            in->select = b;
        } else if (off + i == 1) {
            in->subsel = b;
        }
    }
}

/* Move pending events into posted event buffers. */
static void flush_events(struct virtio_input *in)
{
    struct virtqueue *vq = &in->vdev.vqs[VIRTIO_INPUT_EVENTQ];
    struct virtq_elem elem = {.rd = in->rd_iov,
                              .rd_max = VIRTIO_INPUT_MAX_IOV,
                              .wr = in->wr_iov,
                              .wr_max = VIRTIO_INPUT_MAX_IOV};
    bool pushed = false;
    if (!virtio_dev_live(&in->vdev) || !virtqueue_is_ready(vq)) {
        return;
    }
    while (in->npending && virtqueue_pop(vq, &elem) > 0) {
        const struct virtio_input_event *ev = &in->pending[in->pending_head];
        /* guest-controlled: an event buffer holds a whole event */
        if (elem.wr_len < sizeof(*ev)) {
            virtio_dev_set_error(&in->vdev, "%s: event buffer of %llu bytes", in->vdev.ops->name,
                                 (unsigned long long)elem.wr_len);
            virtqueue_push(vq, &elem, 0);
            pushed = true;
            break;
        }
        virtq_elem_write(&elem, 0, ev, sizeof(*ev));
        virtqueue_push(vq, &elem, sizeof(*ev));
        pushed = true;
        in->pending_head = (in->pending_head + 1) % VIRTIO_INPUT_PENDING;
        in->npending--;
        in->events_sent++;
    }
    if (pushed) {
        virtio_dev_notify_queue(&in->vdev, VIRTIO_INPUT_EVENTQ);
    }
}

static void drain_status(struct virtio_input *in)
{
    struct virtqueue *vq = &in->vdev.vqs[VIRTIO_INPUT_STATUSQ];
    struct virtq_elem elem = {.rd = in->rd_iov,
                              .rd_max = VIRTIO_INPUT_MAX_IOV,
                              .wr = in->wr_iov,
                              .wr_max = VIRTIO_INPUT_MAX_IOV};
    bool pushed = false;
    while (virtqueue_pop(vq, &elem) > 0) {
        struct virtio_input_event ev;
        /* guest-controlled: short status events are ignored, as unknown ones are */
        if (virtq_elem_read(&elem, 0, &ev, sizeof(ev)) == sizeof(ev)) {
            in->status_events++;
            if (ev.type == EV_LED && ev.code < 32) {
                in->leds = ev.value ? in->leds | 1u << ev.code : in->leds & ~(1u << ev.code);
            }
        }
        virtqueue_push(vq, &elem, 0);
        pushed = true;
    }
    if (pushed) {
        virtio_dev_notify_queue(&in->vdev, VIRTIO_INPUT_STATUSQ);
    }
}

static void input_queue_notify(void *opaque, unsigned q)
{
    struct virtio_input *in = opaque;
    if (q == VIRTIO_INPUT_EVENTQ) {
        flush_events(in);
    } else if (q == VIRTIO_INPUT_STATUSQ) {
        drain_status(in);
    }
}

static void input_reset(void *opaque)
{
    struct virtio_input *in = opaque;
    in->select = in->subsel = 0;
    in->npending = in->pending_head = 0;
    in->buttons = 0;
    in->leds = 0;
}

static const struct virtio_ops keyboard_ops = {
    .name = "virtio-keyboard",
    .device_id = VIRTIO_ID_INPUT,
    .config_size = VIRTIO_INPUT_CONFIG_SIZE,
    .config_read = input_config_read,
    .config_write = input_config_write,
    .queue_notify = input_queue_notify,
    .reset = input_reset,
};

static const struct virtio_ops tablet_ops = {
    .name = "virtio-tablet",
    .device_id = VIRTIO_ID_INPUT,
    .config_size = VIRTIO_INPUT_CONFIG_SIZE,
    .config_read = input_config_read,
    .config_write = input_config_write,
    .queue_notify = input_queue_notify,
    .reset = input_reset,
};

int virtio_input_init(struct virtio_input *in, const struct guest_mem *mem,
                      enum virtio_input_kind kind)
{
    memset(in, 0, sizeof(*in));
    if (kind != VIRTIO_INPUT_KEYBOARD && kind != VIRTIO_INPUT_TABLET) {
        return -EINVAL;
    }
    in->kind = kind;
    return virtio_dev_init(&in->vdev, kind == VIRTIO_INPUT_KEYBOARD ? &keyboard_ops : &tablet_ops,
                           in, mem, 0, 2, VIRTIO_INPUT_QUEUE_SIZE);
}

bool virtio_input_ready(const struct virtio_input *in)
{
    return virtio_dev_live(&in->vdev) && virtqueue_is_ready(&in->vdev.vqs[VIRTIO_INPUT_EVENTQ]);
}

int virtio_input_send(struct virtio_input *in, const struct virtio_input_event *ev, unsigned n)
{
    if (n > VIRTIO_INPUT_PENDING - in->npending) {
        in->events_dropped += n;
        return -ENOSPC;
    }
    for (unsigned i = 0; i < n; i++) {
        in->pending[(in->pending_head + in->npending) % VIRTIO_INPUT_PENDING] = ev[i];
        in->npending++;
    }
    flush_events(in);
    return 0;
}

int virtio_input_key(struct virtio_input *in, unsigned code, bool down)
{
    struct virtio_input_event ev[2] = {{EV_KEY, (uint16_t)code, down ? 1 : 0},
                                       {EV_SYN, SYN_REPORT, 0}};
    return virtio_input_send(in, ev, 2);
}

int virtio_input_pointer(struct virtio_input *in, unsigned x, unsigned y, unsigned w, unsigned h,
                         unsigned buttons, int wheel)
{
    static const struct {
        unsigned bit;
        uint16_t code;
    } map[] = {{VIRTIO_INPUT_BUTTON_LEFT, BTN_LEFT},
               {VIRTIO_INPUT_BUTTON_MIDDLE, BTN_MIDDLE},
               {VIRTIO_INPUT_BUTTON_RIGHT, BTN_RIGHT}};
    struct virtio_input_event ev[8];
    unsigned n = 0;
    /* The last pixel maps to the axis maximum, as QEMU's tablet does. */
    uint32_t ax =
        w > 1 ? (uint32_t)((uint64_t)(x < w ? x : w - 1) * VIRTIO_INPUT_ABS_MAX / (w - 1)) : 0;
    uint32_t ay =
        h > 1 ? (uint32_t)((uint64_t)(y < h ? y : h - 1) * VIRTIO_INPUT_ABS_MAX / (h - 1)) : 0;
    ev[n++] = (struct virtio_input_event){EV_ABS, ABS_X, ax};
    ev[n++] = (struct virtio_input_event){EV_ABS, ABS_Y, ay};
    for (unsigned i = 0; i < 3; i++) {
        if ((buttons ^ in->buttons) & map[i].bit) {
            ev[n++] =
                (struct virtio_input_event){EV_KEY, map[i].code, buttons & map[i].bit ? 1 : 0};
        }
    }
    if (wheel) {
        ev[n++] = (struct virtio_input_event){EV_REL, REL_WHEEL, (uint32_t)wheel};
    }
    ev[n++] = (struct virtio_input_event){EV_SYN, SYN_REPORT, 0};
    int r = virtio_input_send(in, ev, n);
    if (r == 0) {
        in->buttons = buttons & 7;
    }
    return r;
}

static int input_post_load(void *opaque)
{
    struct virtio_input *in = opaque;
    return in->buttons > 7 ? -EINVAL : 0;
}

static const struct vmstate_field input_fields[] = {
    VMSTATE_FIELD(struct virtio_input, select),
    VMSTATE_FIELD(struct virtio_input, subsel),
    VMSTATE_FIELD(struct virtio_input, buttons),
    VMSTATE_FIELD(struct virtio_input, leds),
    VMSTATE_END,
};

static const struct vmstate input_vmstate = {
    .name = "virtio-input",
    .version = 1,
    .fields = input_fields,
    .post_load = input_post_load,
};

unsigned virtio_input_state_sections(struct virtio_input *in, struct device *out, unsigned max)
{
    unsigned n = virtio_dev_state_sections(&in->vdev, out, max);
    if (n < max) {
        out[n] = (struct device){.name = in->vdev.ops->name, .opaque = in, .state = &input_vmstate};
    }
    return n + 1;
}
