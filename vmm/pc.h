/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The PC platform's device set and where each sits: COM1, CMOS RTC, i8042, ACPI PM block,
 * reset control register, debug-exit port. The device models know nothing of these
 * addresses; this glue does.
 */
#ifndef DESKVM_VMM_PC_H
#define DESKVM_VMM_PC_H

#include <stddef.h>

struct vm;

#define PC_COM1_BASE 0x3f8
#define PC_COM1_IRQ 4
#define PC_RTC_BASE 0x70
#define PC_RTC_IRQ 8
#define PC_I8042_DATA 0x60
#define PC_I8042_CMD 0x64
#define PC_I8042_IRQ 1
#define PC_DEBUG_EXIT_BASE 0xf4

int pc_devices_init(struct vm *vm, char *err, size_t errlen);
void pc_devices_destroy(struct vm *vm);
/* The keyboard controller, for input back-ends (VNC, the display channel). */
struct i8042 *pc_keyboard(struct vm *vm);
/* Press the ACPI power button. */
void pc_power_button(struct vm *vm);

#endif
