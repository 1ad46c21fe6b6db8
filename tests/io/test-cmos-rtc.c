// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * MC146818 RTC against a fake clock: dates in BCD/binary and 12/24 h, setting the time, UIP,
 * periodic/update/alarm interrupts counted exactly, register C, NVRAM, vmstate.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "io/cmos_rtc.h"
#include "tests/helpers/fake_clock.h"
#include "tests/helpers/fake_irq.h"
#include "vmm/device.h"

/* 2026-11-22 12:34:56 UTC, a Sunday. */
#define BOOT_TIME_NS (1795350896ll * 1000000000ll)
#define MS 1000000ull
#define SEC 1000000000ull

struct fixture {
    struct fake_clock fc;
    struct fake_irq irq;
    struct cmos_rtc rtc;
};

static uint8_t rd(struct fixture *f, uint8_t index)
{
    cmos_rtc_ops.write(&f->rtc, 0, index, 1);
    return (uint8_t)cmos_rtc_ops.read(&f->rtc, 1, 1);
}

static void wr(struct fixture *f, uint8_t index, uint8_t val)
{
    cmos_rtc_ops.write(&f->rtc, 0, index, 1);
    cmos_rtc_ops.write(&f->rtc, 1, val, 1);
}

static int armed_timers(const struct fake_clock *fc)
{
    int n = 0;
    for (int i = 0; i < FAKE_CLOCK_MAX_TIMERS; i++) {
        n += fc->timers[i].used && fc->timers[i].armed;
    }
    return n;
}

static int setup(void **state)
{
    static struct fixture f;
    memset(&f, 0, sizeof(f));
    fake_clock_init(&f.fc, BOOT_TIME_NS);
    fake_irq_init(&f.irq, 8);
    assert_int_equal(cmos_rtc_init(&f.rtc, &f.fc.clock, &f.irq.line), 0);
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    cmos_rtc_destroy(&f->rtc);
    cmos_rtc_destroy(NULL);
    struct cmos_rtc none;
    assert_int_equal(cmos_rtc_init(&none, NULL, NULL), -EINVAL);
    cmos_rtc_destroy(&none);
    return 0;
}

static void test_read_date_bcd(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(rd(f, 0x0b), 0x02); /* 24 h, BCD */
    assert_int_equal(rd(f, 0x00), 0x56);
    assert_int_equal(rd(f, 0x02), 0x34);
    assert_int_equal(rd(f, 0x04), 0x12);
    assert_int_equal(rd(f, 0x06), 1); /* Sunday */
    assert_int_equal(rd(f, 0x07), 0x22);
    assert_int_equal(rd(f, 0x08), 0x11);
    assert_int_equal(rd(f, 0x09), 0x26);
    assert_int_equal(rd(f, 0x32), 0x20);
    assert_int_equal(rd(f, 0x0d), 0x80);
    assert_int_equal(rd(f, 0x0a) & 0x7f, 0x26);
    fake_clock_advance(&f->fc, 65 * SEC); /* 12:36:01 */
    assert_int_equal(rd(f, 0x00), 0x01);
    assert_int_equal(rd(f, 0x02), 0x36);
}

static void test_read_date_binary_and_12h(void **state)
{
    struct fixture *f = *state;
    wr(f, 0x0b, 0x06); /* binary, 24 h */
    assert_int_equal(rd(f, 0x00), 56);
    assert_int_equal(rd(f, 0x02), 34);
    assert_int_equal(rd(f, 0x04), 12);
    assert_int_equal(rd(f, 0x07), 22);
    assert_int_equal(rd(f, 0x08), 11);
    assert_int_equal(rd(f, 0x09), 26);
    assert_int_equal(rd(f, 0x32), 20);
    wr(f, 0x0b, 0x00); /* BCD, 12 h: 12:34 is 12 PM */
    assert_int_equal(rd(f, 0x04), 0x92);
    wr(f, 0x0b, 0x04); /* binary, 12 h */
    assert_int_equal(rd(f, 0x04), 0x8c);
    fake_clock_advance(&f->fc, 12 * 3600 * SEC); /* 00:34 next day is 12 AM */
    assert_int_equal(rd(f, 0x04), 12);
    assert_int_equal(rd(f, 0x07), 23);
    assert_int_equal(rd(f, 0x06), 2);            /* Monday */
    fake_clock_advance(&f->fc, 13 * 3600 * SEC); /* 13:34 is 1 PM */
    assert_int_equal(rd(f, 0x04), 0x81);
}

