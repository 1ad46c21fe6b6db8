// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * QMP send-key and input-send-event (vmm/input_qmp.c) into a real i8042: the bytes the guest
 * reads for qcodes and key numbers in both scancode modes, hold-time releases on the clock,
 * mouse packets from key/btn/rel/abs batches, and refused arguments that leave the guest's
 * queue untouched. The QEMU oracle for the same commands is tests/integration/test-vga-display.py.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "display/keymap.h"
#include "display/surface.h"
#include "io/i8042.h"
#include "tests/helpers/fake_clock.h"
#include "tests/helpers/fake_irq.h"
#include "vmm/input_qmp.h"

struct fixture {
    struct fake_irq irq1, irq12;
    struct fake_clock clock;
    struct i8042 k;
    struct display d; /* only width and height are read */
    struct input_qmp q;
};

static void no_reset(void *opaque)
{
}

static size_t drain(struct fixture *f, uint8_t *out, size_t max)
{
    size_t n = 0;
    while ((i8042_ctrl_ops.read(&f->k, 0, 1) & 0x01) && n < max) {
        out[n++] = (uint8_t)i8042_data_ops.read(&f->k, 0, 1);
    }
    return n;
}

static void expect_bytes(struct fixture *f, const uint8_t *want, size_t n)
{
    uint8_t got[64];
    size_t m = drain(f, got, sizeof(got));
    assert_int_equal(m, n);
    if (n) {
        assert_memory_equal(got, want, n);
    }
}

static void ctrl(struct fixture *f, uint8_t cmd, int data)
{
    i8042_ctrl_ops.write(&f->k, 0, cmd, 1);
    if (data >= 0) {
        i8042_data_ops.write(&f->k, 0, (uint8_t)data, 1);
    }
}

static int setup(void **state)
{
    static struct fixture f;
    memset(&f, 0, sizeof(f));
    fake_irq_init(&f.irq1, 1);
    fake_irq_init(&f.irq12, 12);
    fake_clock_init(&f.clock, 0);
    i8042_init(&f.k, &f.irq1.line, &f.irq12.line, no_reset, &f);
    f.d.width = 101;
    f.d.height = 51;
    assert_int_equal(input_qmp_init(&f.q, &f.clock.clock, &f.k, &f.d), 0);
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    input_qmp_destroy(&f->q);
    i8042_destroy(&f->k);
    return 0;
}

/* Run a command given as JSON text; returns its result, err filled on -1. */
static int run(struct fixture *f, bool event, const char *json, struct qmp_error *err)
{
    json_error_t jerr;
    json_t *args = json_loads(json, 0, &jerr);
    assert_non_null(args);
    json_t *ret = NULL;
    memset(err, 0, sizeof(*err));
    int r = event ? input_qmp_send_event(&f->q, args, &ret, err)
                  : input_qmp_send_key(&f->q, args, &ret, err);
    assert_null(ret);
    json_decref(args);
    return r;
}

static void ok(struct fixture *f, bool event, const char *json)
{
    struct qmp_error err;
    int r = run(f, event, json, &err);
    if (r < 0) {
        fail_msg("%s: %s", json, err.desc);
    }
}

static void refused(struct fixture *f, bool event, const char *json, const char *desc)
{
    struct qmp_error err;
    assert_int_equal(run(f, event, json, &err), -1);
    assert_string_equal(err.cls, "GenericError");
    assert_non_null(strstr(err.desc, desc));
    expect_bytes(f, NULL, 0); /* nothing reached the guest */
}

