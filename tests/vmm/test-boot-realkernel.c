// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The bzImage loader against a real Debian kernel (linux-image-cloud-amd64): setup header
 * copied per Documentation/arch/x86/boot.rst, payload decompressed to the vmlinux ELF and
 * entered at startup_64, zero page contents. Exits 77 (skip) when no such kernel is installed.
 */
#include <errno.h>
#include <glob.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <capstone/capstone.h>
#include <cmocka.h>

#include "vmm/boot.h"
#include "vmm/boot_internal.h"
#include "vmm/memory.h"

#define RAM_SIZE (512ull << 20)

struct real {
    char *kernel;
    char *sysmap; /* NULL when the package has none */
    uint8_t *file;
    size_t file_size;
    uint8_t *ram;
    struct guest_mem mem;
    struct e820_map e820;
    char initrd[64];
    uint8_t *initrd_data;
};

static size_t initrd_size = 1u << 20;

static uint8_t *slurp(const char *path, size_t *size)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        return NULL;
    }
    fseek(fp, 0, SEEK_END);
    long n = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    uint8_t *buf = malloc((size_t)n);
    if (buf && fread(buf, 1, (size_t)n, fp) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(fp);
    *size = (size_t)n;
    return buf;
}

/* DESKVM_TEST_KERNEL, else the newest /boot/vmlinuz-*cloud-amd64. */
static char *find_kernel(void)
{
    const char *env = getenv("DESKVM_TEST_KERNEL");
    if (env && *env) {
        return access(env, R_OK) == 0 ? strdup(env) : NULL;
    }
    glob_t g;
    char *path = NULL;
    if (glob("/boot/vmlinuz-*cloud-amd64", 0, NULL, &g) == 0 && g.gl_pathc > 0) {
        path = strdup(g.gl_pathv[g.gl_pathc - 1]);
    }
    globfree(&g);
    return path;
}

/*
 * True when one of the first instructions at entry is a RIP-relative LEA of entry itself:
 * startup_64 computes the physical address of _text (== startup_64) that way.
 */
static bool looks_like_startup_64(const uint8_t *code, uint64_t entry)
{
    csh h;
    if (cs_open(CS_ARCH_X86, CS_MODE_64, &h) != CS_ERR_OK) {
        return false;
    }
    cs_option(h, CS_OPT_DETAIL, CS_OPT_ON);
    cs_insn *insn;
    size_t n = cs_disasm(h, code, 96, entry, 16, &insn);
    bool found = false;
    for (size_t i = 0; i < n && !found; i++) {
        const cs_x86 *x = &insn[i].detail->x86;
        if (insn[i].id == X86_INS_LEA && x->op_count == 2 && x->operands[1].type == X86_OP_MEM &&
            x->operands[1].mem.base == X86_REG_RIP) {
            uint64_t target = insn[i].address + insn[i].size + (uint64_t)x->operands[1].mem.disp;
            found = target == entry;
        }
    }
    cs_free(insn, n);
    cs_close(&h);
    return found;
}

/* startup_64 from the System.map next to the kernel, as a physical address; 0 if unknown. */
static uint64_t sysmap_startup_64(const char *sysmap)
{
    FILE *fp = sysmap ? fopen(sysmap, "r") : NULL;
    if (!fp) {
        return 0;
    }
    char line[256];
    uint64_t addr = 0;
    while (fgets(line, sizeof(line), fp)) {
        unsigned long long a;
        char type;
        char name[200];
        if (sscanf(line, "%llx %c %199s", &a, &type, name) == 3 &&
            strcmp(name, "startup_64") == 0) {
            addr = a - LINUX_START_KERNEL_MAP;
            break;
        }
    }
    fclose(fp);
    return addr;
}

static uint16_t file16(const struct real *r, size_t off)
{
    uint16_t v;
    memcpy(&v, r->file + off, 2);
    return v;
}

static uint32_t file32(const struct real *r, size_t off)
{
    uint32_t v;
    memcpy(&v, r->file + off, 4);
    return v;
}