static void test_set_time(void **state)
{
    struct fixture *f = *state;
    wr(f, 0x0b, 0x82); /* SET, 24 h, BCD */
    wr(f, 0x00, 0x00);
    wr(f, 0x02, 0x00);
    wr(f, 0x04, 0x08);
    wr(f, 0x07, 0x01);
    wr(f, 0x08, 0x01);
    wr(f, 0x09, 0x99);
    wr(f, 0x32, 0x19);
    fake_clock_advance(&f->fc, 5 * SEC);
    assert_int_equal(rd(f, 0x00), 0x00); /* held while SET */
    assert_int_equal(rd(f, 0x0a) & 0x80, 0);
    wr(f, 0x0b, 0x02);
    fake_clock_advance(&f->fc, 10 * SEC);
    assert_int_equal(rd(f, 0x00), 0x10);
    assert_int_equal(rd(f, 0x02), 0x00);
    assert_int_equal(rd(f, 0x04), 0x08);
    assert_int_equal(rd(f, 0x07), 0x01);
    assert_int_equal(rd(f, 0x08), 0x01);
    assert_int_equal(rd(f, 0x09), 0x99);
    assert_int_equal(rd(f, 0x32), 0x19);
    assert_int_equal(rd(f, 0x06), 6); /* 1999-01-01 was a Friday */
    /* A field written with the clock running changes the time at once and keeps counting. */
    wr(f, 0x02, 0x45);
    fake_clock_advance(&f->fc, 2 * SEC);
    assert_int_equal(rd(f, 0x02), 0x45);
    assert_int_equal(rd(f, 0x00), 0x12);
    assert_int_equal(rd(f, 0x04), 0x08);
    /* Garbage written under SET is clamped, never a crash. */
    wr(f, 0x0b, 0x82);
    wr(f, 0x08, 0xff);
    wr(f, 0x04, 0xff);
    wr(f, 0x0b, 0x02);
    assert_int_equal(rd(f, 0x08), 0x12);
    assert_int_equal(rd(f, 0x04), 0x23);
}

static void test_uip_window(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(rd(f, 0x0a) & 0x80, 0); /* exactly on a second boundary */
    fake_clock_advance(&f->fc, SEC - 244000 - 1);
    assert_int_equal(rd(f, 0x0a) & 0x80, 0);
    fake_clock_advance(&f->fc, 1);
    assert_int_equal(rd(f, 0x0a) & 0x80, 0x80);
    assert_int_equal(rd(f, 0x00), 0x56);
    fake_clock_advance(&f->fc, 243999);
    assert_int_equal(rd(f, 0x0a) & 0x80, 0x80);
    fake_clock_advance(&f->fc, 1);
    assert_int_equal(rd(f, 0x0a) & 0x80, 0);
    assert_int_equal(rd(f, 0x00), 0x57);
    fake_clock_advance(&f->fc, SEC - 100000);
    assert_int_equal(rd(f, 0x0a) & 0x80, 0x80);
    wr(f, 0x0b, 0x82); /* SET inhibits updates: no UIP */
    assert_int_equal(rd(f, 0x0a) & 0x80, 0);
    wr(f, 0x0a, 0xa6); /* UIP is read-only */
    assert_int_equal(rd(f, 0x0a), 0x26);
}

/* Read C every step over one second; returns how many reads saw the given flag. */
static unsigned count_flag(struct fixture *f, uint8_t flag, uint64_t step, uint64_t total)
{
    unsigned n = 0;
    for (uint64_t t = 0; t < total; t += step) {
        fake_clock_advance(&f->fc, step);
        uint8_t c = rd(f, 0x0c);
        n += (c & flag) != 0;
        assert_false(f->irq.level); /* the read released the line */
    }
    return n;
}

static void test_periodic_1024hz(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(armed_timers(&f->fc), 0); /* nothing enabled: no timer runs */
    rd(f, 0x0c);
    wr(f, 0x0a, 0x26);
    wr(f, 0x0b, 0x42); /* PIE */
    assert_int_equal(armed_timers(&f->fc), 1);
    unsigned raises0 = f->irq.raises;
    assert_int_equal(count_flag(f, 0x40, 100000, SEC), 1024);
    assert_int_equal(f->irq.raises - raises0, 1024);
    wr(f, 0x0b, 0x02);
    assert_int_equal(armed_timers(&f->fc), 0);
}

