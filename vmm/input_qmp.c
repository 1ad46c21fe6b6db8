// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * QMP send-key and input-send-event into the i8042 (vmm/input_qmp.h). Every argument is
 * checked before any event goes out, so a bad command has no effect.
 */
#include "vmm/input_qmp.h"

#include <errno.h>
#include <string.h>

#include "display/keymap.h"
#include "display/surface.h"
#include "io/i8042.h"

static void release_held(struct input_qmp *q)
{
    while (q->nheld) {
        q->nheld--;
        if (!i8042_key(q->kbd, q->held[q->nheld], false)) {
            q->dropped++;
        }
    }
}

static void on_release(void *opaque)
{
    release_held(opaque);
}

void input_qmp_set_abs(struct input_qmp *q, input_qmp_abs_fn *abs, void *opaque)
{
    q->abs = abs;
    q->abs_opaque = opaque;
}

int input_qmp_init(struct input_qmp *q, struct vclock *clock, struct i8042 *kbd,
                   const struct display *display)
{
    memset(q, 0, sizeof(*q));
    q->kbd = kbd;
    q->display = display;
    q->release = vtimer_new(clock, on_release, q);
    return q->release ? 0 : -ENOMEM;
}

void input_qmp_destroy(struct input_qmp *q)
{
    if (q->release) {
        vtimer_free(q->release);
        q->release = NULL;
    }
}

/* A KeyValue: {"type": "qcode", "data": "a"} or {"type": "number", "data": 30}. */
static int key_value(json_t *kv, const char *what, struct qmp_error *err)
{
    const char *type = json_is_object(kv) ? json_string_value(json_object_get(kv, "type")) : NULL;
    json_t *data = json_is_object(kv) ? json_object_get(kv, "data") : NULL;
    if (!type || !data || json_object_size(kv) != 2) {
        qmp_error_set(err, "GenericError",
                      "Invalid parameter type for '%s', expected: KeyValue {type, data}", what);
        return -1;
    }
    int code = -1;
    if (strcmp(type, "qcode") == 0 && json_is_string(data)) {
        code = keymap_qcode_to_set1(json_string_value(data));
        if (code < 0) {
            qmp_error_set(err, "GenericError", "Parameter '%s.data' does not accept value '%.32s'",
                          what, json_string_value(data));
            return -1;
        }
    } else if (strcmp(type, "number") == 0 && json_is_integer(data)) {
        code = keymap_qnum_to_set1(json_integer_value(data));
        if (code < 0) {
            qmp_error_set(err, "GenericError", "Key number %lld has no PC key",
                          (long long)json_integer_value(data));
            return -1;
        }
    } else {
        qmp_error_set(err, "GenericError", "Parameter '%s.type' does not accept value '%.32s'",
                      what, type);
        return -1;
    }
    return code;
}

static int need_keyboard(struct input_qmp *q, struct qmp_error *err)
{
    if (!q->kbd) {
        qmp_error_set(err, "GenericError", "There is no keyboard or mouse");
        return -1;
    }
    return 0;
}

int input_qmp_send_key(struct input_qmp *q, json_t *args, json_t **ret, struct qmp_error *err)
{
    static const char *const known[] = {"keys", "hold-time", NULL};
    int64_t hold_ms = 100;
    if (need_keyboard(q, err) < 0 || qmp_arg_check_known(args, known, err) < 0 ||
        qmp_arg_int(args, "hold-time", &hold_ms, false, err) < 0) {
        return -1;
    }
    json_t *keys = json_object_get(args, "keys");
    if (!keys) {
        qmp_error_set(err, "GenericError", "Parameter 'keys' is missing");
        return -1;
    }
    if (!json_is_array(keys)) {
        qmp_error_set(err, "GenericError", "Invalid parameter type for 'keys', expected: array");
        return -1;
    }
    if (json_array_size(keys) > INPUT_QMP_MAX_KEYS) {
        qmp_error_set(err, "GenericError", "At most %d keys at once", INPUT_QMP_MAX_KEYS);
        return -1;
    }
    if (hold_ms < 0 || hold_ms > 60000) {
        qmp_error_set(err, "GenericError", "Parameter 'hold-time' must be 0 to 60000 ms");
        return -1;
    }
    uint16_t codes[INPUT_QMP_MAX_KEYS];
    size_t n = json_array_size(keys);
    for (size_t i = 0; i < n; i++) {
        int c = key_value(json_array_get(keys, i), "keys", err);
        if (c < 0) {
            return -1;
        }
        codes[i] = (uint16_t)c;
    }
    /* An earlier send-key still holding its keys lets them go first. */
    vtimer_del(q->release);
    release_held(q);
    for (size_t i = 0; i < n; i++) {
        if (!i8042_key(q->kbd, codes[i], true)) {
            q->dropped++;
        }
        q->held[q->nheld++] = codes[i];
    }
    if (hold_ms == 0) {
        release_held(q);
    } else if (q->nheld) {
        vtimer_mod(q->release, vclock_now(q->release->clock) + (uint64_t)hold_ms * 1000000u);
    }
    return 0;
}