static int setup(void **state)
{
    struct real *r = calloc(1, sizeof(*r));
    r->kernel = find_kernel();
    if (!r->kernel) {
        free(r);
        return -1;
    }
    const char *base = strrchr(r->kernel, '/');
    const char *ver = strstr(base ? base : r->kernel, "vmlinuz-");
    if (ver) {
        size_t dir = base ? (size_t)(base - r->kernel) : 0;
        if (asprintf(&r->sysmap, "%.*s/System.map-%s", (int)dir, r->kernel, ver + 8) < 0) {
            r->sysmap = NULL;
        }
    }
    r->file = slurp(r->kernel, &r->file_size);
    assert_non_null(r->file);
    /* Anonymous mapping: RAM reads as zero and costs nothing until touched. */
    r->ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(r->ram != MAP_FAILED);
    guest_mem_init_host(&r->mem, r->ram, RAM_SIZE);
    e820_build(&r->e820, &r->mem);

    snprintf(r->initrd, sizeof(r->initrd), "/tmp/deskvm-initrd-XXXXXX");
    int fd = mkstemp(r->initrd);
    assert_true(fd >= 0);
    r->initrd_data = malloc(initrd_size);
    for (size_t i = 0; i < initrd_size; i++) {
        r->initrd_data[i] = (uint8_t)(i * 29 + 3);
    }
    assert_int_equal(write(fd, r->initrd_data, initrd_size), (ssize_t)initrd_size);
    close(fd);
    *state = r;
    return 0;
}

