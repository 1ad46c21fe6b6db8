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

#include "vmm/boot_internal.h"
#include "vmm/firmware.h"
#include "vmm/firmware_kernel.h"
#include "vmm/memory.h"

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

/* A firmware volume header at 0x28, with the NV store GUID at 0x10 when nv. */
static void put_fv(uint8_t *p, bool nv)
{
    static const uint8_t nv_guid[16] = {0x8d, 0x2b, 0xf1, 0xff, 0x96, 0x76, 0x8b, 0x4c,
                                        0xa9, 0x85, 0x27, 0x47, 0x07, 0x5b, 0x4f, 0x50};
    memcpy(p + 0x28, "_FVH", 4);
    if (nv) {
        memcpy(p + 0x10, nv_guid, 16);
    }
}

static void test_uefi_images(void **state)
{
    (void)state;
    char err[256];
    uint8_t *rom;
    size_t size;
    enum firmware_kind kind;
    size_t n = 1u << 20;
    uint8_t *img = calloc(1, n);
    assert_non_null(img);
    /* 1 MiB without a volume header: refused as neither BIOS nor UEFI. */
    img[n - 16] = 0x90;
    img[n - 15] = 0xe9;
    char *p = write_tmp(img, n);
    assert_int_equal(firmware_load_image(p, &rom, &size, &kind, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "_FVH"));
    unlink(p);
    free(p);
    /* With one: UEFI. The SEV-aware vector (mov eax, cr0 ... jmp) is accepted too. */
    put_fv(img, false);
    p = write_tmp(img, n);
    assert_int_equal(firmware_load_image(p, &rom, &size, &kind, err, sizeof(err)), 0);
    assert_int_equal(kind, FIRMWARE_KIND_UEFI);
    assert_false(firmware_has_vars(rom, size));
    munmap(rom, size);
    unlink(p);
    free(p);
    static const uint8_t sev_rv[16] = {0x0f, 0x20, 0xc0, 0xa8, 0x01, 0x74, 0x05, 0xe9,
                                       0x28, 0xff, 0xff, 0xff, 0xe9, 0x09, 0xff, 0x90};
    memcpy(img + n - 16, sev_rv, 16);
    put_fv(img, true); /* a unified image: variables first */
    p = write_tmp(img, n);
    assert_int_equal(firmware_load_image(p, &rom, &size, &kind, err, sizeof(err)), 0);
    assert_int_equal(kind, FIRMWARE_KIND_UEFI);
    assert_true(firmware_has_vars(rom, size));
    munmap(rom, size);
    unlink(p);
    free(p);
    /* No jump at all: refused. */
    memset(img + n - 16, 0xff, 16);
    p = write_tmp(img, n);
    assert_int_equal(firmware_load_image(p, &rom, &size, &kind, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "reset vector"));
    unlink(p);
    free(p);
    free(img);

    if (access(FIRMWARE_UEFI_CODE, R_OK) == 0) {
        assert_int_equal(
            firmware_load_image(FIRMWARE_UEFI_CODE, &rom, &size, &kind, err, sizeof(err)), 0);
        assert_int_equal(kind, FIRMWARE_KIND_UEFI);
        munmap(rom, size);
    }
}

