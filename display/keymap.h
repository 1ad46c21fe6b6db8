/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Keymaps: X keysyms (what VNC clients send) to PC set 1 make codes, the form the i8042
 * model takes (io/i8042.h i8042_key). US layout: a shifted keysym maps to the key that
 * produces it, and the client's own Shift events reach the guest as they are. The evdev codes
 * (linux/input-event-codes.h, what virtio-input carries) derive from the set 1 codes.
 */
#ifndef DESKVM_DISPLAY_KEYMAP_H
#define DESKVM_DISPLAY_KEYMAP_H

#include <stddef.h>
#include <stdint.h>

/* Set 1 make code (0xE0xx for E0-prefixed keys), or -1 for a keysym with no PC key. */
int keymap_keysym_to_set1(uint32_t keysym);
/* The evdev key code of a set 1 make code (as keymap_keysym_to_set1 gives), or -1. */
int keymap_set1_to_evdev(int set1);
/* X keysym to evdev key code, or -1. */
int keymap_keysym_to_evdev(uint32_t keysym);

/* The same for QEMU's QKeyCode names ("a", "shift", "kp_enter"), -1 for an unknown name. */
int keymap_qcode_to_set1(const char *qcode);
/* QEMU's key numbers (QMP KeyValue "number": set 1 codes, 0x80 for E0 keys), -1 when out of
 * range. */
int keymap_qnum_to_set1(int64_t qnum);
/* The i-th QKeyCode name the table knows, NULL past the end (for tests). */
const char *keymap_qcode_name(size_t i);

#endif
