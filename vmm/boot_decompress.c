// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Decompressors for the bzImage payload (boot.rst "payload_offset"): gzip (zlib), xz
 * (liblzma), lz4 in the legacy frame format the kernel build writes (lz4 -l), and zstd.
 * The output size is bounded by the caller; corrupt input is an error, never a crash.
 */
#include <errno.h>
#include <limits.h>
#include <lz4.h>
#include <lzma.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "vmm/boot_internal.h"

#define LZ4_LEGACY_MAGIC 0x184c2102u
#define LZ4_LEGACY_BLOCK (8u << 20) /* uncompressed size of each legacy block */
#define XZ_MEMLIMIT (256ull << 20)

enum boot_comp boot_comp_detect(const uint8_t *d, size_t n)
{
    static const struct {
        enum boot_comp c;
        uint8_t len;
        uint8_t magic[6];
    } magics[] = {
        {BOOT_COMP_GZIP, 2, {0x1f, 0x8b}},
        {BOOT_COMP_XZ, 6, {0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00}},
        {BOOT_COMP_LZ4, 4, {0x02, 0x21, 0x4c, 0x18}},
        {BOOT_COMP_ZSTD, 4, {0x28, 0xb5, 0x2f, 0xfd}},
        {BOOT_COMP_BZIP2, 3, {'B', 'Z', 'h'}},
        {BOOT_COMP_LZMA, 3, {0x5d, 0x00, 0x00}},
        {BOOT_COMP_LZO, 4, {0x89, 0x4c, 0x5a, 0x4f}},
    };
    for (size_t i = 0; i < sizeof(magics) / sizeof(magics[0]); i++) {
        if (n >= magics[i].len && memcmp(d, magics[i].magic, magics[i].len) == 0) {
            return magics[i].c;
        }
    }
    return BOOT_COMP_UNKNOWN;
}

const char *boot_comp_name(enum boot_comp c)
{
    switch (c) {
    case BOOT_COMP_GZIP:
        return "gzip";
    case BOOT_COMP_XZ:
        return "xz";
    case BOOT_COMP_LZ4:
        return "lz4";
    case BOOT_COMP_ZSTD:
        return "zstd";
    case BOOT_COMP_BZIP2:
        return "bzip2";
    case BOOT_COMP_LZMA:
        return "lzma";
    case BOOT_COMP_LZO:
        return "lzo";
    case BOOT_COMP_UNKNOWN:
        break;
    }
    return "unknown";
}

/* Output buffer that doubles up to a hard maximum. */
struct outbuf {
    uint8_t *p;
    size_t len, cap, max;
};

static int outbuf_init(struct outbuf *o, size_t hint, size_t inlen, size_t max)
{
    /*
     * A hostile hint must not reserve a huge buffer for a tiny input: start at most at 32x the
     * input (kernels compress about 4x) and let the buffer grow from there.
     */
    size_t ratio_cap = inlen > max / 32 ? max : inlen * 32;
    size_t cap = hint ? hint + 4096 : inlen * 4;
    if (cap > ratio_cap) {
        cap = ratio_cap;
    }
    if (cap < 65536) {
        cap = 65536;
    }
    if (cap > max) {
        cap = max;
    }
    o->len = 0;
    o->max = max;
    o->cap = cap;
    o->p = malloc(cap ? cap : 1);
    return o->p ? 0 : -ENOMEM;
}

static int outbuf_grow(struct outbuf *o)
{
    if (o->cap >= o->max) {
        return -EFBIG;
    }
    size_t cap = o->cap > o->max / 2 ? o->max : o->cap * 2;
    uint8_t *p = realloc(o->p, cap);
    if (!p) {
        return -ENOMEM;
    }
    o->p = p;
    o->cap = cap;
    return 0;
}

static int gunzip(const uint8_t *in, size_t inlen, struct outbuf *o)
{
    if (inlen > UINT_MAX) {
        return -EFBIG;
    }
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) { /* 16: gzip wrapper only */
        return -ENOMEM;
    }
    zs.next_in = (Bytef *)in;
    zs.avail_in = (uInt)inlen;
    int ret = 0;
    for (;;) {
        if (o->len == o->cap && (ret = outbuf_grow(o)) < 0) {
            break;
        }
        size_t room = o->cap - o->len;
        zs.next_out = o->p + o->len;
        zs.avail_out = room > UINT_MAX ? UINT_MAX : (uInt)room;
        uInt before = zs.avail_out;
        int r = inflate(&zs, Z_NO_FLUSH);
        o->len += before - zs.avail_out;
        if (r == Z_STREAM_END) {
            break;
        }
        if (r == Z_BUF_ERROR && zs.avail_out != 0) {
            ret = -EINVAL; /* input ended inside the stream */
            break;
        }
        if (r != Z_OK && r != Z_BUF_ERROR) {
            ret = r == Z_MEM_ERROR ? -ENOMEM : -EINVAL;
            break;
        }
    }
    inflateEnd(&zs);
    return ret;
}

