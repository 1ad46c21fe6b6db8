// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Checkpoint files: round trips (raw and zstd, copied and mapped RAM), crash-safe writes,
 * and refusal of every truncation, every flipped byte of the metadata, flipped RAM bytes,
 * wrong versions, re-sealed sections with bad contents, and host-feature mismatches.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <cmocka.h>

#include "snapshots/snapfile.h"

#define RAM_SIZE (4u << 20)

struct fixture {
    char dir[64];
    char path[128];
    struct snap_state *st;
    uint8_t *ram;
    uint8_t dev0[40], dev1[12];
};

static void fill_state(struct fixture *fx)
{
    struct snap_state *st = fx->st;
    memcpy(st->host.vendor, "GenuineIntel", 12);
    st->host.family = 6;
    st->host.model = 0x55;
    st->host.xsave_size = 4096;
    st->host.tsc_khz = 2000000;
    st->config.mem_size = RAM_SIZE;
    st->config.ncpus = 2;
    snprintf(st->config.kernel, sizeof(st->config.kernel), "/boot/guest.elf");
    snprintf(st->config.cmdline, sizeof(st->config.cmdline), "mem=4M console=ttyS0");
    for (unsigned i = 0; i < sizeof(fx->dev0); i++) {
        fx->dev0[i] = (uint8_t)(i * 7 + 1);
    }
    memset(fx->dev1, 0xa5, sizeof(fx->dev1));
    st->ndevices = 2;
    snprintf(st->devices[0].name, SNAP_NAME_LEN, "uart16550");
    st->devices[0].data = fx->dev0;
    st->devices[0].len = sizeof(fx->dev0);
    snprintf(st->devices[1].name, SNAP_NAME_LEN, "cmos-rtc");
    st->devices[1].data = fx->dev1;
    st->devices[1].len = sizeof(fx->dev1);
    st->nvcpus = 2;
    st->vcpus = calloc(2, sizeof(*st->vcpus));
    assert_non_null(st->vcpus);
    for (unsigned i = 0; i < 2; i++) {
        struct snap_vcpu *v = &st->vcpus[i];
        v->regs.rip = 0x100000 + i;
        v->regs.rax = 0x1234 * (i + 1);
        v->sregs.cr0 = 0x80000011;
        v->xcrs.nr_xcrs = 1;
        v->xcrs.xcrs[0].value = 7;
        v->mp.mp_state = KVM_MP_STATE_RUNNABLE;
        v->tsc = 123456789 + i;
        v->tsc_khz = 2000000;
        v->xsave_len = 4096;
        v->xsave[0] = 0x7f;
        v->xsave[4095] = (uint8_t)i;
        v->nmsrs = 3;
        v->msrs[0] = (struct kvm_msr_entry){.index = 0xc0000080, .data = 0x500};
        v->msrs[1] = (struct kvm_msr_entry){.index = 0x174, .data = 8};
        v->msrs[2] = (struct kvm_msr_entry){.index = 0x4b564d01, .data = 0x1001 + i};
    }
    for (unsigned i = 0; i < 3; i++) {
        st->irqchip[i].chip_id = i;
        st->irqchip[i].chip.dummy[5] = (char)(i + 1);
    }
    st->pit.channels[0].count = 11932;
    st->clock.clock = 987654321;
    /* RAM: a few non-zero runs, the rest zero (must be skipped). */
    memset(fx->ram, 0, RAM_SIZE);
    memset(fx->ram + 0x1000, 0x11, 0x3000);
    for (unsigned i = 0; i < 0x10000; i++) {
        fx->ram[0x100000 + i] = (uint8_t)(i * 31 + (i >> 8));
    }
    fx->ram[RAM_SIZE - 1] = 0x99;
}

