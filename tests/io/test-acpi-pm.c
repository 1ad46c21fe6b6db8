// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ACPI PM block through its bus handlers with a fake clock and a fake SCI: timer rate and
 * wrap, TMR_STS and the SCI at the bit-23 toggle, write-1-to-clear, the power button, sleep
 * requests, hostile access shapes, and state round trips.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "io/acpi_pm.h"
#include "tests/helpers/fake_clock.h"
#include "tests/helpers/fake_irq.h"
#include "vmm/acpi.h"

#define NS_PER_SEC 1000000000ull

struct fixture {
    struct fake_clock fc;
    struct fake_irq sci;
    struct acpi_pm pm;
    unsigned sleeps;
    unsigned last_slp_typ;
};

static void on_sleep(void *opaque, unsigned slp_typ)
{
    struct fixture *f = opaque;
    f->sleeps++;
    f->last_slp_typ = slp_typ;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    fake_clock_init(&f->fc, 0);
    /* An odd start time, so tick rounding is exercised. */
    fake_clock_advance(&f->fc, 123456789);
    fake_irq_init(&f->sci, ACPI_SCI_IRQ);
    assert_int_equal(acpi_pm_init(&f->pm, &f->fc.clock, &f->sci.line, on_sleep, f), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    acpi_pm_destroy(&f->pm);
    free(f);
    return 0;
}

static uint64_t rd(struct fixture *f, uint64_t off, unsigned size)
{
    return acpi_pm_ops.read(&f->pm, off, size);
}

static void wr(struct fixture *f, uint64_t off, uint64_t val, unsigned size)
{
    acpi_pm_ops.write(&f->pm, off, val, size);
}

static uint32_t tmr(struct fixture *f)
{
    return (uint32_t)rd(f, ACPI_PM_REG_TMR, 4);
}

static bool timer_armed(struct fixture *f)
{
    for (int i = 0; i < FAKE_CLOCK_MAX_TIMERS; i++) {
        if (f->fc.timers[i].used && f->fc.timers[i].armed) {
            return true;
        }
    }
    return false;
}

/* ns until the counter's bit 23 next toggles, from the counter value itself. */
static uint64_t ns_to_toggle(struct fixture *f)
{
    uint32_t c = tmr(f);
    uint32_t left = (1u << 23) - (c & ((1u << 23) - 1));
    return (uint64_t)left * NS_PER_SEC / ACPI_PM_TIMER_HZ;
}

static void test_timer_rate(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(tmr(f), 0); /* counts from 0 after reset */
    for (int i = 0; i < 3; i++) {
        uint32_t a = tmr(f);
        fake_clock_advance(&f->fc, NS_PER_SEC);
        uint32_t b = tmr(f);
        uint32_t d = (b - a) & 0xffffff;
        assert_in_range(d, ACPI_PM_TIMER_HZ - 1, ACPI_PM_TIMER_HZ + 1);
    }
    /* Small steps add up to the same rate (no drift from rounding each read). */
    uint32_t a = tmr(f);
    for (int i = 0; i < 1000; i++) {
        fake_clock_advance(&f->fc, NS_PER_SEC / 1000);
        (void)tmr(f);
    }
    assert_in_range((tmr(f) - a) & 0xffffff, ACPI_PM_TIMER_HZ - 1, ACPI_PM_TIMER_HZ + 1);
}

static void test_timer_wraps_at_24_bits(void **state)
{
    struct fixture *f = *state;
    uint64_t wrap_ns = (1ull << 24) * NS_PER_SEC / ACPI_PM_TIMER_HZ; /* ~4.69 s */
    fake_clock_advance(&f->fc, wrap_ns - 1000);
    uint32_t before = tmr(f);
    assert_true(before > 0xffff00);
    fake_clock_advance(&f->fc, 2000);
    uint32_t after = tmr(f);
    assert_true(after < 0x100);
    /* Upper byte never set; byte reads agree with the dword read. */
    for (int i = 0; i < 50; i++) {
        fake_clock_advance(&f->fc, 97 * NS_PER_SEC / 100);
        uint32_t v = tmr(f);
        assert_int_equal(v >> 24, 0);
        assert_int_equal(rd(f, ACPI_PM_REG_TMR + 3, 1), 0);
        assert_int_equal(rd(f, ACPI_PM_REG_TMR + 2, 1), (v >> 16) & 0xff);
        assert_int_equal(rd(f, ACPI_PM_REG_TMR, 2), v & 0xffff);
    }
    /* The timer is read-only. */
    uint32_t v = tmr(f);
    wr(f, ACPI_PM_REG_TMR, 0, 4);
    assert_int_equal(tmr(f), v);
}

static void test_tmr_sts_without_enable(void **state)
{
    struct fixture *f = *state;
    assert_false(timer_armed(f)); /* no host timer while TMR_EN is clear */
    assert_int_equal(rd(f, ACPI_PM_REG_STS, 2) & ACPI_PM1_TMR, 0);
    fake_clock_advance(&f->fc, ns_to_toggle(f) + 1000);
    /* The status bit follows the counter's MSB regardless of TMR_EN ... */
    assert_int_equal(rd(f, ACPI_PM_REG_STS, 2) & ACPI_PM1_TMR, ACPI_PM1_TMR);
    /* ... but no SCI. */
    assert_false(f->sci.level);
    assert_int_equal(f->sci.raises, 0);
    assert_false(timer_armed(f));
    /* Enabling with the status pending raises the SCI at once. */
    wr(f, ACPI_PM_REG_EN, ACPI_PM1_TMR, 2);
    assert_true(f->sci.level);
    /* Writing 0 clears nothing; writing 1 clears it and lowers the SCI. */
    wr(f, ACPI_PM_REG_STS, 0, 2);
    assert_true(f->sci.level);
    wr(f, ACPI_PM_REG_STS, ACPI_PM1_TMR, 2);
    assert_false(f->sci.level);
    assert_int_equal(rd(f, ACPI_PM_REG_STS, 2) & ACPI_PM1_TMR, 0);
}

static void test_tmr_sci_at_toggle(void **state)
{
    struct fixture *f = *state;
    wr(f, ACPI_PM_REG_EN, ACPI_PM1_TMR, 2);
    assert_true(timer_armed(f));
    for (int n = 0; n < 4; n++) {
        uint64_t t = ns_to_toggle(f);
        fake_clock_advance(&f->fc, t - 1000); /* just before the toggle */
        assert_false(f->sci.level);
        fake_clock_advance(&f->fc, 2000); /* just after: the timer fired */
        assert_true(f->sci.level);
        assert_int_equal(f->sci.raises, (unsigned)n + 1);
        assert_true(rd(f, ACPI_PM_REG_STS, 2) & ACPI_PM1_TMR);
        wr(f, ACPI_PM_REG_STS, ACPI_PM1_TMR, 2);
        assert_false(f->sci.level);
        assert_true(timer_armed(f)); /* re-armed for the next toggle */
    }
    /* Disabling stops the host timer and a later toggle raises nothing. */
    wr(f, ACPI_PM_REG_EN, 0, 2);
    assert_false(timer_armed(f));
    fake_clock_advance(&f->fc, 5 * NS_PER_SEC);
    assert_false(f->sci.level);
    assert_int_equal(f->sci.raises, 4);
}

static void test_power_button(void **state)
{
    struct fixture *f = *state;
    /* Pressed while disabled: status only. */
    acpi_pm_power_button(&f->pm);
    assert_true(rd(f, ACPI_PM_REG_STS, 2) & ACPI_PM1_PWRBTN);
    assert_false(f->sci.level);
    wr(f, ACPI_PM_REG_EN, ACPI_PM1_PWRBTN, 2);
    assert_true(f->sci.level);
    /* A byte write to the status high byte clears PWRBTN_STS (bit 8). */
    wr(f, ACPI_PM_REG_STS + 1, ACPI_PM1_PWRBTN >> 8, 1);
    assert_false(f->sci.level);
    assert_int_equal(rd(f, ACPI_PM_REG_STS, 2) & ACPI_PM1_PWRBTN, 0);
    /* Enabled first, then pressed: level at once; the enable reads back. */
    acpi_pm_power_button(&f->pm);
    assert_true(f->sci.level);
    assert_int_equal(f->sci.raises, 2);
    assert_int_equal(rd(f, ACPI_PM_REG_EN, 2), ACPI_PM1_PWRBTN);
    /* Clearing the enable with a byte write lowers the SCI, status stays. */
    wr(f, ACPI_PM_REG_EN + 1, 0, 1);
    assert_false(f->sci.level);
    assert_true(rd(f, ACPI_PM_REG_STS, 2) & ACPI_PM1_PWRBTN);
    /* Unimplemented enable bits do not stick. */
    wr(f, ACPI_PM_REG_EN, 0xffff, 2);
    assert_int_equal(rd(f, ACPI_PM_REG_EN, 2), ACPI_PM1_TMR | ACPI_PM1_PWRBTN);
}

static void test_sleep_requests(void **state)
{
    struct fixture *f = *state;
    const uint16_t s5 = ACPI_SLP_TYP_S5 << ACPI_PM1_CNT_SLP_TYP_SHIFT;
    /* SCI_EN always reads 1 (no SMM: always in ACPI mode). */
    assert_int_equal(rd(f, ACPI_PM_REG_CNT, 2), ACPI_PM1_CNT_SCI_EN);
    wr(f, ACPI_PM_REG_CNT, 0, 2);
    assert_int_equal(rd(f, ACPI_PM_REG_CNT, 2) & ACPI_PM1_CNT_SCI_EN, ACPI_PM1_CNT_SCI_EN);

    /* SLP_TYP alone does nothing but read back. */
    wr(f, ACPI_PM_REG_CNT, s5, 2);
    assert_int_equal(f->sleeps, 0);
    assert_int_equal(rd(f, ACPI_PM_REG_CNT, 2), s5 | ACPI_PM1_CNT_SCI_EN);

    /* SLP_EN with S5 asks the machine to power off; SLP_EN reads back 0. */
    wr(f, ACPI_PM_REG_CNT, s5 | ACPI_PM1_CNT_SLP_EN, 2);
    assert_int_equal(f->sleeps, 1);
    assert_int_equal(f->last_slp_typ, ACPI_SLP_TYP_S5);
    assert_int_equal(rd(f, ACPI_PM_REG_CNT, 2) & ACPI_PM1_CNT_SLP_EN, 0);

    /* Another type (S1 = 1 here) is passed on too; WAK_STS says the sleep is over. */
    wr(f, ACPI_PM_REG_STS, ACPI_PM1_WAK_STS, 2);
    assert_int_equal(rd(f, ACPI_PM_REG_STS, 2) & ACPI_PM1_WAK_STS, 0);
    wr(f, ACPI_PM_REG_CNT, (1u << ACPI_PM1_CNT_SLP_TYP_SHIFT) | ACPI_PM1_CNT_SLP_EN, 2);
    assert_int_equal(f->sleeps, 2);
    assert_int_equal(f->last_slp_typ, 1);
    assert_true(rd(f, ACPI_PM_REG_STS, 2) & ACPI_PM1_WAK_STS);
    assert_false(f->sci.level); /* WAK_STS has no enable */

    /* A byte write of the high byte alone keeps the low byte and can sleep. */
    wr(f, ACPI_PM_REG_CNT + 1, (s5 | ACPI_PM1_CNT_SLP_EN) >> 8, 1);
    assert_int_equal(f->sleeps, 3);
    assert_int_equal(f->last_slp_typ, ACPI_SLP_TYP_S5);
    /* A low-byte write never sets SLP_EN. */
    wr(f, ACPI_PM_REG_CNT, 0xff, 1);
    assert_int_equal(f->sleeps, 3);
    /* A dword write spanning EN and CNT reaches both. */
    wr(f, ACPI_PM_REG_EN, ((uint32_t)(s5 | ACPI_PM1_CNT_SLP_EN) << 16) | ACPI_PM1_PWRBTN, 4);
    assert_int_equal(f->sleeps, 4);
    assert_int_equal(rd(f, ACPI_PM_REG_EN, 2), ACPI_PM1_PWRBTN);
}

static void test_hostile_accesses(void **state)
{
    struct fixture *f = *state;
    acpi_pm_power_button(&f->pm);
    wr(f, ACPI_PM_REG_EN, ACPI_PM1_PWRBTN, 2);
    uint64_t bad = f->pm.bad_access;
    static const struct {
        uint64_t off;
        unsigned size;
    } cases[] = {{12, 1},
                 {15, 1},
                 {11, 2},
                 {10, 4},
                 {9, 4},
                 {0, 8},
                 {0, 0},
                 {0, 3},
                 {0, 7},
                 {UINT64_MAX, 1},
                 {UINT64_MAX - 1, 4},
                 {1u << 20, 2}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint64_t v = rd(f, cases[i].off, cases[i].size);
        if (cases[i].size == 3) {
            /* 3 bytes inside the block are a legal (if odd) access. */
            assert_int_equal(v >> 24, 0);
            continue;
        }
        unsigned s = cases[i].size;
        assert_int_equal(v, s >= 8 ? UINT64_MAX : (1ull << (8 * s)) - 1);
        wr(f, cases[i].off, UINT64_MAX, cases[i].size);
    }
    assert_int_equal(f->pm.bad_access, bad + 2 * 11);
    /* Nothing changed: button still pending and enabled, no sleep. */
    assert_true(f->sci.level);
    assert_int_equal(f->sleeps, 0);
    assert_int_equal(rd(f, ACPI_PM_REG_EN, 2), ACPI_PM1_PWRBTN);
    /* Odd offsets inside: bytes 6-7 read 0, writes there are ignored. */
    assert_int_equal(rd(f, 6, 2), 0);
    wr(f, 6, 0xffff, 2);
    assert_int_equal(rd(f, 6, 2), 0);
}

static void test_reset(void **state)
{
    struct fixture *f = *state;
    wr(f, ACPI_PM_REG_EN, ACPI_PM1_TMR | ACPI_PM1_PWRBTN, 2);
    acpi_pm_power_button(&f->pm);
    wr(f, ACPI_PM_REG_CNT, 3u << ACPI_PM1_CNT_SLP_TYP_SHIFT, 2);
    fake_clock_advance(&f->fc, 3 * NS_PER_SEC);
    assert_true(f->sci.level);
    struct device d = acpi_pm_device(&f->pm);
    assert_string_equal(d.name, "acpi-pm");
    assert_ptr_equal(d.state, &acpi_pm_vmstate);
    d.reset(d.opaque);
    assert_false(f->sci.level);
    assert_false(timer_armed(f));
    assert_int_equal(rd(f, ACPI_PM_REG_STS, 2), 0);
    assert_int_equal(rd(f, ACPI_PM_REG_EN, 2), 0);
    assert_int_equal(rd(f, ACPI_PM_REG_CNT, 2), ACPI_PM1_CNT_SCI_EN);
    assert_int_equal(tmr(f), 0);
}

static void test_vmstate_round_trip(void **state)
{
    struct fixture *f = *state;
    wr(f, ACPI_PM_REG_EN, ACPI_PM1_TMR | ACPI_PM1_PWRBTN, 2);
    acpi_pm_power_button(&f->pm);
    wr(f, ACPI_PM_REG_CNT, ACPI_SLP_TYP_S5 << ACPI_PM1_CNT_SLP_TYP_SHIFT, 2);
    fake_clock_advance(&f->fc, 2 * NS_PER_SEC + 777);
    uint32_t counter = tmr(f);

    size_t n = vmstate_size(&acpi_pm_vmstate);
    uint8_t *a = malloc(n), *b = malloc(n);
    assert_int_equal(vmstate_save(&acpi_pm_vmstate, &f->pm, a, n), (long)n);

    struct fake_irq sci2;
    fake_irq_init(&sci2, ACPI_SCI_IRQ);
    struct acpi_pm pm2;
    assert_int_equal(acpi_pm_init(&pm2, &f->fc.clock, &sci2.line, on_sleep, f), 0);
    for (int cycle = 0; cycle < 3; cycle++) {
        assert_int_equal(vmstate_load(&acpi_pm_vmstate, &pm2, a, n), 0);
        assert_int_equal(vmstate_save(&acpi_pm_vmstate, &pm2, b, n), (long)n);
        assert_memory_equal(a, b, n);
    }
    /* Same clock: the restored counter continues exactly; registers match. */
    assert_int_equal(acpi_pm_ops.read(&pm2, ACPI_PM_REG_TMR, 4), counter);
    assert_int_equal(acpi_pm_ops.read(&pm2, ACPI_PM_REG_EN, 2), ACPI_PM1_TMR | ACPI_PM1_PWRBTN);
    assert_int_equal(acpi_pm_ops.read(&pm2, ACPI_PM_REG_CNT, 2),
                     (ACPI_SLP_TYP_S5 << ACPI_PM1_CNT_SLP_TYP_SHIFT) | ACPI_PM1_CNT_SCI_EN);
    /* post_load re-armed the TMR timer and remembers the SCI as high: clearing lowers it. */
    assert_true(pm2.sci_level);
    acpi_pm_ops.write(&pm2, ACPI_PM_REG_STS, 0xffff, 2);
    assert_false(pm2.sci_level);
    unsigned before = sci2.raises;
    uint32_t c = (uint32_t)acpi_pm_ops.read(&pm2, ACPI_PM_REG_TMR, 4);
    uint32_t left = (1u << 23) - (c & ((1u << 23) - 1));
    fake_clock_advance(&f->fc, (uint64_t)left * NS_PER_SEC / ACPI_PM_TIMER_HZ + 1000);
    assert_int_equal(sci2.raises, before + 1);

    /* Hostile state: unknown status / enable / control bits are refused, device untouched. */
    static const struct {
        size_t off;
        uint16_t v;
    } bad[] = {{offsetof(struct acpi_pm, sts), 0x0002},
               {offsetof(struct acpi_pm, en), 0x8000},
               {offsetof(struct acpi_pm, cnt), 0x0001}};
    for (size_t i = 0; i < 3; i++) {
        struct acpi_pm corrupt = f->pm;
        memcpy((uint8_t *)&corrupt + bad[i].off, &bad[i].v, 2);
        uint8_t *c_buf = malloc(n);
        assert_int_equal(vmstate_save(&acpi_pm_vmstate, &corrupt, c_buf, n), (long)n);
        assert_int_equal(vmstate_save(&acpi_pm_vmstate, &pm2, a, n), (long)n);
        assert_int_equal(vmstate_load(&acpi_pm_vmstate, &pm2, c_buf, n), -EINVAL);
        assert_int_equal(vmstate_save(&acpi_pm_vmstate, &pm2, b, n), (long)n);
        assert_memory_equal(a, b, n);
        free(c_buf);
    }
    /* Truncated state is refused. */
    assert_int_equal(vmstate_load(&acpi_pm_vmstate, &pm2, a, n - 1), -EINVAL);
    acpi_pm_destroy(&pm2);
    acpi_pm_destroy(NULL);
    free(a);
    free(b);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
    const struct CMUnitTest tests[] = {
        T(test_timer_rate),
        T(test_timer_wraps_at_24_bits),
        T(test_tmr_sts_without_enable),
        T(test_tmr_sci_at_toggle),
        T(test_power_button),
        T(test_sleep_requests),
        T(test_hostile_accesses),
        T(test_reset),
        T(test_vmstate_round_trip),
    };
#undef T
    return cmocka_run_group_tests(tests, NULL, NULL);
}
