/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The PC/AT keyboard controller (Intel 8042 as programmed by IBM): data port, status and
 * command port, the command byte, output port (reset line, A20 gate), and a minimal PS/2
 * keyboard (scancode sets 1 and 2, the controller's set 2 to set 1 translation) and a PS/2
 * mouse (with the IntelliMouse wheel extension) behind it.
 */
#ifndef DESKVM_IO_I8042_H
#define DESKVM_IO_I8042_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "snapshots/vmstate.h"
#include "vmm/bus.h"
#include "vmm/irq.h"

struct device;

#define I8042_QUEUE_SIZE 16

struct i8042 {
    /* Wiring, set at init, not part of the saved state. */
    struct irq_line kbd_irq; /* IRQ1 */
    struct irq_line aux_irq; /* IRQ12 */
    void (*on_reset)(void *opaque);
    void *opaque;
    bool kbd_level, aux_level;

    /* Guest-visible state (i8042_vmstate). */
    uint8_t ram[32];  /* controller RAM; ram[0] is the command byte */
    uint8_t status;   /* SYS and A2 bits; OBF/AUXB are derived from the queue */
    uint8_t outport;  /* bit 0: not in reset, bit 1: A20 gate */
    uint8_t pending;  /* controller command waiting for its data byte, or 0 */
    uint8_t last_out; /* what a data port read returns when the buffer is empty */
    uint8_t q_data[I8042_QUEUE_SIZE];
    uint8_t q_src[I8042_QUEUE_SIZE]; /* who produced each byte: controller, keyboard, aux */
    uint8_t q_count;                 /* bytes queued, oldest first at index 0 */
    /* The keyboard. */
    uint8_t kbd_pending;  /* keyboard command waiting for its argument, or 0 */
    uint8_t kbd_scanning; /* F4/F5 */
    uint8_t kbd_set;      /* scancode set 1..3 */
    uint8_t kbd_leds;
    uint8_t kbd_last_sent; /* for the resend command */
    /* The PS/2 mouse on the aux port (state version 2). */
    uint8_t aux_pending;   /* mouse command waiting for its argument (F3, E8), or 0 */
    uint8_t aux_streaming; /* data reporting enabled (F4) */
    uint8_t aux_rate;      /* samples per second */
    uint8_t aux_res;       /* resolution 0-3 */
    uint8_t aux_scaling;   /* 1: 2:1 scaling */
    uint8_t aux_id;        /* 0: plain PS/2 mouse, 3: IntelliMouse with a wheel */
    uint8_t aux_rates[3];  /* the last three sample rates: 200, 100, 80 unlocks the wheel */
    uint8_t aux_buttons;   /* as last reported */
};

/* on_reset: the guest pulsed the CPU reset line (0xFE, 0xD1 with bit 0 clear). */
void i8042_init(struct i8042 *k, const struct irq_line *kbd_irq, const struct irq_line *aux_irq,
                void (*on_reset)(void *opaque), void *opaque);
void i8042_destroy(struct i8042 *k);
void i8042_reset(struct i8042 *k);
void i8042_device(struct i8042 *k, struct device *out);

/*
 * Queue the bytes of one key event as the guest should see them (the keymap layer picks
 * set 1 when i8042_translating() says so). The whole event is dropped when the keyboard is
 * not scanning or the queue cannot take all of it. Returns true when queued.
 */
bool i8042_key_event(struct i8042 *k, const uint8_t *scancode_bytes, size_t n);
/*
 * A key press or release given as its set 1 make code (0xE0xx for E0-prefixed keys). The
 * keyboard sends it in its current scancode set: set 2 through the controller's
 * translation arrives as set 1, untranslated set 2 as set 2 bytes (F0 for a release).
 * Set 3 and keys without a set 2 code are refused. Returns true when queued.
 */
bool i8042_key(struct i8042 *k, unsigned set1_code, bool down);
/*
 * Relative motion (dx right, dy down, dz wheel down) and buttons (bit 0 left, 1 right,
 * 2 middle) from the mouse: one packet when it is reporting and the queue has room.
 */
#define I8042_BUTTON_LEFT 0x1
#define I8042_BUTTON_RIGHT 0x2
#define I8042_BUTTON_MIDDLE 0x4
bool i8042_mouse_event(struct i8042 *k, int dx, int dy, int dz, unsigned buttons);
bool i8042_a20_enabled(const struct i8042 *k);
bool i8042_translating(const struct i8042 *k);

/*
 * Two ranges, one each: data at 0x60 (len 1) and status/command at 0x64 (len 1), both with
 * the struct i8042 as opaque. Not one 0x60..0x64 range: 0x61 is port B of the PC (PIT gate,
 * speaker, NMI status), which another device owns.
 */
extern const struct bus_ops i8042_data_ops;
extern const struct bus_ops i8042_ctrl_ops;
extern const struct vmstate i8042_vmstate;

#endif
