// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fw_cfg: signature and ID through the ports, the file directory, DMA reads/skips/selects,
 * and guest mistakes (descriptors or buffers outside RAM, writes) ending with the error bit.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "io/fw_cfg.h"
#include "vmm/memory.h"

#define RAM (2u << 20)

struct fixture {
    uint8_t *ram;
    struct guest_mem mem;
    struct fw_cfg f;
};

static int setup(void **state)
{
    struct fixture *x = calloc(1, sizeof(*x));
    x->ram = calloc(1, RAM);
    guest_mem_init_host(&x->mem, x->ram, RAM);
    assert_int_equal(fw_cfg_init(&x->f, &x->mem), 0);
    *state = x;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *x = *state;
    fw_cfg_destroy(&x->f);
    free(x->ram);
    free(x);
    return 0;
}

static void port_select(struct fw_cfg *f, uint16_t key)
{
    fw_cfg_ops.write(f, FW_CFG_OFF_SELECTOR, key, 2);
}

static uint8_t port_byte(struct fw_cfg *f)
{
    return (uint8_t)fw_cfg_ops.read(f, FW_CFG_OFF_DATA, 1);
}

static uint32_t be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

/* Write a descriptor at gpa and start it through the ports, as SeaBIOS does. */
static uint32_t dma(struct fixture *x, uint64_t gpa, uint32_t control, uint32_t len, uint64_t addr)
{
    uint8_t *d = x->ram + gpa;
    put_be32(d, control);
    put_be32(d + 4, len);
    put_be32(d + 8, (uint32_t)(addr >> 32));
    put_be32(d + 12, (uint32_t)addr);
    fw_cfg_ops.write(&x->f, FW_CFG_OFF_DMA_HI, __builtin_bswap32((uint32_t)(gpa >> 32)), 4);
    fw_cfg_ops.write(&x->f, FW_CFG_OFF_DMA_LO, __builtin_bswap32((uint32_t)gpa), 4);
    return be32(d);
}

static void test_signature_and_id(void **state)
{
    struct fixture *x = *state;
    port_select(&x->f, FW_CFG_SIGNATURE);
    char sig[5] = {0};
    for (int i = 0; i < 4; i++) {
        sig[i] = (char)port_byte(&x->f);
    }
    assert_string_equal(sig, "QEMU");
    assert_int_equal(port_byte(&x->f), 0); /* past the end */
    port_select(&x->f, FW_CFG_ID);
    assert_int_equal(port_byte(&x->f), FW_CFG_VERSION | FW_CFG_VERSION_DMA);
    /* An absent key and the arch-local bit read zeros. */
    port_select(&x->f, 0x3ff);
    assert_int_equal(port_byte(&x->f), 0);
    port_select(&x->f, 0x8000);
    assert_int_equal(port_byte(&x->f), 0);
    /* The DMA register reads "QEMU CFG" in guest byte order. */
    uint32_t hi = (uint32_t)fw_cfg_ops.read(&x->f, FW_CFG_OFF_DMA_HI, 4);
    assert_memory_equal(&hi, "QEMU", 4);
}

static void test_files(void **state)
{
    struct fixture *x = *state;
    assert_int_equal(fw_cfg_add_file(&x->f, "etc/e820", "0123456789", 10), 0);
    assert_int_equal(fw_cfg_add_file(&x->f, "bootorder", "/pci@i0cf8/x\n", 13), 0);
    assert_int_equal(fw_cfg_add_file(&x->f, "bootorder", "", 0), -EEXIST);
    char longname[FW_CFG_NAME_LEN + 1];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[FW_CFG_NAME_LEN] = 0;
    assert_int_equal(fw_cfg_add_file(&x->f, longname, "", 0), -EINVAL);
    assert_int_equal(fw_cfg_add_bytes(&x->f, FW_CFG_FILE_DIR, "x", 1), -EINVAL);
    assert_int_equal(fw_cfg_file_key(&x->f, "bootorder"), FW_CFG_FILE_FIRST + 1);

    port_select(&x->f, FW_CFG_FILE_DIR);
    uint8_t dir[4 + 2 * 64];
    for (size_t i = 0; i < sizeof(dir); i++) {
        dir[i] = port_byte(&x->f);
    }
    assert_int_equal(be32(dir), 2);
    assert_int_equal(be32(dir + 4), 10);
    assert_int_equal(dir[8] << 8 | dir[9], FW_CFG_FILE_FIRST);
    assert_string_equal((char *)dir + 12, "etc/e820");
    assert_int_equal(be32(dir + 68), 13);
    assert_string_equal((char *)dir + 76, "bootorder");
}

