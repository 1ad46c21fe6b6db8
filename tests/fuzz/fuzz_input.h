/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Reading a fuzzer's input as a little-endian stream; past its end every read gives zeros. */
#ifndef DESKVM_TESTS_FUZZ_INPUT_H
#define DESKVM_TESTS_FUZZ_INPUT_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

struct input {
    const uint8_t *p;
    size_t left;
};

static inline uint8_t take8(struct input *in)
{
    if (!in->left) {
        return 0;
    }
    in->left--;
    return *in->p++;
}

static inline uint16_t take16(struct input *in)
{
    uint8_t lo = take8(in);
    return (uint16_t)(lo | take8(in) << 8);
}

static inline uint32_t take32(struct input *in)
{
    uint32_t lo = take16(in);
    return lo | (uint32_t)take16(in) << 16;
}

/* Copy up to len input bytes to dst (zero fill past the end of the input). */
static inline void take(struct input *in, uint8_t *dst, size_t len)
{
    size_t n = len < in->left ? len : in->left;
    memcpy(dst, in->p, n);
    memset(dst + n, 0, len - n);
    in->p += n;
    in->left -= n;
}

#endif
