/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Per-drive I/O statistics, as the guest sees its disk (QMP query-blockstats, docs/qmp.md):
 * requests and bytes by kind, the failed ones, and the time from submission to completion.
 * A device model accounts each request when it completes, on the event loop, device lock held.
 */
#ifndef DESKVM_IO_BLOCK_STATS_H
#define DESKVM_IO_BLOCK_STATS_H

#include <stdbool.h>
#include <stdint.h>

#include "vmm/clock.h"

enum block_stats_kind {
    BLOCK_STATS_READ,
    BLOCK_STATS_WRITE,
    BLOCK_STATS_FLUSH,
    BLOCK_STATS_UNMAP, /* discard and write-zeroes */
    BLOCK_STATS_KINDS,
};

struct block_stats {
    uint64_t bytes[BLOCK_STATS_KINDS]; /* of the successful requests */
    uint64_t ops[BLOCK_STATS_KINDS];   /* all requests, failed ones included */
    uint64_t failed[BLOCK_STATS_KINDS];
    uint64_t total_ns[BLOCK_STATS_KINDS];
};

/* A request finished that started at start_ns (host_now_ns()). */
static inline void block_stats_done(struct block_stats *s, enum block_stats_kind k, uint64_t bytes,
                                    bool ok, uint64_t start_ns)
{
    s->ops[k]++;
    if (ok) {
        s->bytes[k] += bytes;
    } else {
        s->failed[k]++;
    }
    uint64_t now = host_now_ns();
    s->total_ns[k] += now > start_ns ? now - start_ns : 0;
}

#endif
