// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * AML byte-code writer (ACPI 6.x section 20.2 grammar, section 6.4 resource descriptors).
 * Package lengths are back-patched: the body is written first, then its encoded length is
 * inserted in front of it, which keeps nested Scope/Device/Package builders simple.
 */
#include "vmm/acpi_aml.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Opcodes (ACPI 6.x 20.2.x). */
#define AML_ZERO_OP 0x00
#define AML_ONE_OP 0x01
#define AML_NAME_OP 0x08
#define AML_BYTE_PREFIX 0x0a
#define AML_WORD_PREFIX 0x0b
#define AML_DWORD_PREFIX 0x0c
#define AML_STRING_PREFIX 0x0d
#define AML_QWORD_PREFIX 0x0e
#define AML_SCOPE_OP 0x10
#define AML_BUFFER_OP 0x11
#define AML_PACKAGE_OP 0x12
#define AML_DUAL_NAME_PREFIX 0x2e
#define AML_MULTI_NAME_PREFIX 0x2f
#define AML_ROOT_CHAR 0x5c
#define AML_EXT_OP_PREFIX 0x5b
#define AML_DEVICE_OP 0x82 /* after the extended-op prefix */

/* PkgLength is at most 4 bytes: 28 bits of length. */
#define AML_PKG_MAX 0x0fffffffu
#define AML_NAME_MAX_SEGS 255

void aml_init(struct aml_buf *b)
{
    memset(b, 0, sizeof(*b));
}

void aml_free(struct aml_buf *b)
{
    if (!b) {
        return;
    }
    free(b->data);
    memset(b, 0, sizeof(*b));
}

/* Keep the first error: later ones are usually its consequences. */
static void fail(struct aml_buf *b, int err)
{
    if (!b->err) {
        b->err = err;
    }
}

static int reserve(struct aml_buf *b, size_t n)
{
    if (b->err) {
        return b->err;
    }
    if (n > AML_PKG_MAX || b->len > AML_PKG_MAX - n) {
        b->err = -E2BIG;
        return b->err;
    }
    if (b->len + n <= b->cap) {
        return 0;
    }
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n) {
        cap *= 2;
    }
    uint8_t *p = realloc(b->data, cap);
    if (!p) {
        b->err = -ENOMEM;
        return b->err;
    }
    b->data = p;
    b->cap = cap;
    return 0;
}

void aml_bytes(struct aml_buf *b, const void *p, size_t n)
{
    if (n == 0 || reserve(b, n) < 0) {
        return;
    }
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

void aml_byte(struct aml_buf *b, uint8_t v)
{
    aml_bytes(b, &v, 1);
}

static void put_le(struct aml_buf *b, uint64_t v, unsigned n)
{
    uint8_t tmp[8];
    for (unsigned i = 0; i < n; i++) {
        tmp[i] = (uint8_t)(v >> (8 * i));
    }
    aml_bytes(b, tmp, n);
}

void aml_integer(struct aml_buf *b, uint64_t v)
{
    if (v == 0) {
        aml_byte(b, AML_ZERO_OP);
    } else if (v == 1) {
        aml_byte(b, AML_ONE_OP);
    } else if (v <= 0xff) {
        aml_byte(b, AML_BYTE_PREFIX);
        put_le(b, v, 1);
    } else if (v <= 0xffff) {
        aml_byte(b, AML_WORD_PREFIX);
        put_le(b, v, 2);
    } else if (v <= 0xffffffffu) {
        aml_byte(b, AML_DWORD_PREFIX);
        put_le(b, v, 4);
    } else {
        aml_byte(b, AML_QWORD_PREFIX);
        put_le(b, v, 8);
    }
}

void aml_string(struct aml_buf *b, const char *s)
{
    /* AsciiCharList is 0x01-0x7F: refuse anything else rather than emit invalid AML. */
    for (const char *c = s; *c; c++) {
        if ((unsigned char)*c > 0x7f) {
            fail(b, -EINVAL);
            return;
        }
    }
    aml_byte(b, AML_STRING_PREFIX);
    aml_bytes(b, s, strlen(s) + 1);
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    if (c >= 'A' && c <= 'F') {
        return c - 'A' + 10;
    }
    return -1;
}

void aml_eisaid(struct aml_buf *b, const char *id)
{
    /* Three upper-case letters (5 bits each, 'A' = 1) then four hex digits, big-endian. */
    if (strlen(id) != 7) {
        fail(b, -EINVAL);
        return;
    }
    uint32_t v = 0;
    for (int i = 0; i < 3; i++) {
        if (id[i] < 'A' || id[i] > 'Z') {
            fail(b, -EINVAL);
            return;
        }
        v = (v << 5) | (uint32_t)(id[i] - 'A' + 1);
    }
    for (int i = 3; i < 7; i++) {
        int d = hex_digit(id[i]);
        if (d < 0) {
            fail(b, -EINVAL);
            return;
        }
        v = (v << 4) | (uint32_t)d;
    }
    /* 31 bits used, top bit 0; stored most significant byte first. */
    uint8_t bytes[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8), (uint8_t)v};
    aml_byte(b, AML_DWORD_PREFIX);
    aml_bytes(b, bytes, 4);
}