static int setup(void **state)
{
    struct fixture *fx = calloc(1, sizeof(*fx));
    assert_non_null(fx);
    snprintf(fx->dir, sizeof(fx->dir), "/tmp/test-snapfile-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    snprintf(fx->path, sizeof(fx->path), "%s/vm.dvs", fx->dir);
    fx->st = calloc(1, sizeof(*fx->st));
    fx->ram = malloc(RAM_SIZE);
    assert_non_null(fx->st);
    assert_non_null(fx->ram);
    fill_state(fx);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *fx = *state;
    unlink(fx->path);
    rmdir(fx->dir);
    free(fx->st->vcpus);
    free(fx->st);
    free(fx->ram);
    free(fx);
    return 0;
}

static uint8_t *read_file(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    struct stat sb;
    assert_int_equal(fstat(fd, &sb), 0);
    uint8_t *buf = malloc((size_t)sb.st_size + 1);
    assert_non_null(buf);
    assert_int_equal(pread(fd, buf, (size_t)sb.st_size, 0), sb.st_size);
    close(fd);
    *len = (size_t)sb.st_size;
    return buf;
}

static void write_file(const char *path, const uint8_t *buf, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, buf, len), (ssize_t)len);
    close(fd);
}

static void save(struct fixture *fx, unsigned flags)
{
    char err[256] = "";
    int r = snapfile_write(fx->path, fx->st, fx->ram, RAM_SIZE, -1, flags, err, sizeof(err));
    if (r != 0) {
        fail_msg("snapfile_write: %s", err);
    }
}

static void assert_same_state(const struct snap_state *a, const struct snap_state *b)
{
    assert_memory_equal(&a->host, &b->host, sizeof(a->host));
    assert_int_equal(a->config.mem_size, b->config.mem_size);
    assert_int_equal(a->config.ncpus, b->config.ncpus);
    assert_string_equal(a->config.kernel, b->config.kernel);
    assert_string_equal(a->config.initrd, b->config.initrd);
    assert_string_equal(a->config.cmdline, b->config.cmdline);
    assert_int_equal(a->ndevices, b->ndevices);
    for (unsigned i = 0; i < a->ndevices; i++) {
        assert_string_equal(a->devices[i].name, b->devices[i].name);
        assert_int_equal(a->devices[i].len, b->devices[i].len);
        assert_memory_equal(a->devices[i].data, b->devices[i].data, a->devices[i].len);
    }
    assert_int_equal(a->nvcpus, b->nvcpus);
    for (unsigned i = 0; i < a->nvcpus; i++) {
        const struct snap_vcpu *x = &a->vcpus[i], *y = &b->vcpus[i];
        assert_memory_equal(&x->regs, &y->regs, sizeof(x->regs));
        assert_memory_equal(&x->sregs, &y->sregs, sizeof(x->sregs));
        assert_memory_equal(&x->xcrs, &y->xcrs, sizeof(x->xcrs));
        assert_memory_equal(&x->lapic, &y->lapic, sizeof(x->lapic));
        assert_memory_equal(&x->events, &y->events, sizeof(x->events));
        assert_memory_equal(&x->mp, &y->mp, sizeof(x->mp));
        assert_memory_equal(&x->debugregs, &y->debugregs, sizeof(x->debugregs));
        assert_int_equal(x->tsc, y->tsc);
        assert_int_equal(x->tsc_khz, y->tsc_khz);
        assert_int_equal(x->xsave_len, y->xsave_len);
        assert_memory_equal(x->xsave, y->xsave, x->xsave_len);
        assert_int_equal(x->nmsrs, y->nmsrs);
        assert_memory_equal(x->msrs, y->msrs, x->nmsrs * sizeof(x->msrs[0]));
    }
    assert_memory_equal(a->irqchip, b->irqchip, sizeof(a->irqchip));
    assert_memory_equal(&a->pit, &b->pit, sizeof(a->pit));
    assert_memory_equal(&a->clock, &b->clock, sizeof(a->clock));
}

