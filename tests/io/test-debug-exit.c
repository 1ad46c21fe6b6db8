// SPDX-License-Identifier: GPL-2.0-or-later
/* Debug exit port: QEMU's (V << 1) | 1 status for each access size, reads of 0, vmstate. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "io/debug_exit.h"
#include "vmm/bus.h"
#include "vmm/device.h"

struct recorder {
    int calls;
    int status;
};

static void record_exit(void *opaque, int status)
{
    struct recorder *r = opaque;
    r->calls++;
    r->status = status;
}

static void test_status_encoding(void **state)
{
    struct recorder r = {0};
    struct debug_exit d;
    debug_exit_init(&d, record_exit, &r);
    static const struct {
        uint64_t val;
        unsigned size;
        int status;
        int exit_code;
    } cases[] = {
        {0x00, 1, 1, 1},           {0x10, 1, 0x21, 0x21},     {0x7f, 1, 0xff, 0xff},
        {0x80, 1, 0x101, 0x01},    {0x1234, 2, 0x2469, 0x69}, {0x3fffffff, 4, 0x7fffffff, 0xff},
        {0x1ff, 1, 0x1ff, 0xff},   /* a byte access sees only the low byte */
        {0xffffffff, 4, -1, 0xff}, /* truncated to int as exit() would */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        debug_exit_ops.write(&d, 0, cases[i].val, cases[i].size);
        assert_int_equal(r.calls, (int)i + 1);
        assert_int_equal(r.status, cases[i].status);
        assert_int_equal(r.status & 0xff, cases[i].exit_code);
    }
    debug_exit_destroy(&d);
}

static void test_through_bus(void **state)
{
    struct recorder r = {0};
    struct debug_exit d;
    debug_exit_init(&d, record_exit, &r);
    struct bus bus;
    bus_init(&bus, "pio");
    assert_int_equal(bus_register(&bus, 0xf4, 4, &debug_exit_ops, &d, "debug-exit"), 0);
    uint32_t v = 0xffffffff;
    assert_true(bus_read(&bus, 0xf4, &v, 4));
    assert_int_equal(v, 0); /* QEMU reads the port as zero */
    uint16_t w = 0x0021;
    assert_true(bus_write(&bus, 0xf4, &w, 2));
    assert_int_equal(r.calls, 1);
    assert_int_equal(r.status, 0x43);
    uint8_t b = 3;
    assert_true(bus_write(&bus, 0xf5, &b, 1)); /* any offset in the range, as in QEMU */
    assert_int_equal(r.status, 7);
    bus_destroy(&bus);
}

static void test_no_callback_and_device(void **state)
{
    struct debug_exit d;
    debug_exit_init(&d, NULL, NULL);
    debug_exit_ops.write(&d, 0, 1, 1); /* no callback: nothing happens, no crash */
    struct device dev;
    debug_exit_device(&d, &dev);
    assert_string_equal(dev.name, "debug-exit");
    assert_non_null(dev.state);
    dev.reset(dev.opaque);
    uint8_t buf[16];
    long n = vmstate_save(dev.state, &d, buf, sizeof(buf));
    assert_int_equal(n, 8);
    assert_int_equal(vmstate_load(dev.state, &d, buf, (size_t)n), 0);
    debug_exit_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_status_encoding),
        cmocka_unit_test(test_through_bus),
        cmocka_unit_test(test_no_callback_and_device),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
