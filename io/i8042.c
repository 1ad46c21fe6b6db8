// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * i8042 keyboard controller model (IBM PC/AT Technical Reference, keyboard controller
 * commands; PS/2 keyboard command set). Bytes from the controller, the keyboard and the
 * aux port share one small output queue; each is delivered through the single output
 * buffer when its interface is enabled. See docs/devices-legacy.md.
 */
#include "io/i8042.h"

#include <errno.h>
#include <stddef.h>
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

/* ---- PS/2 mouse ----------------------------------------------------------------------- */

static void aux_defaults(struct i8042 *k)
{
    k->aux_streaming = 0;
    k->aux_rate = 100;
    k->aux_res = 2;
    k->aux_scaling = 0;
    k->aux_pending = 0;
}

static void aux_send(struct i8042 *k, uint8_t byte)
{
    queue_push(k, byte, SRC_AUX);
}

static void aux_argument(struct i8042 *k, uint8_t cmd, uint8_t val)
{
    if (cmd == 0xe8) { /* set resolution: guest-controlled, 0-3 only */
        if (val > 3) {
            aux_send(k, KBD_RESEND);
            return;
        }
        k->aux_res = val;
    } else { /* 0xf3 set sample rate; the sequence 200, 100, 80 turns on the wheel */
        k->aux_rate = val;
        k->aux_rates[0] = k->aux_rates[1];
        k->aux_rates[1] = k->aux_rates[2];
        k->aux_rates[2] = val;
        if (k->aux_rates[0] == 200 && k->aux_rates[1] == 100 && k->aux_rates[2] == 80) {
            k->aux_id = 3;
        }
    }
    aux_send(k, KBD_ACK);
}

static void aux_write(struct i8042 *k, uint8_t val)
{
    if (k->aux_pending) {
        uint8_t cmd = k->aux_pending;
        k->aux_pending = 0;
        aux_argument(k, cmd, val);
        return;
    }
    switch (val) {
    case 0xe8:
    case 0xf3:
        k->aux_pending = val;
        aux_send(k, KBD_ACK);
        break;
    case 0xe6:
    case 0xe7:
        k->aux_scaling = val == 0xe7;
        aux_send(k, KBD_ACK);
        break;
    case 0xe9: /* status request */
        aux_send(k, KBD_ACK);
        aux_send(k, (uint8_t)((k->aux_streaming ? 0x20 : 0) | (k->aux_scaling ? 0x10 : 0) |
                              (k->aux_buttons & 0x07)));
        aux_send(k, k->aux_res);
        aux_send(k, k->aux_rate);
        break;
    case 0xf2:
        aux_send(k, KBD_ACK);
        aux_send(k, k->aux_id);
        break;
    case 0xf4:
        k->aux_streaming = 1;
        aux_send(k, KBD_ACK);
        break;
    case 0xf5:
        k->aux_streaming = 0;
        aux_send(k, KBD_ACK);
        break;
    case 0xf6:
        aux_defaults(k);
        aux_send(k, KBD_ACK);
        break;
    case 0xff:
        aux_defaults(k);
        k->aux_id = 0;
        aux_send(k, KBD_ACK);
        aux_send(k, KBD_BAT_OK);
        aux_send(k, 0x00);
        break;
    case 0xea: /* stream mode */
    case 0xec: /* reset wrap mode */
    case 0xf0: /* remote mode: not modelled, reports stay streamed */
        aux_send(k, KBD_ACK);
        break;
    case 0xeb: /* read data: an empty packet */
        aux_send(k, KBD_ACK);
        aux_send(k, (uint8_t)(0x08 | (k->aux_buttons & 0x07)));
        aux_send(k, 0);
        aux_send(k, 0);
        if (k->aux_id == 3) {
            aux_send(k, 0);
        }
        break;
    default: /* guest-controlled: anything else is refused */
        aux_send(k, KBD_RESEND);
        break;
    }
}

