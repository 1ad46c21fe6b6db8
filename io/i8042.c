// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * i8042 keyboard controller model (IBM PC/AT Technical Reference, keyboard controller
 * commands; PS/2 keyboard command set). Bytes from the controller, the keyboard and the
 * aux port share one small output queue; each is delivered through the single output
 * buffer when its interface is enabled. See docs/devices-legacy.md.
 */
#include "io/i8042.h"

#include <errno.h>
#include <string.h>

#include "vmm/device.h"

#define STAT_OBF 0x01
#define STAT_SYS 0x04
#define STAT_A2 0x08 /* last write went to the command port */
#define STAT_UNLOCKED 0x10
#define STAT_AUXB 0x20

#define CMD_KBD_INT 0x01
#define CMD_AUX_INT 0x02
#define CMD_SYS 0x04
#define CMD_KBD_DISABLE 0x10
#define CMD_AUX_DISABLE 0x20
#define CMD_XLATE 0x40

#define OUT_RESET 0x01 /* 1: CPU running; 0 resets it */
#define OUT_A20 0x02
#define OUT_KBD_OBF 0x10
#define OUT_AUX_OBF 0x20
#define OUT_DEFAULT 0xcf /* not in reset, A20 on, unused lines high */

#define KBD_ACK 0xfa
#define KBD_RESEND 0xfe
#define KBD_BAT_OK 0xaa

enum { SRC_CTRL = 0, SRC_KBD = 1, SRC_AUX = 2, SRC_COUNT };

static bool deliverable(const struct i8042 *k, unsigned i)
{
    switch (k->q_src[i]) {
    case SRC_KBD:
        return !(k->ram[0] & CMD_KBD_DISABLE);
    case SRC_AUX:
        return !(k->ram[0] & CMD_AUX_DISABLE);
    default:
        return true;
    }
}

/*
 * The byte in the output buffer: the oldest one whose interface is enabled, so keystrokes
 * held back by a disabled keyboard never block controller replies.
 */
static int output_index(const struct i8042 *k)
{
    for (unsigned i = 0; i < k->q_count; i++) {
        if (deliverable(k, i)) {
            return (int)i;
        }
    }
    return -1;
}

static void update_irq(struct i8042 *k, bool force)
{
    int i = output_index(k);
    bool aux = i >= 0 && k->q_src[i] == SRC_AUX;
    bool kbd_level = i >= 0 && !aux && (k->ram[0] & CMD_KBD_INT);
    bool aux_level = aux && (k->ram[0] & CMD_AUX_INT);
    if (force || kbd_level != k->kbd_level) {
        k->kbd_level = kbd_level;
        irq_set(&k->kbd_irq, kbd_level);
    }
    if (force || aux_level != k->aux_level) {
        k->aux_level = aux_level;
        irq_set(&k->aux_irq, aux_level);
    }
}

static void queue_remove(struct i8042 *k, unsigned i)
{
    memmove(&k->q_data[i], &k->q_data[i + 1], k->q_count - i - 1);
    memmove(&k->q_src[i], &k->q_src[i + 1], k->q_count - i - 1);
    k->q_count--;
}

/* Append one byte; a full queue drops it, as a keyboard's buffer overflows. */
static bool queue_push(struct i8042 *k, uint8_t byte, uint8_t src)
{
    if (k->q_count >= I8042_QUEUE_SIZE) {
        return false;
    }
    k->q_data[k->q_count] = byte;
    k->q_src[k->q_count] = src;
    k->q_count++;
    return true;
}

/* A controller reply goes ahead of device bytes: the guest reads it next. */
static void ctrl_reply(struct i8042 *k, uint8_t byte)
{
    if (k->q_count >= I8042_QUEUE_SIZE) {
        k->q_count--; /* the newest device byte gives way */
    }
    memmove(&k->q_data[1], &k->q_data[0], k->q_count);
    memmove(&k->q_src[1], &k->q_src[0], k->q_count);
    k->q_data[0] = byte;
    k->q_src[0] = SRC_CTRL;
    k->q_count++;
}

static void kbd_send(struct i8042 *k, uint8_t byte)
{
    queue_push(k, byte, SRC_KBD);
    k->kbd_last_sent = byte;
}

/* A keyboard clears its output buffer when the host sends it a command. */
static void kbd_flush(struct i8042 *k)
{
    for (unsigned i = k->q_count; i-- > 0;) {
        if (k->q_src[i] == SRC_KBD) {
            queue_remove(k, i);
        }
    }
}

