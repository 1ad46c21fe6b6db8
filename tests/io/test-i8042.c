// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * i8042: self tests, command byte, CPU reset and A20 through the output port, keyboard
 * command replies, IRQ1/IRQ12 levels, queue overflow, aux acknowledgements, vmstate.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "io/i8042.h"
#include "tests/helpers/fake_irq.h"
#include "vmm/device.h"

struct fixture {
    struct fake_irq irq1, irq12;
    struct i8042 k;
    int resets;
};

static void count_reset(void *opaque)
{
    struct fixture *f = opaque;
    f->resets++;
}

static uint8_t status(struct fixture *f)
{
    return (uint8_t)i8042_ctrl_ops.read(&f->k, 0, 1);
}

static uint8_t data(struct fixture *f)
{
    return (uint8_t)i8042_data_ops.read(&f->k, 0, 1);
}

static void cmd(struct fixture *f, uint8_t v)
{
    i8042_ctrl_ops.write(&f->k, 0, v, 1);
}

static void put(struct fixture *f, uint8_t v)
{
    i8042_data_ops.write(&f->k, 0, v, 1);
}

/* Read every available byte; returns how many. */
static size_t drain(struct fixture *f, uint8_t *out, size_t max)
{
    size_t n = 0;
    while ((status(f) & 0x01) && n < max) {
        out[n++] = data(f);
    }
    return n;
}

static void expect_bytes(struct fixture *f, const uint8_t *want, size_t n)
{
    uint8_t got[32];
    size_t m = drain(f, got, sizeof(got));
    assert_int_equal(m, n);
    assert_memory_equal(got, want, n);
}

static int setup(void **state)
{
    static struct fixture f;
    memset(&f, 0, sizeof(f));
    fake_irq_init(&f.irq1, 1);
    fake_irq_init(&f.irq12, 12);
    i8042_init(&f.k, &f.irq1.line, &f.irq12.line, count_reset, &f);
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    i8042_destroy(&f->k);
    i8042_destroy(NULL);
    return 0;
}

static void test_self_tests(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(status(f) & 0x05, 0x00); /* empty, SYS clear at power-on */
    cmd(f, 0xaa);
    assert_int_equal(status(f) & 0x0d, 0x0d); /* OBF, SYS, A2 */
    assert_int_equal(data(f), 0x55);
    assert_int_equal(status(f) & 0x01, 0);
    cmd(f, 0xab);
    assert_int_equal(data(f), 0x00);
    cmd(f, 0xa9);
    assert_int_equal(data(f), 0x00);
    assert_int_equal(data(f), 0x00); /* empty buffer re-reads the last byte */
    cmd(f, 0x00);                    /* unknown command: ignored */
    assert_int_equal(status(f) & 0x01, 0);
}

static void test_command_byte(void **state)
{
    struct fixture *f = *state;
    cmd(f, 0x20);
    assert_int_equal(data(f), 0x03);
    cmd(f, 0x60);
    assert_true(status(f) & 0x08);
    put(f, 0x65);
    assert_false(status(f) & 0x08); /* A2: last write was data */
    assert_true(status(f) & 0x04);  /* SYS follows command byte bit 2 */
    cmd(f, 0x20);
    assert_int_equal(data(f), 0x65);
    assert_true(i8042_translating(&f->k));
    cmd(f, 0x7f); /* other controller RAM bytes */
    put(f, 0x12);
    cmd(f, 0x3f);
    assert_int_equal(data(f), 0x12);
    cmd(f, 0xad);
    cmd(f, 0xa7);
    cmd(f, 0x20);
    assert_int_equal(data(f), 0x75);
    cmd(f, 0xae);
    cmd(f, 0xa8);
    cmd(f, 0x20);
    assert_int_equal(data(f), 0x45);
    assert_int_equal(f->resets, 0);
}