static void test_vars(void **state)
{
    (void)state;
    char err[256];
    uint8_t *buf;
    size_t size;
    int fd;
    size_t n = 8 * 4096;
    uint8_t *tpl = calloc(1, n);
    assert_non_null(tpl);
    put_fv(tpl, true);
    tpl[n - 1] = 0x5a;
    char *template = write_tmp(tpl, n);
    char dir[] = "/tmp/deskvm-vars-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof(path), "%s/vm.vars.fd", dir);

    /* Missing: created from the template, mapped shared, locked. */
    assert_int_equal(firmware_open_vars(path, template, &buf, &size, &fd, err, sizeof(err)), 0);
    assert_int_equal(size, n);
    assert_true(fd >= 0);
    assert_int_equal(buf[n - 1], 0x5a);
    buf[100] = 0x77; /* a guest program reaches the file */
    uint8_t *buf2;
    size_t size2;
    int fd2;
    assert_int_equal(firmware_open_vars(path, template, &buf2, &size2, &fd2, err, sizeof(err)),
                     -EWOULDBLOCK);
    assert_non_null(strstr(err, "in use"));
    munmap(buf, size);
    close(fd);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    uint8_t b[101];
    assert_int_equal(fread(b, 1, sizeof(b), f), sizeof(b));
    fclose(f);
    assert_int_equal(b[100], 0x77);
    /* Existing: opened as it is, the template not used. */
    assert_int_equal(firmware_open_vars(path, NULL, &buf, &size, &fd, err, sizeof(err)), 0);
    assert_int_equal(buf[100], 0x77);
    munmap(buf, size);
    close(fd);
    /* No path: a private copy of the template. */
    assert_int_equal(firmware_open_vars(NULL, template, &buf, &size, &fd, err, sizeof(err)), 0);
    assert_int_equal(fd, -1);
    assert_int_equal(buf[n - 1], 0x5a);
    buf[0] = 1; /* not written back */
    munmap(buf, size);
    f = fopen(template, "rb");
    assert_non_null(f);
    assert_int_equal(fread(b, 1, 1, f), 1);
    fclose(f);
    assert_int_equal(b[0], 0);
    /* Neither: nothing to use. Bad files: not a volume, odd size. */
    assert_int_equal(firmware_open_vars(NULL, NULL, &buf, &size, &fd, err, sizeof(err)), -EINVAL);
    tpl[0x28] = 0;
    char *bad = write_tmp(tpl, n);
    assert_int_equal(firmware_open_vars(bad, NULL, &buf, &size, &fd, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "not a UEFI variable store"));
    unlink(bad);
    free(bad);
    put_fv(tpl, true);
    bad = write_tmp(tpl, n - 100);
    assert_int_equal(firmware_open_vars(bad, NULL, &buf, &size, &fd, err, sizeof(err)), -EINVAL);
    unlink(bad);
    free(bad);
    /* A missing template leaves no half-made file. */
    snprintf(path, sizeof(path), "%s/other.fd", dir);
    assert_int_equal(
        firmware_open_vars(path, "/nonexistent/t.fd", &buf, &size, &fd, err, sizeof(err)), -ENOENT);
    assert_int_equal(access(path, F_OK), -1);

    snprintf(path, sizeof(path), "%s/vm.vars.fd", dir);
    unlink(path);
    rmdir(dir);
    unlink(template);
    free(template);
    free(tpl);
}

/* A bzImage header: setup_sects, boot protocol, loaded high, 4 KiB image. */
#define BZ_SIZE 4096
static void make_bz(uint8_t *img, uint8_t setup_sects, uint16_t version)
{
    memset(img, 0, BZ_SIZE);
    for (unsigned i = 0; i < BZ_SIZE; i++) {
        img[i] = (uint8_t)(i * 7);
    }
    struct linux_setup_header h = {
        .setup_sects = setup_sects,
        .boot_flag = LINUX_BOOT_FLAG,
        .jump = 0x66eb,
        .header = LINUX_HDRS_MAGIC,
        .version = version,
        .type_of_loader = 0,
        .loadflags = LINUX_LOADED_HIGH,
        .code32_start = 0x100000,
        .initrd_addr_max = 0x37ffffff,
        .cmdline_size = 255,
        .init_size = 0x2000,
    };
    memcpy(img + LINUX_HDR_OFFSET, &h, sizeof(h));
}

