// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Checkpoint file writer (format: docs/snapshot-format.md): metadata sections built in
 * memory, zero pages skipped, page data raw (mappable) or as one zstd frame, every section
 * and the page data checksummed, written to a temporary file that is fsynced and renamed.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <xxhash.h>
#include <zstd.h>

#include "snapshots/snapfile_internal.h"

/* A growable buffer for the metadata sections (small: no RAM in it). */
struct wbuf {
    uint8_t *p;
    size_t len, cap;
    bool oom;
};

static uint8_t *wbuf_grow(struct wbuf *b, size_t n)
{
    if (b->oom) {
        return NULL;
    }
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 65536;
        while (cap < b->len + n) {
            cap *= 2;
        }
        uint8_t *p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return NULL;
        }
        b->p = p;
        b->cap = cap;
    }
    uint8_t *at = b->p + b->len;
    memset(at, 0, n);
    b->len += n;
    return at;
}

static void wbuf_put(struct wbuf *b, const void *data, size_t n)
{
    uint8_t *at = wbuf_grow(b, n);
    if (at && n) {
        memcpy(at, data, n);
    }
}

static void seal_section_header(uint8_t *h)
{
    put_u64(h + 56, XXH3_64bits(h, 56));
}

/* Opens a section; returns its header offset in b. Close with end_section(). */
static size_t begin_section(struct wbuf *b, uint32_t type, uint32_t index, const char *name)
{
    size_t at = b->len;
    uint8_t *h = wbuf_grow(b, SEC_HDR_LEN);
    if (h) {
        put_u32(h, type);
        put_u32(h + 4, index);
        if (name) {
            strncpy((char *)h + 16, name, SNAP_NAME_LEN - 1);
        }
    }
    return at;
}

static void end_section(struct wbuf *b, size_t at)
{
    if (b->oom) {
        return;
    }
    uint8_t *h = b->p + at;
    uint64_t len = b->len - at - SEC_HDR_LEN;
    put_u64(h + 8, len);
    put_u64(h + 48, XXH3_64bits(h + SEC_HDR_LEN, len));
    seal_section_header(h);
    wbuf_grow(b, align_up(b->len, 8) - b->len);
}

static void build_metadata(struct wbuf *b, const struct snap_state *st)
{
    size_t at = begin_section(b, SEC_HOST, 0, "host");
    uint8_t *p = wbuf_grow(b, HOST_LEN);
    if (p) {
        memcpy(p, st->host.vendor, 12);
        put_u32(p + 12, st->host.family);
        put_u32(p + 16, st->host.model);
        put_u32(p + 20, st->host.xsave_size);
        put_u32(p + 24, st->host.tsc_khz);
    }
    end_section(b, at);

    const struct snap_config *c = &st->config;
    at = begin_section(b, SEC_CONFIG, 0, "config");
    p = wbuf_grow(b, CONFIG_FIXED);
    if (p) {
        put_u64(p, c->mem_size);
        put_u32(p + 8, c->ncpus);
        put_u32(p + 12, c->flags);
        put_u32(p + 16, (uint32_t)strnlen(c->kernel, SNAP_MAX_STRING - 1));
        put_u32(p + 20, (uint32_t)strnlen(c->initrd, SNAP_MAX_STRING - 1));
        put_u32(p + 24, (uint32_t)strnlen(c->cmdline, SNAP_MAX_STRING - 1));
    }
    wbuf_put(b, c->kernel, strnlen(c->kernel, SNAP_MAX_STRING - 1));
    wbuf_put(b, c->initrd, strnlen(c->initrd, SNAP_MAX_STRING - 1));
    wbuf_put(b, c->cmdline, strnlen(c->cmdline, SNAP_MAX_STRING - 1));
    end_section(b, at);

    for (unsigned i = 0; i < st->ndevices; i++) {
        at = begin_section(b, SEC_DEVICE, i, st->devices[i].name);
        wbuf_put(b, st->devices[i].data, st->devices[i].len);
        end_section(b, at);
    }
    for (unsigned i = 0; i < st->nvcpus; i++) {
        const struct snap_vcpu *v = &st->vcpus[i];
        at = begin_section(b, SEC_VCPU, i, "vcpu");
        p = wbuf_grow(b, 24);
        if (p) {
            put_u32(p, v->xsave_len);
            put_u32(p + 4, v->nmsrs);
            put_u32(p + 8, v->tsc_khz);
            put_u64(p + 16, v->tsc);
        }
        wbuf_put(b, &v->regs, sizeof(v->regs));
        wbuf_put(b, &v->sregs, sizeof(v->sregs));
        wbuf_put(b, &v->xcrs, sizeof(v->xcrs));
        wbuf_put(b, &v->lapic, sizeof(v->lapic));
        wbuf_put(b, &v->events, sizeof(v->events));
        wbuf_put(b, &v->mp, sizeof(v->mp));
        wbuf_put(b, &v->debugregs, sizeof(v->debugregs));
        wbuf_put(b, v->xsave, v->xsave_len);
        wbuf_put(b, v->msrs, v->nmsrs * sizeof(v->msrs[0]));
        end_section(b, at);
    }
    at = begin_section(b, SEC_IRQCHIP, 0, "irqchip");
    wbuf_put(b, st->irqchip, sizeof(st->irqchip));
    end_section(b, at);
    at = begin_section(b, SEC_PIT, 0, "pit");
    wbuf_put(b, &st->pit, sizeof(st->pit));
    end_section(b, at);
    at = begin_section(b, SEC_CLOCK, 0, "clock");
    wbuf_put(b, &st->clock, sizeof(st->clock));
    end_section(b, at);
}

