// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Checkpoint file validating reader and RAM restore (format: docs/snapshot-format.md; the
 * writer is snapfile_write.c). The file is hostile input: every length is bounded before
 * use, every section carries an XXH3-64 checksum of its header and of its payload, and
 * sections must come in the one fixed order.
 */
#include "snapshots/snapfile_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>
#include <zstd.h>

struct reader {
    const uint8_t *buf;
    size_t len;
    size_t pos;
    char *err;
    size_t errlen;
};

struct section {
    uint32_t type;
    uint32_t index;
    char name[SNAP_NAME_LEN];
    const uint8_t *data;
    uint64_t len;
    size_t header_at;
};

static const char *type_name(uint32_t t)
{
    static const char *const names[] = {
        [SEC_HOST] = "host",   [SEC_CONFIG] = "config",   [SEC_DEVICE] = "device",
        [SEC_VCPU] = "vcpu",   [SEC_IRQCHIP] = "irqchip", [SEC_PIT] = "pit",
        [SEC_CLOCK] = "clock", [SEC_RAM] = "ram",
    };
    return t < sizeof(names) / sizeof(names[0]) && names[t] ? names[t] : "unknown";
}

static bool name_ok(const char *n)
{
    size_t l = strnlen(n, SNAP_NAME_LEN);
    if (l == 0 || l == SNAP_NAME_LEN) {
        return false;
    }
    for (size_t i = 0; i < l; i++) {
        if (n[i] < 0x21 || n[i] > 0x7e) {
            return false;
        }
    }
    for (size_t i = l; i < SNAP_NAME_LEN; i++) {
        if (n[i]) {
            return false;
        }
    }
    return true;
}

/* Reads the next section header and payload; checks bounds and both checksums. */
static int next_section(struct reader *rd, unsigned seq, struct section *s)
{
    if (rd->len - rd->pos < SEC_HDR_LEN) {
        fail(rd->err, rd->errlen, "snapshot section %u: truncated header at offset %zu", seq,
             rd->pos);
        return -EINVAL;
    }
    const uint8_t *h = rd->buf + rd->pos;
    s->header_at = rd->pos;
    s->type = get_u32(h);
    s->index = get_u32(h + 4);
    memcpy(s->name, h + 16, SNAP_NAME_LEN);
    if (get_u64(h + 56) != XXH3_64bits(h, 56)) {
        fail(rd->err, rd->errlen,
             "snapshot section %u (%s) at offset %zu: header checksum mismatch", seq,
             type_name(s->type), rd->pos);
        return -EINVAL;
    }
    s->len = get_u64(h + 8);
    if (s->type < SEC_HOST || s->type > SEC_RAM) {
        fail(rd->err, rd->errlen, "snapshot section %u: unknown section type %u", seq, s->type);
        return -EINVAL;
    }
    if (!name_ok(s->name)) {
        fail(rd->err, rd->errlen, "snapshot %s section %u: malformed name", type_name(s->type),
             seq);
        return -EINVAL;
    }
    if (get_u32(h + 12) != 0) {
        fail(rd->err, rd->errlen, "snapshot %s section '%s': payload of 4 GiB or more",
             type_name(s->type), s->name);
        return -EINVAL;
    }
    size_t at = rd->pos + SEC_HDR_LEN;
    if (s->len > rd->len - at) {
        fail(rd->err, rd->errlen,
             "snapshot %s section '%s': %llu payload bytes, the file has %zu left (truncated?)",
             type_name(s->type), s->name, (unsigned long long)s->len, rd->len - at);
        return -EINVAL;
    }
    s->data = rd->buf + at;
    if (get_u64(h + 48) != XXH3_64bits(s->data, s->len)) {
        fail(rd->err, rd->errlen, "snapshot %s section '%s': payload checksum mismatch",
             type_name(s->type), s->name);
        return -EINVAL;
    }
    /* Alignment padding is not under the checksum: it must be zero. */
    uint64_t end = align_up(at + s->len, 8);
    if (end > rd->len) {
        end = rd->len;
    }
    for (uint64_t i = at + s->len; i < end; i++) {
        if (rd->buf[i]) {
            fail(rd->err, rd->errlen, "snapshot %s section '%s': non-zero padding",
                 type_name(s->type), s->name);
            return -EINVAL;
        }
    }
    rd->pos = (size_t)end;
    return 0;
}

