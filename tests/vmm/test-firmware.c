// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Firmware glue without KVM: which slot kind each PAM setting gives each segment, and the
 * checks on --firmware images (missing, wrong size, no reset-vector jump, Debian's SeaBIOS).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "vmm/firmware.h"

static void test_segments(void **state)
{
    (void)state;
    /* Segment 0 is the 64 KiB F segment, then C0000, C4000, ... EC000. */
    assert_int_equal(firmware_seg_base(0), 0xF0000);
    assert_int_equal(firmware_seg_size(0), 0x10000);
    assert_int_equal(firmware_seg_base(1), 0xC0000);
    assert_int_equal(firmware_seg_base(12), 0xEC000);
    assert_int_equal(firmware_seg_base(12) + firmware_seg_size(12), 0xF0000);

    uint8_t pam[Q35_PAM_COUNT] = {0x30, 0x21, 0, 0, 0, 0x10, 0x03};
    assert_int_equal(firmware_seg_attr(pam, 0), 3);  /* PAM0 bits 5:4 */
    assert_int_equal(firmware_seg_attr(pam, 1), 1);  /* PAM1 low nibble: C0000 */
    assert_int_equal(firmware_seg_attr(pam, 2), 2);  /* PAM1 high nibble: C4000 */
    assert_int_equal(firmware_seg_attr(pam, 10), 1); /* PAM5 high nibble: E4000 */
    assert_int_equal(firmware_seg_attr(pam, 11), 3); /* PAM6 low nibble: E8000 */
    /* PAM0's low nibble is reserved: it never selects anything. */
    pam[0] = 0x0f;
    assert_int_equal(firmware_seg_attr(pam, 0), 0);

    assert_int_equal(firmware_seg_kind(0, 3), FW_SEG_RAM);
    assert_int_equal(firmware_seg_kind(0, 1), FW_SEG_RAM_RO);
    assert_int_equal(firmware_seg_kind(0, 0), FW_SEG_ROM);
    assert_int_equal(firmware_seg_kind(0, 2), FW_SEG_ROM);  /* write-only: reads from ROM */
    assert_int_equal(firmware_seg_kind(9, 0), FW_SEG_ROM);  /* E0000 */
    assert_int_equal(firmware_seg_kind(8, 0), FW_SEG_NONE); /* DC000: PCI, no ROM */
    assert_int_equal(firmware_seg_kind(1, 2), FW_SEG_NONE);
    assert_int_equal(firmware_seg_kind(1, 1), FW_SEG_RAM_RO);
}

static char *write_tmp(const void *data, size_t len)
{
    char *path = strdup("/tmp/test-firmware-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, data, len), (ssize_t)len);
    close(fd);
    return path;
}

static void test_images(void **state)
{
    (void)state;
    char err[256];
    uint8_t *rom;
    size_t size;
    enum firmware_kind kind;
    assert_int_equal(
        firmware_load_image("/nonexistent/bios.bin", &rom, &size, &kind, err, sizeof(err)),
        -ENOENT);
    assert_non_null(strstr(err, "/nonexistent/bios.bin"));

    size_t n = 128u << 10;
    uint8_t *img = calloc(1, (256u << 10) + 4096);
    char *p = write_tmp(img, 4096);
    assert_int_equal(firmware_load_image(p, &rom, &size, &kind, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "not a BIOS image"));
    unlink(p);
    free(p);

    /* Right size, but no jump at the reset vector. */
    p = write_tmp(img, n);
    assert_int_equal(firmware_load_image(p, &rom, &size, &kind, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "reset vector"));
    unlink(p);
    free(p);

    /* A far jump (SeaBIOS) and NOPs + near jump (OVMF style) are accepted. */
    img[n - 16] = 0xea;
    p = write_tmp(img, n);
    assert_int_equal(firmware_load_image(p, &rom, &size, &kind, err, sizeof(err)), 0);
    assert_int_equal(size, n);
    assert_int_equal(rom[n - 16], 0xea);
    munmap(rom, size);
    unlink(p);
    free(p);
    img[n - 16] = 0x90;
    img[n - 15] = 0x90;
    img[n - 14] = 0xe9;
    p = write_tmp(img, n);
    assert_int_equal(firmware_load_image(p, &rom, &size, &kind, err, sizeof(err)), 0);
    munmap(rom, size);
    unlink(p);
    free(p);

    /* Too large (the TSS pages sit below 0xFFFC0000). */
    img[(256u << 10) + 4096 - 16] = 0xea;
    p = write_tmp(img, (256u << 10) + 4096);
    assert_int_equal(firmware_load_image(p, &rom, &size, &kind, err, sizeof(err)), -EINVAL);
    unlink(p);
    free(p);
    free(img);

    if (access(FIRMWARE_BIOS_PATH, R_OK) == 0) {
        assert_int_equal(
            firmware_load_image(FIRMWARE_BIOS_PATH, &rom, &size, &kind, err, sizeof(err)), 0);
        assert_int_equal(size, 256u << 10);
        munmap(rom, size);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_segments),
        cmocka_unit_test(test_images),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