static bool page_is_zero(const uint8_t *p)
{
    const uint64_t *w = (const uint64_t *)(const void *)p;
    for (unsigned i = 0; i < SNAP_PAGE / 8; i += 8) {
        if (w[i] | w[i + 1] | w[i + 2] | w[i + 3] | w[i + 4] | w[i + 5] | w[i + 6] | w[i + 7]) {
            return false;
        }
    }
    return true;
}

/* Runs of non-zero pages. ram_fd (or -1): SEEK_DATA/SEEK_HOLE skip never-touched ranges. */
static int find_extents(const uint8_t *ram, uint64_t size, int ram_fd, struct snap_extent **out,
                        uint64_t *n_out)
{
    uint64_t n = 0, cap = 64;
    struct snap_extent *ext = malloc(cap * sizeof(*ext));
    if (!ext) {
        return -ENOMEM;
    }
    uint64_t npages = size / SNAP_PAGE;
    uint64_t pg = 0;
    while (pg < npages) {
        uint64_t end = npages;
        if (ram_fd >= 0) {
            off_t d = lseek(ram_fd, (off_t)(pg * SNAP_PAGE), SEEK_DATA);
            if (d < 0) {
                break; /* ENXIO: no data past pg */
            }
            off_t h = lseek(ram_fd, d, SEEK_HOLE);
            pg = (uint64_t)d / SNAP_PAGE;
            end = h < 0 ? npages : align_up((uint64_t)h, SNAP_PAGE) / SNAP_PAGE;
            if (end > npages) {
                end = npages;
            }
        }
        for (; pg < end; pg++) {
            if (page_is_zero(ram + pg * SNAP_PAGE)) {
                continue;
            }
            if (n && ext[n - 1].page + ext[n - 1].npages == pg) {
                ext[n - 1].npages++;
                continue;
            }
            if (n == cap) {
                cap *= 2;
                struct snap_extent *e = realloc(ext, cap * sizeof(*ext));
                if (!e) {
                    free(ext);
                    return -ENOMEM;
                }
                ext = e;
            }
            ext[n++] = (struct snap_extent){pg, 1};
        }
    }
    *out = ext;
    *n_out = n;
    return 0;
}

/*
 * Extents of RAM into the file: packed (extent after extent from base, the checkpoint layout)
 * or each page at base + 4096 x page (the live layout). Runs on its own thread too.
 */
struct ext_writer {
    int fd;
    const uint8_t *ram;
    const struct snap_extent *ext;
    uint64_t n;
    uint64_t base;
    bool packed;
    int r;
};