#define BAD(...)                                                                                   \
    do {                                                                                           \
        fail(err, errlen, __VA_ARGS__);                                                            \
        return -EINVAL;                                                                            \
    } while (0)

static int parse_host(const struct section *s, struct snap_host *h, char *err, size_t errlen)
{
    if (s->len != HOST_LEN) {
        BAD("snapshot host section: %llu bytes, expected %u", (unsigned long long)s->len, HOST_LEN);
    }
    memcpy(h->vendor, s->data, 12);
    h->family = get_u32(s->data + 12);
    h->model = get_u32(s->data + 16);
    h->xsave_size = get_u32(s->data + 20);
    h->tsc_khz = get_u32(s->data + 24);
    if (h->xsave_size > SNAP_MAX_XSAVE) {
        BAD("snapshot host section: XSAVE size %u is over the limit %u", h->xsave_size,
            SNAP_MAX_XSAVE);
    }
    return 0;
}

static int take_string(char *dst, const uint8_t *src, uint32_t len, const char *what, char *err,
                       size_t errlen)
{
    if (memchr(src, 0, len)) {
        BAD("snapshot config section: NUL byte inside the %s", what);
    }
    memcpy(dst, src, len);
    dst[len] = 0;
    return 0;
}

static int parse_config(const struct section *s, struct snap_config *c, char *err, size_t errlen)
{
    if (s->len < CONFIG_FIXED) {
        BAD("snapshot config section: %llu bytes, expected at least %u", (unsigned long long)s->len,
            CONFIG_FIXED);
    }
    const uint8_t *p = s->data;
    c->mem_size = get_u64(p);
    c->ncpus = get_u32(p + 8);
    c->flags = get_u32(p + 12);
    uint32_t kl = get_u32(p + 16), il = get_u32(p + 20), cl = get_u32(p + 24);
    if (get_u32(p + 28) != 0) {
        BAD("snapshot config section: reserved field is not zero");
    }
    if (kl >= SNAP_MAX_STRING || il >= SNAP_MAX_STRING || cl >= SNAP_MAX_STRING) {
        BAD("snapshot config section: a string is over %u bytes", SNAP_MAX_STRING - 1);
    }
    if (s->len != (uint64_t)CONFIG_FIXED + kl + il + cl) {
        BAD("snapshot config section: %llu bytes, the strings need %u", (unsigned long long)s->len,
            CONFIG_FIXED + kl + il + cl);
    }
    if (c->mem_size < (1ull << 20) || c->mem_size > SNAP_MAX_RAM || c->mem_size % SNAP_PAGE) {
        BAD("snapshot config section: memory size %llu is out of range",
            (unsigned long long)c->mem_size);
    }
    if (c->ncpus == 0 || c->ncpus > SNAP_MAX_VCPUS) {
        BAD("snapshot config section: %u vCPUs is out of range", c->ncpus);
    }
    if ((c->flags & ~(SNAP_CFG_EMBEDDED_KERNEL | SNAP_CFG_FIRMWARE)) ||
        (c->flags & SNAP_CFG_EMBEDDED_KERNEL && c->flags & SNAP_CFG_FIRMWARE)) {
        BAD("snapshot config section: unknown flags %#x", c->flags);
    }
    p += CONFIG_FIXED;
    if (take_string(c->kernel, p, kl, "kernel path", err, errlen) < 0 ||
        take_string(c->initrd, p + kl, il, "initrd path", err, errlen) < 0 ||
        take_string(c->cmdline, p + kl + il, cl, "command line", err, errlen) < 0) {
        return -EINVAL;
    }
    return 0;
}

