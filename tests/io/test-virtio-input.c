// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * virtio-input: the config window (name, serial, devids, event bits, abs info, unknown
 * selectors), key and pointer events delivered into posted buffers with SYN_REPORT,
 * events waiting for buffers, whole batches dropped when the pending queue is full, a
 * too-small event buffer (NEEDS_RESET), LED status, the evdev keymap, and the state table.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "display/keymap.h"
#include "io/virtio_input.h"
#include "snapshots/vmstate.h"
#include "tests/helpers/virtq_driver.h"
#include "vmm/device.h"
#include "vmm/memory.h"

#define RAM_SIZE (1u << 20)
#define QSIZE 64

struct fixture {
    uint8_t *ram;
    struct guest_mem mem;
    struct virtio_input in;
    struct vdrv ev, st;
    uint64_t buf[QSIZE]; /* gpa of the event buffer under each head */
};

static int setup_kind(void **state, enum virtio_input_kind kind)
{
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->ram = calloc(1, RAM_SIZE);
    assert_non_null(f->ram);
    guest_mem_init_host(&f->mem, f->ram, RAM_SIZE);
    assert_int_equal(virtio_input_init(&f->in, &f->mem, kind), 0);
    assert_int_equal(vdrv_negotiate(&f->in.vdev, VIRTIO_F_BIT(VIRTIO_F_VERSION_1)), 0);
    assert_int_equal(vdrv_setup(&f->ev, &f->in.vdev, 0, f->ram, 0x1000, QSIZE, 0x20000, 0x40000),
                     0);
    assert_int_equal(vdrv_setup(&f->st, &f->in.vdev, 1, f->ram, 0x8000, QSIZE, 0x40000, 0x60000),
                     0);
    *state = f;
    return 0;
}

static int setup_kbd(void **state)
{
    return setup_kind(state, VIRTIO_INPUT_KEYBOARD);
}

static int setup_tablet(void **state)
{
    return setup_kind(state, VIRTIO_INPUT_TABLET);
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    free(f->ram);
    free(f);
    return 0;
}

static void post(struct fixture *f, unsigned n, uint32_t len)
{
    for (unsigned i = 0; i < n; i++) {
        uint64_t a;
        uint16_t head = vdrv_chain(&f->ev, &len, 0, 1, &a);
        f->buf[head] = a;
        vdrv_post(&f->ev, head);
    }
    virtio_dev_queue_notify(&f->in.vdev, VIRTIO_INPUT_EVENTQ);
}

/* Next delivered event; false when none. */
static bool next(struct fixture *f, struct virtio_input_event *ev)
{
    uint32_t id, len;
    if (!vdrv_get_used(&f->ev, &id, &len)) {
        return false;
    }
    assert_int_equal(len, 8);
    memcpy(ev, f->ram + f->buf[id], 8);
    return true;
}

static void expect(struct fixture *f, uint16_t type, uint16_t code, uint32_t value)
{
    struct virtio_input_event ev;
    assert_true(next(f, &ev));
    assert_int_equal(ev.type, type);
    assert_int_equal(ev.code, code);
    assert_int_equal(ev.value, value);
}

static void select_cfg(struct fixture *f, uint8_t sel, uint8_t sub)
{
    virtio_dev_config_write(&f->in.vdev, 0, sel, 1);
    virtio_dev_config_write(&f->in.vdev, 1, sub, 1);
}

static uint8_t cfg8(struct fixture *f, unsigned off)
{
    return (uint8_t)virtio_dev_config_read(&f->in.vdev, off, 1);
}

static bool cfg_bit(struct fixture *f, unsigned bit)
{
    return cfg8(f, 8 + bit / 8) >> (bit % 8) & 1;
}