static void test_dma_read_select_skip(void **state)
{
    struct fixture *x = *state;
    assert_int_equal(fw_cfg_add_file(&x->f, "etc/test", "abcdefgh", 8), 0);
    uint16_t key = FW_CFG_FILE_FIRST;
    memset(x->ram + 0x2000, 0xee, 16);
    uint32_t st = dma(x, 0x1000, (uint32_t)key << 16 | FW_CFG_DMA_SELECT | FW_CFG_DMA_SKIP, 2, 0);
    assert_int_equal(st, 0);
    st = dma(x, 0x1000, FW_CFG_DMA_READ, 3, 0x2000);
    assert_int_equal(st, 0);
    assert_memory_equal(x->ram + 0x2000, "cde", 3);
    /* Past the end: the rest of the item, then zeros. */
    st = dma(x, 0x1000, FW_CFG_DMA_READ, 6, 0x2000);
    assert_int_equal(st, 0);
    assert_memory_equal(x->ram + 0x2000, "fgh\0\0\0", 6);
    assert_int_equal(x->ram[0x2006], 0xee);
    /* The port sees the same cursor. */
    st = dma(x, 0x1000, (uint32_t)key << 16 | FW_CFG_DMA_SELECT, 0, 0);
    assert_int_equal(port_byte(&x->f), 'a');
    assert_int_equal(x->f.dma_errors, 0);
}

static void test_dma_bad_guest(void **state)
{
    struct fixture *x = *state;
    port_select(&x->f, FW_CFG_SIGNATURE);
    /* Buffer beyond RAM, or straddling its end: error bit, nothing written. */
    assert_int_equal(dma(x, 0x1000, FW_CFG_DMA_READ, 4, RAM), FW_CFG_DMA_ERROR);
    assert_int_equal(dma(x, 0x1000, FW_CFG_DMA_READ, 8, RAM - 4), FW_CFG_DMA_ERROR);
    assert_memory_equal(x->ram + RAM - 4, "\0\0\0\0", 4);
    /* In the VGA window (not RAM) or wrapping around 2^64. */
    assert_int_equal(dma(x, 0x1000, FW_CFG_DMA_READ, 4, 0xA0000), FW_CFG_DMA_ERROR);
    assert_int_equal(dma(x, 0x1000, FW_CFG_DMA_READ, 0x100, UINT64_MAX - 0x10), FW_CFG_DMA_ERROR);
    /* Writes are refused. */
    assert_int_equal(dma(x, 0x1000, FW_CFG_DMA_WRITE, 4, 0x2000), FW_CFG_DMA_ERROR);
    assert_int_equal(x->f.dma_errors, 5);
    /* A descriptor outside RAM: counted, no access. */
    fw_cfg_ops.write(&x->f, FW_CFG_OFF_DMA_HI, __builtin_bswap32(1), 4);
    fw_cfg_ops.write(&x->f, FW_CFG_OFF_DMA_LO, 0, 4);
    assert_int_equal(x->f.dma_errors, 6);
    /* Wrong sizes and offsets. */
    fw_cfg_ops.write(&x->f, FW_CFG_OFF_SELECTOR, 1, 1);
    fw_cfg_ops.read(&x->f, 2, 1);
    assert_int_equal(x->f.bad_access, 2);
}

static void test_reset_and_state(void **state)
{
    struct fixture *x = *state;
    port_select(&x->f, FW_CFG_SIGNATURE);
    port_byte(&x->f);
    uint8_t a[64], b[64];
    long n = vmstate_save(&fw_cfg_vmstate, &x->f, a, sizeof(a));
    assert_true(n > 0);
    fw_cfg_reset(&x->f);
    assert_int_equal(port_byte(&x->f), 'Q');
    assert_int_equal(vmstate_load(&fw_cfg_vmstate, &x->f, a, (size_t)n), 0);
    assert_int_equal(port_byte(&x->f), 'E');
    assert_int_equal(vmstate_save(&fw_cfg_vmstate, &x->f, b, sizeof(b)), n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_signature_and_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dma_read_select_skip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dma_bad_guest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reset_and_state, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