static int parse_vcpu(const struct section *s, struct snap_vcpu *v, char *err, size_t errlen)
{
    if (s->len < VCPU_FIXED) {
        BAD("snapshot vcpu %u section: %llu bytes, expected at least %zu", s->index,
            (unsigned long long)s->len, (size_t)VCPU_FIXED);
    }
    const uint8_t *p = s->data;
    v->xsave_len = get_u32(p);
    v->nmsrs = get_u32(p + 4);
    v->tsc_khz = get_u32(p + 8);
    v->tsc = get_u64(p + 16);
    if (get_u32(p + 12) != 0) {
        BAD("snapshot vcpu %u section: reserved field is not zero", s->index);
    }
    if (v->xsave_len > SNAP_MAX_XSAVE || v->xsave_len < sizeof(struct kvm_xsave)) {
        BAD("snapshot vcpu %u section: XSAVE area of %u bytes is out of range", s->index,
            v->xsave_len);
    }
    if (v->nmsrs > SNAP_MAX_MSRS) {
        BAD("snapshot vcpu %u section: %u MSRs, the limit is %u", s->index, v->nmsrs,
            SNAP_MAX_MSRS);
    }
    uint64_t need = VCPU_FIXED + (uint64_t)v->xsave_len + v->nmsrs * sizeof(v->msrs[0]);
    if (s->len != need) {
        BAD("snapshot vcpu %u section: %llu bytes, expected %llu", s->index,
            (unsigned long long)s->len, (unsigned long long)need);
    }
    p += 24;
#define TAKE(field)                                                                                \
    do {                                                                                           \
        memcpy(&v->field, p, sizeof(v->field));                                                    \
        p += sizeof(v->field);                                                                     \
    } while (0)
    TAKE(regs);
    TAKE(sregs);
    TAKE(xcrs);
    TAKE(lapic);
    TAKE(events);
    TAKE(mp);
    TAKE(debugregs);
#undef TAKE
    memcpy(v->xsave, p, v->xsave_len);
    p += v->xsave_len;
    memcpy(v->msrs, p, v->nmsrs * sizeof(v->msrs[0]));
    if (v->xcrs.nr_xcrs > KVM_MAX_XCRS) {
        BAD("snapshot vcpu %u section: %u XCRs, the limit is %u", s->index, v->xcrs.nr_xcrs,
            KVM_MAX_XCRS);
    }
    if (v->mp.mp_state > KVM_MP_STATE_AP_RESET_HOLD) {
        BAD("snapshot vcpu %u section: unknown MP state %u", s->index, v->mp.mp_state);
    }
    for (uint32_t i = 0; i < v->nmsrs; i++) {
        if (v->msrs[i].reserved) {
            BAD("snapshot vcpu %u section: MSR entry %u has reserved bits set", s->index, i);
        }
    }
    return 0;
}