static void round_trip(struct fixture *fx, unsigned flags)
{
    save(fx, flags);
    struct snap_file *f = calloc(1, sizeof(*f));
    char err[256] = "";
    if (snapfile_open(fx->path, SNAP_OPEN_VERIFY_RAM, f, err, sizeof(err)) != 0) {
        fail_msg("snapfile_open: %s", err);
    }
    assert_same_state(fx->st, &f->st);
    /* Zero pages skipped: 3 runs (0x1000+0x3000, 0x100000+0x10000, the last page). */
    assert_int_equal(f->ram.nextents, 3);
    assert_int_equal(f->ram.extents[0].page, 1);
    assert_int_equal(f->ram.extents[0].npages, 3);
    assert_int_equal(f->ram.data_offset % SNAP_PAGE, 0);
    if (!(flags & SNAP_F_ZSTD)) {
        assert_int_equal(f->ram.data_len, (3 + 16 + 1) * SNAP_PAGE);
    } else {
        assert_true(f->ram.data_len < (3 + 16 + 1) * SNAP_PAGE);
    }

    uint8_t *copy = malloc(RAM_SIZE);
    memset(copy, 0xee, RAM_SIZE); /* gaps must come back zero */
    assert_int_equal(snapfile_ram_copy(f, copy, err, sizeof(err)), 0);
    assert_memory_equal(copy, fx->ram, RAM_SIZE);
    /* Into a fresh memfd with pwrite: the same bytes, gaps left as holes. */
    int mfd = memfd_create("test-snapfile", MFD_CLOEXEC);
    assert_true(mfd >= 0);
    assert_int_equal(ftruncate(mfd, RAM_SIZE), 0);
    assert_int_equal(snapfile_ram_write_fd(f, mfd, err, sizeof(err)), 0);
    memset(copy, 0xee, RAM_SIZE);
    assert_int_equal(pread(mfd, copy, RAM_SIZE, 0), RAM_SIZE);
    assert_memory_equal(copy, fx->ram, RAM_SIZE);
    assert_int_equal(lseek(mfd, 0, SEEK_DATA), 0x1000); /* page 0 was never written */
    close(mfd);
    free(copy);

    uint8_t *map = NULL;
    int r = snapfile_ram_map(f, 1000, &map, err, sizeof(err));
    if (flags & SNAP_F_ZSTD) {
        assert_int_equal(r, -ENOTSUP);
    } else {
        assert_int_equal(r, 0);
        assert_memory_equal(map, fx->ram, RAM_SIZE);
        /* Private: writing the mapping leaves the file alone. */
        map[0x1000] = 0;
        munmap(map, RAM_SIZE);
        assert_int_equal(snapfile_ram_map(f, 2, &map, err, sizeof(err)), -ENOTSUP);
    }
    snapfile_close(f);
    free(f);

    /* Save -> load -> save again gives the same bytes. */
    size_t len1, len2;
    uint8_t *b1 = read_file(fx->path, &len1);
    const char *seeds = getenv("SNAPFILE_SEED_DIR"); /* fuzz corpus (tests/fuzz) */
    if (seeds) {
        char seed[512];
        snprintf(seed, sizeof(seed), "%s/seed-%s", seeds, flags ? "zstd" : "raw");
        write_file(seed, b1, len1);
    }
    save(fx, flags);
    uint8_t *b2 = read_file(fx->path, &len2);
    assert_int_equal(len1, len2);
    assert_memory_equal(b1, b2, len1);
    free(b1);
    free(b2);
}

static void test_round_trip_raw(void **state)
{
    round_trip(*state, 0);
}

static void test_round_trip_zstd(void **state)
{
    round_trip(*state, SNAP_F_ZSTD);
}

static void test_all_zero_ram(void **state)
{
    struct fixture *fx = *state;
    memset(fx->ram, 0, RAM_SIZE);
    for (unsigned flags = 0; flags <= SNAP_F_ZSTD; flags += SNAP_F_ZSTD) {
        save(fx, flags);
        static struct snap_file f;
        char err[256];
        assert_int_equal(snapfile_open(fx->path, SNAP_OPEN_VERIFY_RAM, &f, err, sizeof(err)), 0);
        assert_int_equal(f.ram.nextents, 0);
        uint8_t *copy = malloc(RAM_SIZE);
        memset(copy, 1, RAM_SIZE);
        assert_int_equal(snapfile_ram_copy(&f, copy, err, sizeof(err)), 0);
        assert_memory_equal(copy, fx->ram, RAM_SIZE);
        free(copy);
        snapfile_close(&f);
    }
}

static int parse(const uint8_t *buf, size_t len, char *err, size_t errlen)
{
    static struct snap_file f;
    /* An 8-aligned copy, as a mapping would be. */
    uint64_t *al = malloc(len + 8);
    memcpy(al, buf, len);
    int r = snapfile_parse((const uint8_t *)al, len, SNAP_OPEN_VERIFY_RAM, &f, err, errlen);
    if (r == 0) {
        uint8_t *copy = malloc(RAM_SIZE);
        r = snapfile_ram_copy(&f, copy, err, errlen);
        free(copy);
        snapfile_close(&f);
    }
    free(al);
    return r;
}

