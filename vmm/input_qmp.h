/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * QMP input commands into the PS/2 keyboard and mouse: send-key (keys pressed in order,
 * released in reverse order after hold-time ms) and input-send-event (key, btn, rel, abs
 * events; the mouse events of one command become one PS/2 packet, as in QEMU). Absolute
 * events are turned into relative motion on the display's size (there is no absolute PS/2
 * device); without a display they are refused with QEMU's "Input handler not found" error.
 * Argument shapes follow QEMU's qapi/ui.json. docs/qmp.md.
 */
#ifndef DESKVM_VMM_INPUT_QMP_H
#define DESKVM_VMM_INPUT_QMP_H

#include <jansson.h>
#include <stdint.h>

#include "vmm/clock.h"
#include "vmm/qmp.h"

struct i8042;
struct display;

/* Most keys in one send-key (QEMU has no limit; 16 fill the controller's queue). */
#define INPUT_QMP_MAX_KEYS 16
/* QEMU's absolute axis range (INPUT_EVENT_ABS_MIN/MAX). */
#define INPUT_QMP_ABS_MAX 0x7fff

/*
 * An absolute pointer (the virtio tablet): x, y in 0..INPUT_QMP_ABS_MAX, buttons
 * I8042_BUTTON_*, wheel steps (positive: up). -ENODEV while it cannot take events (no
 * driver yet): the events go to PS/2 instead. Other negative values: dropped.
 */
typedef int input_qmp_abs_fn(void *opaque, unsigned x, unsigned y, unsigned buttons, int wheel);

struct input_qmp {
    struct i8042 *kbd;
    input_qmp_abs_fn *abs; /* NULL: abs events become PS/2 motion */
    void *abs_opaque;
    unsigned tab_x, tab_y;         /* last absolute position sent to it (0..INPUT_QMP_ABS_MAX) */
    const struct display *display; /* for absolute events; NULL: they are refused */
    struct vtimer *release;        /* fires after hold-time */
    uint16_t held[INPUT_QMP_MAX_KEYS];
    unsigned nheld;
    int abs_x, abs_y; /* last absolute position in pixels */
    unsigned buttons; /* I8042_BUTTON_* as last sent */
    uint64_t dropped; /* events the keyboard or mouse could not take */
};

/* kbd and clock must outlive q; display may be NULL. -ENOMEM. */
int input_qmp_init(struct input_qmp *q, struct vclock *clock, struct i8042 *kbd,
                   const struct display *display);
void input_qmp_destroy(struct input_qmp *q);
/* Send input-send-event batches with abs events to an absolute pointer when it takes them. */
void input_qmp_set_abs(struct input_qmp *q, input_qmp_abs_fn *abs, void *opaque);

/* QMP handlers, q as opaque. */
int input_qmp_send_key(struct input_qmp *q, json_t *args, json_t **ret, struct qmp_error *err);
int input_qmp_send_event(struct input_qmp *q, json_t *args, json_t **ret, struct qmp_error *err);

#endif
