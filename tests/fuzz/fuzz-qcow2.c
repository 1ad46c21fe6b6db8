// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer harness for the qcow2 driver: the input is an image file (in a memfd) preceded by
 * a 16-byte script of requests. Open it writable (read-only if refused), then run reads,
 * writes, write-zeroes and discards; any outcome but a crash or sanitizer report is fine.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "io/block.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SCRIPT_LEN 16

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < SCRIPT_LEN) {
        return 0;
    }
    const uint8_t *script = data;
    data += SCRIPT_LEN;
    size -= SCRIPT_LEN;
    int fd = memfd_create("fuzz-qcow2", MFD_CLOEXEC);
    if (fd < 0) {
        return 0;
    }
    if (size > 0 && write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return 0;
    }
    char path[64];
    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    struct block_image *img = NULL;
    char err[BLOCK_ERR_LEN];
    if (block_open(path, BLOCK_FORMAT_QCOW2, false, BLOCK_CACHE_WRITEBACK, &img, err, sizeof(err)) <
            0 &&
        block_open(path, BLOCK_FORMAT_QCOW2, true, BLOCK_CACHE_WRITEBACK, &img, err, sizeof(err)) <
            0) {
        close(fd);
        return 0;
    }
    uint64_t disk = block_size(img);
    static uint8_t buf[1 << 17];
    for (int i = 0; i < SCRIPT_LEN; i += 2) {
        uint8_t op = script[i], arg = script[i + 1];
        /* Offsets spread over the whole disk (top bits) plus a sub-cluster part. */
        uint64_t off = disk ? ((disk / 256) * arg + (uint64_t)(op >> 2) * 331) % disk : 0;
        size_t len = (size_t)((op >> 2) + 1) * 1999;
        if (len > disk - off) {
            len = (size_t)(disk - off);
        }
        memset(buf, op, len);
        switch (op & 3) {
        case 0:
            (void)block_pread(img, off, buf, len);
            break;
        case 1:
            (void)block_pwrite(img, off, buf, len);
            break;
        case 2:
            (void)block_write_zeroes(img, off, len);
            break;
        default:
            (void)block_discard(img, off, len);
            break;
        }
    }
    (void)block_flush(img);
    block_last_error(img, err, sizeof(err));
    block_close(img);
    close(fd);
    return 0;
}