static void test_truncated_refused(void **state)
{
    struct fixture *fx = *state;
    for (unsigned flags = 0; flags <= SNAP_F_ZSTD; flags += SNAP_F_ZSTD) {
        save(fx, flags);
        size_t len;
        uint8_t *buf = read_file(fx->path, &len);
        char err[256];
        assert_int_equal(parse(buf, len, err, sizeof(err)), 0);
        for (size_t cut = 0; cut < len; cut += (cut < 20000 ? 1 : 997)) {
            err[0] = 0;
            assert_int_equal(parse(buf, cut, err, sizeof(err)), -EINVAL);
            assert_non_null(strstr(err, "snapshot"));
        }
        /* A truncated file on disk, too. */
        write_file(fx->path, buf, len - 1);
        static struct snap_file f;
        assert_int_equal(snapfile_open(fx->path, 0, &f, err, sizeof(err)), -EINVAL);
        assert_non_null(strstr(err, "truncated"));
        free(buf);
    }
}

static void test_flipped_bytes_refused(void **state)
{
    struct fixture *fx = *state;
    for (unsigned flags = 0; flags <= SNAP_F_ZSTD; flags += SNAP_F_ZSTD) {
        save(fx, flags);
        size_t len;
        uint8_t *buf = read_file(fx->path, &len);
        static struct snap_file f;
        char err[256];
        assert_int_equal(snapfile_parse(buf, len, 0, &f, err, sizeof(err)), 0);
        size_t meta_end = f.ram.data_offset;
        snapfile_close(&f);
        /* Every byte of the metadata (padding included), then a sample of the RAM data. */
        size_t step = flags ? 7 : 61;
        for (size_t i = 0; i < len; i += i < meta_end ? 1 : step) {
            for (unsigned bit = 0; bit < 8; bit += 5) {
                buf[i] ^= (uint8_t)(1u << bit);
                err[0] = 0;
                int r = parse(buf, len, err, sizeof(err));
                buf[i] ^= (uint8_t)(1u << bit);
                if (r != -EINVAL || !strstr(err, "snapshot")) {
                    fail_msg("flip of bit %u at offset %zu: r=%d '%s'", bit, i, r, err);
                }
            }
        }
        free(buf);
    }
}

/* Finds the section of a type and re-seals it after the caller changed it. */
static uint8_t *find_section(uint8_t *buf, size_t len, uint32_t type, uint64_t *plen)
{
    size_t pos = 64;
    while (pos + 64 <= len) {
        uint32_t t;
        uint64_t l;
        memcpy(&t, buf + pos, 4);
        memcpy(&l, buf + pos + 8, 8);
        if (t == type) {
            *plen = l;
            return buf + pos;
        }
        pos = (pos + 64 + l + 7) & ~(size_t)7;
    }
    fail_msg("no section of type %u", type);
    return NULL;
}

static void reseal(uint8_t *h)
{
    uint64_t l, hash;
    memcpy(&l, h + 8, 8);
    hash = XXH3_64bits(h + 64, l);
    memcpy(h + 48, &hash, 8);
    hash = XXH3_64bits(h, 56);
    memcpy(h + 56, &hash, 8);
}

static void reseal_header(uint8_t *buf)
{
    uint64_t hash = XXH3_64bits(buf, 56);
    memcpy(buf + 56, &hash, 8);
}