static int parse_ram(const struct section *s, const struct reader *rd, uint32_t flags,
                     uint64_t mem_size, struct snap_ram *ram, char *err, size_t errlen)
{
    if (s->len < RAM_FIXED) {
        BAD("snapshot ram section: %llu bytes, expected at least %u", (unsigned long long)s->len,
            RAM_FIXED);
    }
    const uint8_t *p = s->data;
    ram->size = get_u64(p);
    ram->nextents = get_u64(p + 8);
    ram->data_offset = get_u64(p + 16);
    ram->data_len = get_u64(p + 24);
    ram->data_hash = get_u64(p + 32);
    if (ram->size != mem_size) {
        BAD("snapshot ram section: %llu bytes of RAM, the config section says %llu",
            (unsigned long long)ram->size, (unsigned long long)mem_size);
    }
    uint64_t npages = ram->size / SNAP_PAGE;
    if (ram->nextents > npages || s->len != RAM_FIXED + ram->nextents * 16) {
        BAD("snapshot ram section: %llu bytes cannot hold %llu extents", (unsigned long long)s->len,
            (unsigned long long)ram->nextents);
    }
    /* The extent table is 8-byte aligned in the buffer (sections are). */
    ram->extents = (const struct snap_extent *)(const void *)(p + RAM_FIXED);
    uint64_t next_free = 0, data_pages = 0;
    for (uint64_t i = 0; i < ram->nextents; i++) {
        const struct snap_extent *e = &ram->extents[i];
        if (e->npages == 0 || e->page < next_free || e->page > npages ||
            e->npages > npages - e->page) {
            BAD("snapshot ram section: extent %llu (page %llu, %llu pages) is out of order or "
                "outside the RAM",
                (unsigned long long)i, (unsigned long long)e->page, (unsigned long long)e->npages);
        }
        next_free = e->page + e->npages;
        data_pages += e->npages;
    }
    uint64_t expect_off = align_up(s->header_at + SEC_HDR_LEN + s->len, SNAP_PAGE);
    /* A live save leaves room for metadata it could not measure yet (SNAP_F_PADDED). */
    if ((flags & SNAP_F_PADDED) && ram->data_offset > expect_off &&
        ram->data_offset - expect_off < SNAP_MAX_PAD && ram->data_offset % SNAP_PAGE == 0) {
        expect_off = ram->data_offset;
    }
    if (ram->data_offset != expect_off) {
        BAD("snapshot ram section: page data at offset %llu, expected %llu",
            (unsigned long long)ram->data_offset, (unsigned long long)expect_off);
    }
    if (!(flags & SNAP_F_ZSTD) && ram->data_len != data_pages * SNAP_PAGE) {
        BAD("snapshot ram section: %llu data bytes for %llu pages",
            (unsigned long long)ram->data_len, (unsigned long long)data_pages);
    }
    for (uint64_t i = rd->pos; i < expect_off && i < rd->len; i++) {
        if (rd->buf[i]) {
            BAD("snapshot ram section: non-zero padding before the page data");
        }
    }
    if (ram->data_offset > rd->len || ram->data_len != rd->len - ram->data_offset) {
        BAD("snapshot ram section: page data [%llu, +%llu) does not end the %zu-byte file "
            "(truncated?)",
            (unsigned long long)ram->data_offset, (unsigned long long)ram->data_len, rd->len);
    }
    return 0;
}

/* Which section types may follow one of type prev. */
static bool order_ok(uint32_t prev, uint32_t next)
{
    switch (next) {
    case SEC_HOST:
        return prev == 0;
    case SEC_CONFIG:
        return prev == SEC_HOST;
    case SEC_DEVICE:
        return prev == SEC_CONFIG || prev == SEC_DEVICE;
    case SEC_VCPU:
        return prev == SEC_CONFIG || prev == SEC_DEVICE || prev == SEC_VCPU;
    case SEC_IRQCHIP:
        return prev == SEC_VCPU;
    case SEC_PIT:
        return prev == SEC_IRQCHIP;
    case SEC_CLOCK:
        return prev == SEC_PIT;
    case SEC_RAM:
        return prev == SEC_CLOCK;
    }
    return false;
}