static void kbd_defaults(struct i8042 *k)
{
    k->kbd_set = 2;
    k->kbd_leds = 0;
    k->kbd_pending = 0;
}

static void kbd_argument(struct i8042 *k, uint8_t cmd, uint8_t val)
{
    switch (cmd) {
    case 0xed: /* set LEDs */
        k->kbd_leds = val & 0x07;
        kbd_send(k, KBD_ACK);
        break;
    case 0xf0: /* get/set scancode set */
        if (val == 0) {
            kbd_send(k, KBD_ACK);
            kbd_send(k, k->kbd_set);
        } else if (val <= 3) { /* guest-controlled: only sets 1-3 exist */
            k->kbd_set = val;
            kbd_send(k, KBD_ACK);
        } else {
            kbd_send(k, KBD_RESEND);
        }
        break;
    default: /* 0xf3 typematic rate: accepted, not modelled */
        kbd_send(k, KBD_ACK);
        break;
    }
}

static void kbd_write(struct i8042 *k, uint8_t val)
{
    if (k->kbd_pending) {
        uint8_t cmd = k->kbd_pending;
        k->kbd_pending = 0;
        /* No flush here: the host may not have read the command's ACK yet. */
        kbd_argument(k, cmd, val);
        return;
    }
    if (val == 0xfe) { /* resend: the last byte again, buffer untouched */
        kbd_send(k, k->kbd_last_sent);
        return;
    }
    kbd_flush(k);
    switch (val) {
    case 0xed:
    case 0xf0:
    case 0xf3:
        k->kbd_pending = val;
        kbd_send(k, KBD_ACK);
        break;
    case 0xee: /* echo */
        kbd_send(k, 0xee);
        break;
    case 0xf2: /* identify: MF2 keyboard */
        kbd_send(k, KBD_ACK);
        kbd_send(k, 0xab);
        kbd_send(k, 0x83);
        break;
    case 0xf4:
        k->kbd_scanning = 1;
        kbd_send(k, KBD_ACK);
        break;
    case 0xf5:
        kbd_defaults(k);
        k->kbd_scanning = 0;
        kbd_send(k, KBD_ACK);
        break;
    case 0xf6:
        kbd_defaults(k);
        kbd_send(k, KBD_ACK);
        break;
    case 0xf7:
    case 0xf8:
    case 0xf9:
    case 0xfa:
    case 0xfb:
    case 0xfc:
    case 0xfd: /* set-3 key attributes: accepted, not modelled */
        kbd_send(k, KBD_ACK);
        break;
    case 0xff: /* reset and self test (BAT) */
        kbd_defaults(k);
        k->kbd_scanning = 1;
        kbd_send(k, KBD_ACK);
        kbd_send(k, KBD_BAT_OK);
        break;
    default: /* guest-controlled: anything else is refused */
        kbd_send(k, KBD_RESEND);
        break;
    }
}

/* The aux device acknowledges everything; reset and identify answer like a plain mouse. */
static void aux_write(struct i8042 *k, uint8_t val)
{
    queue_push(k, KBD_ACK, SRC_AUX);
    if (val == 0xff) {
        queue_push(k, KBD_BAT_OK, SRC_AUX);
        queue_push(k, 0x00, SRC_AUX);
    } else if (val == 0xf2) {
        queue_push(k, 0x00, SRC_AUX);
    }
}

static uint8_t read_outport(const struct i8042 *k)
{
    int i = output_index(k);
    uint8_t v = k->outport & (uint8_t) ~(OUT_KBD_OBF | OUT_AUX_OBF);
    if (i >= 0) {
        v |= k->q_src[i] == SRC_AUX ? OUT_AUX_OBF : OUT_KBD_OBF;
    }
    return v;
}

static void reset_cpu(struct i8042 *k)
{
    /* Called last in a handler: the machine may reset this device from the callback. */
    if (k->on_reset) {
        k->on_reset(k->opaque);
    }
}

