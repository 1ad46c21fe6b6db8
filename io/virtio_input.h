/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * virtio-input (virtio 1.x 5.8, device id 18): a keyboard or a tablet (absolute pointer)
 * that hands evdev events (type, code, value) to the driver through buffers it posts on the
 * event queue, and describes itself through the select/subsel config window (name, serial,
 * device ids, event bits, absolute axis info). docs/display.md.
 */
#ifndef DESKVM_IO_VIRTIO_INPUT_H
#define DESKVM_IO_VIRTIO_INPUT_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include "io/virtio.h"

struct device;
struct guest_mem;

#define VIRTIO_ID_INPUT 18
#define VIRTIO_INPUT_EVENTQ 0
#define VIRTIO_INPUT_STATUSQ 1
#define VIRTIO_INPUT_QUEUE_SIZE 64

/* Config selectors (5.8.5). */
#define VIRTIO_INPUT_CFG_UNSET 0x00
#define VIRTIO_INPUT_CFG_ID_NAME 0x01
#define VIRTIO_INPUT_CFG_ID_SERIAL 0x02
#define VIRTIO_INPUT_CFG_ID_DEVIDS 0x03
#define VIRTIO_INPUT_CFG_PROP_BITS 0x10
#define VIRTIO_INPUT_CFG_EV_BITS 0x11
#define VIRTIO_INPUT_CFG_ABS_INFO 0x12
#define VIRTIO_INPUT_CONFIG_SIZE 136

/* evdev (linux/input-event-codes.h). */
#define EV_SYN 0x00
#define EV_KEY 0x01
#define EV_REL 0x02
#define EV_ABS 0x03
#define EV_LED 0x11
#define EV_REP 0x14
#define SYN_REPORT 0
#define ABS_X 0x00
#define ABS_Y 0x01
#define REL_WHEEL 0x08
#define BTN_LEFT 0x110
#define BTN_RIGHT 0x111
#define BTN_MIDDLE 0x112
#define LED_NUML 0
#define LED_CAPSL 1
#define LED_SCROLLL 2

/* The tablet's axes run 0..VIRTIO_INPUT_ABS_MAX whatever the screen size (as QEMU's). */
#define VIRTIO_INPUT_ABS_MAX 0x7fff
/* Events waiting for event buffers; more are dropped (and counted). */
#define VIRTIO_INPUT_PENDING 256
#define VIRTIO_INPUT_MAX_IOV 4

enum virtio_input_kind {
    VIRTIO_INPUT_KEYBOARD,
    VIRTIO_INPUT_TABLET,
};

struct virtio_input_event {
    uint16_t type, code;
    uint32_t value;
};

struct virtio_input {
    struct virtio_dev vdev;
    enum virtio_input_kind kind;
    uint8_t select, subsel; /* the config window */
    struct virtio_input_event pending[VIRTIO_INPUT_PENDING];
    unsigned pending_head, npending;
    unsigned buttons; /* tablet: VIRTIO_INPUT_BUTTON_* held */
    uint32_t leds;    /* keyboard: LED state the driver sent on the status queue */
    uint64_t events_sent, events_dropped, status_events;
    struct iovec rd_iov[VIRTIO_INPUT_MAX_IOV];
    struct iovec wr_iov[VIRTIO_INPUT_MAX_IOV];
};

#define VIRTIO_INPUT_BUTTON_LEFT 1
#define VIRTIO_INPUT_BUTTON_MIDDLE 2
#define VIRTIO_INPUT_BUTTON_RIGHT 4

__attribute__((warn_unused_result)) int virtio_input_init(struct virtio_input *in,
                                                          const struct guest_mem *mem,
                                                          enum virtio_input_kind kind);
/* The driver is up and can take events (the VNC server routes input here, else to PS/2). */
bool virtio_input_ready(const struct virtio_input *in);
/*
 * Queue events and deliver what the posted buffers take. A batch that does not fit the
 * pending queue is dropped whole (counted), never half-delivered. 0 or -ENOSPC.
 */
int virtio_input_send(struct virtio_input *in, const struct virtio_input_event *ev, unsigned n);
/* Keyboard: evdev key code pressed or released, then SYN_REPORT. */
int virtio_input_key(struct virtio_input *in, unsigned code, bool down);
/*
 * Tablet: pointer at (x, y) of a w x h screen (scaled to 0..VIRTIO_INPUT_ABS_MAX), buttons
 * (VIRTIO_INPUT_BUTTON_*; changes become key events), wheel steps (positive: up), SYN_REPORT.
 */
int virtio_input_pointer(struct virtio_input *in, unsigned x, unsigned y, unsigned w, unsigned h,
                         unsigned buttons, int wheel);
/* Snapshot sections: the common ones, then the config window and button state. */
unsigned virtio_input_state_sections(struct virtio_input *in, struct device *out, unsigned max);

#endif