static int parse_sections(struct reader *rd, uint32_t nsec, struct snap_file *f, char *err,
                          size_t errlen)
{
    struct snap_state *st = &f->st;
    uint32_t prev = 0;
    for (uint32_t seq = 1; seq <= nsec; seq++) {
        struct section s;
        int r = next_section(rd, seq, &s);
        if (r < 0) {
            return r;
        }
        if (!order_ok(prev, s.type)) {
            BAD("snapshot %s section '%s' (number %u): not expected after the %s section",
                type_name(s.type), s.name, seq, prev ? type_name(prev) : "header");
        }
        if (s.type != SEC_DEVICE && s.type != SEC_VCPU && s.index != 0) {
            BAD("snapshot %s section: index %u, expected 0", type_name(s.type), s.index);
        }
        prev = s.type;
        switch (s.type) {
        case SEC_HOST:
            r = parse_host(&s, &st->host, err, errlen);
            break;
        case SEC_CONFIG:
            r = parse_config(&s, &st->config, err, errlen);
            if (r == 0) {
                st->vcpus = calloc(st->config.ncpus, sizeof(*st->vcpus));
                if (!st->vcpus) {
                    fail(err, errlen, "out of memory");
                    return -ENOMEM;
                }
            }
            break;
        case SEC_DEVICE: {
            if (st->ndevices >= SNAP_MAX_DEVICES || s.index != st->ndevices) {
                BAD("snapshot device section '%s': index %u, expected %u (at most %u devices)",
                    s.name, s.index, st->ndevices, SNAP_MAX_DEVICES);
            }
            if (s.len > SNAP_MAX_DEVICE_STATE) {
                BAD("snapshot device section '%s': %llu bytes is over the limit", s.name,
                    (unsigned long long)s.len);
            }
            struct snap_device *d = &st->devices[st->ndevices++];
            memcpy(d->name, s.name, SNAP_NAME_LEN);
            d->data = s.data;
            d->len = (uint32_t)s.len;
            break;
        }
        case SEC_VCPU:
            if (s.index != st->nvcpus || st->nvcpus >= st->config.ncpus) {
                BAD("snapshot vcpu section: index %u, expected %u of %u", s.index, st->nvcpus,
                    st->config.ncpus);
            }
            r = parse_vcpu(&s, &st->vcpus[st->nvcpus], err, errlen);
            st->nvcpus++;
            break;
        case SEC_IRQCHIP:
            if (st->nvcpus != st->config.ncpus) {
                BAD("snapshot irqchip section: follows %u vcpu sections, the config has %u",
                    st->nvcpus, st->config.ncpus);
            }
            if (s.len != sizeof(st->irqchip)) {
                BAD("snapshot irqchip section: %llu bytes, expected %zu", (unsigned long long)s.len,
                    sizeof(st->irqchip));
            }
            memcpy(st->irqchip, s.data, sizeof(st->irqchip));
            for (uint32_t i = 0; i < 3; i++) {
                if (st->irqchip[i].chip_id != i) {
                    BAD("snapshot irqchip section: chip %u has id %u", i, st->irqchip[i].chip_id);
                }
            }
            break;
        case SEC_PIT:
            if (s.len != sizeof(st->pit)) {
                BAD("snapshot pit section: %llu bytes, expected %zu", (unsigned long long)s.len,
                    sizeof(st->pit));
            }
            memcpy(&st->pit, s.data, sizeof(st->pit));
            break;
        case SEC_CLOCK:
            if (s.len != sizeof(st->clock)) {
                BAD("snapshot clock section: %llu bytes, expected %zu", (unsigned long long)s.len,
                    sizeof(st->clock));
            }
            memcpy(&st->clock, s.data, sizeof(st->clock));
            break;
        case SEC_RAM:
            if (seq != nsec) {
                BAD("snapshot ram section: number %u of %u, it must be the last", seq, nsec);
            }
            r = parse_ram(&s, rd, f->flags, st->config.mem_size, &f->ram, err, errlen);
            break;
        }
        if (r < 0) {
            return r;
        }
    }
    if (prev != SEC_RAM) {
        BAD("snapshot: the file ends after the %s section, before the ram section",
            prev ? type_name(prev) : "header");
    }
    return 0;
}