static void test_periodic_rates(void **state)
{
    struct fixture *f = *state;
    static const struct {
        uint8_t rate;
        unsigned hz;
    } cases[] = {{1, 256}, {2, 128}, {3, 8192}, {8, 256}, {15, 2}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        wr(f, 0x0a, 0x20 | cases[i].rate);
        wr(f, 0x0b, 0x42);
        rd(f, 0x0c);
        unsigned raises0 = f->irq.raises;
        fake_clock_advance(&f->fc, SEC); /* the line stays up until C is read */
        assert_int_equal(f->irq.raises - raises0, 1);
        rd(f, 0x0c);
        assert_int_equal(count_flag(f, 0x40, 50000, SEC), cases[i].hz);
    }
    wr(f, 0x0a, 0x20); /* rate 0: no periodic interrupt */
    rd(f, 0x0c);
    assert_int_equal(count_flag(f, 0x40, MS, 20 * MS), 0);
    assert_int_equal(armed_timers(&f->fc), 0);
}

/*
 * A guest polling register C while the periodic timer runs late must not swallow the
 * interrupt: the read that finds PF pulses the line (a CI failure: 4 IRQs in ~1 s at 64 Hz).
 */
static void test_periodic_timer_late(void **state)
{
    struct fixture *f = *state;
    wr(f, 0x0a, 0x2a); /* 64 Hz */
    wr(f, 0x0b, 0x42);
    rd(f, 0x0c);
    unsigned raises0 = f->irq.raises;
    for (int i = 0; i < 8; i++) {
        f->fc.now += SEC / 64 + MS; /* time passes, the timer does not fire */
        uint8_t c = rd(f, 0x0c);
        assert_int_equal(c & 0xc0, 0xc0); /* PF with IRQF */
        assert_false(f->irq.level);
    }
    assert_int_equal(f->irq.raises - raises0, 8);
    fake_clock_advance(&f->fc, 0); /* the late timer runs: no second interrupt */
    assert_int_equal(f->irq.raises - raises0, 8);
    wr(f, 0x0b, 0x02);
}

static void test_polled_flags_without_timers(void **state)
{
    struct fixture *f = *state;
    rd(f, 0x0c);
    fake_clock_advance(&f->fc, 1500 * MS);
    /* PF and UF are set even with their interrupts disabled, and no IRQ. */
    uint8_t c = rd(f, 0x0c);
    assert_int_equal(c & 0xf0, 0x50);
    assert_int_equal(f->irq.raises, 0);
    assert_int_equal(armed_timers(&f->fc), 0);
}

static void test_update_interrupt(void **state)
{
    struct fixture *f = *state;
    rd(f, 0x0c);
    wr(f, 0x0a, 0x20);
    wr(f, 0x0b, 0x12); /* UIE */
    fake_clock_advance(&f->fc, SEC - 1);
    assert_false(f->irq.level);
    fake_clock_advance(&f->fc, 1);
    assert_true(f->irq.level);
    assert_int_equal(rd(f, 0x0c), 0x90);
    assert_false(f->irq.level);
    assert_int_equal(count_flag(f, 0x10, 10 * MS, 5 * SEC), 5);
    assert_int_equal(f->irq.raises, 6);
    wr(f, 0x0b, 0x92); /* SET clears UIE */
    assert_int_equal(rd(f, 0x0b), 0x82);
    assert_int_equal(armed_timers(&f->fc), 0);
}

static void test_alarm(void **state)
{
    struct fixture *f = *state;
    rd(f, 0x0c);
    wr(f, 0x0a, 0x20);
    wr(f, 0x01, 0x00); /* 12:35:00, four seconds away */
    wr(f, 0x03, 0x35);
    wr(f, 0x05, 0x12);
    wr(f, 0x0b, 0x22); /* AIE */
    fake_clock_advance(&f->fc, 4 * SEC - 1);
    assert_false(f->irq.level);
    fake_clock_advance(&f->fc, 1);
    assert_true(f->irq.level);
    assert_int_equal(rd(f, 0x0c) & 0xa0, 0xa0);
    fake_clock_advance(&f->fc, 3600 * SEC);
    assert_false(f->irq.level); /* the next match is tomorrow */
    /* Don't-care hour and minute: once a minute at :10. */
    wr(f, 0x01, 0x10);
    wr(f, 0x03, 0xc0);
    wr(f, 0x05, 0xff);
    rd(f, 0x0c);
    unsigned raises0 = f->irq.raises;
    for (int i = 0; i < 180; i++) {
        fake_clock_advance(&f->fc, SEC);
        if (f->irq.level) {
            rd(f, 0x0c);
        }
    }
    assert_int_equal(f->irq.raises - raises0, 3);
    /* An alarm byte naming no valid second never fires. */
    wr(f, 0x01, 0x75);
    rd(f, 0x0c);
    fake_clock_advance(&f->fc, 120 * SEC);
    assert_false(f->irq.level);
    assert_int_equal(armed_timers(&f->fc), 0);
}