static uint64_t data_read(void *opaque, uint64_t off, unsigned size)
{
    struct i8042 *k = opaque;
    int i = output_index(k);
    if (i < 0) {
        return k->last_out; /* an empty buffer reads as the last byte */
    }
    k->last_out = k->q_data[i];
    queue_remove(k, i);
    /*
     * Drop the line before raising it for the next byte: IRQ1 and IRQ12 are edge-triggered
     * on a PC, and each byte needs its own edge.
     */
    if (k->kbd_level || k->aux_level) {
        k->kbd_level = k->aux_level = false;
        irq_set(&k->kbd_irq, false);
        irq_set(&k->aux_irq, false);
    }
    update_irq(k, false);
    return k->last_out;
}

static void data_write(void *opaque, uint64_t off, uint64_t val64, unsigned size)
{
    struct i8042 *k = opaque;
    uint8_t val = (uint8_t)val64;
    uint8_t cmd = k->pending;
    k->pending = 0;
    k->status &= (uint8_t)~STAT_A2;

    if (cmd >= 0x60 && cmd <= 0x7f) { /* write controller RAM */
        k->ram[cmd & 0x1f] = val;
        if (cmd == 0x60) {
            k->status = (uint8_t)((k->status & ~STAT_SYS) | (val & CMD_SYS));
        }
    } else if (cmd == 0xd1) { /* write output port */
        k->outport = val;
        update_irq(k, false);
        if (!(val & OUT_RESET)) {
            reset_cpu(k);
        }
        return;
    } else if (cmd == 0xd2) { /* write keyboard output buffer */
        queue_push(k, val, SRC_KBD);
    } else if (cmd == 0xd3) { /* write aux output buffer */
        queue_push(k, val, SRC_AUX);
    } else if (cmd == 0xd4) { /* write to the aux device */
        k->ram[0] &= (uint8_t)~CMD_AUX_DISABLE;
        aux_write(k, val);
    } else {
        /* Sending to the keyboard enables its interface, as on the real controller. */
        k->ram[0] &= (uint8_t)~CMD_KBD_DISABLE;
        kbd_write(k, val);
    }
    update_irq(k, false);
}

static uint64_t ctrl_read(void *opaque, uint64_t off, unsigned size)
{
    struct i8042 *k = opaque;
    int i = output_index(k);
    uint8_t st = (k->status & (STAT_SYS | STAT_A2)) | STAT_UNLOCKED;
    if (i >= 0) {
        st |= STAT_OBF;
        if (k->q_src[i] == SRC_AUX) {
            st |= STAT_AUXB;
        }
    }
    return st;
}

static void ctrl_write(void *opaque, uint64_t off, uint64_t val64, unsigned size)
{
    struct i8042 *k = opaque;
    uint8_t val = (uint8_t)val64;
    k->status |= STAT_A2;
    k->pending = 0; /* a new command abandons one still waiting for data */

    /* guest-controlled: every command byte is decoded below; unknown ones are ignored */
    if (val >= 0x20 && val <= 0x3f) {
        ctrl_reply(k, k->ram[val & 0x1f]);
    } else if ((val >= 0x60 && val <= 0x7f) || (val >= 0xd1 && val <= 0xd4)) {
        k->pending = val;
    } else if (val >= 0xf0) {
        /* Pulse output lines whose bit is 0; line 0 is the CPU reset. */
        if (!(val & 0x01)) {
            update_irq(k, false);
            reset_cpu(k);
            return;
        }
    } else {
        switch (val) {
        case 0xa7:
            k->ram[0] |= CMD_AUX_DISABLE;
            break;
        case 0xa8:
            k->ram[0] &= (uint8_t)~CMD_AUX_DISABLE;
            break;
        case 0xa9: /* aux interface test: no error */
            ctrl_reply(k, 0x00);
            break;
        case 0xaa: /* controller self test: passed, and the system flag is set */
            k->status |= STAT_SYS;
            ctrl_reply(k, 0x55);
            break;
        case 0xab: /* keyboard interface test: no error */
            ctrl_reply(k, 0x00);
            break;
        case 0xad:
            k->ram[0] |= CMD_KBD_DISABLE;
            break;
        case 0xae:
            k->ram[0] &= (uint8_t)~CMD_KBD_DISABLE;
            break;
        case 0xd0:
            ctrl_reply(k, read_outport(k));
            break;
        case 0xdd:
            k->outport &= (uint8_t)~OUT_A20;
            break;
        case 0xdf:
            k->outport |= OUT_A20;
            break;
        default:
            break;
        }
    }
    update_irq(k, false);
}

const struct bus_ops i8042_data_ops = {
    .read = data_read,
    .write = data_write,
    .min_size = 1,
    .max_size = 1,
};