static int name_char_ok(char c, int first)
{
    if (c == '_' || (c >= 'A' && c <= 'Z')) {
        return 1;
    }
    return !first && c >= '0' && c <= '9';
}

void aml_name_string(struct aml_buf *b, const char *path)
{
    uint8_t segs[AML_NAME_MAX_SEGS][4];
    unsigned nsegs = 0;
    const char *p = path;
    int root = 0;
    if (*p == '\\') {
        root = 1;
        p++;
    }
    while (*p) {
        if (nsegs == AML_NAME_MAX_SEGS) {
            fail(b, -EINVAL);
            return;
        }
        unsigned n = 0;
        while (p[n] && p[n] != '.') {
            if (n == 4 || !name_char_ok(p[n], n == 0)) {
                fail(b, -EINVAL);
                return;
            }
            n++;
        }
        if (n == 0) {
            fail(b, -EINVAL);
            return;
        }
        for (unsigned i = 0; i < 4; i++) {
            segs[nsegs][i] = i < n ? (uint8_t)p[i] : '_';
        }
        nsegs++;
        p += n;
        if (*p == '.') {
            p++;
            if (!*p) {
                fail(b, -EINVAL);
                return;
            }
        }
    }
    if (root) {
        aml_byte(b, AML_ROOT_CHAR);
    }
    if (nsegs == 0) {
        aml_byte(b, 0x00); /* NullName */
        return;
    }
    if (nsegs == 2) {
        aml_byte(b, AML_DUAL_NAME_PREFIX);
    } else if (nsegs > 2) {
        aml_byte(b, AML_MULTI_NAME_PREFIX);
        aml_byte(b, (uint8_t)nsegs);
    }
    aml_bytes(b, segs, 4 * (size_t)nsegs);
}

size_t aml_pkg_begin(struct aml_buf *b)
{
    return b->len;
}

void aml_end(struct aml_buf *b, size_t mark)
{
    if (b->err) {
        return;
    }
    size_t body = b->len - mark;
    /* The encoded length counts its own bytes too (20.2.4). */
    unsigned k;
    if (body + 1 <= 0x3f) {
        k = 1;
    } else if (body + 2 <= 0xfff) {
        k = 2;
    } else if (body + 3 <= 0xfffff) {
        k = 3;
    } else if (body + 4 <= AML_PKG_MAX) {
        k = 4;
    } else {
        b->err = -E2BIG;
        return;
    }
    if (reserve(b, k) < 0) {
        return;
    }
    size_t total = body + k;
    uint8_t enc[4];
    if (k == 1) {
        enc[0] = (uint8_t)total;
    } else {
        enc[0] = (uint8_t)(((k - 1) << 6) | (total & 0x0f));
        for (unsigned i = 1; i < k; i++) {
            enc[i] = (uint8_t)(total >> (4 + 8 * (i - 1)));
        }
    }
    memmove(b->data + mark + k, b->data + mark, body);
    memcpy(b->data + mark, enc, k);
    b->len += k;
}

void aml_name(struct aml_buf *b, const char *path)
{
    aml_byte(b, AML_NAME_OP);
    aml_name_string(b, path);
}