static void test_kernel_split(void **state)
{
    (void)state;
    static uint8_t img[BZ_SIZE];
    make_bz(img, 2, 0x20c);
    struct fw_kernel k;
    char err[256];
    const uint64_t top = 128u << 20;
    assert_int_equal(fw_kernel_prepare(img, BZ_SIZE, 5000, 10, top, &k, err, sizeof(err)), 0);
    /* (setup_sects + 1) sectors of setup, the rest is the protected-mode kernel. */
    assert_int_equal(k.setup_size, 3 * 512);
    assert_ptr_equal(k.kernel, img + 3 * 512);
    assert_int_equal(k.kernel_size, BZ_SIZE - 3 * 512);
    assert_int_equal(k.version, 0x20c);
    /* Highest page below both initrd_addr_max and the firmware's area at the top of RAM. */
    uint32_t want = (uint32_t)((top - FW_KERNEL_TOP_RESERVE - 1 - 5000) & ~0xfffull);
    assert_int_equal(k.initrd_addr, want);

    struct linux_setup_header h;
    memcpy(&h, k.setup + LINUX_HDR_OFFSET, sizeof(h));
    assert_int_equal(h.type_of_loader, LINUX_LOADER_UNDEFINED);
    assert_int_equal(h.loadflags, LINUX_LOADED_HIGH | LINUX_CAN_USE_HEAP);
    assert_int_equal(h.heap_end_ptr, 0xfe00);
    assert_int_equal(h.cmd_line_ptr, FW_KERNEL_CMDLINE_ADDR);
    assert_int_equal(h.ramdisk_image, want);
    assert_int_equal(h.ramdisk_size, 5000);
    /* Everything outside the loader's fields is the image's. */
    assert_memory_equal(k.setup, img, 0x210);
    assert_memory_equal(k.setup + 0x22c, img + 0x22c, 3 * 512 - 0x22c);
    fw_kernel_free(&k);

    /* setup_sects 0 means 4; initrd_addr_max below the top of RAM wins; no initrd. */
    make_bz(img, 0, 0x206);
    assert_int_equal(fw_kernel_prepare(img, BZ_SIZE, 0, 0, top, &k, err, sizeof(err)), 0);
    assert_int_equal(k.setup_size, 5 * 512);
    assert_int_equal(k.initrd_addr, 0);
    fw_kernel_free(&k);
    assert_int_equal(fw_kernel_prepare(img, BZ_SIZE, 4096, 0, 2ull << 30, &k, err, sizeof(err)), 0);
    assert_int_equal(k.initrd_addr, 0x37ffe000);
    fw_kernel_free(&k);
}

static void expect_fail(const uint8_t *img, size_t n, uint64_t initrd, size_t cmdline, int want,
                        const char *words)
{
    struct fw_kernel k;
    char err[256] = "";
    assert_int_equal(fw_kernel_prepare(img, n, initrd, cmdline, 128u << 20, &k, err, sizeof(err)),
                     want);
    assert_non_null(strstr(err, words));
    assert_null(k.setup);
}

static void test_kernel_bad(void **state)
{
    (void)state;
    static uint8_t img[BZ_SIZE];
    make_bz(img, 2, 0x20c);
    /* An ELF kernel (vmlinux, PVH) needs the engine's own loader. */
    static uint8_t elf[BZ_SIZE];
    memset(elf, 0, sizeof(elf));
    memcpy(elf,
           "\x7f"
           "ELF\x02\x01\x01",
           7);
    elf[16] = 2;  /* ET_EXEC */
    elf[18] = 62; /* EM_X86_64 */
    assert_true(boot_elf_is_elf(elf, sizeof(elf)));
    expect_fail(elf, sizeof(elf), 0, 0, -EINVAL, "ELF");
    expect_fail(img, 0x200, 0, 0, -EINVAL, "HdrS");
    uint8_t text[1024];
    memset(text, 'a', sizeof(text));
    expect_fail(text, sizeof(text), 0, 0, -EINVAL, "not a Linux bzImage");
    make_bz(img, 2, 0x205);
    expect_fail(img, BZ_SIZE, 0, 0, -EINVAL, "2.05");
    make_bz(img, 2, 0x20c);
    img[0x211] = 0; /* a zImage */
    expect_fail(img, BZ_SIZE, 0, 0, -EINVAL, "zImage");
    make_bz(img, 7, 0x20c); /* the setup is the whole image */
    expect_fail(img, BZ_SIZE, 0, 0, -EINVAL, "setup bytes");
    make_bz(img, 2, 0x20c);
    expect_fail(img, BZ_SIZE, 0, 256, -E2BIG, "at most 255");
    expect_fail(img, BZ_SIZE, 127u << 20, 0, -E2BIG, "--initrd");
    img[0x1fe] = 0;
    expect_fail(img, BZ_SIZE, 0, 0, -EINVAL, "55 AA");
}