static void test_send_key_hold_time(void **state)
{
    struct fixture *f = *state;
    ctrl(f, 0x60, 0x47); /* translation on: set 1 bytes */
    ok(f, false,
       "{\"keys\": [{\"type\": \"qcode\", \"data\": \"shift\"},"
       " {\"type\": \"qcode\", \"data\": \"a\"}]}");
    expect_bytes(f, (const uint8_t[]){0x2a, 0x1e}, 2);
    fake_clock_advance(&f->clock, 99 * 1000000ull); /* default hold-time 100 ms */
    expect_bytes(f, NULL, 0);
    fake_clock_advance(&f->clock, 1000000ull);
    expect_bytes(f, (const uint8_t[]){0x9e, 0xaa}, 2); /* released in reverse order */
    ok(f, false, "{\"keys\": [{\"type\": \"qcode\", \"data\": \"ctrl_r\"}], \"hold-time\": 5}");
    expect_bytes(f, (const uint8_t[]){0xe0, 0x1d}, 2);
    /* A second command lets the keys of the first go before pressing its own. */
    ok(f, false, "{\"keys\": [{\"type\": \"number\", \"data\": 156}], \"hold-time\": 0}");
    expect_bytes(f, (const uint8_t[]){0xe0, 0x9d, 0xe0, 0x1c, 0xe0, 0x9c}, 6);
    fake_clock_advance(&f->clock, 10 * 1000000ull);
    expect_bytes(f, NULL, 0);
}

static void test_send_key_set2(void **state)
{
    struct fixture *f = *state;
    /* After reset: set 2 untranslated. kp_enter is E0 5A, a release has F0. */
    ok(f, false,
       "{\"keys\": [{\"type\": \"qcode\", \"data\": \"kp_enter\"},"
       " {\"type\": \"number\", \"data\": 30}], \"hold-time\": 0}");
    expect_bytes(f, (const uint8_t[]){0xe0, 0x5a, 0x1c, 0xf0, 0x1c, 0xe0, 0xf0, 0x5a}, 8);
}

static void test_every_qcode_reaches_the_guest(void **state)
{
    struct fixture *f = *state;
    ctrl(f, 0x60, 0x47);
    unsigned n = 0;
    for (const char *name; (name = keymap_qcode_name(n)) != NULL; n++) {
        int code = keymap_qcode_to_set1(name);
        assert_true(code > 0);
        char json[128];
        snprintf(json, sizeof(json),
                 "{\"keys\": [{\"type\": \"qcode\", \"data\": \"%s\"}],"
                 " \"hold-time\": 0}",
                 name);
        ok(f, false, json);
        uint8_t got[8];
        size_t m = drain(f, got, sizeof(got));
        bool ext = code > 0xff;
        assert_int_equal(m, ext ? 4 : 2);
        assert_int_equal(got[ext ? 1 : 0], code & 0xff);
        assert_int_equal(got[ext ? 3 : 1], (code & 0xff) | 0x80);
    }
    assert_true(n > 90);
    assert_int_equal(f->q.dropped, 0);
}

static void test_send_key_refused(void **state)
{
    struct fixture *f = *state;
    refused(f, false, "{}", "'keys' is missing");
    refused(f, false, "{\"keys\": 1}", "expected: array");
    refused(f, false,
            "{\"keys\": [{\"type\": \"qcode\", \"data\": \"a\"},"
            " {\"type\": \"qcode\", \"data\": \"nosuchkey\"}]}",
            "does not accept value 'nosuchkey'");
    refused(f, false, "{\"keys\": [{\"type\": \"number\", \"data\": 256}]}", "no PC key");
    refused(f, false, "{\"keys\": [{\"type\": \"number\", \"data\": -1}]}", "no PC key");
    refused(f, false, "{\"keys\": [{\"type\": \"qcode\"}]}", "KeyValue");
    refused(f, false, "{\"keys\": [{\"type\": \"keysym\", \"data\": 97}]}", "'keys.type'");
    refused(f, false, "{\"keys\": [], \"hold-time\": -1}", "hold-time");
    refused(f, false, "{\"keys\": [], \"extra\": 1}", "'extra' is unexpected");
    char many[2048] = "{\"keys\": [";
    for (int i = 0; i <= INPUT_QMP_MAX_KEYS; i++) {
        strcat(many, i ? ", {\"type\": \"qcode\", \"data\": \"a\"}"
                       : "{\"type\": \"qcode\", \"data\": \"a\"}");
    }
    strcat(many, "]}");
    refused(f, false, many, "At most");
}