int snapfile_parse(const uint8_t *buf, size_t len, unsigned flags, struct snap_file *f, char *err,
                   size_t errlen)
{
    memset(f, 0, sizeof(*f));
    f->fd = -1;
    f->map = buf;
    f->len = len;
    if (len < HDR_LEN) {
        BAD("snapshot header: the file is %zu bytes, shorter than a header", len);
    }
    if (memcmp(buf, SNAP_MAGIC, 8) != 0) {
        BAD("snapshot header: not a deskvm checkpoint file (bad magic)");
    }
    if (get_u64(buf + 56) != XXH3_64bits(buf, 56)) {
        BAD("snapshot header: checksum mismatch");
    }
    uint32_t version = get_u32(buf + 8);
    if (version != SNAP_VERSION) {
        BAD("snapshot header: format version %u, this deskvm reads version %u", version,
            SNAP_VERSION);
    }
    f->flags = get_u32(buf + 12);
    if (f->flags & ~(SNAP_F_ZSTD | SNAP_F_PADDED)) {
        BAD("snapshot header: unknown flags %#x", f->flags);
    }
    uint32_t nsec = get_u32(buf + 16);
    uint64_t file_size = get_u64(buf + 24);
    if (file_size != len) {
        BAD("snapshot header: the file is %zu bytes, the header says %llu (truncated?)", len,
            (unsigned long long)file_size);
    }
    if (nsec < 7 || nsec > 6 + SNAP_MAX_DEVICES + SNAP_MAX_VCPUS) {
        BAD("snapshot header: %u sections is out of range", nsec);
    }
    for (unsigned i = 20; i < 56; i++) {
        if (i >= 24 && i < 32) {
            continue;
        }
        if (buf[i]) {
            BAD("snapshot header: reserved byte %u is not zero", i);
        }
    }
    struct reader rd = {buf, len, HDR_LEN, err, errlen};
    int r = parse_sections(&rd, nsec, f, err, errlen);
    if (r == 0 && (flags & SNAP_OPEN_VERIFY_RAM)) {
        r = snapfile_verify_ram(f, err, errlen);
    }
    if (r < 0) {
        free(f->st.vcpus);
        f->st.vcpus = NULL;
    }
    return r;
}

/*
 * XXH3-64 of the page data. From a file, ranges that are holes (a live save leaves every
 * page the guest never wrote as one) are hashed as zeros without being read: reading a hole
 * through the mapping allocates a zero-filled page-cache page per page.
 */
int snapfile_verify_ram(const struct snap_file *f, char *err, size_t errlen)
{
    static const uint8_t zeros[IO_CHUNK];
    const uint64_t start = f->ram.data_offset, end = start + f->ram.data_len;
    XXH3_state_t *hs = XXH3_createState();
    if (!hs) {
        fail(err, errlen, "out of memory");
        return -ENOMEM;
    }
    XXH3_64bits_reset(hs);
    uint64_t pos = start;
    while (pos < end) {
        uint64_t data = pos, hole = end;
        if (f->fd >= 0) {
            off_t d = lseek(f->fd, (off_t)pos, SEEK_DATA);
            data = d < 0 || (uint64_t)d > end ? end : (uint64_t)d;
            off_t h = data < end ? lseek(f->fd, (off_t)data, SEEK_HOLE) : (off_t)end;
            hole = h < 0 || (uint64_t)h > end ? end : (uint64_t)h;
        }
        while (pos < data) {
            size_t n = data - pos < IO_CHUNK ? (size_t)(data - pos) : IO_CHUNK;
            XXH3_64bits_update(hs, zeros, n);
            pos += n;
        }
        if (hole > pos) {
            XXH3_64bits_update(hs, f->map + pos, hole - pos);
            pos = hole;
        }
    }
    uint64_t h = XXH3_64bits_digest(hs);
    XXH3_freeState(hs);
    if (h != f->ram.data_hash) {
        fail(err, errlen, "snapshot ram section: page data checksum mismatch");
        return -EINVAL;
    }
    return 0;
}