static void test_reset_lines(void **state)
{
    struct fixture *f = *state;
    cmd(f, 0xfe);
    assert_int_equal(f->resets, 1);
    cmd(f, 0xff); /* pulses nothing */
    cmd(f, 0xf1); /* pulses lines 1-3, not reset */
    assert_int_equal(f->resets, 1);
    cmd(f, 0xf0);
    assert_int_equal(f->resets, 2);
    cmd(f, 0xd1);
    put(f, 0x03);
    assert_int_equal(f->resets, 2);
    cmd(f, 0xd1);
    put(f, 0x02);
    assert_int_equal(f->resets, 3);
}

static void test_a20(void **state)
{
    struct fixture *f = *state;
    assert_true(i8042_a20_enabled(&f->k));
    cmd(f, 0xd1);
    put(f, 0x01);
    assert_false(i8042_a20_enabled(&f->k));
    cmd(f, 0xd0);
    assert_int_equal(data(f) & 0x03, 0x01);
    cmd(f, 0xd1);
    put(f, 0x03);
    assert_true(i8042_a20_enabled(&f->k));
    cmd(f, 0xd0);
    assert_int_equal(data(f) & 0x03, 0x03);
    cmd(f, 0xdd);
    assert_false(i8042_a20_enabled(&f->k));
    cmd(f, 0xdf);
    assert_true(i8042_a20_enabled(&f->k));
    /* A command abandons a D1 still waiting for its byte: the next data goes to the keyboard. */
    cmd(f, 0xd1);
    cmd(f, 0xd0);
    assert_int_equal(data(f) & 0x03, 0x03);
    put(f, 0xee);
    assert_int_equal(data(f), 0xee);
    assert_true(i8042_a20_enabled(&f->k));
    assert_int_equal(f->resets, 0);
}

static void test_keyboard_commands(void **state)
{
    struct fixture *f = *state;
    put(f, 0xff);
    expect_bytes(f, (const uint8_t[]){0xfa, 0xaa}, 2);
    put(f, 0xf2);
    expect_bytes(f, (const uint8_t[]){0xfa, 0xab, 0x83}, 3);
    put(f, 0xed);
    put(f, 0x07);
    expect_bytes(f, (const uint8_t[]){0xfa, 0xfa}, 2);
    put(f, 0xee);
    expect_bytes(f, (const uint8_t[]){0xee}, 1);
    put(f, 0xf5);
    expect_bytes(f, (const uint8_t[]){0xfa}, 1);
    assert_false(i8042_key_event(&f->k, (const uint8_t[]){0x1c}, 1)); /* not scanning */
    put(f, 0xf4);
    expect_bytes(f, (const uint8_t[]){0xfa}, 1);
    assert_true(i8042_key_event(&f->k, (const uint8_t[]){0x1c}, 1));
    expect_bytes(f, (const uint8_t[]){0x1c}, 1);
    put(f, 0xf0);
    put(f, 0x00);
    expect_bytes(f, (const uint8_t[]){0xfa, 0xfa, 0x02}, 3);
    put(f, 0xf0);
    put(f, 0x01);
    expect_bytes(f, (const uint8_t[]){0xfa, 0xfa}, 2);
    put(f, 0xf0);
    put(f, 0x00);
    expect_bytes(f, (const uint8_t[]){0xfa, 0xfa, 0x01}, 3);
    /* A new command flushes replies the host has not read. */
    put(f, 0xf2);
    put(f, 0xee);
    expect_bytes(f, (const uint8_t[]){0xee}, 1);
    put(f, 0xf0);
    put(f, 0x09); /* no such set */
    expect_bytes(f, (const uint8_t[]){0xfa, 0xfe}, 2);
    put(f, 0x42);
    expect_bytes(f, (const uint8_t[]){0xfe}, 1);
    put(f, 0xee);
    put(f, 0xfe); /* resend */
    expect_bytes(f, (const uint8_t[]){0xee, 0xee}, 2);
}

