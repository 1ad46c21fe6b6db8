// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A small command-line driver for io/block.h, used by test-qcow2-qemu-img.sh to make and
 * change images with our code so that qemu-img can judge the result (and the other way
 * round). Patterns are deterministic functions of (seed, offset) so both sides can check.
 *   blocktool create PATH SIZE [CLUSTER_BITS [BACKING [FMT]]]
 *   blocktool write PATH OFF LEN SEED      pattern write
 *   blocktool zero|discard PATH OFF LEN
 *   blocktool dump PATH OUT                whole virtual disk to a raw file
 *   blocktool load PATH RAW                copy a raw file's bytes into the image
 *   blocktool open PATH ro|rw [qcow2]      open, print the error line if any
 *   blocktool hammer PATH SEED             random cluster writes until killed
 *   blocktool stream PATH OUT              block_stream_backing: PATH's backing merged into OUT
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "io/block.h"

static uint8_t pattern_byte(uint64_t seed, uint64_t off)
{
    uint64_t x = (off >> 3) * 0x9e3779b97f4a7c15ull ^ seed * 0xbf58476d1ce4e5b9ull;
    x ^= x >> 31;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 29;
    return (uint8_t)(x >> ((off & 7) * 8));
}

/* 123, 0x10, 24M, 10G */
static uint64_t parse_size(const char *s)
{
    char *end;
    uint64_t v = strtoull(s, &end, 0);
    switch (*end) {
    case 'G':
        return v << 30;
    case 'M':
        return v << 20;
    case 'K':
        return v << 10;
    default:
        return v;
    }
}

static struct block_image *open_or_die(const char *path, bool ro)
{
    struct block_image *img;
    char err[BLOCK_ERR_LEN];
    if (block_open(path, BLOCK_FORMAT_AUTO, ro, BLOCK_CACHE_WRITEBACK, &img, err, sizeof(err)) <
        0) {
        fprintf(stderr, "%s\n", err);
        exit(1);
    }
    return img;
}