int snapfile_open(const char *path, unsigned flags, struct snap_file *f, char *err, size_t errlen)
{
    memset(f, 0, sizeof(*f));
    f->fd = -1;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
        int e = errno;
        fail(err, errlen, "cannot open %s: %s", path, strerror(e));
        return -e;
    }
    struct stat sb;
    if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
        fail(err, errlen, "%s is not a regular file", path);
        close(fd);
        return -EINVAL;
    }
    if ((uint64_t)sb.st_size < HDR_LEN) {
        fail(err, errlen, "snapshot header: %s is %lld bytes, shorter than a header", path,
             (long long)sb.st_size);
        close(fd);
        return -EINVAL;
    }
    void *map = mmap(NULL, (size_t)sb.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (map == MAP_FAILED) {
        int e = errno;
        fail(err, errlen, "cannot map %s: %s", path, strerror(e));
        close(fd);
        return -e;
    }
    int r = snapfile_parse(map, (size_t)sb.st_size, flags & ~SNAP_OPEN_VERIFY_RAM, f, err, errlen);
    if (r == 0) {
        f->fd = fd; /* the holes of the file need not be read to be checked */
        f->mapped = true;
        if (flags & SNAP_OPEN_VERIFY_RAM) {
            r = snapfile_verify_ram(f, err, errlen);
        }
        if (r < 0) {
            snapfile_close(f);
            return r;
        }
        return 0;
    }
    munmap(map, (size_t)sb.st_size);
    close(fd);
    return r;
}

void snapfile_close(struct snap_file *f)
{
    if (!f) {
        return;
    }
    if (f->mapped) {
        munmap((void *)f->map, f->len);
    }
    if (f->fd >= 0) {
        close(f->fd);
    }
    free(f->st.vcpus);
    memset(f, 0, sizeof(*f));
    f->fd = -1;
}

int snap_host_check(const struct snap_host *file, const struct snap_host *here, char *err,
                    size_t errlen)
{
    if (memcmp(file->vendor, here->vendor, 12) != 0) {
        BAD("snapshot host section: saved on a %.12s CPU, this host has %.12s", file->vendor,
            here->vendor);
    }
    if (file->family != here->family) {
        BAD("snapshot host section: saved on CPU family %#x, this host is family %#x", file->family,
            here->family);
    }
    if (file->xsave_size != here->xsave_size) {
        BAD("snapshot host section: XSAVE area of %u bytes, this host's KVM uses %u",
            file->xsave_size, here->xsave_size);
    }
    return 0;
}

static void zero_range(uint8_t *p, uint64_t len)
{
    if (len && madvise(p, len, MADV_REMOVE) == 0) {
        return;
    }
    memset(p, 0, len);
}

/* Decompress exactly len bytes of the frame into out; refuses a frame that ends early. */
static int zstd_fill(ZSTD_DCtx *dctx, ZSTD_inBuffer *in, uint8_t *out, size_t len, size_t *last,
                     char *err, size_t errlen)
{
    ZSTD_outBuffer ob = {out, len, 0};
    while (ob.pos < ob.size) {
        size_t in0 = in->pos, out0 = ob.pos;
        size_t ret = ZSTD_decompressStream(dctx, &ob, in);
        *last = ret;
        if (ZSTD_isError(ret)) {
            fail(err, errlen, "snapshot ram section: bad compressed data: %s",
                 ZSTD_getErrorName(ret));
            return -EINVAL;
        }
        if (ob.pos < ob.size && (ret == 0 || (in->pos == in0 && ob.pos == out0))) {
            /* The frame ended, or no progress with input exhausted: data too short. */
            fail(err, errlen, "snapshot ram section: compressed data ends early");
            return -EINVAL;
        }
    }
    return 0;
}

/*
 * The RAM, extent by extent, into dst (gaps zeroed) or, with fd >= 0, into a freshly
 * truncated file with pwrite (gaps left as holes). pwrite fills a memfd without a page
 * fault per page, which under nested virtualisation is most of the cost.
 */
