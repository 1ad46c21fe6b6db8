/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Keymaps: X keysyms (what VNC clients send) to PC set 1 make codes, the form the i8042
 * model takes (io/i8042.h i8042_key). US layout: a shifted keysym maps to the key that
 * produces it, and the client's own Shift events reach the guest as they are.
 */
#ifndef DESKVM_DISPLAY_KEYMAP_H
#define DESKVM_DISPLAY_KEYMAP_H

#include <stdint.h>

/* Set 1 make code (0xE0xx for E0-prefixed keys), or -1 for a keysym with no PC key. */
int keymap_keysym_to_set1(uint32_t keysym);

#endif