static void test_irq1_follows_obf_and_enable(void **state)
{
    struct fixture *f = *state;
    cmd(f, 0x60);
    put(f, 0x00); /* interrupts off */
    assert_true(i8042_key_event(&f->k, (const uint8_t[]){0xe0, 0x48}, 2));
    assert_true(status(f) & 0x01);
    assert_false(f->irq1.level);
    cmd(f, 0x60);
    put(f, 0x01);
    assert_true(f->irq1.level);
    assert_false(f->irq12.level);
    unsigned r0 = f->irq1.raises;
    assert_int_equal(data(f), 0xe0);
    assert_true(f->irq1.level);
    assert_int_equal(f->irq1.raises, r0 + 1); /* a fresh edge for the second byte */
    assert_int_equal(data(f), 0x48);
    assert_false(f->irq1.level);
    /* A disabled keyboard holds its bytes back, but controller replies still come. */
    cmd(f, 0xad);
    assert_true(i8042_key_event(&f->k, (const uint8_t[]){0x1e}, 1));
    assert_false(status(f) & 0x01);
    assert_false(f->irq1.level);
    cmd(f, 0x20);
    assert_true(f->irq1.level);
    assert_int_equal(data(f), 0x11);
    assert_false(f->irq1.level);
    cmd(f, 0xae);
    assert_true(f->irq1.level);
    assert_int_equal(data(f), 0x1e);
    assert_false(f->irq1.level);
}

static void test_aux_port(void **state)
{
    struct fixture *f = *state;
    cmd(f, 0xd4);
    put(f, 0xff);
    assert_int_equal(status(f) & 0x21, 0x21);
    assert_true(f->irq12.level);
    assert_false(f->irq1.level);
    expect_bytes(f, (const uint8_t[]){0xfa, 0xaa, 0x00}, 3);
    assert_false(f->irq12.level);
    cmd(f, 0xd4);
    put(f, 0xf2);
    expect_bytes(f, (const uint8_t[]){0xfa, 0x00}, 2);
    cmd(f, 0xd3); /* aux loopback, as Linux probes */
    put(f, 0x5a);
    assert_int_equal(status(f) & 0x21, 0x21);
    assert_int_equal(data(f), 0x5a);
    cmd(f, 0xd2);
    put(f, 0x33);
    assert_int_equal(status(f) & 0x21, 0x01);
    assert_int_equal(data(f), 0x33);
}

static void test_queue_overflow(void **state)
{
    struct fixture *f = *state;
    unsigned taken = 0;
    for (unsigned i = 0; i < 40; i++) {
        uint8_t b = (uint8_t)(0x10 + i);
        taken += i8042_key_event(&f->k, &b, 1);
    }
    assert_int_equal(taken, I8042_QUEUE_SIZE);
    /* Controller replies still get through a full queue: the newest key byte gives way. */
    cmd(f, 0xaa);
    assert_int_equal(data(f), 0x55);
    /* A multi-byte event that does not fit is dropped whole. */
    assert_false(i8042_key_event(&f->k, (const uint8_t[]){0xe0, 0x4b}, 2));
    assert_true(i8042_key_event(&f->k, (const uint8_t[]){0x77}, 1));
    uint8_t got[32];
    size_t n = drain(f, got, sizeof(got));
    assert_int_equal(n, I8042_QUEUE_SIZE);
    for (size_t i = 0; i + 1 < n; i++) {
        assert_int_equal(got[i], 0x10 + i);
    }
    assert_int_equal(got[n - 1], 0x77);
    assert_false(i8042_key_event(&f->k, NULL, 0));
}

static void test_reset_and_device(void **state)
{
    struct fixture *f = *state;
    struct device dev;
    i8042_device(&f->k, &dev);
    assert_string_equal(dev.name, "i8042");
    assert_ptr_equal(dev.state, &i8042_vmstate);
    i8042_key_event(&f->k, (const uint8_t[]){0x01}, 1);
    assert_true(f->irq1.level);
    dev.reset(dev.opaque);
    assert_false(f->irq1.level);
    assert_false(status(f) & 0x01);
}