static void test_config_keyboard(void **state)
{
    struct fixture *f = *state;
    select_cfg(f, VIRTIO_INPUT_CFG_ID_NAME, 0);
    char name[64] = {0};
    unsigned size = cfg8(f, 2);
    for (unsigned i = 0; i < size; i++) {
        name[i] = (char)cfg8(f, 8 + i);
    }
    assert_string_equal(name, "deskvm virtio keyboard");
    select_cfg(f, VIRTIO_INPUT_CFG_ID_SERIAL, 0);
    assert_int_equal(cfg8(f, 2), 4);
    select_cfg(f, VIRTIO_INPUT_CFG_ID_DEVIDS, 0);
    assert_int_equal(cfg8(f, 2), 8);
    assert_int_equal(virtio_dev_config_read(&f->in.vdev, 8, 2), 0x06); /* BUS_VIRTUAL */
    select_cfg(f, VIRTIO_INPUT_CFG_EV_BITS, EV_KEY);
    assert_true(cfg8(f, 2) > 0);
    assert_true(cfg_bit(f, 30));  /* KEY_A */
    assert_true(cfg_bit(f, 105)); /* KEY_LEFT */
    assert_false(cfg_bit(f, 0));  /* KEY_RESERVED */
    select_cfg(f, VIRTIO_INPUT_CFG_EV_BITS, EV_LED);
    assert_int_equal(cfg8(f, 2), 1);
    assert_int_equal(cfg8(f, 8), 7);
    select_cfg(f, VIRTIO_INPUT_CFG_EV_BITS, EV_ABS); /* a keyboard has no axes */
    assert_int_equal(cfg8(f, 2), 0);
    select_cfg(f, VIRTIO_INPUT_CFG_ABS_INFO, ABS_X);
    assert_int_equal(cfg8(f, 2), 0);
    select_cfg(f, 0x7f, 3); /* unknown selector */
    assert_int_equal(cfg8(f, 0), 0x7f);
    assert_int_equal(cfg8(f, 2), 0);
    /* Only select and subsel are writable. */
    virtio_dev_config_write(&f->in.vdev, 2, 0x55, 1);
    virtio_dev_config_write(&f->in.vdev, 8, 0x55, 1);
    assert_int_equal(cfg8(f, 2), 0);
    assert_int_equal(cfg8(f, 8), 0);
}

static void test_config_tablet(void **state)
{
    struct fixture *f = *state;
    select_cfg(f, VIRTIO_INPUT_CFG_EV_BITS, EV_ABS);
    assert_int_equal(cfg8(f, 2), 1);
    assert_true(cfg_bit(f, ABS_X) && cfg_bit(f, ABS_Y));
    select_cfg(f, VIRTIO_INPUT_CFG_EV_BITS, EV_KEY);
    assert_true(cfg_bit(f, BTN_LEFT) && cfg_bit(f, BTN_RIGHT) && cfg_bit(f, BTN_MIDDLE));
    assert_false(cfg_bit(f, 30));
    select_cfg(f, VIRTIO_INPUT_CFG_ABS_INFO, ABS_Y);
    assert_int_equal(cfg8(f, 2), 20);
    assert_int_equal(virtio_dev_config_read(&f->in.vdev, 8, 4), 0);
    assert_int_equal(virtio_dev_config_read(&f->in.vdev, 12, 4), VIRTIO_INPUT_ABS_MAX);
    select_cfg(f, VIRTIO_INPUT_CFG_ABS_INFO, 2); /* ABS_Z: none */
    assert_int_equal(cfg8(f, 2), 0);
}

