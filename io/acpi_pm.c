// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ACPI PM1a event/control registers and the PM timer (ACPI 6.x 4.8.2.1, 4.8.3.1-4.8.3.3).
 * The timer is not stored as a count: it is derived from the vclock plus an offset, so it
 * costs nothing while nobody reads it. TMR_STS is folded in lazily (whenever the status is
 * looked at, bit 23 of the counter has toggled if its period index changed), and a vtimer
 * runs only while TMR_EN is set, to raise the SCI at the toggle itself.
 */
#include "io/acpi_pm.h"

#include <errno.h>
#include <string.h>

#include "vmm/clock.h"
#include "vmm/irq.h"

#define NS_PER_SEC 1000000000ull
#define STS_IMPL (ACPI_PM1_TMR | ACPI_PM1_PWRBTN | ACPI_PM1_WAK_STS)
#define EN_IMPL (ACPI_PM1_TMR | ACPI_PM1_PWRBTN)
#define TMR_MASK ((1u << ACPI_PM_TIMER_BITS) - 1)
#define TMR_PERIOD_SHIFT (ACPI_PM_TIMER_BITS - 1) /* TMR_STS: the MSB toggles */

/* floor(ns * F / 1e9) without 128-bit arithmetic: split ns into seconds and the rest. */
static uint64_t ns_to_ticks(uint64_t ns)
{
    return (ns / NS_PER_SEC) * ACPI_PM_TIMER_HZ + (ns % NS_PER_SEC) * ACPI_PM_TIMER_HZ / NS_PER_SEC;
}

/* The first ns at which ns_to_ticks() reaches ticks: ceil(ticks * 1e9 / F). */
static uint64_t ticks_to_ns(uint64_t ticks)
{
    uint64_t rem = ticks % ACPI_PM_TIMER_HZ;
    return (ticks / ACPI_PM_TIMER_HZ) * NS_PER_SEC +
           (rem * NS_PER_SEC + ACPI_PM_TIMER_HZ - 1) / ACPI_PM_TIMER_HZ;
}

/* The counter without wrapping: bits 0-23 are what the guest reads. */
static uint64_t counter64(struct acpi_pm *pm)
{
    return ns_to_ticks(vclock_now(pm->clock)) + pm->tmr_offset;
}

static void update_tmr_sts(struct acpi_pm *pm)
{
    uint64_t period = counter64(pm) >> TMR_PERIOD_SHIFT;
    /* != rather than >: a state restored against another clock must not stall TMR_STS. */
    if (period != pm->tmr_period) {
        pm->sts |= ACPI_PM1_TMR;
        pm->tmr_period = period;
    }
}

static void update_sci(struct acpi_pm *pm)
{
    bool level = (pm->sts & pm->en) != 0;
    if (level != pm->sci_level) {
        pm->sci_level = level;
        irq_set(pm->sci, level);
    }
}

static void arm_timer(struct acpi_pm *pm)
{
    if (!(pm->en & ACPI_PM1_TMR)) {
        vtimer_del(pm->timer);
        return;
    }
    uint64_t next = ((counter64(pm) >> TMR_PERIOD_SHIFT) + 1) << TMR_PERIOD_SHIFT;
    vtimer_mod(pm->timer, ticks_to_ns(next - pm->tmr_offset));
}

static void acpi_pm_timer_cb(void *opaque)
{
    struct acpi_pm *pm = opaque;
    update_tmr_sts(pm);
    update_sci(pm);
    arm_timer(pm);
}

