/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The PC's CMOS real-time clock, a Motorola MC146818A: index/data ports, 128 bytes of
 * NVRAM, time and alarm registers in BCD or binary, registers A-D, periodic, alarm and
 * update-ended interrupts (MC146818A data sheet; the century byte at 0x32 is the PC/AT's).
 */
#ifndef DESKVM_IO_CMOS_RTC_H
#define DESKVM_IO_CMOS_RTC_H

#include <stdbool.h>
#include <stdint.h>

#include "snapshots/vmstate.h"
#include "vmm/bus.h"
#include "vmm/irq.h"

struct device;
struct vclock;
struct vtimer;

#define CMOS_RTC_NVRAM_SIZE 128
#define CMOS_RTC_REG_COUNT 2 /* index at offset 0, data at offset 1 (0x70 len 2 on a PC) */

struct cmos_rtc {
    /* Wiring, set at init, not part of the saved state. */
    struct vclock *clock;
    struct irq_line irq;
    struct vtimer *periodic_timer;
    struct vtimer *update_timer; /* update-ended and alarm */
    bool irq_level;
    /* Flags PF/UF/AF are brought up to date lazily from here (see sync_flags). */
    uint64_t synced_mono_ns;
    int64_t synced_guest_s;

    /* Guest-visible state (cmos_rtc_vmstate). */
    uint8_t index;        /* 7 bits */
    uint8_t nmi_disabled; /* bit 7 of the last index write; the machine may read it */
    /*
     * NVRAM and registers A-C. The time bytes (0x00, 0x02, 0x04, 0x06-0x09, 0x32) are
     * meaningful only while SET holds the clock; otherwise they are computed from the clock.
     */
    uint8_t cmos[CMOS_RTC_NVRAM_SIZE];
    int64_t offset_s; /* guest time = host UTC time + offset_s */
};

/* Returns 0, -EINVAL without a clock, -ENOMEM when it has no timer left. irq may be NULL. */
int cmos_rtc_init(struct cmos_rtc *rtc, struct vclock *clock, const struct irq_line *irq);
void cmos_rtc_destroy(struct cmos_rtc *rtc);
/* The chip's RESET pin: interrupt enables and flags clear; time, NVRAM and reg A are kept. */
void cmos_rtc_reset(struct cmos_rtc *rtc);
void cmos_rtc_device(struct cmos_rtc *rtc, struct device *out);

/* Machine set-up of NVRAM bytes: -EINVAL for clock registers (0x00-0x0d, 0x32) or index >= 128. */
int cmos_rtc_set_byte(struct cmos_rtc *rtc, unsigned index, uint8_t value);
/* Memory sizes where SeaBIOS reads them (0x15-0x18, 0x30/0x31, 0x34/0x35, 0x5b-0x5d), CPUs-1 at
 * 0x5f. */
void cmos_rtc_set_memory(struct cmos_rtc *rtc, uint64_t ram_below_4g, uint64_t ram_above_4g,
                         unsigned ncpus);
bool cmos_rtc_nmi_disabled(const struct cmos_rtc *rtc);

extern const struct bus_ops cmos_rtc_ops;
extern const struct vmstate cmos_rtc_vmstate;

#endif