static void test_send_event(void **state)
{
    struct fixture *f = *state;
    ctrl(f, 0x60, 0x47);
    ctrl(f, 0xd4, 0xf4); /* mouse reporting on */
    expect_bytes(f, (const uint8_t[]){0xfa}, 1);
    ok(f, true,
       "{\"events\": [{\"type\": \"key\", \"data\": {\"down\": true,"
       " \"key\": {\"type\": \"qcode\", \"data\": \"c\"}}},"
       "{\"type\": \"key\", \"data\": {\"down\": false,"
       " \"key\": {\"type\": \"qcode\", \"data\": \"c\"}}}]}");
    expect_bytes(f, (const uint8_t[]){0x2e, 0xae}, 2);
    /* Several motion events and a button make one packet; y counts upwards in PS/2. */
    ok(f, true,
       "{\"events\": [{\"type\": \"rel\", \"data\": {\"axis\": \"x\", \"value\": 3}},"
       "{\"type\": \"rel\", \"data\": {\"axis\": \"x\", \"value\": 2}},"
       "{\"type\": \"rel\", \"data\": {\"axis\": \"y\", \"value\": -3}},"
       "{\"type\": \"btn\", \"data\": {\"down\": true, \"button\": \"left\"}}]}");
    expect_bytes(f, (const uint8_t[]){0x09, 0x05, 0x03}, 3);
    ok(f, true,
       "{\"events\": [{\"type\": \"btn\", \"data\": {\"down\": false, \"button\": "
       "\"left\"}}], \"device\": \"ps2\", \"head\": 0}");
    expect_bytes(f, (const uint8_t[]){0x08, 0x00, 0x00}, 3);
    /* Absolute: 0..0x7fff spans the 101x51 surface; motion is relative to the last one. */
    ok(f, true,
       "{\"events\": [{\"type\": \"abs\", \"data\": {\"axis\": \"x\", \"value\": 32767}},"
       "{\"type\": \"abs\", \"data\": {\"axis\": \"y\", \"value\": 16384}}]}");
    expect_bytes(f, (const uint8_t[]){0x28, 100, (uint8_t)-25}, 3);
    ok(f, true, "{\"events\": [{\"type\": \"abs\", \"data\": {\"axis\": \"x\", \"value\": 0}}]}");
    expect_bytes(f, (const uint8_t[]){0x18, (uint8_t)-100, 0}, 3);
    /* Unchanged buttons and no motion: no packet. */
    ok(f, true,
       "{\"events\": [{\"type\": \"btn\", \"data\": {\"down\": true, \"button\": "
       "\"side\"}}]}");
    expect_bytes(f, NULL, 0);
}

/* A fake absolute pointer: what the tablet would get, or -ENODEV while "no driver". */
struct abs_sink {
    int ret;
    unsigned calls, x, y, buttons;
    int wheel;
};

static int abs_sink(void *opaque, unsigned x, unsigned y, unsigned buttons, int wheel)
{
    struct abs_sink *s = opaque;
    if (s->ret == 0) {
        s->calls++;
        s->x = x;
        s->y = y;
        s->buttons = buttons;
        s->wheel = wheel;
    }
    return s->ret;
}