/* The 12 register bytes as the guest sees them; the timer is read only when asked for. */
static void snapshot_regs(struct acpi_pm *pm, uint8_t regs[ACPI_PM_REG_LEN], uint64_t off,
                          unsigned size)
{
    uint64_t end = off + size;
    if (off < ACPI_PM_REG_EN) {
        update_tmr_sts(pm);
    }
    uint16_t cnt = (uint16_t)(pm->cnt | ACPI_PM1_CNT_SCI_EN);
    uint32_t tmr = end > ACPI_PM_REG_TMR ? (uint32_t)counter64(pm) & TMR_MASK : 0;
    regs[0] = (uint8_t)pm->sts;
    regs[1] = (uint8_t)(pm->sts >> 8);
    regs[2] = (uint8_t)pm->en;
    regs[3] = (uint8_t)(pm->en >> 8);
    regs[4] = (uint8_t)cnt;
    regs[5] = (uint8_t)(cnt >> 8);
    regs[6] = 0;
    regs[7] = 0;
    for (int i = 0; i < 4; i++) {
        regs[8 + i] = (uint8_t)(tmr >> (8 * i));
    }
}

static bool access_ok(uint64_t off, unsigned size)
{
    /* guest-controlled: offset and size come from the access */
    return size >= 1 && size <= 4 && off < ACPI_PM_REG_LEN && size <= ACPI_PM_REG_LEN - off;
}

static uint64_t acpi_pm_read(void *opaque, uint64_t off, unsigned size)
{
    struct acpi_pm *pm = opaque;
    if (!access_ok(off, size)) {
        /* guest-controlled: outside the block reads as an unassigned port */
        pm->bad_access++;
        return size >= 8 ? UINT64_MAX : (1ull << (8 * size)) - 1;
    }
    uint8_t regs[ACPI_PM_REG_LEN];
    snapshot_regs(pm, regs, off, size);
    uint64_t v = 0;
    for (unsigned i = 0; i < size; i++) {
        v |= (uint64_t)regs[off + i] << (8 * i);
    }
    return v;
}

/*
 * The part of a write that lands in register [reg, reg + len): *val gets the written bits
 * at their register positions, the return value says which bits were written.
 */
static uint32_t write_slice(uint64_t off, uint64_t val, unsigned size, uint64_t reg, unsigned len,
                            uint32_t *bits)
{
    uint32_t mask = 0;
    *bits = 0;
    for (unsigned i = 0; i < size; i++) {
        uint64_t a = off + i;
        if (a >= reg && a < reg + len) {
            unsigned shift = 8 * (unsigned)(a - reg);
            mask |= 0xffu << shift;
            *bits |= (uint32_t)((val >> (8 * i)) & 0xff) << shift;
        }
    }
    return mask;
}

static void acpi_pm_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    struct acpi_pm *pm = opaque;
    if (!access_ok(off, size)) {
        pm->bad_access++; /* guest-controlled: dropped */
        return;
    }
    uint32_t bits, mask;

    mask = write_slice(off, val, size, ACPI_PM_REG_STS, 2, &bits);
    if (mask) {
        /* Fold in a pending toggle first, so writing 1 clears it rather than losing it. */
        update_tmr_sts(pm);
        pm->sts &= (uint16_t) ~(bits & mask);
    }

    mask = write_slice(off, val, size, ACPI_PM_REG_EN, 2, &bits);
    if (mask) {
        update_tmr_sts(pm);
        pm->en = (uint16_t)(((pm->en & ~mask) | (bits & mask)) & EN_IMPL);
    }

    bool sleep = false;
    unsigned slp_typ = 0;
    mask = write_slice(off, val, size, ACPI_PM_REG_CNT, 2, &bits);
    if (mask) {
        /* guest-controlled: only SLP_TYP is kept; SCI_EN is fixed, GBL_RLS/BM_RLD ignored */
        uint32_t cnt = (pm->cnt & ~mask) | (bits & mask);
        pm->cnt = (uint16_t)(cnt & ACPI_PM1_CNT_SLP_TYP_MASK);
        if (cnt & ACPI_PM1_CNT_SLP_EN) {
            sleep = true;
            slp_typ = (cnt & ACPI_PM1_CNT_SLP_TYP_MASK) >> ACPI_PM1_CNT_SLP_TYP_SHIFT;
            /*
             * A sleep the machine does not carry out wakes at once: the OS polls WAK_STS
             * after setting SLP_EN and must not spin forever.
             */
            pm->sts |= ACPI_PM1_WAK_STS;
        }
    }
    /* PM_TMR is read-only: writes to it are ignored. */

    update_sci(pm);
    arm_timer(pm);
    /* Last: the callback may reset the machine, this device included. */
    if (sleep && pm->on_sleep) {
        pm->on_sleep(pm->opaque, slp_typ);
    }
}