static void test_key_scancode_sets(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(status(f) & 0x01, 0);
    /* After reset: set 2, translation off (the command byte has no XLATE bit). */
    assert_true(i8042_key(&f->k, 0x1e, true)); /* A */
    assert_true(i8042_key(&f->k, 0x1e, false));
    expect_bytes(f, (const uint8_t[]){0x1c, 0xf0, 0x1c}, 3);
    assert_true(i8042_key(&f->k, 0xe048, true)); /* cursor up */
    assert_true(i8042_key(&f->k, 0xe048, false));
    expect_bytes(f, (const uint8_t[]){0xe0, 0x75, 0xe0, 0xf0, 0x75}, 5);
    /* With XLATE the controller turns set 2 into set 1. */
    cmd(f, 0x60);
    put(f, 0x47);
    assert_true(i8042_key(&f->k, 0x1e, true));
    assert_true(i8042_key(&f->k, 0x1e, false));
    assert_true(i8042_key(&f->k, 0xe04b, false));
    expect_bytes(f, (const uint8_t[]){0x1e, 0x9e, 0xe0, 0xcb}, 4);
    /* Set 1 without translation sends set 1 too. */
    cmd(f, 0x60);
    put(f, 0x03);
    put(f, 0xf0);
    put(f, 0x01);
    expect_bytes(f, (const uint8_t[]){0xfa, 0xfa}, 2);
    assert_true(i8042_key(&f->k, 0x39, true));
    expect_bytes(f, (const uint8_t[]){0x39}, 1);
    /* Set 3 and unknown keys are refused, nothing queued. */
    put(f, 0xf0);
    put(f, 0x03);
    expect_bytes(f, (const uint8_t[]){0xfa, 0xfa}, 2);
    assert_false(i8042_key(&f->k, 0x1e, true));
    put(f, 0xf0);
    put(f, 0x02);
    expect_bytes(f, (const uint8_t[]){0xfa, 0xfa}, 2);
    assert_false(i8042_key(&f->k, 0x54, true));
    assert_false(i8042_key(&f->k, 0x1234, true));
    assert_int_equal(status(f) & 0x01, 0);
}

static void test_mouse(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(status(f) & 0x01, 0);
    assert_false(i8042_mouse_event(&f->k, 1, 1, 0, 0)); /* not reporting yet */
    cmd(f, 0xd4);
    put(f, 0xf4);
    expect_bytes(f, (const uint8_t[]){0xfa}, 1);
    assert_true(i8042_mouse_event(&f->k, 5, -3, 0, I8042_BUTTON_LEFT));
    assert_true(f->irq12.level);
    /* Y counts upwards: moving up 3 is +3. */
    expect_bytes(f, (const uint8_t[]){0x09, 0x05, 0x03}, 3);
    assert_true(i8042_mouse_event(&f->k, -300, 2, 0, 0));
    expect_bytes(f, (const uint8_t[]){0x08 | 0x10 | 0x20 | 0x40, 0x00, 0xfe}, 3);
    /* 200, 100, 80 makes it an IntelliMouse: ID 3 and four-byte packets. */
    static const uint8_t rates[] = {200, 100, 80};
    for (unsigned i = 0; i < 3; i++) {
        cmd(f, 0xd4);
        put(f, 0xf3);
        cmd(f, 0xd4);
        put(f, rates[i]);
    }
    expect_bytes(f, (const uint8_t[]){0xfa, 0xfa, 0xfa, 0xfa, 0xfa, 0xfa}, 6);
    cmd(f, 0xd4);
    put(f, 0xf2);
    expect_bytes(f, (const uint8_t[]){0xfa, 0x03}, 2);
    assert_true(i8042_mouse_event(&f->k, 0, 0, 1, I8042_BUTTON_RIGHT));
    expect_bytes(f, (const uint8_t[]){0x0a, 0x00, 0x00, 0x01}, 4);
    cmd(f, 0xd4);
    put(f, 0xe9); /* status: streaming, rate 80, resolution 2 */
    expect_bytes(f, (const uint8_t[]){0xfa, 0x22, 0x02, 80}, 4);
    cmd(f, 0xd4);
    put(f, 0xe8);
    cmd(f, 0xd4);
    put(f, 9); /* resolution out of range */
    expect_bytes(f, (const uint8_t[]){0xfa, 0xfe}, 2);
    cmd(f, 0xd4);
    put(f, 0x42); /* unknown command */
    expect_bytes(f, (const uint8_t[]){0xfe}, 1);
    cmd(f, 0xd4);
    put(f, 0xff); /* reset: a plain mouse again, not reporting */
    expect_bytes(f, (const uint8_t[]){0xfa, 0xaa, 0x00}, 3);
    assert_false(i8042_mouse_event(&f->k, 1, 0, 0, 0));
}