struct mouse_batch {
    int dx, dy, dz;
    unsigned buttons;
    bool moved;
    bool abs;        /* an abs event: try the absolute pointer first */
    unsigned ax, ay; /* its position, 0..INPUT_QMP_ABS_MAX */
    int adx, ady;    /* the part of dx, dy that came from abs events */
};

static int btn_event(struct input_qmp *q, json_t *data, bool down, struct mouse_batch *m,
                     struct qmp_error *err)
{
    const char *button = json_string_value(json_object_get(data, "button"));
    if (!button) {
        qmp_error_set(err, "GenericError", "Parameter 'data.button' is missing");
        return -1;
    }
    unsigned bit = 0;
    if (strcmp(button, "left") == 0) {
        bit = I8042_BUTTON_LEFT;
    } else if (strcmp(button, "right") == 0) {
        bit = I8042_BUTTON_RIGHT;
    } else if (strcmp(button, "middle") == 0) {
        bit = I8042_BUTTON_MIDDLE;
    } else if (strcmp(button, "wheel-up") == 0 || strcmp(button, "wheel-down") == 0) {
        if (down) { /* QEMU's PS/2 mouse counts a wheel click on the press */
            m->dz += button[6] == 'u' ? -1 : 1;
            m->moved = true;
        }
        return 0;
    } else if (strcmp(button, "side") == 0 || strcmp(button, "extra") == 0 ||
               strcmp(button, "wheel-left") == 0 || strcmp(button, "wheel-right") == 0) {
        return 0; /* no such button on a PS/2 IntelliMouse, as in QEMU */
    } else {
        qmp_error_set(err, "GenericError", "Parameter 'data.button' does not accept value '%.32s'",
                      button);
        return -1;
    }
    m->buttons = down ? (m->buttons | bit) : (m->buttons & ~bit);
    return 0;
}

static int axis_event(struct input_qmp *q, json_t *data, bool abs, struct mouse_batch *m,
                      struct qmp_error *err)
{
    const char *axis = json_string_value(json_object_get(data, "axis"));
    json_t *value = json_object_get(data, "value");
    if (!axis || !json_is_integer(value)) {
        qmp_error_set(err, "GenericError", "Parameters 'data.axis' and 'data.value' are required");
        return -1;
    }
    bool x = strcmp(axis, "x") == 0;
    if (!x && strcmp(axis, "y") != 0) {
        qmp_error_set(err, "GenericError", "Parameter 'data.axis' does not accept value '%.32s'",
                      axis);
        return -1;
    }
    int64_t v = json_integer_value(value);
    if (!abs) {
        if (v < -65536 || v > 65536) {
            qmp_error_set(err, "GenericError", "Relative motion %lld is out of range",
                          (long long)v);
            return -1;
        }
        *(x ? &m->dx : &m->dy) += (int)v;
        m->moved = true;
        return 0;
    }
    if (v < 0 || v > INPUT_QMP_ABS_MAX) {
        qmp_error_set(err, "GenericError", "Absolute position %lld is out of range 0-%d",
                      (long long)v, INPUT_QMP_ABS_MAX);
        return -1;
    }
    if (!q->display && !q->abs) {
        qmp_error_set(err, "GenericError", "Input handler not found for event type abs");
        return -1;
    }
    m->abs = true;
    *(x ? &m->ax : &m->ay) = (unsigned)v;
    if (q->display) { /* the PS/2 fallback: motion to that pixel */
        unsigned size = x ? q->display->width : q->display->height;
        int pos = (int)((uint64_t)v * (size - 1) / INPUT_QMP_ABS_MAX);
        int *last = x ? &q->abs_x : &q->abs_y;
        *(x ? &m->dx : &m->dy) += pos - *last;
        *(x ? &m->adx : &m->ady) += pos - *last;
        *last = pos;
    }
    m->moved = true;
    return 0;
}

