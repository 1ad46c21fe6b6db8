/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * ACPI fixed-hardware power management block (ACPI 6.x 4.8.3): PM1a event registers
 * (PM1_STS, PM1_EN), PM1a control (PM1_CNT) and the 24-bit 3.579545 MHz PM timer, as one
 * 12-byte register block. The SCI is a level-triggered line: high while (STS & EN) != 0.
 */
#ifndef DESKVM_IO_ACPI_PM_H
#define DESKVM_IO_ACPI_PM_H

#include <stdbool.h>
#include <stdint.h>

#include "vmm/bus.h"
#include "vmm/device.h"

struct vclock;
struct vtimer;
struct irq_line;

/* Offsets inside the block (the FADT points PM1a_EVT_BLK at offset 0). */
#define ACPI_PM_REG_STS 0x0
#define ACPI_PM_REG_EN 0x2
#define ACPI_PM_REG_CNT 0x4
#define ACPI_PM_REG_TMR 0x8
#define ACPI_PM_REG_LEN 12

/* PM1_STS / PM1_EN bits (4.8.3.1). */
#define ACPI_PM1_TMR (1u << 0)
#define ACPI_PM1_PWRBTN (1u << 8)
#define ACPI_PM1_WAK_STS (1u << 15)
/* PM1_CNT bits (4.8.3.2). */
#define ACPI_PM1_CNT_SCI_EN (1u << 0)
#define ACPI_PM1_CNT_SLP_TYP_SHIFT 10
#define ACPI_PM1_CNT_SLP_TYP_MASK (7u << ACPI_PM1_CNT_SLP_TYP_SHIFT)
#define ACPI_PM1_CNT_SLP_EN (1u << 13)

#define ACPI_PM_TIMER_HZ 3579545u
#define ACPI_PM_TIMER_BITS 24

typedef void (*acpi_pm_sleep_fn)(void *opaque, unsigned slp_typ);

struct acpi_pm {
    /* Saved state (see acpi_pm_vmstate). */
    uint16_t sts;        /* PM1_STS: implemented bits only */
    uint16_t en;         /* PM1_EN: implemented bits only */
    uint16_t cnt;        /* PM1_CNT: SLP_TYP only; SCI_EN reads 1, SLP_EN is write-only */
    uint32_t tmr_offset; /* counter = clock ticks + tmr_offset (mod 2^32), see acpi_pm.c */
    uint64_t tmr_period; /* counter bit-23 period index last folded into TMR_STS */

    /* Wiring, not saved. */
    struct vclock *clock;
    const struct irq_line *sci;
    struct vtimer *timer; /* armed at the next bit-23 toggle while TMR_EN is set */
    acpi_pm_sleep_fn on_sleep;
    void *opaque;
    bool sci_level;      /* last level driven on the SCI */
    uint64_t bad_access; /* accesses outside the 12 bytes or of odd sizes: counted, ignored */
};

/*
 * on_sleep(opaque, slp_typ) runs when the guest sets SLP_EN; the machine powers off on
 * ACPI_SLP_TYP_S5 and ignores other types. Returns 0 or -ENOMEM (no timer).
 */
__attribute__((warn_unused_result)) int acpi_pm_init(struct acpi_pm *pm, struct vclock *clock,
                                                     const struct irq_line *sci,
                                                     acpi_pm_sleep_fn on_sleep, void *opaque);
/* Accepts NULL and a half-initialized device. */
void acpi_pm_destroy(struct acpi_pm *pm);
/* Power-on state: registers clear, timer counting from 0, SCI low. */
void acpi_pm_reset(struct acpi_pm *pm);
/* A press of the fixed-feature power button: sets PWRBTN_STS. */
void acpi_pm_power_button(struct acpi_pm *pm);

/* Handlers for the 12-byte block (register ACPI_PM_REG_LEN bytes or more), 1-4 byte accesses. */
extern const struct bus_ops acpi_pm_ops;
extern const struct vmstate acpi_pm_vmstate;
/* The device as the machine lists it: name, reset, state. */
struct device acpi_pm_device(struct acpi_pm *pm);

#endif