static int check(int r, const char *what)
{
    if (r < 0) {
        fprintf(stderr, "%s: %s\n", what, strerror(-r));
        exit(1);
    }
    return r;
}

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: see the source\n");
        return 2;
    }
    const char *cmd = argv[1], *path = argv[2];
    char err[BLOCK_ERR_LEN];
    if (strcmp(cmd, "create") == 0 && argc >= 4) {
        struct qcow2_create_opts o = {
            .size = parse_size(argv[3]),
            .cluster_bits = argc > 4 ? (unsigned)strtoul(argv[4], NULL, 0) : 0,
            .backing_file = argc > 5 ? argv[5] : NULL,
            .backing_format = argc > 6 ? argv[6] : NULL,
        };
        if (qcow2_create(path, &o, err, sizeof(err)) < 0) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        return 0;
    }
    if (strcmp(cmd, "stream") == 0 && argc >= 4) {
        if (block_stream_backing(path, argv[3], err, sizeof(err)) < 0) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        return 0;
    }
    if (strcmp(cmd, "open") == 0 && argc >= 4) {
        struct block_image *img;
        enum block_format fmt =
            argc > 4 && strcmp(argv[4], "qcow2") == 0 ? BLOCK_FORMAT_QCOW2 : BLOCK_FORMAT_AUTO;
        int r = block_open(path, fmt, strcmp(argv[3], "ro") == 0, BLOCK_CACHE_WRITEBACK, &img, err,
                           sizeof(err));
        if (r < 0) {
            printf("%s\n", err);
            return 1;
        }
        block_close(img);
        return 0;
    }
    if (strcmp(cmd, "write") == 0 && argc >= 6) {
        struct block_image *img = open_or_die(path, false);
        uint64_t off = parse_size(argv[3]), len = parse_size(argv[4]);
        uint64_t seed = strtoull(argv[5], NULL, 0);
        uint8_t *b = malloc(len);
        for (uint64_t i = 0; i < len; i++) {
            b[i] = pattern_byte(seed, off + i);
        }
        check(block_pwrite(img, off, b, len), "write");
        check(block_flush(img), "flush");
        free(b);
        block_close(img);
        return 0;
    }
    if ((strcmp(cmd, "zero") == 0 || strcmp(cmd, "discard") == 0) && argc >= 5) {
        struct block_image *img = open_or_die(path, false);
        uint64_t off = parse_size(argv[3]), len = parse_size(argv[4]);
        if (cmd[0] == 'z') {
            check(block_write_zeroes(img, off, len), "zero");
        } else {
            check(block_discard(img, off, len), "discard");
        }
        check(block_flush(img), "flush");
        block_close(img);
        return 0;
    }
    if (strcmp(cmd, "dump") == 0 && argc >= 4) {
        struct block_image *img = open_or_die(path, true);
        int fd = open(argv[3], O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0 || ftruncate(fd, (off_t)block_size(img)) < 0) {
            perror(argv[3]);
            return 1;
        }
        size_t chunk = 1 << 20;
        uint8_t *b = malloc(chunk);
        static const uint8_t zero[4096];
        for (uint64_t off = 0; off < block_size(img); off += chunk) {
            size_t n = block_size(img) - off < chunk ? block_size(img) - off : chunk;
            check(block_pread(img, off, b, n), "read");
            /* Keep the dump sparse: skip all-zero pages. */
            for (size_t p = 0; p < n; p += 4096) {
                size_t m = n - p < 4096 ? n - p : 4096;
                if (memcmp(b + p, zero, m) != 0 &&
                    pwrite(fd, b + p, m, (off_t)(off + p)) != (ssize_t)m) {
                    perror("pwrite");
                    return 1;
                }
            }
        }
        free(b);
        close(fd);
        block_close(img);
        return 0;
    }
    if (strcmp(cmd, "load") == 0 && argc >= 4) {
        struct block_image *img = open_or_die(path, false);
        int fd = open(argv[3], O_RDONLY);
        if (fd < 0) {
            perror(argv[3]);
            return 1;
        }
        size_t chunk = 1 << 20;
        uint8_t *b = malloc(chunk);
        static const uint8_t zero[4096];
        for (uint64_t off = 0; off < block_size(img); off += chunk) {
            size_t n = block_size(img) - off < chunk ? block_size(img) - off : chunk;
            ssize_t got = pread(fd, b, n, (off_t)off);
            if (got < 0) {
                perror("pread");
                return 1;
            }
            memset(b + got, 0, n - (size_t)got);
            for (size_t p = 0; p < n; p += 4096) {
                size_t m = n - p < 4096 ? n - p : 4096;
                if (memcmp(b + p, zero, m) != 0) {
                    check(block_pwrite(img, off + p, b + p, m), "write");
                }
            }
        }
        check(block_flush(img), "flush");
        free(b);
        close(fd);
        block_close(img);
        return 0;
    }
    if (strcmp(cmd, "hammer") == 0 && argc >= 4) {
        struct block_image *img = open_or_die(path, false);
        uint64_t seed = parse_size(argv[3]);
        srandom((unsigned)seed);
        uint8_t b[8192];
        uint64_t size = block_size(img);
        for (uint64_t n = 0;; n++) {
            uint64_t len = 512 + (uint64_t)(random() % 7680);
            uint64_t off = ((uint64_t)random() * 4096 + (uint64_t)random()) % (size - len);
            memset(b, (int)(n & 0xff), len);
            int op = (int)(random() % 10);
            if (op == 0) {
                check(block_discard(img, off & ~4095ull, 65536 < size - off ? 65536 : 0),
                      "discard");
            } else if (op == 1) {
                check(block_write_zeroes(img, off, len), "zero");
            } else {
                check(block_pwrite(img, off, b, len), "write");
            }
            if (op == 2) {
                check(block_flush(img), "flush");
            }
        }
    }
    fprintf(stderr, "bad command\n");
    return 2;
}
