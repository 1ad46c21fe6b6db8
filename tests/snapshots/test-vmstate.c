// SPDX-License-Identifier: GPL-2.0-or-later
/* Table-driven state: round trips, old versions, refused states leave the device as it was. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "snapshots/vmstate.h"

struct dev {
    uint8_t a;
    uint32_t b;
    uint16_t arr[4];
    uint64_t c; /* added in version 2 */
    int derived;
};

static int dev_post_load(void *opaque)
{
    struct dev *d = opaque;
    if (d->a > 100) {
        return -EINVAL;
    }
    d->derived = d->a * 2;
    return 0;
}

static const struct vmstate_field dev_fields[] = {
    VMSTATE_FIELD(struct dev, a),
    VMSTATE_FIELD(struct dev, b),
    VMSTATE_ARRAY(struct dev, arr),
    VMSTATE_FIELD_V(struct dev, c, 2),
    VMSTATE_END,
};

static const struct vmstate dev_v2 = {"dev", 2, dev_fields, dev_post_load};
static const struct vmstate dev_v1 = {"dev", 1, dev_fields, dev_post_load};

static void test_round_trip_identical(void **state)
{
    struct dev d = {.a = 7, .b = 0xdeadbeef, .arr = {1, 2, 3, 4}, .c = 99};
    uint8_t buf1[128], buf2[128];
    long n1 = vmstate_save(&dev_v2, &d, buf1, sizeof(buf1));
    assert_int_equal(n1, (long)vmstate_size(&dev_v2));
    assert_int_equal(n1, 8 + 1 + 4 + 8 + 8);
    struct dev e = {0};
    for (int cycle = 0; cycle < 3; cycle++) {
        assert_int_equal(vmstate_load(&dev_v2, &e, buf1, (size_t)n1), 0);
        long n2 = vmstate_save(&dev_v2, &e, buf2, sizeof(buf2));
        assert_int_equal(n2, n1);
        assert_memory_equal(buf1, buf2, (size_t)n1);
    }
    assert_int_equal(e.derived, 14);
    assert_int_equal(e.arr[3], 4);
}

static void test_old_version_loads(void **state)
{
    struct dev d = {.a = 3, .b = 5, .c = 77};
    uint8_t buf[128];
    long n = vmstate_save(&dev_v1, &d, buf, sizeof(buf));
    assert_int_equal(n, 8 + 1 + 4 + 8);
    struct dev e = {.c = 1234};
    assert_int_equal(vmstate_load(&dev_v2, &e, buf, (size_t)n), 0);
    assert_int_equal(e.b, 5);
    assert_int_equal(e.c, 1234); /* not in v1: left as it was */
}

static void test_refusals_leave_device_intact(void **state)
{
    struct dev d = {.a = 200, .b = 1};
    uint8_t buf[128];
    long n = vmstate_save(&dev_v2, &d, buf, sizeof(buf));
    struct dev e = {.a = 1, .b = 2, .derived = 9};
    struct dev before = e;
    /* post_load refuses a = 200 */
    assert_int_equal(vmstate_load(&dev_v2, &e, buf, (size_t)n), -EINVAL);
    assert_memory_equal(&e, &before, sizeof(e));
    /* truncated, trailing garbage, newer version, zero version */
    assert_int_equal(vmstate_load(&dev_v2, &e, buf, (size_t)n - 1), -EINVAL);
    assert_int_equal(vmstate_load(&dev_v2, &e, buf, 4), -EINVAL);
    uint8_t big[160] = {0};
    memcpy(big, buf, (size_t)n);
    assert_int_equal(vmstate_load(&dev_v2, &e, big, (size_t)n + 1), -EINVAL);
    buf[0] = 3;
    assert_int_equal(vmstate_load(&dev_v2, &e, buf, (size_t)n), -EINVAL);
    buf[0] = 0;
    assert_int_equal(vmstate_load(&dev_v2, &e, buf, (size_t)n), -EINVAL);
    assert_memory_equal(&e, &before, sizeof(e));
    /* too small an output buffer */
    assert_int_equal(vmstate_save(&dev_v2, &d, buf, 10), -ENOSPC);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_identical),
        cmocka_unit_test(test_old_version_loads),
        cmocka_unit_test(test_refusals_leave_device_intact),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