size_t aml_scope_begin(struct aml_buf *b, const char *path)
{
    aml_byte(b, AML_SCOPE_OP);
    size_t mark = aml_pkg_begin(b);
    aml_name_string(b, path);
    return mark;
}

size_t aml_device_begin(struct aml_buf *b, const char *path)
{
    aml_byte(b, AML_EXT_OP_PREFIX);
    aml_byte(b, AML_DEVICE_OP);
    size_t mark = aml_pkg_begin(b);
    aml_name_string(b, path);
    return mark;
}

size_t aml_package_begin(struct aml_buf *b, uint8_t nelems)
{
    aml_byte(b, AML_PACKAGE_OP);
    size_t mark = aml_pkg_begin(b);
    aml_byte(b, nelems);
    return mark;
}

void aml_buffer(struct aml_buf *b, const struct aml_buf *contents)
{
    if (contents->err) {
        fail(b, contents->err);
        return;
    }
    aml_byte(b, AML_BUFFER_OP);
    size_t mark = aml_pkg_begin(b);
    aml_integer(b, contents->len);
    aml_bytes(b, contents->data, contents->len);
    aml_end(b, mark);
}

void aml_res_io(struct aml_buf *r, uint16_t min, uint16_t max, uint8_t align, uint8_t len)
{
    /* Small item 0x08, 7 bytes; information bit 0: decodes 16 address lines. */
    uint8_t d[8] = {
        0x47,  0x01, (uint8_t)min, (uint8_t)(min >> 8), (uint8_t)max, (uint8_t)(max >> 8),
        align, len};
    aml_bytes(r, d, sizeof(d));
}

void aml_res_irq_noflags(struct aml_buf *r, unsigned irq)
{
    if (irq > 15) {
        fail(r, -EINVAL);
        return;
    }
    /* Small item 0x04, 2 bytes: the 16-bit IRQ mask; no flags byte means edge, high. */
    uint16_t mask = (uint16_t)(1u << irq);
    uint8_t d[3] = {0x22, (uint8_t)mask, (uint8_t)(mask >> 8)};
    aml_bytes(r, d, sizeof(d));
}

void aml_res_end_tag(struct aml_buf *r)
{
    /* Checksum 0: "treat as if the checksum operation succeeded" (6.4.2.9). */
    uint8_t d[2] = {0x79, 0x00};
    aml_bytes(r, d, sizeof(d));
}

/* General flags: _MAF and _MIF set (fixed range), _DEC clear (positive decode). */
#define AML_ADDR_FIXED 0x0c

void aml_res_word(struct aml_buf *r, uint8_t type, uint8_t type_flags, uint16_t min, uint16_t max)
{
    if (max < min) {
        fail(r, -EINVAL);
        return;
    }
    uint16_t len = (uint16_t)(max - min + 1);
    /* Large item 0x08: tag 0x88, 13 bytes of data. */
    uint8_t d[16] = {0x88,
                     13,
                     0,
                     type,
                     AML_ADDR_FIXED,
                     type_flags,
                     0,
                     0,
                     (uint8_t)min,
                     (uint8_t)(min >> 8),
                     (uint8_t)max,
                     (uint8_t)(max >> 8),
                     0,
                     0,
                     (uint8_t)len,
                     (uint8_t)(len >> 8)};
    aml_bytes(r, d, sizeof(d));
}

void aml_res_dword(struct aml_buf *r, uint8_t type, uint8_t type_flags, uint32_t min, uint32_t max)
{
    if (max < min) {
        fail(r, -EINVAL);
        return;
    }
    uint32_t len = max - min + 1;
    /* Large item 0x07: tag 0x87, 23 bytes of data. */
    uint8_t d[26] = {0x87, 23, 0, type, AML_ADDR_FIXED, type_flags};
    const uint32_t v[5] = {0, min, max, 0, len}; /* granularity, min, max, translation, len */
    for (unsigned i = 0; i < 5; i++) {
        for (unsigned j = 0; j < 4; j++) {
            d[6 + 4 * i + j] = (uint8_t)(v[i] >> (8 * j));
        }
    }
    aml_bytes(r, d, sizeof(d));
}