/* What OVMF (and linuxboot_dma.bin) read: the same items for either firmware. */
static void test_kernel_items(void **state)
{
    (void)state;
    static uint8_t img[BZ_SIZE];
    make_bz(img, 2, 0x20c);
    struct fw_kernel k;
    char err[256];
    const uint8_t initrd[] = "initrd!";
    assert_int_equal(
        fw_kernel_prepare(img, BZ_SIZE, sizeof(initrd), 9, 256u << 20, &k, err, sizeof(err)), 0);
    static uint8_t ram[1 << 16];
    struct guest_mem mem;
    guest_mem_init_host(&mem, ram, sizeof(ram));
    struct fw_cfg f;
    assert_int_equal(fw_cfg_init(&f, &mem), 0);
    assert_int_equal(fw_kernel_publish(&f, &k, initrd, sizeof(initrd), "quiet a=b"), 0);
    struct {
        uint16_t key;
        uint32_t v;
    } u32s[] = {
        {FW_CFG_SETUP_ADDR, FW_KERNEL_SETUP_ADDR},     {FW_CFG_SETUP_SIZE, 3 * 512},
        {FW_CFG_KERNEL_ADDR, FW_KERNEL_PROT_ADDR},     {FW_CFG_KERNEL_SIZE, BZ_SIZE - 3 * 512},
        {FW_CFG_CMDLINE_ADDR, FW_KERNEL_CMDLINE_ADDR}, {FW_CFG_CMDLINE_SIZE, 10},
        {FW_CFG_INITRD_ADDR, k.initrd_addr},           {FW_CFG_INITRD_SIZE, sizeof(initrd)},
    };
    for (unsigned i = 0; i < sizeof(u32s) / sizeof(u32s[0]); i++) {
        assert_int_equal(f.items[u32s[i].key].len, 4);
        uint32_t v;
        memcpy(&v, f.items[u32s[i].key].data, 4); /* little-endian, as QEMU stores them */
        assert_int_equal(v, u32s[i].v);
    }
    assert_int_equal(f.items[FW_CFG_SETUP_DATA].len, 3 * 512);
    assert_memory_equal(f.items[FW_CFG_SETUP_DATA].data, k.setup, 3 * 512);
    assert_int_equal(f.items[FW_CFG_KERNEL_DATA].len, BZ_SIZE - 3 * 512);
    assert_memory_equal(f.items[FW_CFG_KERNEL_DATA].data, img + 3 * 512, BZ_SIZE - 3 * 512);
    assert_int_equal(f.items[FW_CFG_CMDLINE_DATA].len, 10);
    assert_string_equal((const char *)f.items[FW_CFG_CMDLINE_DATA].data, "quiet a=b");
    assert_memory_equal(f.items[FW_CFG_INITRD_DATA].data, initrd, sizeof(initrd));
    fw_cfg_destroy(&f);

    /* No initrd, no command line: an empty string, no initrd items. */
    assert_int_equal(fw_cfg_init(&f, &mem), 0);
    assert_int_equal(fw_kernel_publish(&f, &k, NULL, 0, NULL), 0);
    assert_int_equal(f.items[FW_CFG_CMDLINE_DATA].len, 1);
    assert_null(f.items[FW_CFG_INITRD_DATA].data);
    fw_cfg_destroy(&f);
    fw_kernel_free(&k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_segments),     cmocka_unit_test(test_images),
        cmocka_unit_test(test_uefi_images),  cmocka_unit_test(test_vars),
        cmocka_unit_test(test_kernel_split), cmocka_unit_test(test_kernel_bad),
        cmocka_unit_test(test_kernel_items),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
