// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Device state in checkpoints: a device without a state description fails the capture by
 * name; capture -> file -> check -> apply into fresh instances gives identical state; a
 * device list that differs (count, names, order, a newer state version) is refused before
 * any device changes; a post_load refusal names the device and leaves it as it was.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "snapshots/devstate.h"
#include "snapshots/vmstate.h"

struct counter {
    uint32_t value;
    uint8_t regs[6];
    int derived; /* recomputed by post_load */
};

static int counter_post_load(void *opaque)
{
    struct counter *c = opaque;
    if (c->value > 1000) { /* hostile: out of range */
        return -EINVAL;
    }
    c->derived = (int)c->value * 2;
    return 0;
}

static const struct vmstate_field counter_fields[] = {
    VMSTATE_FIELD(struct counter, value),
    VMSTATE_ARRAY(struct counter, regs),
    VMSTATE_END,
};
static const struct vmstate counter_vmstate = {"counter", 1, counter_fields, counter_post_load};
static const struct vmstate counter_vmstate_v0 = {"counter", 0, counter_fields, NULL};

struct machine {
    struct counter a, b;
    struct device devs[2];
};

static void machine_init(struct machine *m, uint32_t seed)
{
    memset(m, 0, sizeof(*m));
    m->a.value = seed;
    m->b.value = seed + 1;
    for (unsigned i = 0; i < 6; i++) {
        m->a.regs[i] = (uint8_t)(seed + i);
        m->b.regs[i] = (uint8_t)(seed * 3 + i);
    }
    m->devs[0] = (struct device){"counter-a", &m->a, NULL, &counter_vmstate};
    m->devs[1] = (struct device){"counter-b", &m->b, NULL, &counter_vmstate};
}

static struct snap_state *new_state(void)
{
    struct snap_state *st = calloc(1, sizeof(*st));
    assert_non_null(st);
    return st;
}

static void test_stateless_device_fails_loudly(void **state)
{
    struct machine m;
    machine_init(&m, 5);
    m.devs[1].state = NULL;
    struct snap_state *st = new_state();
    char err[256] = "";
    assert_int_equal(snap_devices_capture(st, m.devs, 2, err, sizeof(err)), -ENOTSUP);
    assert_non_null(strstr(err, "'counter-b'"));
    assert_non_null(strstr(err, "no state description"));
    assert_int_equal(st->ndevices, 0); /* nothing half-captured left behind */
    free(st);
}

/* Through a real checkpoint file, so names and payloads survive the format. */
static void through_file(struct snap_state *st, struct snap_file *f)
{
    char dir[] = "/tmp/test-devstate-XXXXXX", path[64], err[256];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/d.dvs", dir);
    static uint8_t ram[1 << 20];
    memcpy(st->host.vendor, "GenuineIntel", 12);
    st->host.xsave_size = 4096;
    st->config.mem_size = sizeof(ram);
    st->config.ncpus = 1;
    st->nvcpus = 1;
    st->vcpus = calloc(1, sizeof(*st->vcpus));
    st->vcpus[0].xsave_len = 4096;
    for (unsigned i = 0; i < 3; i++) {
        st->irqchip[i].chip_id = i;
    }
    if (snapfile_write(path, st, ram, sizeof(ram), -1, 0, err, sizeof(err)) < 0) {
        fail_msg("%s", err);
    }
    free(st->vcpus);
    st->vcpus = NULL;
    if (snapfile_open(path, SNAP_OPEN_VERIFY_RAM, f, err, sizeof(err)) < 0) {
        fail_msg("%s", err);
    }
    unlink(path);
    rmdir(dir);
}

static void test_round_trip(void **state)
{
    struct machine m, fresh;
    machine_init(&m, 7);
    machine_init(&fresh, 100);
    struct snap_state *st = new_state();
    static struct snap_file f;
    char err[256];
    assert_int_equal(snap_devices_capture(st, m.devs, 2, err, sizeof(err)), 0);
    assert_int_equal(st->ndevices, 2);
    through_file(st, &f);
    assert_int_equal(snap_devices_check(&f.st, fresh.devs, 2, err, sizeof(err)), 0);
    assert_int_equal(snap_devices_apply(&f.st, fresh.devs, 2, err, sizeof(err)), 0);
    assert_int_equal(fresh.a.value, 7);
    assert_int_equal(fresh.b.value, 8);
    assert_memory_equal(fresh.a.regs, m.a.regs, 6);
    assert_memory_equal(fresh.b.regs, m.b.regs, 6);
    assert_int_equal(fresh.b.derived, 16); /* post_load ran */
    /* Capture again from the restored machine: the same bytes. */
    struct snap_state *again = new_state();
    assert_int_equal(snap_devices_capture(again, fresh.devs, 2, err, sizeof(err)), 0);
    for (unsigned i = 0; i < 2; i++) {
        assert_int_equal(again->devices[i].len, st->devices[i].len);
        assert_memory_equal(again->devices[i].data, st->devices[i].data, st->devices[i].len);
    }
    snapfile_close(&f);
    snap_devices_release(again);
    snap_devices_release(st);
    free(again);
    free(st);
}