static int ram_out(const struct snap_file *f, uint8_t *dst, int fd, char *err, size_t errlen)
{
    const struct snap_ram *ram = &f->ram;
    const uint8_t *src = f->map + ram->data_offset;
    uint64_t prev_end = 0;
    ZSTD_DCtx *dctx = NULL;
    uint8_t *bounce = NULL;
    ZSTD_inBuffer in = {src, ram->data_len, 0};
    int r = 0;
    if (f->flags & SNAP_F_ZSTD) {
        dctx = ZSTD_createDCtx();
        bounce = fd >= 0 ? malloc(IO_CHUNK) : NULL;
        if (!dctx || (fd >= 0 && !bounce)) {
            fail(err, errlen, "out of memory");
            r = -ENOMEM;
            goto out;
        }
    }
    uint64_t pos = 0;
    size_t last = 1; /* zstd: 0 once the frame is complete */
    for (uint64_t i = 0; i <= ram->nextents; i++) {
        uint64_t page = i < ram->nextents ? ram->extents[i].page : ram->size / SNAP_PAGE;
        if (fd < 0) {
            zero_range(dst + prev_end * SNAP_PAGE, (page - prev_end) * SNAP_PAGE);
        }
        if (i == ram->nextents) {
            break;
        }
        uint64_t bytes = ram->extents[i].npages * SNAP_PAGE;
        uint64_t off = page * SNAP_PAGE;
        prev_end = page + ram->extents[i].npages;
        if (!dctx) {
            if (fd >= 0) {
                r = pwrite_all(fd, src + pos, bytes, off);
            } else {
                memcpy(dst + off, src + pos, bytes);
            }
            pos += bytes;
        } else if (fd < 0) {
            r = zstd_fill(dctx, &in, dst + off, bytes, &last, err, errlen);
        } else {
            for (uint64_t done = 0; done < bytes && r == 0; done += IO_CHUNK) {
                size_t n = bytes - done < IO_CHUNK ? (size_t)(bytes - done) : IO_CHUNK;
                r = zstd_fill(dctx, &in, bounce, n, &last, err, errlen);
                if (r == 0) {
                    r = pwrite_all(fd, bounce, n, off + done);
                }
            }
        }
        if (r < 0) {
            if (r != -EINVAL) {
                fail(err, errlen, "cannot write the restored RAM: %s", strerror(-r));
            }
            goto out;
        }
    }
    if (dctx && last != 0) {
        /* The frame must end exactly here (its epilogue may still be unread). */
        uint8_t extra;
        ZSTD_outBuffer ob = {&extra, 1, 0};
        last = ZSTD_decompressStream(dctx, &ob, &in);
        if (ZSTD_isError(last) || ob.pos != 0) {
            last = 1;
        }
    }
    if (dctx && (last != 0 || in.pos != in.size)) {
        fail(err, errlen, "snapshot ram section: compressed data does not match its extents");
        r = -EINVAL;
    }
out:
    free(bounce);
    ZSTD_freeDCtx(dctx);
    return r;
}

int snapfile_ram_copy(const struct snap_file *f, uint8_t *dst, char *err, size_t errlen)
{
    return ram_out(f, dst, -1, err, errlen);
}

int snapfile_ram_write_fd(const struct snap_file *f, int fd, char *err, size_t errlen)
{
    return ram_out(f, NULL, fd, err, errlen);
}

int snapfile_ram_map(const struct snap_file *f, uint64_t max_extents, uint8_t **out, char *err,
                     size_t errlen)
{
    const struct snap_ram *ram = &f->ram;
    if ((f->flags & SNAP_F_ZSTD) || f->fd < 0 || ram->nextents > max_extents) {
        return -ENOTSUP;
    }
    uint8_t *base = mmap(NULL, ram->size, PROT_READ | PROT_WRITE,
                         MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED) {
        int e = errno;
        fail(err, errlen, "cannot reserve %llu bytes for the RAM: %s",
             (unsigned long long)ram->size, strerror(e));
        return -e;
    }
    uint64_t off = ram->data_offset;
    for (uint64_t i = 0; i < ram->nextents; i++) {
        uint64_t bytes = ram->extents[i].npages * SNAP_PAGE;
        void *p = mmap(base + ram->extents[i].page * SNAP_PAGE, bytes, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_FIXED | MAP_NORESERVE, f->fd, (off_t)off);
        if (p == MAP_FAILED) {
            int e = errno;
            fail(err, errlen, "cannot map the RAM from the checkpoint: %s", strerror(e));
            munmap(base, ram->size);
            return -e;
        }
        off += bytes;
    }
    *out = base;
    return 0;
}