static void test_keys(void **state)
{
    struct fixture *f = *state;
    assert_false(virtio_input_ready(&f->in));
    assert_int_equal(vdrv_driver_ok(&f->in.vdev), 0);
    assert_true(virtio_input_ready(&f->in));
    post(f, 8, 8);
    assert_int_equal(virtio_input_key(&f->in, 30, true), 0);
    assert_int_equal(virtio_input_key(&f->in, 30, false), 0);
    expect(f, EV_KEY, 30, 1);
    expect(f, EV_SYN, SYN_REPORT, 0);
    expect(f, EV_KEY, 30, 0);
    expect(f, EV_SYN, SYN_REPORT, 0);
    struct virtio_input_event ev;
    assert_false(next(f, &ev));
    /* Events wait for buffers, then arrive in order. */
    post(f, 4, 8); /* 4 left from before + 4 */
    for (unsigned i = 0; i < 8; i++) {
        assert_int_equal(virtio_input_key(&f->in, 2 + i, true), 0);
    }
    for (unsigned i = 0; i < 4; i++) {
        expect(f, EV_KEY, (uint16_t)(2 + i), 1);
        expect(f, EV_SYN, SYN_REPORT, 0);
    }
    assert_false(next(f, &ev));
    assert_int_equal(f->in.npending, 8);
    post(f, 8, 16); /* bigger buffers are fine */
    for (unsigned i = 4; i < 8; i++) {
        expect(f, EV_KEY, (uint16_t)(2 + i), 1);
        expect(f, EV_SYN, SYN_REPORT, 0);
    }
    /* A full pending queue drops whole batches. */
    unsigned sent = 0;
    while (virtio_input_key(&f->in, 40, true) == 0) {
        sent++;
    }
    assert_int_equal(sent, VIRTIO_INPUT_PENDING / 2);
    assert_int_equal(f->in.npending, VIRTIO_INPUT_PENDING);
    assert_int_equal(f->in.events_dropped, 2);
}

static void test_small_buffer(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(vdrv_driver_ok(&f->in.vdev), 0);
    post(f, 1, 4);
    assert_int_equal(virtio_input_key(&f->in, 30, true), 0);
    assert_true(f->in.vdev.status & VIRTIO_STATUS_NEEDS_RESET);
    assert_false(virtio_input_ready(&f->in));
}

static void test_leds(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(vdrv_driver_ok(&f->in.vdev), 0);
    struct virtio_input_event ev[3] = {
        {EV_LED, LED_CAPSL, 1}, {EV_LED, LED_NUML, 1}, {EV_LED, LED_NUML, 0}};
    for (unsigned i = 0; i < 3; i++) {
        uint32_t len = 8;
        uint64_t a;
        uint16_t head = vdrv_chain(&f->st, &len, 1, 0, &a);
        memcpy(f->ram + a, &ev[i], 8);
        vdrv_post(&f->st, head);
    }
    uint32_t len = 3; /* short: ignored */
    uint64_t a;
    vdrv_post(&f->st, vdrv_chain(&f->st, &len, 1, 0, &a));
    virtio_dev_queue_notify(&f->in.vdev, VIRTIO_INPUT_STATUSQ);
    assert_int_equal(f->in.leds, 1u << LED_CAPSL);
    assert_int_equal(f->in.status_events, 3);
    uint32_t id;
    unsigned used = 0;
    while (vdrv_get_used(&f->st, &id, &len)) {
        used++;
    }
    assert_int_equal(used, 4);
}

