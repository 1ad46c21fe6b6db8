// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unit tests for vmm/vram_state.c: VRAM windows in checkpoints. Window layout for several VRAM
 * sizes; a 16 MiB VRAM with scattered pages saves only its non-zero pages, every window
 * section fits the device-section limit even when full, and loads back byte for byte into a
 * VRAM that held something else; hostile counts, indices and lengths are refused with VRAM
 * untouched.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "snapshots/snapfile.h"
#include "vmm/vram_state.h"

#define VRAM (16u << 20)

static void test_windows(void **state)
{
    struct vram_window w[VRAM_STATE_MAX_WINDOWS];
    uint8_t dummy;
    assert_int_equal(VRAM_STATE_MAX_WINDOWS, 17);
    assert_int_equal(vram_windows_init(w, 17, NULL, &dummy, VRAM), 17);
    assert_true(w[0].first == 0 && w[0].npages == 255 && w[16].first == 16 * 255 &&
                w[16].npages == 4096 - 16 * 255);
    /* A 1 MiB VRAM still has 17 windows (the sections do not depend on the size): 255 pages,
     * 1 page, then empty ones. */
    assert_int_equal(vram_windows_init(w, 17, NULL, &dummy, 1u << 20), 17);
    assert_int_equal(w[1].npages, 1);
    assert_true(w[2].npages == 0 && w[16].npages == 0 && w[16].rest == 0);
    /* Past 16 MiB nothing is saved: still 17 windows. */
    assert_int_equal(vram_windows_init(w, 17, NULL, &dummy, 256u << 20), 17);
    assert_int_equal(vram_windows_init(w, 3, NULL, &dummy, VRAM), 3);
}

static void test_roundtrip(void **state)
{
    uint8_t *a = calloc(1, VRAM), *b = malloc(VRAM);
    assert_non_null(a);
    assert_non_null(b);
    /* Pages 0..299 (a 1.2 MB frame) and a few scattered ones, one byte set in page 4000. */
    for (size_t i = 0; i < 300 * 4096; i++) {
        a[i] = (uint8_t)(i * 7 + (i >> 12));
    }
    a[1000 * 4096 + 17] = 1;
    a[4000 * 4096 + 4095] = 0xff;
    memset(b, 0xcc, VRAM);
    struct vram_window wa[17], wb[17];
    unsigned n = vram_windows_init(wa, 17, NULL, a, VRAM);
    assert_int_equal(vram_windows_init(wb, 17, NULL, b, VRAM), n);
    size_t total = 0;
    for (unsigned i = 0; i < n; i++) {
        size_t len = vmstate_saved_size(&vram_window_vmstate, &wa[i]);
        assert_true(len > 0 && len <= SNAP_MAX_DEVICE_STATE);
        uint8_t *buf = malloc(len);
        assert_int_equal(vmstate_save(&vram_window_vmstate, &wa[i], buf, len), (long)len);
        assert_int_equal(vmstate_check_state(&vram_window_vmstate, &wb[i], buf, len), 0);
        assert_int_equal(vmstate_load(&vram_window_vmstate, &wb[i], buf, len), 0);
        free(buf);
        total += len;
    }
    assert_memory_equal(a, b, VRAM);
    /* 302 pages of data, their indices, a count and a header per window. */
    assert_int_equal(total, 302 * (4096 + 4) + n * (4 + 8));
    /* A full window still fits one device section. */
    memset(a, 0x11, 255 * 4096);
    assert_true(vmstate_saved_size(&vram_window_vmstate, &wa[0]) <= SNAP_MAX_DEVICE_STATE);
    free(a);
    free(b);
}

static void test_hostile(void **state)
{
    uint8_t *vram = calloc(1, 255 * 4096), *before = malloc(255 * 4096);
    assert_non_null(vram);
    assert_non_null(before);
    struct vram_window w;
    assert_int_equal(vram_windows_init(&w, 1, NULL, vram, 255 * 4096), 1);
    vram[5 * 4096] = 9;
    vram[7 * 4096] = 8;
    size_t len = vmstate_saved_size(&vram_window_vmstate, &w);
    uint8_t *good = malloc(len + 4), *bad = malloc(len + 4);
    assert_int_equal(vmstate_save(&vram_window_vmstate, &w, good, len), (long)len);
    memcpy(before, vram, 255 * 4096);
    static const struct {
        size_t off;
        uint32_t val;
    } cases[] = {
        {8, 3},    /* count larger than the pages stored */
        {8, 256},  /* count larger than the window */
        {12, 255}, /* index past the window */
        {16, 5},   /* indices not increasing */
        {16, 4},   /* indices decreasing */
        {0, 3},    /* a newer version */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        memcpy(bad, good, len);
        memcpy(bad + cases[i].off, &cases[i].val, 4);
        assert_int_equal(vmstate_check_state(&vram_window_vmstate, &w, bad, len), -EINVAL);
        assert_int_equal(vmstate_load(&vram_window_vmstate, &w, bad, len), -EINVAL);
        assert_memory_equal(vram, before, 255 * 4096);
    }
    /* A tail with one byte too many or too few. */
    memcpy(bad, good, len);
    uint32_t payload = (uint32_t)(len - 8 + 1);
    memcpy(bad + 4, &payload, 4);
    assert_int_equal(vmstate_load(&vram_window_vmstate, &w, bad, len + 1), -EINVAL);
    payload = (uint32_t)(len - 8 - 1);
    memcpy(bad + 4, &payload, 4);
    assert_int_equal(vmstate_load(&vram_window_vmstate, &w, bad, len - 1), -EINVAL);
    assert_memory_equal(vram, before, 255 * 4096);
    free(good);
    free(bad);
    free(before);
    free(vram);
}

/* A 32 MiB VRAM: its second half is in no window. While a page there is in use the last window
 * refuses to save (the checkpoint fails instead of losing it); a load clears that half. */
static void test_beyond_saved(void **state)
{
    const uint32_t size = 32u << 20;
    uint8_t *a = calloc(1, size), *b = malloc(size);
    assert_non_null(a);
    assert_non_null(b);
    struct vram_window wa[17], wb[17];
    unsigned n = vram_windows_init(wa, 17, NULL, a, size);
    assert_int_equal(vram_windows_init(wb, 17, NULL, b, size), n);
    assert_int_equal(wa[n - 1].rest, 4096);
    assert_int_equal(wa[0].rest, 0);
    a[(20u << 20) + 5] = 1;
    assert_int_equal(vmstate_saved_size(&vram_window_vmstate, &wa[n - 1]), 0);
    uint8_t buf[64];
    assert_int_equal(vmstate_save(&vram_window_vmstate, &wa[n - 1], buf, sizeof(buf)), -EFBIG);
    a[(20u << 20) + 5] = 0;
    a[VRAM - 1] = 9; /* the last saved byte */
    size_t len = vmstate_saved_size(&vram_window_vmstate, &wa[n - 1]);
    uint8_t *img = malloc(len);
    assert_non_null(img);
    assert_int_equal(vmstate_save(&vram_window_vmstate, &wa[n - 1], img, len), (long)len);
    memset(b, 0xcc, size);
    assert_int_equal(vmstate_load(&vram_window_vmstate, &wb[n - 1], img, len), 0);
    assert_int_equal(b[VRAM - 1], 9);
    assert_memory_equal(a + (size_t)wa[n - 1].first * 4096, b + (size_t)wb[n - 1].first * 4096,
                        size - (size_t)wa[n - 1].first * 4096);
    free(img);
    free(a);
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_windows),
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_hostile),
        cmocka_unit_test(test_beyond_saved),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