const struct bus_ops i8042_ctrl_ops = {
    .read = ctrl_read,
    .write = ctrl_write,
    .min_size = 1,
    .max_size = 1,
};

bool i8042_key_event(struct i8042 *k, const uint8_t *scancode_bytes, size_t n)
{
    /* A partial scancode sequence would confuse the guest: all of it or nothing. */
    if (!k->kbd_scanning || n == 0 || n > (size_t)(I8042_QUEUE_SIZE - k->q_count)) {
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        queue_push(k, scancode_bytes[i], SRC_KBD);
    }
    update_irq(k, false);
    return true;
}

bool i8042_a20_enabled(const struct i8042 *k)
{
    return k->outport & OUT_A20;
}

bool i8042_translating(const struct i8042 *k)
{
    return k->ram[0] & CMD_XLATE;
}

void i8042_reset(struct i8042 *k)
{
    memset(k->ram, 0, sizeof(k->ram));
    k->ram[0] = CMD_KBD_INT | CMD_AUX_INT;
    k->status = STAT_A2;
    k->outport = OUT_DEFAULT;
    k->pending = 0;
    k->last_out = 0;
    memset(k->q_data, 0, sizeof(k->q_data));
    memset(k->q_src, 0, sizeof(k->q_src));
    k->q_count = 0;
    kbd_defaults(k);
    k->kbd_scanning = 1;
    k->kbd_last_sent = 0;
    update_irq(k, true);
}

static void i8042_reset_cb(void *opaque)
{
    i8042_reset(opaque);
}

void i8042_init(struct i8042 *k, const struct irq_line *kbd_irq, const struct irq_line *aux_irq,
                void (*on_reset)(void *opaque), void *opaque)
{
    memset(k, 0, sizeof(*k));
    if (kbd_irq) {
        k->kbd_irq = *kbd_irq;
    }
    if (aux_irq) {
        k->aux_irq = *aux_irq;
    }
    k->on_reset = on_reset;
    k->opaque = opaque;
    i8042_reset(k);
}

void i8042_destroy(struct i8042 *k)
{
    /* Owns no resources; kept so every device has the same life cycle. */
}

static bool valid_pending(uint8_t cmd)
{
    return cmd == 0 || (cmd >= 0x60 && cmd <= 0x7f) || (cmd >= 0xd1 && cmd <= 0xd4);
}

static int i8042_post_load(void *opaque)
{
    struct i8042 *k = opaque;
    /* Saved state is hostile input. */
    if (k->q_count > I8042_QUEUE_SIZE || !valid_pending(k->pending) || k->kbd_scanning > 1 ||
        k->kbd_set < 1 || k->kbd_set > 3 ||
        (k->kbd_pending != 0 && k->kbd_pending != 0xed && k->kbd_pending != 0xf0 &&
         k->kbd_pending != 0xf3)) {
        return -EINVAL;
    }
    for (unsigned i = 0; i < k->q_count; i++) {
        if (k->q_src[i] >= SRC_COUNT) {
            return -EINVAL;
        }
    }
    update_irq(k, true);
    return 0;
}

static const struct vmstate_field i8042_fields[] = {
    VMSTATE_ARRAY(struct i8042, ram),           VMSTATE_FIELD(struct i8042, status),
    VMSTATE_FIELD(struct i8042, outport),       VMSTATE_FIELD(struct i8042, pending),
    VMSTATE_FIELD(struct i8042, last_out),      VMSTATE_ARRAY(struct i8042, q_data),
    VMSTATE_ARRAY(struct i8042, q_src),         VMSTATE_FIELD(struct i8042, q_count),
    VMSTATE_FIELD(struct i8042, kbd_pending),   VMSTATE_FIELD(struct i8042, kbd_scanning),
    VMSTATE_FIELD(struct i8042, kbd_set),       VMSTATE_FIELD(struct i8042, kbd_leds),
    VMSTATE_FIELD(struct i8042, kbd_last_sent), VMSTATE_END,
};

const struct vmstate i8042_vmstate = {
    .name = "i8042",
    .version = 1,
    .fields = i8042_fields,
    .post_load = i8042_post_load,
};

void i8042_device(struct i8042 *k, struct device *out)
{
    out->name = "i8042";
    out->opaque = k;
    out->reset = i8042_reset_cb;
    out->state = &i8042_vmstate;
}
