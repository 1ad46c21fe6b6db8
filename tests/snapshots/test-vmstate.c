// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Table-driven state: round trips, old versions, refused states leave the device as it was, a
 * variable-length tail.
 */
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

/* A device with a variable-length tail: n bytes of a list, n <= 8, each below 200. */
struct listdev {
    uint32_t gen;
    uint8_t n;
    uint8_t items[8];
};

static long list_save(const void *opaque, void *buf, size_t len)
{
    const struct listdev *d = opaque;
    if (buf) {
        if (len < 1u + d->n) {
            return -ENOSPC;
        }
        memcpy(buf, &d->n, 1);
        memcpy((uint8_t *)buf + 1, d->items, d->n);
    }
    return 1 + d->n;
}

static int list_check(const void *opaque, const void *buf, size_t len)
{
    const uint8_t *p = buf;
    if (len < 1 || p[0] > 8 || len != 1u + p[0]) {
        return -EINVAL;
    }
    for (unsigned i = 0; i < p[0]; i++) {
        if (p[1 + i] >= 200) {
            return -EINVAL;
        }
    }
    return 0;
}

static int list_load(void *opaque, const void *buf, size_t len)
{
    struct listdev *d = opaque;
    if (list_check(opaque, buf, len) < 0) {
        return -EINVAL;
    }
    d->n = ((const uint8_t *)buf)[0];
    memcpy(d->items, (const uint8_t *)buf + 1, d->n);
    return 0;
}

static const struct vmstate_field list_fields[] = {
    VMSTATE_FIELD(struct listdev, gen),
    VMSTATE_END,
};

static const struct vmstate list_vms = {
    .name = "list",
    .version = 1,
    .fields = list_fields,
    .tail_save = list_save,
    .tail_check = list_check,
    .tail_load = list_load,
};

static void test_tail(void **state)
{
    struct listdev d = {.gen = 7, .n = 3, .items = {1, 2, 3}}, e = {.gen = 1};
    uint8_t buf[64], bad[64];
    size_t n = vmstate_saved_size(&list_vms, &d);
    assert_int_equal(n, 8 + 4 + 4);
    assert_int_equal(vmstate_save(&list_vms, &d, buf, n - 1), -ENOSPC);
    assert_int_equal(vmstate_save(&list_vms, &d, buf, sizeof(buf)), (long)n);
    assert_int_equal(vmstate_check_state(&list_vms, &e, buf, n), 0);
    assert_int_equal(vmstate_load(&list_vms, &e, buf, n), 0);
    assert_true(e.gen == 7 && e.n == 3 && e.items[2] == 3);
    /* An item the tail check refuses: check and load refuse, the fields are put back. */
    struct listdev f = {.gen = 9};
    memcpy(bad, buf, n);
    bad[8 + 4 + 2] = 250;
    assert_int_equal(vmstate_check_state(&list_vms, &f, bad, n), -EINVAL);
    assert_int_equal(vmstate_load(&list_vms, &f, bad, n), -EINVAL);
    assert_true(f.gen == 9 && f.n == 0);
    /* Payload shorter than the fields: refused before the tail is looked at. */
    uint32_t short_payload = 2;
    memcpy(bad, buf, n);
    memcpy(bad + 4, &short_payload, 4);
    assert_int_equal(vmstate_check(&list_vms, bad, 10), -EINVAL);
    /* Without a tail, the length must be exact as before. */
    struct dev x = {0};
    uint8_t small[64];
    long got = vmstate_save(&dev_v2, &x, small, sizeof(small));
    uint32_t more = (uint32_t)(got - 8 + 1);
    memcpy(small + 4, &more, 4);
    assert_int_equal(vmstate_check(&dev_v2, small, (size_t)got + 1), -EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip_identical),
        cmocka_unit_test(test_old_version_loads),
        cmocka_unit_test(test_refusals_leave_device_intact),
        cmocka_unit_test(test_tail),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