static void test_send_event_abs_pointer(void **state)
{
    struct fixture *f = *state;
    struct abs_sink sink = {.ret = -ENODEV};
    input_qmp_set_abs(&f->q, abs_sink, &sink);
    ctrl(f, 0xd4, 0xf4);
    expect_bytes(f, (const uint8_t[]){0xfa}, 1);
    /* No driver yet: PS/2 motion, as without a tablet. */
    ok(f, true,
       "{\"events\": [{\"type\": \"abs\", \"data\": {\"axis\": \"x\", \"value\": 32767}}]}");
    expect_bytes(f, (const uint8_t[]){0x08, 100, 0}, 3);
    /* The tablet takes it: the exact position, buttons and wheel, nothing on PS/2. */
    sink.ret = 0;
    ok(f, true,
       "{\"events\": [{\"type\": \"abs\", \"data\": {\"axis\": \"x\", \"value\": 1234}},"
       "{\"type\": \"abs\", \"data\": {\"axis\": \"y\", \"value\": 4321}},"
       "{\"type\": \"btn\", \"data\": {\"down\": true, \"button\": \"left\"}},"
       "{\"type\": \"btn\", \"data\": {\"down\": true, \"button\": \"wheel-up\"}}]}");
    assert_int_equal(sink.calls, 1);
    assert_int_equal(sink.x, 1234);
    assert_int_equal(sink.y, 4321);
    assert_int_equal(sink.buttons, I8042_BUTTON_LEFT);
    assert_int_equal(sink.wheel, 1);
    expect_bytes(f, NULL, 0);
    /* One axis: the other keeps its last value; rel motion in the batch stays PS/2. */
    ok(f, true,
       "{\"events\": [{\"type\": \"abs\", \"data\": {\"axis\": \"y\", \"value\": 7}},"
       "{\"type\": \"rel\", \"data\": {\"axis\": \"x\", \"value\": 4}},"
       "{\"type\": \"btn\", \"data\": {\"down\": false, \"button\": \"left\"}}]}");
    assert_int_equal(sink.calls, 2);
    assert_int_equal(sink.x, 1234);
    assert_int_equal(sink.y, 7);
    assert_int_equal(sink.buttons, 0);
    assert_int_equal(sink.wheel, 0);
    expect_bytes(f, (const uint8_t[]){0x08, 4, 0}, 3);
    /* Without a display, abs events still reach the tablet. */
    f->q.display = NULL;
    ok(f, true, "{\"events\": [{\"type\": \"abs\", \"data\": {\"axis\": \"x\", \"value\": 9}}]}");
    assert_int_equal(sink.calls, 3);
    assert_int_equal(sink.x, 9);
    expect_bytes(f, NULL, 0);
}

static void test_send_event_refused(void **state)
{
    struct fixture *f = *state;
    ctrl(f, 0xd4, 0xf4);
    expect_bytes(f, (const uint8_t[]){0xfa}, 1);
    refused(f, true, "{}", "'events' is missing");
    /* The key before the bad event is not sent either. */
    refused(f, true,
            "{\"events\": [{\"type\": \"key\", \"data\": {\"down\": true,"
            " \"key\": {\"type\": \"qcode\", \"data\": \"c\"}}},"
            "{\"type\": \"touch\", \"data\": {}}]}",
            "'touch'");
    refused(f, true,
            "{\"events\": [{\"type\": \"key\", \"data\": {\"key\": "
            "{\"type\": \"qcode\", \"data\": \"c\"}}}]}",
            "'data.down'");
    refused(f, true,
            "{\"events\": [{\"type\": \"btn\", \"data\": {\"down\": true, \"button\": "
            "\"fourth\"}}]}",
            "'fourth'");
    refused(f, true,
            "{\"events\": [{\"type\": \"rel\", \"data\": {\"axis\": \"z\", \"value\": 1}}]}",
            "'z'");
    refused(f, true, "{\"events\": [{\"type\": \"rel\", \"data\": {\"axis\": \"x\"}}]}",
            "required");
    refused(f, true,
            "{\"events\": [{\"type\": \"abs\", \"data\": {\"axis\": \"x\", \"value\": "
            "32768}}]}",
            "out of range");
    refused(f, true,
            "{\"events\": [{\"type\": \"rel\", \"data\": {\"axis\": \"x\", \"value\": "
            "1}}, 7]}",
            "InputEvent");
    f->q.display = NULL;
    refused(f, true,
            "{\"events\": [{\"type\": \"abs\", \"data\": {\"axis\": \"x\", \"value\": 1}}]}",
            "Input handler not found");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_send_key_hold_time, setup, teardown),
        cmocka_unit_test_setup_teardown(test_send_key_set2, setup, teardown),
        cmocka_unit_test_setup_teardown(test_every_qcode_reaches_the_guest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_send_key_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_send_event, setup, teardown),
        cmocka_unit_test_setup_teardown(test_send_event_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_send_event_abs_pointer, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