static void *write_extents(void *opaque)
{
    struct ext_writer *w = opaque;
    uint64_t pos = w->base;
    w->r = 0;
    for (uint64_t i = 0; i < w->n && w->r == 0; i++) {
        uint64_t bytes = w->ext[i].npages * SNAP_PAGE;
        if (!w->packed) {
            pos = w->base + w->ext[i].page * SNAP_PAGE;
        }
        w->r = pwrite_all(w->fd, w->ram + w->ext[i].page * SNAP_PAGE, bytes, pos);
        pos += bytes;
    }
    return NULL;
}

/*
 * Runs a on a second thread and b on this one (a alone without a thread), so that copying
 * guest RAM into the page cache, the bulk of a save, uses two CPUs as QEMU's migration stream
 * does with its writer process. Returns a's result.
 */
static int run_pair(struct ext_writer *a, void *(*b)(void *), void *b_arg)
{
    pthread_t t;
    bool threaded = pthread_create(&t, NULL, write_extents, a) == 0;
    if (!threaded) {
        write_extents(a);
    }
    if (b) {
        b(b_arg);
    }
    if (threaded) {
        pthread_join(t, NULL);
    }
    return a->r;
}

struct hasher {
    const uint8_t *ram;
    const struct snap_extent *ext;
    uint64_t n;
    uint64_t hash;
    bool oom;
};

static void *hash_extents(void *opaque)
{
    struct hasher *h = opaque;
    XXH3_state_t *hs = XXH3_createState();
    if (!hs) {
        h->oom = true;
        return NULL;
    }
    XXH3_64bits_reset(hs);
    for (uint64_t i = 0; i < h->n; i++) {
        XXH3_64bits_update(hs, h->ram + h->ext[i].page * SNAP_PAGE, h->ext[i].npages * SNAP_PAGE);
    }
    h->hash = XXH3_64bits_digest(hs);
    XXH3_freeState(hs);
    return NULL;
}

/* The extents packed at off, written by one thread while this one hashes them. */
static int write_ram_raw(int fd, uint64_t off, const uint8_t *ram, const struct snap_extent *ext,
                         uint64_t n, uint64_t *len, uint64_t *hash)
{
    struct ext_writer w = {.fd = fd, .ram = ram, .ext = ext, .n = n, .base = off, .packed = true};
    struct hasher h = {.ram = ram, .ext = ext, .n = n};
    int r = run_pair(&w, hash_extents, &h);
    uint64_t bytes = 0;
    for (uint64_t i = 0; i < n; i++) {
        bytes += ext[i].npages * SNAP_PAGE;
    }
    *len = bytes;
    *hash = h.hash;
    return r < 0 ? r : h.oom ? -ENOMEM : 0;
}

static int write_ram_zstd(int fd, uint64_t off, const uint8_t *ram, const struct snap_extent *ext,
                          uint64_t n, uint64_t *len, uint64_t *hash)
{
    ZSTD_CCtx *cctx = ZSTD_createCCtx();
    XXH3_state_t *hs = XXH3_createState();
    uint8_t *obuf = malloc(IO_CHUNK);
    int r = 0;
    if (!cctx || !hs || !obuf) {
        r = -ENOMEM;
        goto out;
    }
    ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, 1);
    XXH3_64bits_reset(hs);
    uint64_t pos = off;
    for (uint64_t i = 0; i <= n && r == 0; i++) {
        ZSTD_inBuffer in = {NULL, 0, 0};
        if (i < n) {
            in.src = ram + ext[i].page * SNAP_PAGE;
            in.size = ext[i].npages * SNAP_PAGE;
        }
        ZSTD_EndDirective mode = i < n ? ZSTD_e_continue : ZSTD_e_end;
        for (;;) {
            ZSTD_outBuffer ob = {obuf, IO_CHUNK, 0};
            size_t left = ZSTD_compressStream2(cctx, &ob, &in, mode);
            if (ZSTD_isError(left)) {
                r = -EIO;
                break;
            }
            if (ob.pos) {
                XXH3_64bits_update(hs, obuf, ob.pos);
                r = pwrite_all(fd, obuf, ob.pos, pos);
                pos += ob.pos;
                if (r < 0) {
                    break;
                }
            }
            if (mode == ZSTD_e_end ? left == 0 : in.pos == in.size) {
                break;
            }
        }
    }
    *len = pos - off;
    *hash = XXH3_64bits_digest(hs);