int input_qmp_send_event(struct input_qmp *q, json_t *args, json_t **ret, struct qmp_error *err)
{
    static const char *const known[] = {"device", "head", "events", NULL};
    const char *device = NULL;
    int64_t head = 0;
    if (need_keyboard(q, err) < 0 || qmp_arg_check_known(args, known, err) < 0 ||
        qmp_arg_string(args, "device", &device, false, err) < 0 ||
        qmp_arg_int(args, "head", &head, false, err) < 0) {
        return -1;
    }
    json_t *events = json_object_get(args, "events");
    if (!events) {
        qmp_error_set(err, "GenericError", "Parameter 'events' is missing");
        return -1;
    }
    if (!json_is_array(events) || json_array_size(events) > 64) {
        qmp_error_set(err, "GenericError",
                      "Invalid parameter type for 'events', expected: array of at most 64");
        return -1;
    }
    /* Check everything first: a bad event leaves the guest untouched. */
    struct input_qmp scratch = *q;
    struct mouse_batch m = {.buttons = q->buttons, .ax = q->tab_x, .ay = q->tab_y};
    uint16_t keys[64];
    bool downs[64];
    size_t nkeys = 0;
    size_t i;
    json_t *ev;
    json_array_foreach(events, i, ev)
    {
        const char *type =
            json_is_object(ev) ? json_string_value(json_object_get(ev, "type")) : NULL;
        json_t *data = json_is_object(ev) ? json_object_get(ev, "data") : NULL;
        if (!type || !json_is_object(data)) {
            qmp_error_set(err, "GenericError",
                          "Invalid parameter type for 'events', expected: InputEvent {type, data}");
            return -1;
        }
        json_t *down = json_object_get(data, "down");
        if (strcmp(type, "key") == 0) {
            if (!json_is_boolean(down)) {
                qmp_error_set(err, "GenericError", "Parameter 'data.down' is missing");
                return -1;
            }
            int c = key_value(json_object_get(data, "key"), "data.key", err);
            if (c < 0) {
                return -1;
            }
            keys[nkeys] = (uint16_t)c;
            downs[nkeys++] = json_is_true(down);
        } else if (strcmp(type, "btn") == 0) {
            if (!json_is_boolean(down)) {
                qmp_error_set(err, "GenericError", "Parameter 'data.down' is missing");
                return -1;
            }
            if (btn_event(&scratch, data, json_is_true(down), &m, err) < 0) {
                return -1;
            }
        } else if (strcmp(type, "rel") == 0 || strcmp(type, "abs") == 0) {
            if (axis_event(&scratch, data, type[0] == 'a', &m, err) < 0) {
                return -1;
            }
        } else {
            qmp_error_set(err, "GenericError", "Parameter 'type' does not accept value '%.32s'",
                          type);
            return -1;
        }
    }
    q->abs_x = scratch.abs_x;
    q->abs_y = scratch.abs_y;
    q->dropped = scratch.dropped;
    for (size_t k = 0; k < nkeys; k++) {
        if (!i8042_key(q->kbd, keys[k], downs[k])) {
            q->dropped++;
        }
    }
    if (m.abs && q->abs) {
        /* Absolute: position, buttons and wheel to the tablet; only rel motion stays PS/2. */
        int r = q->abs(q->abs_opaque, m.ax, m.ay, m.buttons, -m.dz);
        if (r != -ENODEV) {
            if (r < 0) {
                q->dropped++;
            }
            q->tab_x = m.ax;
            q->tab_y = m.ay;
            q->buttons = m.buttons;
            int dx = m.dx - m.adx, dy = m.dy - m.ady;
            if ((dx || dy) && !i8042_mouse_event(q->kbd, dx, dy, 0, q->buttons)) {
                q->dropped++;
            }
            return 0;
        }
        if (!q->display) {
            return 0; /* nowhere to go: as QEMU without an absolute handler, dropped */
        }
    }
    if (m.moved || m.buttons != q->buttons) {
        if (!i8042_mouse_event(q->kbd, m.dx, m.dy, m.dz, m.buttons)) {
            q->dropped++;
        }
        q->buttons = m.buttons;
    }
    return 0;
}