static void test_vmstate_round_trip(void **state)
{
    struct fixture *f = *state;
    cmd(f, 0x60);
    put(f, 0x47);
    i8042_key_event(&f->k, (const uint8_t[]){0xe0, 0x1d, 0x2a}, 3);
    cmd(f, 0xd4);
    put(f, 0xf2);
    put(f, 0xed); /* keyboard waits for its LED byte */
    uint8_t buf1[128], buf2[128];
    long n1 = vmstate_save(&i8042_vmstate, &f->k, buf1, sizeof(buf1));
    assert_true(n1 > 0);

    struct fake_irq irq1, irq12;
    fake_irq_init(&irq1, 1);
    fake_irq_init(&irq12, 12);
    struct i8042 k2;
    i8042_init(&k2, &irq1.line, &irq12.line, NULL, NULL);
    for (int cycle = 0; cycle < 3; cycle++) {
        assert_int_equal(vmstate_load(&i8042_vmstate, &k2, buf1, (size_t)n1), 0);
        long n2 = vmstate_save(&i8042_vmstate, &k2, buf2, sizeof(buf2));
        assert_int_equal(n2, n1);
        assert_memory_equal(buf1, buf2, (size_t)n1);
    }
    /* ED flushed the key bytes: the aux reply is first, on IRQ12. */
    assert_true(irq12.level);
    assert_false(irq1.level);
    assert_int_equal(i8042_ctrl_ops.read(&k2, 0, 1) & 0x21, 0x21);
    i8042_data_ops.write(&k2, 0, 0x02, 1); /* the LED byte */
    uint8_t got[8];
    size_t n = 0;
    while ((i8042_ctrl_ops.read(&k2, 0, 1) & 1) && n < sizeof(got)) {
        got[n++] = (uint8_t)i8042_data_ops.read(&k2, 0, 1);
    }
    assert_int_equal(n, 4);
    assert_memory_equal(got, ((const uint8_t[]){0xfa, 0x00, 0xfa, 0xfa}), 4);
    assert_int_equal(k2.kbd_leds, 0x02);

    /* Hostile states: queue count and byte sources out of range. */
    size_t count_off = 8 + 32 + 4 + 16 + 16;
    buf1[count_off] = 17;
    assert_int_equal(vmstate_load(&i8042_vmstate, &k2, buf1, (size_t)n1), -EINVAL);
    buf1[count_off] = 2;
    buf1[8 + 32 + 4 + 16 + 1] = 7;
    assert_int_equal(vmstate_load(&i8042_vmstate, &k2, buf1, (size_t)n1), -EINVAL);
    i8042_destroy(&k2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_self_tests, setup, teardown),
        cmocka_unit_test_setup_teardown(test_command_byte, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reset_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a20, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keyboard_commands, setup, teardown),
        cmocka_unit_test_setup_teardown(test_irq1_follows_obf_and_enable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_aux_port, setup, teardown),
        cmocka_unit_test_setup_teardown(test_queue_overflow, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reset_and_device, setup, teardown),
        cmocka_unit_test_setup_teardown(test_vmstate_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_key_scancode_sets, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mouse, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