/* Checksums are right but the contents are not: the parser's own checks must refuse. */
static void test_sealed_bad_contents_refused(void **state)
{
    struct fixture *fx = *state;
    save(fx, 0);
    size_t len;
    uint8_t *orig = read_file(fx->path, &len);
    uint8_t *buf = malloc(len);
    char err[256];
    uint64_t l;
    struct {
        uint32_t type;
        size_t off;
        uint64_t value;
        unsigned width;
        const char *expect;
    } cases[] = {
        {0, 8, 2, 4, "version 2"},                         /* format version */
        {0, 12, 0x80, 4, "unknown flags"},                 /* header flags */
        {0, 16, 100000, 4, "sections"},                    /* section count */
        {2, 64 + 8, 0, 4, "vCPUs"},                        /* config: 0 vCPUs */
        {2, 64 + 12, 4, 4, "unknown flags"},               /* config: flag bit 2 */
        {2, 64 + 12, 3, 4, "unknown flags"},               /* config: firmware + demo guest */
        {2, 64 + 0, 12345, 8, "memory size"},              /* config: mem size */
        {2, 64 + 16, 4000, 4, "config"},                   /* config: kernel length */
        {4, 64 + 0, SNAP_MAX_XSAVE + 1, 4, "XSAVE"},       /* vcpu: xsave length */
        {4, 64 + 4, SNAP_MAX_MSRS + 1, 4, "MSRs"},         /* vcpu: MSR count */
        {4, 4, 1, 4, "vcpu"},                              /* vcpu: index out of order */
        {3, 4, 5, 4, "index"},                             /* device index */
        {8, 64 + 0, RAM_SIZE * 2, 8, "ram section"},       /* ram size */
        {8, 64 + 8, 4, 8, "extents"},                      /* extent count */
        {8, 64 + 16, 8192, 8, "page data at offset"},      /* data offset */
        {8, 64 + 48, 0, 8, "extent 0"},                    /* extent 0 of no pages */
        {8, 64 + 48, 1u << 30, 8, "outside the RAM"},      /* extent 0 npages huge */
        {8, 64 + 56, 0, 8, "extent 1"},                    /* extent 1 before extent 0 */
        {5, 64 + 0, 7, 4, "chip 0"},                       /* irqchip id */
        {1, 64 + 20, SNAP_MAX_XSAVE + 4, 4, "XSAVE size"}, /* host xsave */
        {1, 16, 'A', 1, "malformed name"},                 /* host: name not NUL-padded */
    };
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        memcpy(buf, orig, len);
        uint8_t *at = cases[c].type ? find_section(buf, len, cases[c].type, &l) : buf;
        if (cases[c].type == 1 && cases[c].off == 16) {
            at[16 + 30] = 'A'; /* after "host" and its NUL */
        } else {
            memcpy(at + cases[c].off, &cases[c].value, cases[c].width);
        }
        if (cases[c].type) {
            reseal(at);
        }
        reseal_header(buf);
        err[0] = 0;
        int r = parse(buf, len, err, sizeof(err));
        if (r != -EINVAL || !strstr(err, cases[c].expect)) {
            fail_msg("case %zu: r=%d err='%s', expected '%s'", c, r, err, cases[c].expect);
        }
    }
    free(buf);
    free(orig);
}

/*
 * Live save: the RAM written while it changes, a dirty pass, then the state. The file has
 * the live layout (one extent over the RAM, room left before the page data, never-written
 * pages as holes), loads with the RAM as it was at the last pass, copied and mapped, and its
 * checksum is checked with the holes; flipped padding, and a byte changed behind the
 * writer's back (a page dirtied but not in the bitmap), are refused.
 */