static void test_mismatches_refused_before_apply(void **state)
{
    struct machine m, other;
    machine_init(&m, 7);
    struct snap_state *st = new_state();
    char err[256];
    assert_int_equal(snap_devices_capture(st, m.devs, 2, err, sizeof(err)), 0);

    machine_init(&other, 50);
    assert_int_equal(snap_devices_check(st, other.devs, 1, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "2 devices, this VM has 1"));

    struct device swapped[2] = {other.devs[1], other.devs[0]};
    assert_int_equal(snap_devices_check(st, swapped, 2, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "section 'counter-a': this VM has 'counter-b'"));

    /* The file's state version 1 is newer than this device's version 0. */
    other.devs[1].state = &counter_vmstate_v0;
    assert_int_equal(snap_devices_check(st, other.devs, 2, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "'counter-b'"));
    other.devs[1].state = NULL;
    assert_int_equal(snap_devices_check(st, other.devs, 2, err, sizeof(err)), -ENOTSUP);
    assert_int_equal(other.a.value, 50); /* nothing was applied */
    assert_int_equal(other.b.value, 51);
    snap_devices_release(st);
    free(st);
}

static void test_post_load_refusal_names_device(void **state)
{
    struct machine m, target;
    machine_init(&m, 7);
    m.b.value = 5000; /* counter_post_load refuses it */
    struct snap_state *st = new_state();
    char err[256];
    assert_int_equal(snap_devices_capture(st, m.devs, 2, err, sizeof(err)), 0);
    machine_init(&target, 1);
    assert_int_equal(snap_devices_check(st, target.devs, 2, err, sizeof(err)), 0);
    assert_int_equal(snap_devices_apply(st, target.devs, 2, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "'counter-b'"));
    assert_int_equal(target.a.value, 7); /* earlier device applied (caller rolls back) */
    assert_int_equal(target.b.value, 2); /* the refusing one untouched */
    snap_devices_release(st);
    free(st);
}

/* Two devices of one type: their sections are told apart by registration order. */
static void test_same_name_twice(void **state)
{
    struct machine m, fresh;
    machine_init(&m, 7);
    machine_init(&fresh, 100);
    m.devs[1].name = fresh.devs[1].name = "counter-a";
    char name[SNAP_NAME_LEN], err[256];
    assert_int_equal(snap_device_section_name(m.devs, 0, name, sizeof(name)), 0);
    assert_string_equal(name, "counter-a");
    assert_int_equal(snap_device_section_name(m.devs, 1, name, sizeof(name)), 0);
    assert_string_equal(name, "counter-a#1");
    struct snap_state *st = new_state();
    assert_int_equal(snap_devices_capture(st, m.devs, 2, err, sizeof(err)), 0);
    assert_string_equal(st->devices[0].name, "counter-a");
    assert_string_equal(st->devices[1].name, "counter-a#1");
    assert_int_equal(snap_devices_check(st, fresh.devs, 2, err, sizeof(err)), 0);
    assert_int_equal(snap_devices_apply(st, fresh.devs, 2, err, sizeof(err)), 0);
    assert_int_equal(fresh.a.value, 7);
    assert_int_equal(fresh.b.value, 8); /* the second one got the second section */
    /* A VM with one such device refuses a file with two; a name too long for a section. */
    assert_int_equal(snap_devices_check(st, fresh.devs, 1, err, sizeof(err)), -EINVAL);
    static const char long_name[] = "a-device-name-of-thirty-one-chr";
    m.devs[0].name = m.devs[1].name = long_name;
    assert_int_equal(snap_device_section_name(m.devs, 0, name, sizeof(name)), 0);
    assert_int_equal(snap_device_section_name(m.devs, 1, name, sizeof(name)), -E2BIG);
    snap_devices_release(st);
    free(st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stateless_device_fails_loudly),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_mismatches_refused_before_apply),
        cmocka_unit_test(test_post_load_refusal_names_device),
        cmocka_unit_test(test_same_name_twice),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
