// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ACPI tables parsed back from guest memory the way an OS finds them: RSDP signature and both
 * checksums, every RSDT/XSDT entry's checksum, the FADT fixed fields, the MADT's processors,
 * the DSDT's \_S5; and, when iasl is installed, a disassembly of every table without errors.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "vmm/acpi.h"
#include "vmm/acpi_aml.h"
#include "vmm/e820.h"
#include "vmm/memory.h"
#include "vmm/pci_machine.h"

#define MEM_SIZE (1u << 20) /* covers 0xE0000 + 128 KiB exactly */

/* assert_non_null() is not noreturn, so -Wnull-dereference wants an explicit stop. */
#define REQUIRE(p)                                                                                 \
    do {                                                                                           \
        if (!(p)) {                                                                                \
            fail_msg("%s is NULL", #p);                                                            \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

struct fixture {
    uint8_t *ram;
    struct guest_mem mem;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    f->ram = calloc(1, MEM_SIZE);
    guest_mem_init_host(&f->mem, f->ram, MEM_SIZE);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    free(f->ram);
    free(f);
    return 0;
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
    return get32(p) | (uint64_t)get32(p + 4) << 32;
}

static uint8_t sum(const uint8_t *p, size_t n)
{
    uint8_t s = 0;
    for (size_t i = 0; i < n; i++) {
        s = (uint8_t)(s + p[i]);
    }
    return s;
}

/* A table at gpa with a valid header length inside RAM and a zero checksum. */
static const uint8_t *table_at(struct fixture *f, uint64_t gpa, const char *sig)
{
    const uint8_t *hdr = guest_mem_ptr(&f->mem, gpa, 36);
    REQUIRE(hdr);
    uint32_t len = get32(hdr + 4);
    assert_true(len >= 36);
    const uint8_t *t = guest_mem_ptr(&f->mem, gpa, len);
    REQUIRE(t);
    if (sig) {
        assert_memory_equal(t, sig, 4);
    }
    assert_int_equal(sum(t, len), 0);
    return t;
}

/* Checks GAS fields: system I/O at addr with the given width. */
static void check_gas(const uint8_t *g, unsigned width, uint64_t addr)
{
    assert_int_equal(g[0], 1);
    assert_int_equal(g[1], width);
    assert_int_equal(get64(g + 4), addr);
}

static void check_fadt(struct fixture *f, const uint8_t *fadt)
{
    assert_int_equal(get32(fadt + 4), 276);
    assert_true(fadt[8] >= 5);
    assert_int_equal(get16(fadt + 46), ACPI_SCI_IRQ);
    assert_int_equal(get32(fadt + 48), 0); /* SMI_CMD: no SMM */
    assert_int_equal(fadt[52], 0);
    assert_int_equal(fadt[53], 0);
    assert_int_equal(get32(fadt + 56), ACPI_PM_BASE);
    assert_int_equal(get32(fadt + 64), ACPI_PM_BASE + 4);
    assert_int_equal(get32(fadt + 76), ACPI_PM_BASE + 8);
    assert_int_equal(fadt[88], 4);
    assert_int_equal(fadt[89], 2);
    assert_int_equal(fadt[91], 4);
    check_gas(fadt + 148, 32, ACPI_PM_BASE);
    check_gas(fadt + 172, 16, ACPI_PM_BASE + 4);
    check_gas(fadt + 208, 32, ACPI_PM_BASE + 8);

    uint32_t flags = get32(fadt + 112);
    assert_true(flags & (1u << 0));   /* WBINVD */
    assert_true(flags & (1u << 2));   /* PROC_C1 */
    assert_false(flags & (1u << 4));  /* PWR_BUTTON clear: fixed power button */
    assert_true(flags & (1u << 5));   /* SLP_BUTTON set: no fixed sleep button */
    assert_false(flags & (1u << 8));  /* TMR_VAL_EXT clear: 24-bit timer */
    assert_true(flags & (1u << 10));  /* RESET_REG_SUP */
    assert_false(flags & (1u << 20)); /* not hardware-reduced */

    uint16_t boot = get16(fadt + 109);
    assert_true(boot & 1);  /* legacy devices */
    assert_true(boot & 2);  /* 8042 */
    assert_false(boot & 4); /* VGA present (comes later) */

    check_gas(fadt + 116, 8, ACPI_RESET_PORT);
    assert_int_equal(fadt[128], ACPI_RESET_VALUE);

    /* DSDT via both pointers, and the \_S5 object with SLP_TYP S5 in it. */
    uint32_t dsdt32 = get32(fadt + 40);
    assert_int_equal(get64(fadt + 140), dsdt32);
    const uint8_t *dsdt = table_at(f, dsdt32, "DSDT");
    uint32_t dlen = get32(dsdt + 4);
    const uint8_t s5[] = {'_', 'S', '5', '_', 0x12};
    const uint8_t *hit = memmem(dsdt, dlen, s5, sizeof(s5));
    REQUIRE(hit);
    /* Package: PkgLength (1 byte here), 4 elements, BytePrefix 5, BytePrefix 5. */
    assert_int_equal(hit[6], 4);
    assert_int_equal(hit[7], 0x0a);
    assert_int_equal(hit[8], ACPI_SLP_TYP_S5);
    assert_int_equal(hit[9], 0x0a);
    assert_int_equal(hit[10], ACPI_SLP_TYP_S5);

    /* FACS: 64-byte aligned, both pointers agree. */
    uint32_t facs = get32(fadt + 36);
    assert_int_equal(facs % 64, 0);
    assert_int_equal(get64(fadt + 132), 0); /* X_FIRMWARE_CTRL: FIRMWARE_CTRL is set */
    const uint8_t *fp = guest_mem_ptr(&f->mem, facs, 64);
    REQUIRE(fp);
    assert_memory_equal(fp, "FACS", 4);
    assert_int_equal(get32(fp + 4), 64);
}

static void check_madt(const uint8_t *madt, unsigned ncpus)
{
    uint32_t len = get32(madt + 4);
    assert_int_equal(get32(madt + 36), LAPIC_BASE);
    assert_true(get32(madt + 40) & 1); /* PCAT_COMPAT */
    uint8_t seen_id[256] = {0};
    unsigned lapics = 0, ioapics = 0, nmis = 0;
    int iso0 = 0, iso9 = 0;
    uint32_t off = 44;
    while (off < len) {
        assert_true(len - off >= 2);
        const uint8_t *e = madt + off;
        assert_true(e[1] >= 2 && e[1] <= len - off);
        switch (e[0]) {
        case 0:
            assert_int_equal(e[1], 8);
            assert_true(get32(e + 4) & 1);
            assert_int_equal(seen_id[e[3]], 0);
            assert_int_not_equal(e[3], 0xff);
            seen_id[e[3]] = 1;
            assert_int_equal(e[2], lapics); /* processor UID = index */
            lapics++;
            break;
        case 1:
            assert_int_equal(e[1], 12);
            assert_int_equal(get32(e + 4), IOAPIC_BASE);
            assert_int_equal(get32(e + 8), 0);
            ioapics++;
            break;
        case 2:
            assert_int_equal(e[1], 10);
            if (e[3] == 0) {
                assert_int_equal(get32(e + 4), 2);
                assert_int_equal(get16(e + 8) & 0xf, 0x5); /* edge, high */
                iso0++;
            } else if (e[3] == ACPI_SCI_IRQ) {
                assert_int_equal(get32(e + 4), ACPI_SCI_IRQ);
                assert_int_equal(get16(e + 8) & 0xf, 0xd); /* level, high */
                iso9++;
            } else {
                fail_msg("unexpected override for IRQ %u", e[3]);
            }
            break;
        case 4:
            assert_int_equal(e[1], 6);
            assert_int_equal(e[2], 0xff);
            assert_int_equal(e[5], 1);
            nmis++;
            break;
        default:
            fail_msg("unexpected MADT entry type %u", e[0]);
        }
        off += e[1];
    }
    assert_int_equal(off, len);
    assert_int_equal(lapics, ncpus);
    assert_int_equal(ioapics, 1);
    assert_int_equal(nmis, 1);
    assert_int_equal(iso0, 1);
    assert_int_equal(iso9, 1);
}

static void build_and_check(struct fixture *f, unsigned ncpus)
{
    memset(f->ram, 0, MEM_SIZE);
    struct acpi_config cfg = {.ncpus = ncpus};
    uint64_t rsdp_gpa = 0;
    assert_int_equal(acpi_build(&f->mem, ACPI_TABLES_ADDR, ACPI_TABLES_MAX, &cfg, &rsdp_gpa), 0);
    assert_int_equal(rsdp_gpa, ACPI_TABLES_ADDR);

    const uint8_t *rsdp = guest_mem_ptr(&f->mem, rsdp_gpa, 36);
    REQUIRE(rsdp);
    assert_memory_equal(rsdp, "RSD PTR ", 8);
    assert_int_equal(sum(rsdp, 20), 0);
    assert_int_equal(rsdp[15], 2);
    assert_int_equal(get32(rsdp + 20), 36);
    assert_int_equal(sum(rsdp, 36), 0);

    const uint8_t *rsdt = table_at(f, get32(rsdp + 16), "RSDT");
    const uint8_t *xsdt = table_at(f, get64(rsdp + 24), "XSDT");
    uint32_t nr = (get32(rsdt + 4) - 36) / 4;
    uint32_t nx = (get32(xsdt + 4) - 36) / 8;
    assert_int_equal(nr, nx);
    assert_true(nr >= 2);

    const uint8_t *fadt = NULL, *madt = NULL;
    for (uint32_t i = 0; i < nr; i++) {
        uint64_t a = get32(rsdt + 36 + 4 * i);
        assert_int_equal(get64(xsdt + 36 + 8 * i), a);
        const uint8_t *t = table_at(f, a, NULL);
        /* Everything lies inside the area handed to acpi_build. */
        assert_true(a >= ACPI_TABLES_ADDR &&
                    a + get32(t + 4) <= ACPI_TABLES_ADDR + ACPI_TABLES_MAX);
        if (!memcmp(t, "FACP", 4)) {
            fadt = t;
        } else if (!memcmp(t, "APIC", 4)) {
            madt = t;
        }
    }
    REQUIRE(fadt);
    REQUIRE(madt);
    check_fadt(f, fadt);
    check_madt(madt, ncpus);
}

static void test_tables_1cpu(void **state)
{
    build_and_check(*state, 1);
}

static void test_tables_2cpus(void **state)
{
    build_and_check(*state, 2);
}

static void test_tables_64cpus(void **state)
{
    build_and_check(*state, 64);
}

static void test_tables_255cpus(void **state)
{
    build_and_check(*state, 255);
}

static void test_deterministic(void **state)
{
    struct fixture *f = *state;
    struct acpi_config cfg = {.ncpus = 8};
    uint64_t rsdp;
    memset(f->ram, 0, MEM_SIZE);
    assert_int_equal(acpi_build(&f->mem, ACPI_TABLES_ADDR, ACPI_TABLES_MAX, &cfg, &rsdp), 0);
    uint8_t *copy = malloc(ACPI_TABLES_MAX);
    memcpy(copy, f->ram + ACPI_TABLES_ADDR, ACPI_TABLES_MAX);
    memset(f->ram, 0xaa, MEM_SIZE);
    assert_int_equal(acpi_build(&f->mem, ACPI_TABLES_ADDR, ACPI_TABLES_MAX, &cfg, &rsdp), 0);
    /* Compare the bytes the tables cover (the rest was not written). */
    size_t n = 0;
    for (size_t i = 0; i < ACPI_TABLES_MAX; i++) {
        if (f->ram[ACPI_TABLES_ADDR + i] != 0xaa) {
            n = i + 1;
        }
    }
    assert_true(n > 0);
    for (size_t i = 0; i < n; i++) {
        if (f->ram[ACPI_TABLES_ADDR + i] != 0xaa) {
            assert_int_equal(f->ram[ACPI_TABLES_ADDR + i], copy[i]);
        }
    }
    /* Different inputs give different tables. */
    cfg.ncpus = 9;
    assert_int_equal(acpi_build(&f->mem, ACPI_TABLES_ADDR, ACPI_TABLES_MAX, &cfg, &rsdp), 0);
    assert_memory_not_equal(f->ram + ACPI_TABLES_ADDR, copy, n);
    free(copy);
}

static void test_refusals(void **state)
{
    struct fixture *f = *state;
    uint64_t rsdp = 0x1234;
    struct acpi_config cfg = {.ncpus = 0};
    assert_int_equal(acpi_build(&f->mem, ACPI_TABLES_ADDR, ACPI_TABLES_MAX, &cfg, &rsdp), -EINVAL);
    cfg.ncpus = 256;
    assert_int_equal(acpi_build(&f->mem, ACPI_TABLES_ADDR, ACPI_TABLES_MAX, &cfg, &rsdp), -EINVAL);
    cfg.ncpus = 4;
    assert_int_equal(acpi_build(&f->mem, ACPI_TABLES_ADDR + 8, ACPI_TABLES_MAX, &cfg, &rsdp),
                     -EINVAL);
    assert_int_equal(acpi_build(&f->mem, MEM_4G, ACPI_TABLES_MAX, &cfg, &rsdp), -EINVAL);

    /* Too small an area: nothing is written. */
    memset(f->ram, 0, MEM_SIZE);
    assert_int_equal(acpi_build(&f->mem, ACPI_TABLES_ADDR, 512, &cfg, &rsdp), -ENOSPC);
    cfg.ncpus = 255;
    assert_int_equal(acpi_build(&f->mem, ACPI_TABLES_ADDR, 4096, &cfg, &rsdp), -ENOSPC);
    for (size_t i = 0; i < MEM_SIZE; i++) {
        assert_int_equal(f->ram[i], 0);
    }
    /* Past the end of RAM. */
    assert_int_equal(acpi_build(&f->mem, MEM_SIZE - 256, ACPI_TABLES_MAX, &cfg, &rsdp), -EFAULT);
    assert_int_equal(rsdp, 0x1234);
}

/* Exact fit: the smallest max that works, and one byte less fails. */
static void test_exact_fit(void **state)
{
    struct fixture *f = *state;
    struct acpi_config cfg = {.ncpus = 3};
    uint64_t rsdp;
    uint64_t lo = 0, hi = ACPI_TABLES_MAX;
    while (lo + 1 < hi) {
        uint64_t mid = (lo + hi) / 2;
        if (acpi_build(&f->mem, ACPI_TABLES_ADDR, mid, &cfg, &rsdp) == 0) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    assert_int_equal(acpi_build(&f->mem, ACPI_TABLES_ADDR, hi, &cfg, &rsdp), 0);
    assert_int_equal(acpi_build(&f->mem, ACPI_TABLES_ADDR, hi - 1, &cfg, &rsdp), -ENOSPC);
    /* The last table (the DSDT) ends exactly there. */
    const uint8_t *fadt = NULL;
    const uint8_t *rsdt = guest_mem_ptr(&f->mem, get32(f->ram + ACPI_TABLES_ADDR + 16), 44);
    REQUIRE(rsdt);
    fadt = guest_mem_ptr(&f->mem, get32(rsdt + 36), 276);
    REQUIRE(fadt);
    uint32_t dsdt = get32(fadt + 40);
    assert_int_equal(dsdt + get32(f->ram + dsdt + 4), ACPI_TABLES_ADDR + hi);
}

static void test_aml_pkglength(void **state)
{
    /* A body that needs 2-byte and 3-byte PkgLength encodings round-trips its length. */
    for (size_t body = 0; body < 70000; body += (body < 5000 ? 1 : 997)) {
        struct aml_buf b;
        aml_init(&b);
        size_t m = aml_pkg_begin(&b);
        for (size_t i = 0; i < body; i++) {
            aml_byte(&b, 0x00);
        }
        aml_end(&b, m);
        assert_int_equal(b.err, 0);
        unsigned k = (b.data[0] >> 6) + 1;
        size_t len = k == 1 ? (b.data[0] & 0x3f) : (b.data[0] & 0x0f);
        for (unsigned i = 1; i < k; i++) {
            len |= (size_t)b.data[i] << (4 + 8 * (i - 1));
        }
        assert_int_equal(len, b.len);
        assert_int_equal(len, body + k);
        if (k == 1) {
            assert_true((b.data[0] & 0xc0) == 0);
        }
        aml_free(&b);
    }
}

static void test_aml_names(void **state)
{
    struct aml_buf b;
    aml_init(&b);
    aml_name_string(&b, "\\_SB.COM1");
    const uint8_t want[] = {0x5c, 0x2e, '_', 'S', 'B', '_', 'C', 'O', 'M', '1'};
    assert_int_equal(b.err, 0);
    assert_int_equal(b.len, sizeof(want));
    assert_memory_equal(b.data, want, sizeof(want));
    aml_eisaid(&b, "PNP0501");
    const uint8_t eisa[] = {0x0c, 0x41, 0xd0, 0x05, 0x01};
    assert_memory_equal(b.data + sizeof(want), eisa, sizeof(eisa));
    aml_free(&b);

    const char *bad[] = {"1ABC", "TOOLONG", "A..B", "a", "AB.", "\\A-B"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        aml_init(&b);
        aml_name_string(&b, bad[i]);
        assert_int_equal(b.err, -EINVAL);
        aml_byte(&b, 1); /* sticky: no-op */
        assert_int_equal(b.len, 0);
        aml_free(&b);
    }
    aml_init(&b);
    aml_eisaid(&b, "pnp0501");
    assert_int_equal(b.err, -EINVAL);
    aml_free(&b);
}

static int run(const char *cmd)
{
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void dump(const char *dir, const char *name, const uint8_t *t)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s.dat", dir, name);
    FILE *fp = fopen(path, "wb");
    REQUIRE(fp);
    assert_int_equal(fwrite(t, 1, get32(t + 4), fp), get32(t + 4));
    fclose(fp);
}

static void test_iasl_disassembles(void **state)
{
    if (run("command -v iasl >/dev/null 2>&1") != 0) {
        skip(); /* acpica-tools not installed */
    }
    struct fixture *f = *state;
    static const unsigned counts[] = {1, 255};
    for (size_t c = 0; c < 2; c++) {
        memset(f->ram, 0, MEM_SIZE);
        struct acpi_config cfg = {.ncpus = counts[c]};
        uint64_t rsdp_gpa;
        assert_int_equal(acpi_build(&f->mem, ACPI_TABLES_ADDR, ACPI_TABLES_MAX, &cfg, &rsdp_gpa),
                         0);
        char dir[] = "/tmp/deskvm-acpi-XXXXXX";
        assert_non_null(mkdtemp(dir));
        const uint8_t *rsdp = f->ram + rsdp_gpa;
        const uint8_t *rsdt = f->ram + get32(rsdp + 16);
        const uint8_t *xsdt = f->ram + get64(rsdp + 24);
        const uint8_t *fadt = f->ram + get32(rsdt + 36);
        const uint8_t *madt = f->ram + get32(rsdt + 40);
        const uint8_t *dsdt = f->ram + get32(fadt + 40);
        dump(dir, "rsdt", rsdt);
        dump(dir, "xsdt", xsdt);
        dump(dir, "facp", fadt);
        dump(dir, "apic", madt);
        dump(dir, "dsdt", dsdt);
        static const char *names[] = {"rsdt", "xsdt", "facp", "apic", "dsdt"};
        char cmd[1024];
        for (size_t i = 0; i < 5; i++) {
            /* iasl reports bad checksums, lengths and AML as errors / non-zero exit. */
            snprintf(cmd, sizeof(cmd),
                     "cd %s && iasl -d %s.dat >%s.log 2>&1 && ! grep -qiE "
                     "'error|warning|invalid|incorrect' %s.log",
                     dir, names[i], names[i], names[i]);
            if (run(cmd) != 0) {
                snprintf(cmd, sizeof(cmd), "cat %s/%s.log %s/%s.dsl", dir, names[i], dir, names[i]);
                (void)run(cmd);
                fail_msg("iasl -d %s failed", names[i]);
            }
        }
        /* The disassembled DSDT names what the OS will look for. */
        snprintf(cmd, sizeof(cmd),
                 "cd %s && grep -q '_S5_' dsdt.dsl && grep -q 'PNP0501' dsdt.dsl && "
                 "grep -q 'PNP0B00' dsdt.dsl && grep -q 'PNP0303' dsdt.dsl && "
                 "grep -q 'ACPI0007' dsdt.dsl",
                 dir);
        assert_int_equal(run(cmd), 0);
        if (!getenv("DESKVM_KEEP_ACPI")) {
            snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
            (void)run(cmd);
        } else {
            print_message("tables kept in %s\n", dir);
        }
    }
}

/* With PCI: MCFG listed in RSDT and XSDT, checksum right, ECAM base and bus range; the DSDT
 * has \\_SB.PCI0 with PNP0A08, its windows and a _PRT entry per slot and pin (iasl). */
static void test_pci_tables(void **state)
{
    struct fixture *f = *state;
    memset(f->ram, 0, MEM_SIZE);
    struct acpi_config cfg = {.ncpus = 2, .pci = true};
    uint64_t rsdp_gpa;
    assert_int_equal(acpi_build(&f->mem, ACPI_TABLES_ADDR, ACPI_TABLES_MAX, &cfg, &rsdp_gpa), 0);
    const uint8_t *rsdp = f->ram + rsdp_gpa;
    const uint8_t *rsdt = table_at(f, get32(rsdp + 16), "RSDT");
    const uint8_t *xsdt = table_at(f, get64(rsdp + 24), "XSDT");
    uint32_t nr = (get32(rsdt + 4) - 36) / 4;
    assert_int_equal(nr, 3);
    assert_int_equal((get32(xsdt + 4) - 36) / 8, 3);
    const uint8_t *mcfg = NULL;
    for (uint32_t i = 0; i < nr; i++) {
        assert_int_equal(get64(xsdt + 36 + 8 * i), get32(rsdt + 36 + 4 * i));
        const uint8_t *t = table_at(f, get32(rsdt + 36 + 4 * i), NULL);
        if (!memcmp(t, "MCFG", 4)) {
            mcfg = t;
        }
    }
    REQUIRE(mcfg);
    assert_int_equal(get32(mcfg + 4), 60);
    assert_int_equal(sum(mcfg, 60), 0);
    assert_int_equal(get64(mcfg + 44), ECAM_BASE);
    assert_int_equal(get16(mcfg + 52), 0);
    assert_int_equal(mcfg[54], 0);
    assert_int_equal(mcfg[55], 255);
    /* 256 buses of 1 MiB: the window is exactly ECAM_SIZE. */
    assert_int_equal((uint64_t)(mcfg[55] - mcfg[54] + 1) << 20, ECAM_SIZE);
    /* Without PCI nothing changes: no MCFG. */
    memset(f->ram, 0, MEM_SIZE);
    cfg.pci = false;
    assert_int_equal(acpi_build(&f->mem, ACPI_TABLES_ADDR, ACPI_TABLES_MAX, &cfg, &rsdp_gpa), 0);
    rsdt = table_at(f, get32(rsdp + 16), "RSDT");
    assert_int_equal((get32(rsdt + 4) - 36) / 4, 2);

    if (run("command -v iasl >/dev/null 2>&1") != 0) {
        return;
    }
    memset(f->ram, 0, MEM_SIZE);
    cfg.pci = true;
    assert_int_equal(acpi_build(&f->mem, ACPI_TABLES_ADDR, ACPI_TABLES_MAX, &cfg, &rsdp_gpa), 0);
    rsdt = f->ram + get32(rsdp + 16);
    const uint8_t *fadt = f->ram + get32(rsdt + 36);
    char dir[] = "/tmp/deskvm-acpi-XXXXXX";
    assert_non_null(mkdtemp(dir));
    dump(dir, "dsdt", f->ram + get32(fadt + 40));
    dump(dir, "mcfg", f->ram + get32(rsdt + 44));
    char cmd[1024];
    snprintf(cmd, sizeof(cmd),
             "cd %s && for t in dsdt mcfg; do iasl -d $t.dat >$t.log 2>&1 && "
             "! grep -qiE 'error|warning|invalid|incorrect' $t.log || exit 1; done && "
             "grep -q 'PNP0A08' dsdt.dsl && grep -q 'PNP0A03' dsdt.dsl && "
             "grep -q '_PRT' dsdt.dsl && grep -q 'WordBusNumber' dsdt.dsl && "
             "grep -q '0xC0000000' dsdt.dsl && grep -q '0xDFFFFFFF' dsdt.dsl && "
             "grep -q '0x0CF8' dsdt.dsl && grep -qi 'Base Address : 00000000E0000000' mcfg.dsl && "
             "[ $(grep -c '0x001FFFFF' dsdt.dsl) = 4 ] && iasl dsdt.dsl >recompile.log 2>&1",
             dir);
    int r = run(cmd);
    if (r != 0) {
        snprintf(cmd, sizeof(cmd), "cat %s/*.log; grep -n 'Base Address' %s/mcfg.dsl", dir, dir);
        (void)run(cmd);
    }
    assert_int_equal(r, 0);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    (void)run(cmd);
}

/*
 * A table-loader interpreter as the firmware runs one (QEMU's bios-linker-loader commands):
 * RSDP file at 0xF0000, tables file at 0x80000 of the fake RAM; pointers patched, checksums
 * stored the way OVMF does (the byte is 0 in the file, the sum of the range goes in).
 */
static void run_loader(struct fixture *f, const struct acpi_fw_tables *t)
{
    const uint64_t rsdp_at = 0xf0000, tables_at = 0x80000;
    unsigned allocated = 0;
    for (unsigned i = 0; i < t->nloader; i++) {
        const uint8_t *e = t->loader + i * ACPI_LOADER_ENTRY_LEN;
        const char *file = (const char *)e + 4;
        assert_true(memchr(file, 0, ACPI_LOADER_FILE_LEN) != NULL);
        bool is_rsdp = strcmp(file, ACPI_FILE_RSDP) == 0;
        assert_true(is_rsdp || strcmp(file, ACPI_FILE_TABLES) == 0);
        uint8_t *base = f->ram + (is_rsdp ? rsdp_at : tables_at);
        size_t flen = is_rsdp ? sizeof(t->rsdp) : t->tables_len;
        switch (get32(e)) {
        case ACPI_LOADER_ALLOCATE: {
            uint32_t align = get32(e + 4 + ACPI_LOADER_FILE_LEN);
            assert_true(align && !((is_rsdp ? rsdp_at : tables_at) % align));
            assert_int_equal(e[8 + ACPI_LOADER_FILE_LEN],
                             is_rsdp ? ACPI_LOADER_ZONE_FSEG : ACPI_LOADER_ZONE_HIGH);
            memcpy(base, is_rsdp ? t->rsdp : t->tables, flen);
            allocated |= is_rsdp ? 1 : 2;
            break;
        }
        case ACPI_LOADER_ADD_POINTER: {
            const char *src = (const char *)e + 4 + ACPI_LOADER_FILE_LEN;
            assert_string_equal(src, ACPI_FILE_TABLES);
            assert_int_equal(allocated, 3); /* both files are placed before any patching */
            uint32_t off = get32(e + 4 + 2 * ACPI_LOADER_FILE_LEN);
            uint8_t size = e[8 + 2 * ACPI_LOADER_FILE_LEN];
            assert_true(size == 4 || size == 8);
            assert_true(off + size <= flen);
            uint64_t v = size == 4 ? get32(base + off) : get64(base + off);
            assert_true(v < t->tables_len); /* an offset into the tables file */
            v += tables_at;
            for (unsigned b = 0; b < size; b++) {
                base[off + b] = (uint8_t)(v >> (8 * b));
            }
            break;
        }
        case ACPI_LOADER_ADD_CHECKSUM: {
            uint32_t ck = get32(e + 4 + ACPI_LOADER_FILE_LEN);
            uint32_t start = get32(e + 8 + ACPI_LOADER_FILE_LEN);
            uint32_t len = get32(e + 12 + ACPI_LOADER_FILE_LEN);
            assert_true(start + len <= flen && ck >= start && ck < start + len);
            assert_int_equal(base[ck], 0);
            base[ck] = (uint8_t)(0 - sum(base + start, len));
            break;
        }
        default:
            fail_msg("unknown loader command %u", get32(e));
        }
    }
    assert_int_equal(allocated, 3);
}

static void test_table_loader(void **state)
{
    struct fixture *f = *state;
    memset(f->ram, 0, MEM_SIZE);
    struct acpi_config cfg = {.ncpus = 4, .pci = true, .ecam_base = 0xb0000000};
    struct acpi_fw_tables t;
    assert_int_equal(acpi_build_fw_tables(&cfg, &t), 0);
    assert_true(t.nloader >= 2 + 2 + 6 + 3 + 2);
    run_loader(f, &t);

    const uint8_t *rsdp = f->ram + 0xf0000;
    assert_memory_equal(rsdp, "RSD PTR ", 8);
    assert_int_equal(sum(rsdp, 20), 0);
    assert_int_equal(sum(rsdp, 36), 0);
    const uint8_t *rsdt = table_at(f, get32(rsdp + 16), "RSDT");
    const uint8_t *xsdt = table_at(f, get64(rsdp + 24), "XSDT");
    uint32_t nr = (get32(rsdt + 4) - 36) / 4;
    assert_int_equal(nr, 3);
    const uint8_t *fadt = NULL, *madt = NULL, *mcfg = NULL;
    for (uint32_t i = 0; i < nr; i++) {
        uint64_t a = get32(rsdt + 36 + 4 * i);
        assert_int_equal(get64(xsdt + 36 + 8 * i), a);
        assert_true(a >= 0x80000 && a < 0x80000 + t.tables_len);
        const uint8_t *tb = table_at(f, a, NULL);
        if (!memcmp(tb, "FACP", 4)) {
            fadt = tb;
        } else if (!memcmp(tb, "APIC", 4)) {
            madt = tb;
        } else if (!memcmp(tb, "MCFG", 4)) {
            mcfg = tb;
        }
    }
    REQUIRE(fadt);
    REQUIRE(madt);
    REQUIRE(mcfg);
    check_fadt(f, fadt); /* follows FIRMWARE_CTRL and both DSDT pointers */
    check_madt(madt, 4);
    assert_int_equal(get64(mcfg + 44), 0xb0000000);
    acpi_fw_tables_free(&t);

    /* The default ECAM base, and a refusal passed on. */
    cfg.ecam_base = 0;
    assert_int_equal(acpi_build_fw_tables(&cfg, &t), 0);
    memset(f->ram, 0, MEM_SIZE);
    run_loader(f, &t);
    rsdt = table_at(f, get32(f->ram + 0xf0000 + 16), "RSDT");
    assert_int_equal(get64(f->ram + get32(rsdt + 36 + 8) + 44), ECAM_BASE);
    acpi_fw_tables_free(&t);
    cfg.ncpus = 0;
    assert_int_equal(acpi_build_fw_tables(&cfg, &t), -EINVAL);
    acpi_fw_tables_free(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_tables_1cpu, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tables_2cpus, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tables_64cpus, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tables_255cpus, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deterministic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
        cmocka_unit_test_setup_teardown(test_exact_fit, setup, teardown),
        cmocka_unit_test(test_aml_pkglength),
        cmocka_unit_test(test_aml_names),
        cmocka_unit_test_setup_teardown(test_iasl_disassembles, setup, teardown),
        cmocka_unit_test_setup_teardown(test_pci_tables, setup, teardown),
        cmocka_unit_test_setup_teardown(test_table_loader, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
