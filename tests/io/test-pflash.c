// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * CFI flash (io/pflash.c): OVMF's flash probe sequence (clear status reads back the array,
 * read status then reads 0), byte program, block erase, broken erase sequences, CFI query,
 * unknown commands, the array-mode callback the machine maps the contents with, and the
 * saved mode across a state load.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "io/pflash.h"

#define SIZE (4 * PFLASH_BLOCK_SIZE)

struct fixture {
    struct pflash f;
    uint8_t data[SIZE];
    unsigned changes;
    bool array;
};

static void on_array(void *opaque, bool array)
{
    struct fixture *x = opaque;
    x->changes++;
    x->array = array;
}

static struct fixture *fixture_new(void)
{
    struct fixture *x = calloc(1, sizeof(*x));
    assert_non_null(x);
    for (unsigned i = 0; i < SIZE; i++) {
        x->data[i] = (uint8_t)(i * 7 + 1);
    }
    assert_int_equal(pflash_init(&x->f, x->data, SIZE, on_array, x), 0);
    x->array = true;
    return x;
}

static uint64_t rd(struct fixture *x, uint64_t off, unsigned size)
{
    return pflash_ops.read(&x->f, off, size);
}

static void wr(struct fixture *x, uint64_t off, uint64_t val, unsigned size)
{
    pflash_ops.write(&x->f, off, val, size);
}

static void test_init_checks(void **state)
{
    (void)state;
    struct pflash f;
    uint8_t buf[PFLASH_BLOCK_SIZE];
    assert_int_equal(pflash_init(&f, NULL, sizeof(buf), NULL, NULL), -EINVAL);
    assert_int_equal(pflash_init(&f, buf, 100, NULL, NULL), -EINVAL);
    assert_int_equal(pflash_init(&f, buf, 0, NULL, NULL), -EINVAL);
    assert_int_equal(pflash_init(&f, buf, sizeof(buf), NULL, NULL), 0);
    assert_true(pflash_array_mode(&f));
}

/* The probe OVMF's QemuFlashDetected() runs on the first byte that is not 0x00 or 0x50. */
static void test_ovmf_probe(void **state)
{
    (void)state;
    struct fixture *x = fixture_new();
    uint8_t orig = x->data[0x10];
    wr(x, 0x10, PFLASH_CMD_CLEAR_STATUS, 1);
    assert_true(x->array); /* still reading the array: not RAM (which would read 0x50) */
    assert_int_equal(rd(x, 0x10, 1), orig);
    wr(x, 0x10, PFLASH_CMD_READ_STATUS, 1);
    assert_false(x->array);
    assert_int_equal(rd(x, 0x10, 1), 0x00); /* cleared status: "FD behaves as FLASH" */
    wr(x, 0x10, PFLASH_CMD_READ_ARRAY, 1);
    assert_true(x->array);
    assert_int_equal(x->changes, 2);
    assert_int_equal(rd(x, 0x10, 1), orig);
    assert_int_equal(x->data[0x10], orig);
    free(x);
}

static void test_program_erase(void **state)
{
    (void)state;
    struct fixture *x = fixture_new();
    /* OVMF's QemuFlashWrite: 0x10 then the byte, for each byte; read array at the end. */
    const uint8_t msg[] = {0xa5, 0x5a, 0x00};
    for (unsigned i = 0; i < sizeof(msg); i++) {
        wr(x, 0x2000 + i, PFLASH_CMD_PROGRAM, 1);
        assert_false(x->array);
        assert_int_equal(rd(x, 0x2000 + i, 1), 0x80); /* pending program: status */
        wr(x, 0x2000 + i, msg[i], 1);
        assert_int_equal(rd(x, 0x2000, 1) & PFLASH_SR_READY, PFLASH_SR_READY);
    }
    wr(x, 0x2002, PFLASH_CMD_READ_ARRAY, 1);
    assert_true(x->array);
    assert_memory_equal(x->data + 0x2000, msg, sizeof(msg));
    assert_int_equal(rd(x, 0x2000, 2), 0x5aa5);
    /* 0x40 is the same, a word at once. */
    wr(x, 0x3000, PFLASH_CMD_PROGRAM_ALT, 1);
    wr(x, 0x3000, 0xbeef, 2);
    wr(x, 0x3000, PFLASH_CMD_READ_ARRAY, 1);
    assert_int_equal(rd(x, 0x3000, 2), 0xbeef);

    /* Erase: 0x20, 0xd0 at any address in the block; only that block becomes 0xff. */
    uint8_t before = x->data[0x1fff];
    wr(x, 0x2345, PFLASH_CMD_ERASE, 1);
    wr(x, 0x2345, PFLASH_CMD_CONFIRM, 1);
    assert_int_equal(rd(x, 0, 1), PFLASH_SR_READY);
    wr(x, 0, PFLASH_CMD_READ_ARRAY, 1);
    for (unsigned i = 0x2000; i < 0x3000; i++) {
        assert_int_equal(x->data[i], 0xff);
    }
    assert_int_equal(x->data[0x1fff], before);
    assert_int_equal(x->data[0x3000], 0xef);
    assert_int_equal(x->f.writes, sizeof(msg) + 2 + 1);
    free(x);
}