const struct bus_ops acpi_pm_ops = {
    .read = acpi_pm_read,
    .write = acpi_pm_write,
    .min_size = 1,
    .max_size = 4,
};

void acpi_pm_reset(struct acpi_pm *pm)
{
    pm->sts = 0;
    pm->en = 0;
    pm->cnt = 0;
    /* The counter starts at 0: offset = -ticks(now) mod 2^32. */
    pm->tmr_offset = (uint32_t)(0u - (uint32_t)ns_to_ticks(vclock_now(pm->clock)));
    pm->tmr_period = counter64(pm) >> TMR_PERIOD_SHIFT;
    vtimer_del(pm->timer);
    pm->sci_level = false;
    irq_set(pm->sci, false);
}

int acpi_pm_init(struct acpi_pm *pm, struct vclock *clock, const struct irq_line *sci,
                 acpi_pm_sleep_fn on_sleep, void *opaque)
{
    memset(pm, 0, sizeof(*pm));
    pm->clock = clock;
    pm->sci = sci;
    pm->on_sleep = on_sleep;
    pm->opaque = opaque;
    pm->timer = vtimer_new(clock, acpi_pm_timer_cb, pm);
    if (!pm->timer) {
        return -ENOMEM;
    }
    acpi_pm_reset(pm);
    return 0;
}

void acpi_pm_destroy(struct acpi_pm *pm)
{
    if (!pm) {
        return;
    }
    vtimer_free(pm->timer);
    pm->timer = NULL;
}

void acpi_pm_power_button(struct acpi_pm *pm)
{
    pm->sts |= ACPI_PM1_PWRBTN;
    update_sci(pm);
}

static int acpi_pm_post_load(void *opaque)
{
    struct acpi_pm *pm = opaque;
    if ((pm->sts & ~STS_IMPL) || (pm->en & ~EN_IMPL) || (pm->cnt & ~ACPI_PM1_CNT_SLP_TYP_MASK)) {
        return -EINVAL;
    }
    /*
     * The SCI's level is part of the interrupt controller's saved state, restored with it:
     * only remember it here, so the next change drives the line correctly.
     */
    pm->sci_level = (pm->sts & pm->en) != 0;
    arm_timer(pm);
    return 0;
}

/*
 * The timer is saved as its offset from the VM clock: the counter continues where it was
 * when the restored VM's clock continues where the saved one stopped.
 */
static const struct vmstate_field acpi_pm_fields[] = {
    VMSTATE_FIELD(struct acpi_pm, sts),        VMSTATE_FIELD(struct acpi_pm, en),
    VMSTATE_FIELD(struct acpi_pm, cnt),        VMSTATE_FIELD(struct acpi_pm, tmr_offset),
    VMSTATE_FIELD(struct acpi_pm, tmr_period), VMSTATE_END,
};

const struct vmstate acpi_pm_vmstate = {
    .name = "acpi-pm",
    .version = 1,
    .fields = acpi_pm_fields,
    .post_load = acpi_pm_post_load,
};

static void acpi_pm_reset_cb(void *opaque)
{
    acpi_pm_reset(opaque);
}

struct device acpi_pm_device(struct acpi_pm *pm)
{
    return (struct device){
        .name = "acpi-pm",
        .opaque = pm,
        .reset = acpi_pm_reset_cb,
        .state = &acpi_pm_vmstate,
    };
}