static int unxz(const uint8_t *in, size_t inlen, struct outbuf *o)
{
    lzma_stream s = LZMA_STREAM_INIT;
    if (lzma_stream_decoder(&s, XZ_MEMLIMIT, 0) != LZMA_OK) {
        return -ENOMEM;
    }
    s.next_in = in;
    s.avail_in = inlen;
    int ret = 0;
    for (;;) {
        if (o->len == o->cap && (ret = outbuf_grow(o)) < 0) {
            break;
        }
        s.next_out = o->p + o->len;
        s.avail_out = o->cap - o->len;
        size_t before = s.avail_out;
        lzma_ret r = lzma_code(&s, LZMA_FINISH);
        o->len += before - s.avail_out;
        if (r == LZMA_STREAM_END) {
            break;
        }
        if (r == LZMA_OK || (r == LZMA_BUF_ERROR && s.avail_out == 0)) {
            continue;
        }
        ret = r == LZMA_MEM_ERROR || r == LZMA_MEMLIMIT_ERROR ? -ENOMEM : -EINVAL;
        break;
    }
    lzma_end(&s);
    return ret;
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/*
 * Legacy lz4 frame: magic, then blocks of (le32 compressed size, data), each decoding on
 * its own to at most 8 MiB. The kernel build appends the le32 output size after the last
 * block; a repeated magic starts another frame.
 */
static int unlz4_legacy(const uint8_t *in, size_t inlen, struct outbuf *o)
{
    size_t pos = 4;
    unsigned blocks = 0;
    while (inlen - pos >= 4) {
        uint32_t csize = le32(in + pos);
        if (csize == LZ4_LEGACY_MAGIC) {
            pos += 4;
            continue;
        }
        if (inlen - pos == 4) {
            break; /* the appended size */
        }
        if (csize == 0 || csize > inlen - pos - 4 ||
            csize > (uint32_t)LZ4_compressBound(LZ4_LEGACY_BLOCK)) {
            return -EINVAL;
        }
        pos += 4;
        size_t want = o->max - o->len < LZ4_LEGACY_BLOCK ? o->max - o->len : LZ4_LEGACY_BLOCK;
        if (want == 0) {
            return -EFBIG;
        }
        while (o->cap - o->len < want) {
            int r = outbuf_grow(o);
            if (r < 0) {
                return r;
            }
        }
        int n = LZ4_decompress_safe((const char *)in + pos, (char *)o->p + o->len, (int)csize,
                                    (int)want);
        if (n < 0) {
            return want < LZ4_LEGACY_BLOCK ? -EFBIG : -EINVAL;
        }
        o->len += (size_t)n;
        pos += csize;
        blocks++;
    }
    return blocks ? 0 : -EINVAL;
}

static int unzstd(const uint8_t *in, size_t inlen, struct outbuf *o)
{
    ZSTD_DCtx *d = ZSTD_createDCtx();
    if (!d) {
        return -ENOMEM;
    }
    ZSTD_inBuffer ib = {in, inlen, 0};
    int ret = 0;
    for (;;) {
        if (o->len == o->cap && (ret = outbuf_grow(o)) < 0) {
            break;
        }
        ZSTD_outBuffer ob = {o->p, o->cap, o->len};
        size_t r = ZSTD_decompressStream(d, &ob, &ib);
        o->len = ob.pos;
        if (ZSTD_isError(r)) {
            ret = ZSTD_getErrorCode(r) == ZSTD_error_memory_allocation ? -ENOMEM : -EINVAL;
            break;
        }
        if (r == 0) {
            break; /* frame complete */
        }
        if (ob.pos < ob.size && ib.pos == ib.size) {
            ret = -EINVAL; /* input ended inside the frame */
            break;
        }
    }
    ZSTD_freeDCtx(d);
    return ret;
}

int boot_decompress(enum boot_comp c, const uint8_t *in, size_t inlen, size_t hint, size_t max,
                    uint8_t **out, size_t *outlen)
{
    *out = NULL;
    *outlen = 0;
    if (c != BOOT_COMP_GZIP && c != BOOT_COMP_XZ && c != BOOT_COMP_LZ4 && c != BOOT_COMP_ZSTD) {
        return -ENOTSUP;
    }
    if (boot_comp_detect(in, inlen) != c) {
        return -EINVAL;
    }
    struct outbuf o;
    int r = outbuf_init(&o, hint, inlen, max);
    if (r < 0) {
        return r;
    }
    switch (c) {
    case BOOT_COMP_GZIP:
        r = gunzip(in, inlen, &o);
        break;
    case BOOT_COMP_XZ:
        r = unxz(in, inlen, &o);
        break;
    case BOOT_COMP_LZ4:
        r = unlz4_legacy(in, inlen, &o);
        break;
    default:
        r = unzstd(in, inlen, &o);
        break;
    }
    if (r < 0) {
        free(o.p);
        return r;
    }
    *out = o.p;
    *outlen = o.len;
    return 0;
}
