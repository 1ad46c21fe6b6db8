// SPDX-License-Identifier: GPL-2.0-or-later
/* Bus dispatch: lookup, overlap refusal, unassigned accesses, size splitting and merging. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "vmm/bus.h"

struct regs {
    uint8_t mem[16];
    unsigned reads, writes;
    unsigned last_size;
};

static uint64_t regs_read(void *opaque, uint64_t off, unsigned size)
{
    struct regs *r = opaque;
    uint64_t v = 0;
    r->reads++;
    r->last_size = size;
    memcpy(&v, &r->mem[off], size);
    return v;
}

static void regs_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    struct regs *r = opaque;
    r->writes++;
    r->last_size = size;
    memcpy(&r->mem[off], &val, size);
}

static const struct bus_ops any_ops = {.read = regs_read, .write = regs_write};
static const struct bus_ops dword_ops = {
    .read = regs_read, .write = regs_write, .min_size = 4, .max_size = 4};

static void test_register_overlap(void **state)
{
    struct bus bus;
    struct regs a = {0};
    bus_init(&bus, "pio");
    assert_int_equal(bus_register(&bus, 0x100, 8, &any_ops, &a, "a"), 0);
    assert_int_equal(bus_register(&bus, 0x104, 8, &any_ops, &a, "b"), -EEXIST);
    assert_int_equal(bus_register(&bus, 0xfc, 8, &any_ops, &a, "c"), -EEXIST);
    assert_int_equal(bus_register(&bus, 0x108, 8, &any_ops, &a, "d"), 0);
    assert_int_equal(bus_register(&bus, 0xf8, 8, &any_ops, &a, "e"), 0);
    assert_int_equal(bus_register(&bus, 0x0, 0, &any_ops, &a, "f"), -EINVAL);
    assert_int_equal(bus_register(&bus, UINT64_MAX, 2, &any_ops, &a, "g"), -EINVAL);
    assert_string_equal(bus_find(&bus, 0x107)->name, "a");
    assert_string_equal(bus_find(&bus, 0x108)->name, "d");
    assert_string_equal(bus_find(&bus, 0xff)->name, "e");
    assert_null(bus_find(&bus, 0x110));
    assert_int_equal(bus_unregister(&bus, 0x108), 0);
    assert_null(bus_find(&bus, 0x108));
    assert_int_equal(bus_unregister(&bus, 0x108), -ENOENT);
    bus_destroy(&bus);
}

static void test_unassigned(void **state)
{
    struct bus bus;
    bus_init(&bus, "pio");
    uint32_t v = 0;
    assert_false(bus_read(&bus, 0x80, &v, 4));
    assert_int_equal(v, 0xffffffffu);
    assert_false(bus_write(&bus, 0x80, &v, 4));
    assert_int_equal(bus.unassigned, 2);
    bus_destroy(&bus);
}

static void test_offsets_and_straddle(void **state)
{
    struct bus bus;
    struct regs a = {0};
    bus_init(&bus, "mmio");
    assert_int_equal(bus_register(&bus, 0x1000, 16, &any_ops, &a, "a"), 0);
    uint32_t v = 0x11223344;
    assert_true(bus_write(&bus, 0x1004, &v, 4));
    assert_int_equal(a.mem[4], 0x44);
    assert_int_equal(a.mem[7], 0x11);
    /* Straddling the end of the range is not handed to the device. */
    assert_false(bus_write(&bus, 0x100e, &v, 4));
    assert_int_equal(a.writes, 1);
    bus_destroy(&bus);
}

static void test_split_wide_access(void **state)
{
    struct bus bus;
    struct regs a = {0};
    bus_init(&bus, "mmio");
    assert_int_equal(bus_register(&bus, 0, 16, &dword_ops, &a, "a"), 0);
    uint64_t v = 0x8877665544332211ull;
    assert_true(bus_write(&bus, 0, &v, 8));
    assert_int_equal(a.writes, 2);
    assert_int_equal(a.last_size, 4);
    uint64_t r = 0;
    assert_true(bus_read(&bus, 0, &r, 8));
    assert_int_equal(r, v);
    bus_destroy(&bus);
}

static void test_merge_narrow_access(void **state)
{
    struct bus bus;
    struct regs a = {0};
    bus_init(&bus, "mmio");
    assert_int_equal(bus_register(&bus, 0, 16, &dword_ops, &a, "a"), 0);
    uint32_t w = 0xaabbccdd;
    assert_true(bus_write(&bus, 4, &w, 4));
    uint8_t b = 0x55;
    assert_true(bus_write(&bus, 6, &b, 1));
    assert_int_equal(a.last_size, 4);
    uint32_t r = 0;
    assert_true(bus_read(&bus, 4, &r, 4));
    assert_int_equal(r, 0xaa55ccdd);
    uint16_t h = 0;
    assert_true(bus_read(&bus, 5, &h, 2));
    assert_int_equal(h, 0x55cc);
    bus_destroy(&bus);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_register_overlap),     cmocka_unit_test(test_unassigned),
        cmocka_unit_test(test_offsets_and_straddle), cmocka_unit_test(test_split_wide_access),
        cmocka_unit_test(test_merge_narrow_access),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