static int teardown(void **state)
{
    struct real *r = *state;
    unlink(r->initrd);
    munmap(r->ram, RAM_SIZE);
    free(r->initrd_data);
    free(r->file);
    free(r->sysmap);
    free(r->kernel);
    free(r);
    return 0;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void test_real_bzimage(void **state)
{
    struct real *r = *state;
    const char *cmdline = "console=ttyS0 earlyprintk=serial root=/dev/vda1 ro";
    struct boot_config cfg = {
        .kernel = r->kernel,
        .initrd = r->initrd,
        .cmdline = cmdline,
        .e820 = &r->e820,
        .rsdp_gpa = ACPI_TABLES_ADDR,
    };
    struct boot_entry out;
    char err[256];
    double t0 = now();
    int rc = boot_load(&r->mem, &cfg, &out, err, sizeof(err));
    double dt = now() - t0;
    if (rc < 0) {
        fail_msg("boot_load: %s", err);
    }

    /* The header as the file says it, read independently of the loader. */
    uint16_t version = file16(r, 0x206);
    uint8_t setup_sects = r->file[0x1f1];
    size_t pm = ((size_t)setup_sects + 1) * 512;
    uint32_t payload_offset = file32(r, 0x248);
    uint32_t init_size = file32(r, 0x260);
    uint64_t pref;
    memcpy(&pref, r->file + 0x258, 8);
    const uint8_t *payload = r->file + pm + payload_offset;
    enum boot_comp comp = boot_comp_detect(payload, 8);
    print_message("%s: boot protocol %u.%02u, payload %s, format %s, loaded in %.0f ms\n",
                  r->kernel, version >> 8, version & 0xff, boot_comp_name(comp), out.format,
                  dt * 1000);
    assert_true(version >= 0x020c);

    /* Decompressed by us: the format names the payload compression. */
    assert_true(comp == BOOT_COMP_XZ || comp == BOOT_COMP_ZSTD || comp == BOOT_COMP_LZ4 ||
                comp == BOOT_COMP_GZIP);
    char expect[32];
    snprintf(expect, sizeof(expect), "bzImage+%s", boot_comp_name(comp));
    assert_string_equal(out.format, expect);
    assert_int_equal(out.mode, BOOT_LINUX64);
    assert_int_equal(out.arg, BOOT_INFO_ADDR);

    /*
     * Entry at startup_64: per System.map when it is the real one (Debian ships a placeholder
     * and puts the real map in the -dbg package). Otherwise: the x86-64 link puts startup_64
     * first in .head.text at _text, the kernel's link-time physical address (pref_address),
     * and its code takes the address of _text RIP-relatively.
     */
    uint64_t startup_64 = sysmap_startup_64(r->sysmap);
    if (startup_64) {
        assert_int_equal(out.rip, startup_64);
    } else {
        assert_int_equal(out.rip, pref);
    }
    assert_true(looks_like_startup_64(r->ram + out.rip, out.rip));

    struct linux_boot_params bp;
    memcpy(&bp, r->ram + BOOT_INFO_ADDR, sizeof(bp));
    /* Header bytes copied verbatim up to the loader-owned fields. */
    assert_memory_equal(r->ram + BOOT_INFO_ADDR + 0x1f1, r->file + 0x1f1, 0x210 - 0x1f1);
    assert_int_equal(bp.hdr.version, version);
    assert_int_equal(bp.hdr.setup_sects, setup_sects);
    assert_int_equal(bp.hdr.syssize, file32(r, 0x1f4));
    assert_int_equal(bp.hdr.xloadflags, file16(r, 0x236));
    assert_int_equal(bp.hdr.init_size, init_size);
    assert_int_equal(bp.hdr.pref_address, pref);
    assert_int_equal(bp.hdr.cmdline_size, file32(r, 0x238));
    assert_int_equal(bp.hdr.initrd_addr_max, file32(r, 0x22c));
    assert_int_equal(bp.hdr.kernel_alignment, file32(r, 0x230));
    assert_int_equal(bp.hdr.payload_offset, payload_offset);
    assert_int_equal(bp.hdr.type_of_loader, 0xff);
    assert_int_equal(bp.acpi_rsdp_addr, ACPI_TABLES_ADDR);

    assert_int_equal(bp.hdr.cmd_line_ptr, BOOT_CMDLINE_ADDR);
    assert_string_equal((char *)r->ram + bp.hdr.cmd_line_ptr, cmdline);

    assert_int_equal(bp.e820_entries, r->e820.n);
    for (unsigned i = 0; i < r->e820.n; i++) {
        assert_int_equal(bp.e820_table[i].addr, r->e820.e[i].addr);
        assert_int_equal(bp.e820_table[i].size, r->e820.e[i].size);
        assert_int_equal(bp.e820_table[i].type, r->e820.e[i].type);
    }

    uint64_t rd = bp.hdr.ramdisk_image | (uint64_t)bp.ext_ramdisk_image << 32;
    assert_int_equal(bp.hdr.ramdisk_size, initrd_size);
    assert_int_equal(rd & 0xfff, 0);
    assert_true(rd + initrd_size - 1 <= bp.hdr.initrd_addr_max);
    assert_true(rd >= pref + init_size);
    assert_true(rd + initrd_size <= RAM_SIZE);
    assert_memory_equal(r->ram + rd, r->initrd_data, initrd_size);

    /* The kernel text is there: the bytes at the entry are not what fresh RAM holds. */
    static const uint8_t zero[64];
    assert_memory_not_equal(r->ram + out.rip, zero, sizeof(zero));
    assert_true(dt < 5.0);
}

static void test_real_bzimage_fallback(void **state)
{
    struct real *r = *state;
    /* Damage the payload in a copy: the loader must fall back to the kernel's own entry. */
    uint8_t *copy = malloc(r->file_size);
    memcpy(copy, r->file, r->file_size);
    size_t pm = ((size_t)copy[0x1f1] + 1) * 512;
    uint32_t payload_offset, payload_length;
    memcpy(&payload_offset, copy + 0x248, 4);
    memcpy(&payload_length, copy + 0x24c, 4);
    memset(copy + pm + payload_offset + 4, 0xff, 64);
    uint64_t pref;
    memcpy(&pref, copy + 0x258, 8);

    struct boot_config cfg = {.kernel = r->kernel, .cmdline = "", .e820 = &r->e820};
    struct boot_entry out;
    char err[256];
    int rc = boot_load_buffer(&r->mem, &cfg, copy, r->file_size, NULL, &out, err, sizeof(err));
    if (rc < 0) {
        fail_msg("boot_load_buffer: %s", err);
    }
    assert_string_equal(out.format, "bzImage");
    assert_int_equal(out.mode, BOOT_LINUX64);
    assert_int_equal(out.rip, pref + 0x200);
    assert_memory_equal(r->ram + pref, copy + pm, r->file_size - pm);
    free(copy);
}

static void test_real_bzimage_small_ram(void **state)
{
    struct real *r = *state;
    /* 32 MiB of RAM cannot hold the kernel's init_size: a clear error, not a crash. */
    struct guest_mem small;
    guest_mem_init_host(&small, r->ram, 32u << 20);
    struct boot_config cfg = {.kernel = r->kernel};
    struct boot_entry out;
    char err[256];
    int rc = boot_load_buffer(&small, &cfg, r->file, r->file_size, NULL, &out, err, sizeof(err));
    assert_true(rc < 0);
    assert_true(strncmp(err, r->kernel, strlen(r->kernel)) == 0);
    print_message("small RAM: %s\n", err);
}

int main(void)
{
    char *k = find_kernel();
    if (!k) {
        fprintf(stderr, "no /boot/vmlinuz-*cloud-amd64 (install linux-image-cloud-amd64): "
                        "skipping\n");
        return 77;
    }
    free(k);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_real_bzimage, setup, teardown),
        cmocka_unit_test_setup_teardown(test_real_bzimage_fallback, setup, teardown),
        cmocka_unit_test_setup_teardown(test_real_bzimage_small_ram, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