static void test_alarm_12h_mode(void **state)
{
    struct fixture *f = *state;
    wr(f, 0x0b, 0x20); /* BCD, 12 h, AIE */
    rd(f, 0x0c);
    wr(f, 0x01, 0x00);
    wr(f, 0x03, 0x00);
    wr(f, 0x05, 0x81); /* 1 PM */
    fake_clock_advance(&f->fc, (25 * 60 + 4) * SEC - 1);
    assert_false(f->irq.level);
    fake_clock_advance(&f->fc, 1);
    assert_true(f->irq.level);
}

static void test_reg_c_enable_late(void **state)
{
    struct fixture *f = *state;
    rd(f, 0x0c);
    fake_clock_advance(&f->fc, 2 * SEC);
    assert_false(f->irq.level);
    wr(f, 0x0b, 0x12); /* UF is already set: enabling UIE raises the line now */
    assert_true(f->irq.level);
    assert_int_equal(rd(f, 0x0c) & 0x90, 0x90);
    assert_false(f->irq.level);
    assert_int_equal(rd(f, 0x0c), 0);
}

static void test_index_port(void **state)
{
    struct fixture *f = *state;
    wr(f, 0x8e, 0xa5); /* NMI-disable bit set: still index 0x0e */
    assert_true(cmos_rtc_nmi_disabled(&f->rtc));
    assert_int_equal(rd(f, 0x0e), 0xa5);
    assert_false(cmos_rtc_nmi_disabled(&f->rtc));
    assert_int_equal(rd(f, 0x8d), 0x80);
    wr(f, 0xff, 0x3c); /* out-of-range index wraps into 7 bits */
    assert_int_equal(rd(f, 0x7f), 0x3c);
    assert_int_equal(cmos_rtc_ops.read(&f->rtc, 0, 1), 0xff); /* index port is write-only */
    cmos_rtc_ops.write(&f->rtc, 5, 0x12, 1);                  /* outside the range */
    assert_int_equal(cmos_rtc_ops.read(&f->rtc, 5, 1), 0xff);
    wr(f, 0x0d, 0x00); /* D is read-only */
    assert_int_equal(rd(f, 0x0d), 0x80);
}

static void test_nvram_setup(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(cmos_rtc_set_byte(&f->rtc, 0x10, 0x44), 0);
    assert_int_equal(rd(f, 0x10), 0x44);
    assert_int_equal(cmos_rtc_set_byte(&f->rtc, 128, 1), -EINVAL);
    assert_int_equal(cmos_rtc_set_byte(&f->rtc, 0x00, 1), -EINVAL);
    assert_int_equal(cmos_rtc_set_byte(&f->rtc, 0x32, 1), -EINVAL);

    cmos_rtc_set_memory(&f->rtc, 3ull << 30, 1ull << 30, 4);
    assert_int_equal(rd(f, 0x15) | rd(f, 0x16) << 8, 640);
    assert_int_equal(rd(f, 0x17) | rd(f, 0x18) << 8, 0xffff);
    assert_int_equal(rd(f, 0x30) | rd(f, 0x31) << 8, 0xffff);
    assert_int_equal(rd(f, 0x34) | rd(f, 0x35) << 8, ((3ull << 30) - (16ull << 20)) >> 16);
    assert_int_equal(rd(f, 0x5b) | rd(f, 0x5c) << 8 | rd(f, 0x5d) << 16, (1ull << 30) >> 16);
    assert_int_equal(rd(f, 0x5f), 3);

    cmos_rtc_set_memory(&f->rtc, 8ull << 20, 0, 1);
    assert_int_equal(rd(f, 0x17) | rd(f, 0x18) << 8, 7 * 1024);
    assert_int_equal(rd(f, 0x34) | rd(f, 0x35) << 8, 0);
    assert_int_equal(rd(f, 0x5b) | rd(f, 0x5c) | rd(f, 0x5d), 0);
    assert_int_equal(rd(f, 0x5f), 0);
}

