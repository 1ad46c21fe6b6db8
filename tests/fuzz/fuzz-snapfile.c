// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer harness for the checkpoint loader (snapshots/snapfile.c): the input is a
 * checkpoint file. A file the parser accepts is also checked against a fixed host and its
 * RAM decompressed or copied out (capped at 64 MiB), so the extent walk and the zstd path
 * run on everything that passes validation. Seeds: tests/fuzz/corpus/snapfile/ (written by
 * the unit test tests/snapshots/test-snapfile.c with SNAPFILE_SEED_DIR set).
 *
 * Checksums stop nearly every mutation at the first section, so an input whose last byte is
 * odd is re-sealed first (every checksum recomputed, as a writer would): the mutations then
 * reach the semantic checks behind the checksums.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <xxhash.h>

#include "snapshots/snapfile.h"

static uint64_t rd64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static void wr64(uint8_t *p, uint64_t v)
{
    memcpy(p, &v, 8);
}

static void reseal(uint8_t *buf, size_t len)
{
    if (len < 64) {
        return;
    }
    size_t pos = 64;
    while (len - pos >= 64) {
        uint8_t *h = buf + pos;
        uint64_t l = rd64(h + 8);
        if (l > len - pos - 64) {
            break;
        }
        if (h[0] == 8 && l >= 40) { /* RAM: the page data hash too */
            uint64_t off = rd64(h + 64 + 16), dlen = rd64(h + 64 + 24);
            if (off <= len && dlen <= len - off) {
                wr64(h + 64 + 32, XXH3_64bits(buf + off, dlen));
            }
        }
        wr64(h + 48, XXH3_64bits(h + 64, l));
        wr64(h + 56, XXH3_64bits(h, 56));
        pos = (pos + 64 + l + 7) & ~(size_t)7;
        if (pos > len) {
            break;
        }
    }
    wr64(buf + 56, XXH3_64bits(buf, 56));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct snap_file f;
    char err[256];
    /* A mapping is page-aligned; libFuzzer's buffer need not be. */
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf) {
        return 0;
    }
    memcpy(buf, data, size);
    if (size && (data[size - 1] & 1)) {
        reseal(buf, size);
    }
    if (snapfile_parse(buf, size, SNAP_OPEN_VERIFY_RAM, &f, err, sizeof(err)) == 0) {
        struct snap_host here = {.vendor = "GenuineIntel", .family = 6, .xsave_size = 4096};
        (void)snap_host_check(&f.st.host, &here, err, sizeof(err));
        if (f.ram.size <= (64u << 20)) {
            uint8_t *ram = malloc(f.ram.size);
            if (ram) {
                (void)snapfile_ram_copy(&f, ram, err, sizeof(err));
                free(ram);
            }
        }
        if (f.ram.size <= (4u << 20)) {
            int fd = memfd_create("fuzz-snapfile", MFD_CLOEXEC);
            if (fd >= 0 && ftruncate(fd, (off_t)f.ram.size) == 0) {
                (void)snapfile_ram_write_fd(&f, fd, err, sizeof(err));
            }
            if (fd >= 0) {
                close(fd);
            }
        }
        uint8_t *map = NULL;
        /* A buffer has no fd: lazy mapping must refuse, not crash. */
        if (snapfile_ram_map(&f, 16, &map, err, sizeof(err)) != -ENOTSUP) {
            abort();
        }
        snapfile_close(&f);
    }
    free(buf);
    return 0;
}