static int clamp(int v, int lo, int hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

bool i8042_mouse_event(struct i8042 *k, int dx, int dy, int dz, unsigned buttons)
{
    unsigned n = k->aux_id == 3 ? 4 : 3;
    if (!k->aux_streaming || k->q_count + n > I8042_QUEUE_SIZE) {
        return false;
    }
    /* PS/2 counts y upwards; nine-bit two's complement, overflow flagged. */
    int x = clamp(dx, -256, 255), y = clamp(-dy, -256, 255);
    uint8_t b0 = (uint8_t)(0x08 | (buttons & 0x07) | (x < 0 ? 0x10 : 0) | (y < 0 ? 0x20 : 0) |
                           (x != dx ? 0x40 : 0) | (y != -dy ? 0x80 : 0));
    aux_send(k, b0);
    aux_send(k, (uint8_t)x);
    aux_send(k, (uint8_t)y);
    if (n == 4) {
        aux_send(k, (uint8_t)(clamp(dz, -8, 7) & 0x0f));
    }
    k->aux_buttons = (uint8_t)(buttons & 0x07);
    update_irq(k, false);
    return true;
}

/* ---- keyboard scancodes ---------------------------------------------------------------- */

/*
 * Set 2 make codes by set 1 make code (0x01-0x5d), as the keyboard sends them; the 8042's
 * translation maps each back to its set 1 code. 0: no such key.
 */
static const uint8_t set1_to_set2[0x5e] = {
    [0x01] = 0x76, [0x02] = 0x16, [0x03] = 0x1e, [0x04] = 0x26, [0x05] = 0x25, [0x06] = 0x2e,
    [0x07] = 0x36, [0x08] = 0x3d, [0x09] = 0x3e, [0x0a] = 0x46, [0x0b] = 0x45, [0x0c] = 0x4e,
    [0x0d] = 0x55, [0x0e] = 0x66, [0x0f] = 0x0d, [0x10] = 0x15, [0x11] = 0x1d, [0x12] = 0x24,
    [0x13] = 0x2d, [0x14] = 0x2c, [0x15] = 0x35, [0x16] = 0x3c, [0x17] = 0x43, [0x18] = 0x44,
    [0x19] = 0x4d, [0x1a] = 0x54, [0x1b] = 0x5b, [0x1c] = 0x5a, [0x1d] = 0x14, [0x1e] = 0x1c,
    [0x1f] = 0x1b, [0x20] = 0x23, [0x21] = 0x2b, [0x22] = 0x34, [0x23] = 0x33, [0x24] = 0x3b,
    [0x25] = 0x42, [0x26] = 0x4b, [0x27] = 0x4c, [0x28] = 0x52, [0x29] = 0x0e, [0x2a] = 0x12,
    [0x2b] = 0x5d, [0x2c] = 0x1a, [0x2d] = 0x22, [0x2e] = 0x21, [0x2f] = 0x2a, [0x30] = 0x32,
    [0x31] = 0x31, [0x32] = 0x3a, [0x33] = 0x41, [0x34] = 0x49, [0x35] = 0x4a, [0x36] = 0x59,
    [0x37] = 0x7c, [0x38] = 0x11, [0x39] = 0x29, [0x3a] = 0x58, [0x3b] = 0x05, [0x3c] = 0x06,
    [0x3d] = 0x04, [0x3e] = 0x0c, [0x3f] = 0x03, [0x40] = 0x0b, [0x41] = 0x83, [0x42] = 0x0a,
    [0x43] = 0x01, [0x44] = 0x09, [0x45] = 0x77, [0x46] = 0x7e, [0x47] = 0x6c, [0x48] = 0x75,
    [0x49] = 0x7d, [0x4a] = 0x7b, [0x4b] = 0x6b, [0x4c] = 0x73, [0x4d] = 0x74, [0x4e] = 0x79,
    [0x4f] = 0x69, [0x50] = 0x72, [0x51] = 0x7a, [0x52] = 0x70, [0x53] = 0x71, [0x56] = 0x61,
    [0x57] = 0x78, [0x58] = 0x07, [0x5b] = 0x1f, [0x5c] = 0x27, [0x5d] = 0x2f,
};

bool i8042_key(struct i8042 *k, unsigned set1_code, bool down)
{
    bool ext = (set1_code >> 8) == 0xe0;
    unsigned code = set1_code & 0xff;
    if ((set1_code >> 8) != 0 && !ext) {
        return false;
    }
    uint8_t bytes[4];
    size_t n = 0;
    bool set1_out = k->kbd_set == 1 || (k->kbd_set == 2 && i8042_translating(k));
    if (set1_out) {
        if (code == 0 || code >= 0x80) {
            return false;
        }
        if (ext) {
            bytes[n++] = 0xe0;
        }
        bytes[n++] = (uint8_t)(down ? code : code | 0x80);
    } else if (k->kbd_set == 2) {
        if (code >= sizeof(set1_to_set2) || !set1_to_set2[code]) {
            return false;
        }
        if (ext) {
            bytes[n++] = 0xe0;
        }
        if (!down) {
            bytes[n++] = 0xf0;
        }
        bytes[n++] = set1_to_set2[code];
    } else {
        return false; /* set 3 is accepted as a setting but not generated */
    }
    return i8042_key_event(k, bytes, n);
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
    aux_defaults(k);
    k->aux_id = 0;
    memset(k->aux_rates, 0, sizeof(k->aux_rates));
    k->aux_buttons = 0;
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
    if ((k->aux_pending != 0 && k->aux_pending != 0xe8 && k->aux_pending != 0xf3) ||
        k->aux_streaming > 1 || k->aux_res > 3 || k->aux_scaling > 1 ||
        (k->aux_id != 0 && k->aux_id != 3)) {
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
    VMSTATE_ARRAY(struct i8042, ram),
    VMSTATE_FIELD(struct i8042, status),
    VMSTATE_FIELD(struct i8042, outport),
    VMSTATE_FIELD(struct i8042, pending),
    VMSTATE_FIELD(struct i8042, last_out),
    VMSTATE_ARRAY(struct i8042, q_data),
    VMSTATE_ARRAY(struct i8042, q_src),
    VMSTATE_FIELD(struct i8042, q_count),
    VMSTATE_FIELD(struct i8042, kbd_pending),
    VMSTATE_FIELD(struct i8042, kbd_scanning),
    VMSTATE_FIELD(struct i8042, kbd_set),
    VMSTATE_FIELD(struct i8042, kbd_leds),
    VMSTATE_FIELD(struct i8042, kbd_last_sent),
    VMSTATE_FIELD_V(struct i8042, aux_pending, 2),
    VMSTATE_FIELD_V(struct i8042, aux_streaming, 2),
    VMSTATE_FIELD_V(struct i8042, aux_rate, 2),
    VMSTATE_FIELD_V(struct i8042, aux_res, 2),
    VMSTATE_FIELD_V(struct i8042, aux_scaling, 2),
    VMSTATE_FIELD_V(struct i8042, aux_id, 2),
    {"aux_rates", offsetof(struct i8042, aux_rates), 1, 3, 2},
    VMSTATE_FIELD_V(struct i8042, aux_buttons, 2),
    VMSTATE_END,
};

const struct vmstate i8042_vmstate = {
    .name = "i8042",
    .version = 2,
    .fields = i8042_fields,
    .post_load = i8042_post_load,
};

void i8042_device(struct i8042 *k, struct device *out)
{
    *out = (struct device){
        .name = "i8042",
        .opaque = k,
        .reset = i8042_reset_cb,
        .state = &i8042_vmstate,
    };
}