static void test_reset(void **state)
{
    struct fixture *f = *state;
    struct device dev;
    cmos_rtc_device(&f->rtc, &dev);
    assert_string_equal(dev.name, "cmos-rtc");
    assert_ptr_equal(dev.state, &cmos_rtc_vmstate);
    wr(f, 0x20, 0x99);
    wr(f, 0x0b, 0x72);
    fake_clock_advance(&f->fc, SEC);
    assert_true(f->irq.level);
    dev.reset(dev.opaque);
    assert_false(f->irq.level);
    assert_int_equal(rd(f, 0x0b), 0x02);
    assert_int_equal(rd(f, 0x20), 0x99); /* NVRAM survives */
    assert_int_equal(armed_timers(&f->fc), 0);
}

static void test_vmstate_round_trip(void **state)
{
    struct fixture *f = *state;
    wr(f, 0x0b, 0x82);
    wr(f, 0x09, 0x30);
    wr(f, 0x0b, 0x02);
    wr(f, 0x0b, 0x46); /* binary, PIE */
    wr(f, 0x40, 0x5a);
    cmos_rtc_set_memory(&f->rtc, 512ull << 20, 0, 2);
    uint8_t buf1[256], buf2[256];
    long n1 = vmstate_save(&cmos_rtc_vmstate, &f->rtc, buf1, sizeof(buf1));
    assert_true(n1 > 0);

    struct fake_irq irq2;
    fake_irq_init(&irq2, 8);
    struct cmos_rtc r2;
    assert_int_equal(cmos_rtc_init(&r2, &f->fc.clock, &irq2.line), 0);
    for (int cycle = 0; cycle < 3; cycle++) {
        assert_int_equal(vmstate_load(&cmos_rtc_vmstate, &r2, buf1, (size_t)n1), 0);
        long n2 = vmstate_save(&cmos_rtc_vmstate, &r2, buf2, sizeof(buf2));
        assert_int_equal(n2, n1);
        assert_memory_equal(buf1, buf2, (size_t)n1);
    }
    fake_clock_advance(&f->fc, 3 * SEC);
    cmos_rtc_ops.write(&r2, 0, 0x09, 1);
    assert_int_equal(cmos_rtc_ops.read(&r2, 1, 1), 30); /* the year, in binary now */
    cmos_rtc_ops.write(&r2, 0, 0x00, 1);
    assert_int_equal(cmos_rtc_ops.read(&r2, 1, 1), rd(f, 0x00));
    cmos_rtc_ops.write(&r2, 0, 0x40, 1);
    assert_int_equal(cmos_rtc_ops.read(&r2, 1, 1), 0x5a);
    assert_true(irq2.level); /* the restored periodic timer runs */

    /* Hostile states are refused and change nothing. */
    buf1[8] = 0x80; /* index */
    assert_int_equal(vmstate_load(&cmos_rtc_vmstate, &r2, buf1, (size_t)n1), -EINVAL);
    buf1[8] = 0;
    int64_t huge = INT64_MAX;
    memcpy(&buf1[n1 - 8], &huge, 8);
    assert_int_equal(vmstate_load(&cmos_rtc_vmstate, &r2, buf1, (size_t)n1), -EINVAL);
    cmos_rtc_ops.write(&r2, 0, 0x09, 1);
    assert_int_equal(cmos_rtc_ops.read(&r2, 1, 1), 30);
    cmos_rtc_destroy(&r2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_read_date_bcd, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_date_binary_and_12h, setup, teardown),
        cmocka_unit_test_setup_teardown(test_set_time, setup, teardown),
        cmocka_unit_test_setup_teardown(test_uip_window, setup, teardown),
        cmocka_unit_test_setup_teardown(test_periodic_1024hz, setup, teardown),
        cmocka_unit_test_setup_teardown(test_periodic_rates, setup, teardown),
        cmocka_unit_test_setup_teardown(test_periodic_timer_late, setup, teardown),
        cmocka_unit_test_setup_teardown(test_polled_flags_without_timers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_update_interrupt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alarm, setup, teardown),
        cmocka_unit_test_setup_teardown(test_alarm_12h_mode, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reg_c_enable_late, setup, teardown),
        cmocka_unit_test_setup_teardown(test_index_port, setup, teardown),
        cmocka_unit_test_setup_teardown(test_nvram_setup, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reset, setup, teardown),
        cmocka_unit_test_setup_teardown(test_vmstate_round_trip, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