static void test_pointer(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(vdrv_driver_ok(&f->in.vdev), 0);
    post(f, 32, 8);
    assert_int_equal(virtio_input_pointer(&f->in, 0, 0, 640, 480, 0, 0), 0);
    expect(f, EV_ABS, ABS_X, 0);
    expect(f, EV_ABS, ABS_Y, 0);
    expect(f, EV_SYN, SYN_REPORT, 0);
    assert_int_equal(virtio_input_pointer(&f->in, 639, 479, 640, 480, VIRTIO_INPUT_BUTTON_LEFT, 0),
                     0);
    expect(f, EV_ABS, ABS_X, VIRTIO_INPUT_ABS_MAX);
    expect(f, EV_ABS, ABS_Y, VIRTIO_INPUT_ABS_MAX);
    expect(f, EV_KEY, BTN_LEFT, 1);
    expect(f, EV_SYN, SYN_REPORT, 0);
    /* Left held, right pressed, wheel down; positions beyond the screen clamp. */
    assert_int_equal(virtio_input_pointer(&f->in, 320, 9999, 640, 480,
                                          VIRTIO_INPUT_BUTTON_LEFT | VIRTIO_INPUT_BUTTON_RIGHT, -1),
                     0);
    expect(f, EV_ABS, ABS_X, 320u * VIRTIO_INPUT_ABS_MAX / 639);
    expect(f, EV_ABS, ABS_Y, VIRTIO_INPUT_ABS_MAX);
    expect(f, EV_KEY, BTN_RIGHT, 1);
    expect(f, EV_REL, REL_WHEEL, 0xffffffffu);
    expect(f, EV_SYN, SYN_REPORT, 0);
    assert_int_equal(virtio_input_pointer(&f->in, 1, 1, 640, 480, 0, 0), 0);
    expect(f, EV_ABS, ABS_X, 1u * VIRTIO_INPUT_ABS_MAX / 639);
    expect(f, EV_ABS, ABS_Y, 1u * VIRTIO_INPUT_ABS_MAX / 479);
    expect(f, EV_KEY, BTN_LEFT, 0);
    expect(f, EV_KEY, BTN_RIGHT, 0);
    expect(f, EV_SYN, SYN_REPORT, 0);

    /* State: save, load into a fresh device; a bad button mask is refused. */
    struct device dev[4];
    assert_int_equal(virtio_input_state_sections(&f->in, dev, 4), 4);
    uint8_t buf[64];
    long n = vmstate_save(dev[3].state, &f->in, buf, sizeof(buf));
    assert_true(n > 0);
    struct virtio_input other;
    assert_int_equal(virtio_input_init(&other, &f->mem, VIRTIO_INPUT_TABLET), 0);
    assert_int_equal(vmstate_load(dev[3].state, &other, buf, (size_t)n), 0);
    f->in.buttons = 9;
    n = vmstate_save(dev[3].state, &f->in, buf, sizeof(buf));
    assert_int_equal(vmstate_load(dev[3].state, &other, buf, (size_t)n), -EINVAL);
}

static void test_keymap_evdev(void **state)
{
    (void)state;
    assert_int_equal(keymap_keysym_to_evdev('a'), 30); /* KEY_A */
    assert_int_equal(keymap_keysym_to_evdev('A'), 30);
    assert_int_equal(keymap_keysym_to_evdev('1'), 2);      /* KEY_1 */
    assert_int_equal(keymap_keysym_to_evdev(0xff0d), 28);  /* Return: KEY_ENTER */
    assert_int_equal(keymap_keysym_to_evdev(0xff1b), 1);   /* Escape */
    assert_int_equal(keymap_keysym_to_evdev(0xffc9), 88);  /* F12 */
    assert_int_equal(keymap_keysym_to_evdev(0xff51), 105); /* Left */
    assert_int_equal(keymap_keysym_to_evdev(0xff52), 103); /* Up */
    assert_int_equal(keymap_keysym_to_evdev(0xffff), 111); /* Delete */
    assert_int_equal(keymap_keysym_to_evdev(0xffe4), 97);  /* Control_R */
    assert_int_equal(keymap_keysym_to_evdev(0xffeb), 125); /* Super_L */
    assert_int_equal(keymap_keysym_to_evdev(0xff8d), 96);  /* KP_Enter */
    assert_int_equal(keymap_keysym_to_evdev(0x00a7), 86);  /* KEY_102ND */
    assert_int_equal(keymap_keysym_to_evdev(0x20ac), -1);  /* EuroSign: no US key */
    assert_int_equal(keymap_set1_to_evdev(0x54), -1);
    assert_int_equal(keymap_set1_to_evdev(0xe0ff), -1);
    assert_int_equal(keymap_set1_to_evdev(0), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_config_keyboard, setup_kbd, teardown),
        cmocka_unit_test_setup_teardown(test_config_tablet, setup_tablet, teardown),
        cmocka_unit_test_setup_teardown(test_keys, setup_kbd, teardown),
        cmocka_unit_test_setup_teardown(test_small_buffer, setup_kbd, teardown),
        cmocka_unit_test_setup_teardown(test_leds, setup_kbd, teardown),
        cmocka_unit_test_setup_teardown(test_pointer, setup_tablet, teardown),
        cmocka_unit_test(test_keymap_evdev),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