out:
    free(obuf);
    XXH3_freeState(hs);
    ZSTD_freeCCtx(cctx);
    return r;
}

static int fsync_dir_of(const char *path)
{
    char *copy = strdup(path);
    if (!copy) {
        return -ENOMEM;
    }
    int dfd = open(dirname(copy), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(copy);
    if (dfd < 0) {
        return -errno;
    }
    int r = fsync(dfd) < 0 ? -errno : 0;
    close(dfd);
    return r;
}

int snapfile_write_begin(const char *path, const struct snap_state *st, const uint8_t *ram,
                         uint64_t ram_size, int ram_fd, unsigned flags, struct snap_pending *out,
                         char *err, size_t errlen)
{
    *out = (struct snap_pending){.fd = -1};
    struct wbuf b = {0};
    struct snap_extent *ext = NULL;
    uint64_t next = 0;
    char *tmp = NULL;
    int fd = -1, r;

    if (ram_size % SNAP_PAGE || ram_size != st->config.mem_size) {
        fail(err, errlen, "RAM size %llu does not match the configuration",
             (unsigned long long)ram_size);
        return -EINVAL;
    }
    if (asprintf(&tmp, "%s.tmp.XXXXXX", path) < 0) {
        tmp = NULL;
        r = -ENOMEM;
        fail(err, errlen, "out of memory");
        goto out;
    }
    fd = mkostemp(tmp, O_CLOEXEC);
    if (fd < 0) {
        r = -errno;
        fail(err, errlen, "cannot create %s: %s", tmp, strerror(errno));
        free(tmp);
        tmp = NULL;
        goto out;
    }
    r = find_extents(ram, ram_size, ram_fd, &ext, &next);
    if (r < 0) {
        fail(err, errlen, "out of memory");
        goto out;
    }

    wbuf_grow(&b, HDR_LEN);
    build_metadata(&b, st);
    size_t ram_at = begin_section(&b, SEC_RAM, 0, "ram");
    wbuf_grow(&b, RAM_FIXED);
    for (uint64_t i = 0; i < next; i++) {
        uint8_t *p = wbuf_grow(&b, 16);
        if (p) {
            put_u64(p, ext[i].page);
            put_u64(p + 8, ext[i].npages);
        }
    }
    if (b.oom) {
        r = -ENOMEM;
        fail(err, errlen, "out of memory");
        goto out;
    }
    uint64_t ram_payload_len = b.len - ram_at - SEC_HDR_LEN;
    uint64_t data_off = align_up(b.len, SNAP_PAGE);
    uint64_t data_len = 0, data_hash = 0;
    if (flags & SNAP_F_ZSTD) {
        r = write_ram_zstd(fd, data_off, ram, ext, next, &data_len, &data_hash);
    } else {
        r = write_ram_raw(fd, data_off, ram, ext, next, &data_len, &data_hash);
    }
    if (r < 0) {
        fail(err, errlen, "cannot write the RAM to %s: %s", tmp, strerror(-r));
        goto out;
    }

    /* Now the RAM descriptor and the header can be sealed. */
    uint8_t *rp = b.p + ram_at + SEC_HDR_LEN;
    put_u64(rp, ram_size);
    put_u64(rp + 8, next);
    put_u64(rp + 16, data_off);
    put_u64(rp + 24, data_len);
    put_u64(rp + 32, data_hash);
    uint8_t *rh = b.p + ram_at;
    put_u64(rh + 8, ram_payload_len);
    put_u64(rh + 48, XXH3_64bits(rp, ram_payload_len));
    seal_section_header(rh);

    unsigned nsec = 6 + st->ndevices + st->nvcpus;
    memcpy(b.p, SNAP_MAGIC, 8);
    put_u32(b.p + 8, SNAP_VERSION);
    put_u32(b.p + 12, flags & SNAP_F_ZSTD);
    put_u32(b.p + 16, nsec);
    put_u64(b.p + 24, data_off + data_len);
    put_u64(b.p + 56, XXH3_64bits(b.p, 56));

    r = pwrite_all(fd, b.p, b.len, 0);
    if (r == 0 && ftruncate(fd, (off_t)(data_off + data_len)) < 0) {
        r = -errno;
    }
    if (r == 0 && !(out->path = strdup(path))) {
        r = -ENOMEM;
    }
    if (r < 0) {
        fail(err, errlen, "cannot write %s: %s", tmp, strerror(-r));
        goto out;
    }
    out->fd = fd;
    out->tmp = tmp;
    fd = -1;
    tmp = NULL;
out:
    if (fd >= 0) {
        close(fd);
    }
    if (tmp) {
        unlink(tmp);
        free(tmp);
    }
    free(ext);
    free(b.p);
    return r;
}

void snapfile_write_abort(struct snap_pending *p)
{
    if (p->fd >= 0) {
        close(p->fd);
    }
    if (p->tmp) {
        unlink(p->tmp);
    }
    free(p->tmp);
    free(p->path);
    *p = (struct snap_pending){.fd = -1};
}

int snapfile_write_commit(struct snap_pending *p, char *err, size_t errlen)
{
    int r = 0;
    if (fsync(p->fd) < 0) {
        r = -errno;
        fail(err, errlen, "cannot write %s: %s", p->tmp, strerror(errno));
        snapfile_write_abort(p);
        return r;
    }
    close(p->fd);
    p->fd = -1;
    if (rename(p->tmp, p->path) < 0) {
        r = -errno;
        fail(err, errlen, "cannot rename %s to %s: %s", p->tmp, p->path, strerror(errno));
        snapfile_write_abort(p);
        return r;
    }
    free(p->tmp);
    p->tmp = NULL;
    r = fsync_dir_of(p->path);
    if (r < 0) {
        fail(err, errlen, "cannot sync the directory of %s: %s", p->path, strerror(-r));
    }
    snapfile_write_abort(p); /* frees the path; nothing left to remove */
    return r;
}

int snapfile_write(const char *path, const struct snap_state *st, const uint8_t *ram,
                   uint64_t ram_size, int ram_fd, unsigned flags, char *err, size_t errlen)
{
    struct snap_pending p;
    int r = snapfile_write_begin(path, st, ram, ram_size, ram_fd, flags, &p, err, errlen);
    return r < 0 ? r : snapfile_write_commit(&p, err, errlen);
}

/* Bytes before the page data, at most, for st with every vCPU at the MSR and XSAVE limits. */
static int live_meta_bound(const struct snap_state *st, uint64_t *out)
{
    struct snap_state *s = malloc(sizeof(*s));
    if (!s) {
        return -ENOMEM;
    }
    *s = *st;
    s->nvcpus = 0;
    struct wbuf b = {0};
    wbuf_grow(&b, HDR_LEN);
    build_metadata(&b, s);
    free(s);
    if (b.oom) {
        free(b.p);
        return -ENOMEM;
    }
    uint64_t vcpu = SEC_HDR_LEN + align_up(VCPU_FIXED + SNAP_MAX_XSAVE + 16ull * SNAP_MAX_MSRS, 8);
    *out = b.len + st->nvcpus * vcpu + SEC_HDR_LEN + RAM_FIXED + 16;
    free(b.p);
    return 0;
}

int snapfile_live_begin(const char *path, const struct snap_state *st, const uint8_t *ram,
                        uint64_t ram_size, struct snap_live *lv, char *err, size_t errlen)
{
    *lv = (struct snap_live){.fd = -1, .ram = ram, .ram_size = ram_size};
    uint64_t bound = 0;
    if (ram_size % SNAP_PAGE || ram_size != st->config.mem_size) {
        fail(err, errlen, "RAM size %llu does not match the configuration",
             (unsigned long long)ram_size);
        return -EINVAL;
    }
    int r = live_meta_bound(st, &bound);
    if (r == 0 && (asprintf(&lv->tmp, "%s.tmp.XXXXXX", path) < 0 || !(lv->path = strdup(path)))) {
        r = -ENOMEM;
    }
    if (r < 0) {
        fail(err, errlen, "out of memory");
        snapfile_live_abort(lv);
        return r;
    }
    lv->data_off = align_up(bound, SNAP_PAGE);
    lv->fd = mkostemp(lv->tmp, O_CLOEXEC);
    if (lv->fd < 0 || ftruncate(lv->fd, (off_t)(lv->data_off + ram_size)) < 0) {
        r = -errno;
        fail(err, errlen, "cannot create %s: %s", lv->tmp, strerror(errno));
        if (lv->fd < 0) {
            free(lv->tmp);
            lv->tmp = NULL;
        }
        snapfile_live_abort(lv);
        return r;
    }
    return 0;
}

/* Pages [pg, end) as they are now, in WRITE_CHUNK pwrites. */
static int live_put(struct snap_live *lv, uint64_t pg, uint64_t end)
{
    uint64_t off = lv->data_off + pg * SNAP_PAGE, len = (end - pg) * SNAP_PAGE;
    return pwrite_all(lv->fd, lv->ram + pg * SNAP_PAGE, len, off);
}

int snapfile_live_write(struct snap_live *lv, const uint64_t *bitmap, int ram_fd, uint64_t *pages,
                        char *err, size_t errlen)
{
    uint64_t npages = lv->ram_size / SNAP_PAGE, written = 0;
    int r = 0;
    if (!bitmap) {
        struct snap_extent *ext = NULL;
        uint64_t n = 0;
        r = find_extents(lv->ram, lv->ram_size, ram_fd, &ext, &n);
        if (r == 0) {
            /* Two writers, each with about half of the pages. */
            uint64_t total = 0, half = 0, split = 0;
            for (uint64_t i = 0; i < n; i++) {
                total += ext[i].npages;
            }
            while (split < n && half < total / 2) {
                half += ext[split++].npages;
            }
            struct ext_writer a = {lv->fd, lv->ram, ext, split, lv->data_off, false, 0};
            struct ext_writer b = {lv->fd, lv->ram, ext + split, n - split, lv->data_off, false, 0};
            r = run_pair(&a, write_extents, &b);
            r = r < 0 ? r : b.r;
            written = total;
            free(ext);
        }
    } else {
        uint64_t run = 0, len = 0; /* the run of dirty pages being gathered */
        for (uint64_t w = 0; w < (npages + 63) / 64 && r == 0; w++) {
            for (uint64_t bits = bitmap[w]; bits && r == 0; bits &= bits - 1) {
                uint64_t pg = w * 64 + (uint64_t)__builtin_ctzll(bits);
                if (pg >= npages) {
                    break;
                }
                if (len && run + len == pg && len * SNAP_PAGE < WRITE_CHUNK) {
                    len++;
                    continue;
                }
                if (len) {
                    r = live_put(lv, run, run + len);
                    written += len;
                }
                run = pg;
                len = 1;
            }
        }
        if (len && r == 0) {
            r = live_put(lv, run, run + len);
            written += len;
        }
    }
    if (r < 0) {
        fail(err, errlen, "cannot write the RAM to %s: %s", lv->tmp, strerror(-r));
    }
    *pages = written;
    return r;
}

int snapfile_live_end(struct snap_live *lv, const struct snap_state *st, char *err, size_t errlen)
{
    struct wbuf b = {0};
    wbuf_grow(&b, HDR_LEN);
    build_metadata(&b, st);
    size_t ram_at = begin_section(&b, SEC_RAM, 0, "ram");
    uint8_t *p = wbuf_grow(&b, RAM_FIXED + 16);
    if (p) {
        put_u64(p + RAM_FIXED, 0);
        put_u64(p + RAM_FIXED + 8, lv->ram_size / SNAP_PAGE);
    }
    if (b.oom) {
        free(b.p);
        fail(err, errlen, "out of memory");
        return -ENOMEM;
    }
    uint64_t natural = align_up(b.len, SNAP_PAGE);
    if (natural > lv->data_off || lv->data_off - natural >= SNAP_MAX_PAD) {
        free(b.p);
        fail(err, errlen, "the device state outgrew the room left for it in %s", lv->tmp);
        return -E2BIG;
    }
    unsigned nsec = 6 + st->ndevices + st->nvcpus;
    memcpy(b.p, SNAP_MAGIC, 8);
    put_u32(b.p + 8, SNAP_VERSION);
    put_u32(b.p + 12, natural != lv->data_off ? SNAP_F_PADDED : 0);
    put_u32(b.p + 16, nsec);
    put_u64(b.p + 24, lv->data_off + lv->ram_size);
    lv->meta = b.p;
    lv->meta_len = b.len;
    lv->ram_at = ram_at;
    return 0;
}

/* XXH3-64 of the page data as the file holds it; holes hash as zeros without being read. */
static int live_hash(struct snap_live *lv, uint64_t *out)
{
    static const uint8_t zeros[IO_CHUNK];
    XXH3_state_t *hs = XXH3_createState();
    uint8_t *buf = malloc(IO_CHUNK);
    int r = hs && buf ? 0 : -ENOMEM;
    uint64_t pos = lv->data_off, end = lv->data_off + lv->ram_size;
    if (r == 0) {
        XXH3_64bits_reset(hs);
    }
    while (r == 0 && pos < end) {
        off_t d = lseek(lv->fd, (off_t)pos, SEEK_DATA);
        uint64_t data = d < 0 || (uint64_t)d > end ? end : (uint64_t)d;
        while (pos < data) {
            size_t n = data - pos < IO_CHUNK ? (size_t)(data - pos) : IO_CHUNK;
            XXH3_64bits_update(hs, zeros, n);
            pos += n;
        }
        if (pos >= end) {
            break;
        }
        off_t h = lseek(lv->fd, (off_t)pos, SEEK_HOLE);
        uint64_t hole = h < 0 || (uint64_t)h > end ? end : (uint64_t)h;
        while (r == 0 && pos < hole) {
            size_t n = hole - pos < IO_CHUNK ? (size_t)(hole - pos) : IO_CHUNK;
            ssize_t got = pread(lv->fd, buf, n, (off_t)pos);
            if (got <= 0) {
                r = got < 0 ? -errno : -EIO;
                break;
            }
            XXH3_64bits_update(hs, buf, (size_t)got);
            pos += (uint64_t)got;
        }
    }
    if (r == 0) {
        *out = XXH3_64bits_digest(hs);
    }
    free(buf);
    XXH3_freeState(hs);
    return r;
}

int snapfile_live_commit(struct snap_live *lv, char *err, size_t errlen)
{
    uint64_t hash = 0;
    int r = live_hash(lv, &hash);
    if (r < 0) {
        fail(err, errlen, "cannot read back %s: %s", lv->tmp, strerror(-r));
        snapfile_live_abort(lv);
        return r;
    }
    uint8_t *rh = lv->meta + lv->ram_at, *rp = rh + SEC_HDR_LEN;
    uint64_t ram_payload_len = RAM_FIXED + 16;
    put_u64(rp, lv->ram_size);
    put_u64(rp + 8, 1);
    put_u64(rp + 16, lv->data_off);
    put_u64(rp + 24, lv->ram_size);
    put_u64(rp + 32, hash);
    put_u64(rh + 8, ram_payload_len);
    put_u64(rh + 48, XXH3_64bits(rp, ram_payload_len));
    seal_section_header(rh);
    put_u64(lv->meta + 56, XXH3_64bits(lv->meta, 56));
    r = pwrite_all(lv->fd, lv->meta, lv->meta_len, 0);
    if (r < 0) {
        fail(err, errlen, "cannot write %s: %s", lv->tmp, strerror(-r));
        snapfile_live_abort(lv);
        return r;
    }
    struct snap_pending p = {.fd = lv->fd, .tmp = lv->tmp, .path = lv->path};
    free(lv->meta);
    *lv = (struct snap_live){.fd = -1};
    return snapfile_write_commit(&p, err, errlen);
}

void snapfile_live_abort(struct snap_live *lv)
{
    struct snap_pending p = {.fd = lv->fd, .tmp = lv->tmp, .path = lv->path};
    snapfile_write_abort(&p);
    free(lv->meta);
    *lv = (struct snap_live){.fd = -1};
}

void snap_trace(const char *what)
{
    static int on = -1;
    static struct timespec last;
    if (on < 0) {
        on = getenv("DESKVM_SNAP_TRACE") != NULL;
    }
    if (!on) {
        return;
    }
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (what[0] != '>') {
        fprintf(stderr, "snap: %-24s +%.3f ms\n", what,
                (double)(now.tv_sec - last.tv_sec) * 1e3 +
                    (double)(now.tv_nsec - last.tv_nsec) / 1e6);
    }
    last = now;
}