static void test_live_save(void **state)
{
    struct fixture *fx = *state;
    char err[256] = "";
    struct snap_live lv;
    uint64_t pages = 0;
    uint64_t bitmap[RAM_SIZE / SNAP_PAGE / 64] = {0};
    if (snapfile_live_begin(fx->path, fx->st, fx->ram, RAM_SIZE, &lv, err, sizeof(err)) != 0) {
        fail_msg("snapfile_live_begin: %s", err);
    }
    assert_int_equal(snapfile_live_write(&lv, NULL, -1, &pages, err, sizeof(err)), 0);
    assert_int_equal(pages, 3 + 16 + 1); /* zero pages skipped */
    /* The "guest" writes on: a new page, a changed one, and one cleared back to zero. */
    fx->ram[0x200000] = 0x42;
    fx->ram[0x1000] = 0x12;
    memset(fx->ram + 0x3000, 0, SNAP_PAGE);
    bitmap[0x200 / 64] |= 1; /* page 0x200 */
    bitmap[0] |= 1u << 1 | 1u << 3;
    assert_int_equal(snapfile_live_write(&lv, bitmap, -1, &pages, err, sizeof(err)), 0);
    assert_int_equal(pages, 3);
    assert_int_equal(snapfile_live_end(&lv, fx->st, err, sizeof(err)), 0);
    if (snapfile_live_commit(&lv, err, sizeof(err)) != 0) {
        fail_msg("snapfile_live_commit: %s", err);
    }

    struct snap_file *f = calloc(1, sizeof(*f));
    if (snapfile_open(fx->path, SNAP_OPEN_VERIFY_RAM, f, err, sizeof(err)) != 0) {
        fail_msg("snapfile_open: %s", err);
    }
    assert_same_state(fx->st, &f->st);
    assert_true(f->flags & SNAP_F_PADDED);
    assert_int_equal(f->ram.nextents, 1);
    assert_int_equal(f->ram.extents[0].npages, RAM_SIZE / SNAP_PAGE);
    assert_int_equal(f->ram.data_len, RAM_SIZE);
    /* Never-written pages are holes: the first data is page 1. */
    assert_int_equal(lseek(f->fd, (off_t)f->ram.data_offset, SEEK_DATA),
                     (off_t)(f->ram.data_offset + SNAP_PAGE));
    uint8_t *copy = malloc(RAM_SIZE);
    memset(copy, 0xee, RAM_SIZE);
    assert_int_equal(snapfile_ram_copy(f, copy, err, sizeof(err)), 0);
    assert_memory_equal(copy, fx->ram, RAM_SIZE);
    uint8_t *map = NULL;
    assert_int_equal(snapfile_ram_map(f, 1, &map, err, sizeof(err)), 0);
    assert_memory_equal(map, fx->ram, RAM_SIZE);
    munmap(map, RAM_SIZE);
    uint64_t pad_at = f->ram.data_offset - 8;
    snapfile_close(f);
    free(f);
    free(copy);

    size_t len;
    uint8_t *buf = read_file(fx->path, &len);
    assert_int_equal(parse(buf, len, err, sizeof(err)), 0);
    const char *seeds = getenv("SNAPFILE_SEED_DIR"); /* fuzz corpus (tests/fuzz) */
    if (seeds) {
        char seed[512];
        snprintf(seed, sizeof(seed), "%s/seed-live", seeds);
        write_file(seed, buf, len);
    }
    buf[pad_at] = 1;
    assert_int_equal(parse(buf, len, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "padding"));
    buf[pad_at] = 0;
    buf[len - 1] ^= 1; /* the page data no longer matches its checksum */
    assert_int_equal(parse(buf, len, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "checksum"));
    free(buf);

    /* A page dirtied after the last pass without its bit: the file has the old byte. */
    assert_int_equal(
        snapfile_live_begin(fx->path, fx->st, fx->ram, RAM_SIZE, &lv, err, sizeof(err)), 0);
    assert_int_equal(snapfile_live_write(&lv, NULL, -1, &pages, err, sizeof(err)), 0);
    fx->ram[0x100000] ^= 0xff;
    assert_int_equal(snapfile_live_end(&lv, fx->st, err, sizeof(err)), 0);
    assert_int_equal(snapfile_live_commit(&lv, err, sizeof(err)), 0);
    f = calloc(1, sizeof(*f));
    assert_int_equal(snapfile_open(fx->path, SNAP_OPEN_VERIFY_RAM, f, err, sizeof(err)), 0);
    copy = malloc(RAM_SIZE);
    assert_int_equal(snapfile_ram_copy(f, copy, err, sizeof(err)), 0);
    assert_int_equal(copy[0x100000], fx->ram[0x100000] ^ 0xff);
    snapfile_close(f);
    free(f);
    free(copy);
    /* Aborted: nothing left behind. */
    assert_int_equal(
        snapfile_live_begin(fx->path, fx->st, fx->ram, RAM_SIZE, &lv, err, sizeof(err)), 0);
    snapfile_live_abort(&lv);
    unlink(fx->path);
    assert_int_equal(rmdir(fx->dir), 0);
    assert_non_null(mkdtemp(strcpy(fx->dir, "/tmp/test-snapfile-XXXXXX")));
    snprintf(fx->path, sizeof(fx->path), "%s/vm.dvs", fx->dir);
}

