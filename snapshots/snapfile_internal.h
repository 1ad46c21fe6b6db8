/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What the checkpoint writer (snapfile_write.c) and reader (snapfile.c) share: section
 * types, fixed lengths, little-endian field access and error formatting. Not an interface.
 */
#ifndef DESKVM_SNAPSHOTS_SNAPFILE_INTERNAL_H
#define DESKVM_SNAPSHOTS_SNAPFILE_INTERNAL_H

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "snapshots/snapfile.h"

enum snap_type {
    SEC_HOST = 1,
    SEC_CONFIG,
    SEC_DEVICE,
    SEC_VCPU,
    SEC_IRQCHIP,
    SEC_PIT,
    SEC_CLOCK,
    SEC_RAM,
};

#define HDR_LEN 64
#define SEC_HDR_LEN 64
#define HOST_LEN 28
#define CONFIG_FIXED 32
#define VCPU_FIXED                                                                                 \
    (24 + sizeof(struct kvm_regs) + sizeof(struct kvm_sregs) + sizeof(struct kvm_xcrs) +           \
     sizeof(struct kvm_lapic_state) + sizeof(struct kvm_vcpu_events) +                             \
     sizeof(struct kvm_mp_state) + sizeof(struct kvm_debugregs))
#define RAM_FIXED 40
#define IO_CHUNK (1u << 20)
/*
 * Largest single pwrite. From a memfd mapping (guest RAM), 1 GiB into ext4's page cache took
 * 2.4 s in 64 MiB writes, 0.67 s in 1 MiB and 0.44 s in 256 KiB ones on the development host
 * (a large write that faults part-way is retried from a costly fault-in of the rest).
 */
#define WRITE_CHUNK (256u << 10)

__attribute__((format(printf, 3, 4))) static inline void fail(char *err, size_t errlen,
                                                              const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static inline void put_u32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

static inline void put_u64(uint8_t *p, uint64_t v)
{
    memcpy(p, &v, 8);
}

static inline uint32_t get_u32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

static inline uint64_t get_u64(const uint8_t *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

static inline uint64_t align_up(uint64_t v, uint64_t a)
{
    return (v + a - 1) & ~(a - 1);
}

static inline int pwrite_all(int fd, const void *buf, size_t len, uint64_t off)
{
    const uint8_t *p = buf;
    while (len) {
        ssize_t w = pwrite(fd, p, len > WRITE_CHUNK ? WRITE_CHUNK : len, (off_t)off);
        if (w < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -errno;
        }
        p += w;
        len -= (size_t)w;
        off += (uint64_t)w;
    }
    return 0;
}

/* Page data, raw: straight from guest memory. Returns bytes written via *len. */

#endif