static void test_bad_sequences(void **state)
{
    (void)state;
    struct fixture *x = fixture_new();
    uint8_t keep = x->data[0x1000];
    /* Erase without D0: nothing erased, both error bits; clear status resets them. */
    wr(x, 0x1000, PFLASH_CMD_ERASE, 1);
    wr(x, 0x1000, 0x77, 1);
    assert_int_equal(x->data[0x1000], keep);
    assert_int_equal(rd(x, 0x1000, 1), PFLASH_SR_READY | PFLASH_SR_ERASE_ERR | PFLASH_SR_PROG_ERR);
    assert_int_equal(x->f.bad_cmd, 1);
    wr(x, 0, PFLASH_CMD_CLEAR_STATUS, 1);
    assert_true(x->array);
    wr(x, 0, PFLASH_CMD_READ_STATUS, 1);
    assert_int_equal(rd(x, 0, 1), 0);
    /* An unknown command: error bits, back to the array. */
    wr(x, 0, 0xe8, 1);
    assert_true(x->array);
    assert_int_equal(x->f.bad_cmd, 2);
    wr(x, 0, PFLASH_CMD_READ_STATUS, 1);
    assert_int_equal(rd(x, 0, 1) & PFLASH_SR_PROG_ERR, PFLASH_SR_PROG_ERR);
    /* A program straddling the end is dropped. */
    wr(x, SIZE - 1, PFLASH_CMD_PROGRAM, 1);
    wr(x, SIZE - 1, 0x1234, 2);
    assert_int_equal(x->f.bad_access, 1);
    assert_int_equal(x->data[SIZE - 1], (uint8_t)((SIZE - 1) * 7 + 1));
    /* Reset: array mode, ready. */
    pflash_reset(&x->f);
    assert_true(x->array);
    wr(x, 0, PFLASH_CMD_READ_STATUS, 1);
    assert_int_equal(rd(x, 0, 1), PFLASH_SR_READY);
    free(x);
}

static void test_cfi(void **state)
{
    (void)state;
    struct fixture *x = fixture_new();
    wr(x, 0x55, PFLASH_CMD_CFI_QUERY, 1);
    assert_false(x->array);
    assert_int_equal(rd(x, 0x10, 1), 'Q');
    assert_int_equal(rd(x, 0x11, 2), 'R' | 'Y' << 8);
    assert_int_equal(rd(x, 0x13, 1), 0x01);                         /* Intel command set */
    assert_int_equal(rd(x, 0x27, 1), 14);                           /* 16 KiB = 2^14 */
    assert_int_equal(rd(x, 0x2d, 2), SIZE / PFLASH_BLOCK_SIZE - 1); /* blocks - 1 */
    assert_int_equal(rd(x, 0x2f, 2), PFLASH_BLOCK_SIZE / 256);
    assert_int_equal(rd(x, 0x1010, 1), 'Q'); /* the query repeats every 256 bytes */
    wr(x, 0, PFLASH_CMD_READ_ARRAY, 1);
    assert_int_equal(rd(x, 0x10, 1), x->data[0x10]);
    free(x);
}

static void test_state(void **state)
{
    (void)state;
    struct fixture *x = fixture_new();
    wr(x, 0, PFLASH_CMD_READ_STATUS, 1);
    assert_false(x->array);
    /* A loaded state in read-status mode tells the machine to unmap; array mode to map. */
    x->array = true;
    assert_int_equal(pflash_vmstate.post_load(&x->f), 0);
    assert_false(x->array);
    x->f.mode = PFLASH_ARRAY;
    assert_int_equal(pflash_vmstate.post_load(&x->f), 0);
    assert_true(x->array);
    unsigned calls = x->changes;
    assert_int_equal(pflash_vmstate.post_load(&x->f), 0); /* told again, same mode */
    assert_int_equal(x->changes, calls + 1);
    assert_true(x->array);
    x->f.mode = 42;
    assert_int_equal(pflash_vmstate.post_load(&x->f), -EINVAL);
    free(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_init_checks),   cmocka_unit_test(test_ovmf_probe),
        cmocka_unit_test(test_program_erase), cmocka_unit_test(test_bad_sequences),
        cmocka_unit_test(test_cfi),           cmocka_unit_test(test_state),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