static void test_host_check(void **state)
{
    struct snap_host a = {.vendor = "GenuineIntel", .family = 6, .xsave_size = 4096};
    struct snap_host b = a;
    char err[256];
    assert_int_equal(snap_host_check(&a, &b, err, sizeof(err)), 0);
    b.tsc_khz = 1000; /* different TSC rates are handled by KVM_SET_TSC_KHZ */
    assert_int_equal(snap_host_check(&a, &b, err, sizeof(err)), 0);
    memcpy(b.vendor, "AuthenticAMD", 12);
    assert_int_equal(snap_host_check(&a, &b, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "snapshot host section"));
    assert_non_null(strstr(err, "AuthenticAMD"));
    b = a;
    b.family = 0x19;
    assert_int_equal(snap_host_check(&a, &b, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "family"));
    b = a;
    b.xsave_size = 11008;
    assert_int_equal(snap_host_check(&a, &b, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "XSAVE"));
}

static void test_crash_safe_write(void **state)
{
    struct fixture *fx = *state;
    save(fx, 0);
    size_t len1;
    uint8_t *before = read_file(fx->path, &len1);
    /* A failing write (RAM size not matching the config) leaves the old file and no temp. */
    char err[256];
    assert_int_equal(
        snapfile_write(fx->path, fx->st, fx->ram, RAM_SIZE / 2, -1, 0, err, sizeof(err)), -EINVAL);
    size_t len2;
    uint8_t *after = read_file(fx->path, &len2);
    assert_int_equal(len1, len2);
    assert_memory_equal(before, after, len1);
    /* Unwritable directory: error names the temp path, nothing created. */
    assert_int_equal(snapfile_write("/nonexistent-dir/x.dvs", fx->st, fx->ram, RAM_SIZE, -1, 0, err,
                                    sizeof(err)),
                     -ENOENT);
    assert_non_null(strstr(err, "/nonexistent-dir/x.dvs.tmp"));

    /* Two steps: after begin the old file is still at the path; abort leaves only it. */
    struct snap_pending p;
    fx->ram[0x1000] ^= 0xff;
    assert_int_equal(
        snapfile_write_begin(fx->path, fx->st, fx->ram, RAM_SIZE, -1, 0, &p, err, sizeof(err)), 0);
    assert_non_null(strstr(p.tmp, ".tmp."));
    assert_int_equal(access(p.tmp, F_OK), 0);
    free(after);
    after = read_file(fx->path, &len2);
    assert_memory_equal(before, after, len1);
    char tmp[256];
    snprintf(tmp, sizeof(tmp), "%s", p.tmp);
    snapfile_write_abort(&p);
    assert_int_equal(access(tmp, F_OK), -1);
    free(after);
    after = read_file(fx->path, &len2);
    assert_memory_equal(before, after, len1);
    /* begin + commit: the new file replaces the old one. */
    assert_int_equal(
        snapfile_write_begin(fx->path, fx->st, fx->ram, RAM_SIZE, -1, 0, &p, err, sizeof(err)), 0);
    assert_int_equal(snapfile_write_commit(&p, err, sizeof(err)), 0);
    free(after);
    after = read_file(fx->path, &len2);
    assert_int_equal(len1, len2);
    assert_memory_not_equal(before, after, len1);
    free(before);
    free(after);
}

static void test_not_a_checkpoint(void **state)
{
    struct fixture *fx = *state;
    char err[256];
    static struct snap_file f;
    uint8_t junk[4096] = "this is not a checkpoint";
    write_file(fx->path, junk, sizeof(junk));
    assert_int_equal(snapfile_open(fx->path, 0, &f, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "bad magic"));
    write_file(fx->path, junk, 10);
    assert_int_equal(snapfile_open(fx->path, 0, &f, err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "shorter than a header"));
    assert_int_equal(snapfile_open(fx->dir, 0, &f, err, sizeof(err)), -EINVAL);
    assert_int_equal(snapfile_open("/nonexistent.dvs", 0, &f, err, sizeof(err)), -ENOENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_round_trip_raw, setup, teardown),
        cmocka_unit_test_setup_teardown(test_round_trip_zstd, setup, teardown),
        cmocka_unit_test_setup_teardown(test_all_zero_ram, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flipped_bytes_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sealed_bad_contents_refused, setup, teardown),
        cmocka_unit_test(test_host_check),
        cmocka_unit_test_setup_teardown(test_live_save, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash_safe_write, setup, teardown),
        cmocka_unit_test_setup_teardown(test_not_a_checkpoint, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
