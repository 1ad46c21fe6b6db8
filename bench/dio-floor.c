// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * dio-floor: what this host's kernel and disk give 4 KiB random O_DIRECT I/O at depth 32
 * without any VMM, through the two interfaces the VMMs in bench/blk.py use: one io_uring
 * (deskvm's engine: one thread, 32 requests in flight; also with IOSQE_ASYNC, and split over
 * 2 and 4 rings on their own threads) and 32 threads each doing pread/pwrite (QEMU's
 * aio=threads). docs/benchmarks.md ("virtio-blk", O_DIRECT) explains why it exists.
 *
 * usage: dio-floor FILE [read|write] [OPS] [ROUNDS] (FILE must exist, at least 1 MiB; write
 *   overwrites it with a fixed pattern); prints per variant and round
 *   "MODE VARIANT IOPS cpu_us_per_op".
 */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define BS 4096u
#define DEPTH 32u
#define MAX_THREADS 32u

struct job {
    int fd;
    bool write;
    uint64_t blocks; /* file size in BS units */
    unsigned ops;    /* requests for this job */
    unsigned depth;  /* in flight (io_uring jobs) */
    unsigned sqe_flags;
    uint64_t seed;
    int err; /* 0 or -errno */
};

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

static double cpu_s(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return (double)(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
           (double)(u.ru_utime.tv_usec + u.ru_stime.tv_usec) * 1e-6;
}

static uint64_t next_off(struct job *j)
{
    j->seed ^= j->seed << 13;
    j->seed ^= j->seed >> 7;
    j->seed ^= j->seed << 17;
    return j->seed % j->blocks * BS;
}

static void prep(struct job *j, struct io_uring *ring, uint8_t *buf, unsigned slot)
{
    struct io_uring_sqe *sqe = io_uring_get_sqe(ring); /* never NULL: depth <= ring size */
    uint8_t *b = buf + (size_t)slot * BS;
    if (j->write) {
        io_uring_prep_write(sqe, j->fd, b, BS, next_off(j));
    } else {
        io_uring_prep_read(sqe, j->fd, b, BS, next_off(j));
    }
    sqe->flags |= (uint8_t)j->sqe_flags;
    io_uring_sqe_set_data64(sqe, slot);
}

/* One ring, j->depth requests in flight, each completion reposted at once. */
static void *ring_job(void *opaque)
{
    struct job *j = opaque;
    struct io_uring ring;
    void *buf = NULL;
    int r = io_uring_queue_init(DEPTH * 2, &ring, 0);
    if (r < 0) {
        j->err = r;
        return NULL;
    }
    if (posix_memalign(&buf, BS, (size_t)j->depth * BS) != 0) {
        j->err = -ENOMEM;
        goto out;
    }
    memset(buf, 0x5a, (size_t)j->depth * BS);
    unsigned posted = 0, done = 0;
    for (; posted < j->depth && posted < j->ops; posted++) {
        prep(j, &ring, buf, posted);
    }
    io_uring_submit(&ring);
    while (done < j->ops) {
        struct io_uring_cqe *cqe;
        r = io_uring_wait_cqe(&ring, &cqe);
        if (r < 0) {
            j->err = r;
            goto out;
        }
        unsigned head, n = 0;
        io_uring_for_each_cqe(&ring, head, cqe)
        {
            if (cqe->res != (int)BS) {
                j->err = cqe->res < 0 ? cqe->res : -EIO;
                goto out;
            }
            n++;
            done++;
            if (posted < j->ops) {
                prep(j, &ring, buf, (unsigned)cqe->user_data);
                posted++;
            }
        }
        io_uring_cq_advance(&ring, n);
        io_uring_submit(&ring);
    }
out:
    free(buf);
    io_uring_queue_exit(&ring);
    return NULL;
}

/* One synchronous request at a time, as one thread of a pool. */
static void *sync_job(void *opaque)
{
    struct job *j = opaque;
    void *buf = NULL;
    if (posix_memalign(&buf, BS, BS) != 0) {
        j->err = -ENOMEM;
        return NULL;
    }
    memset(buf, 0x5a, BS);
    for (unsigned i = 0; i < j->ops; i++) {
        uint64_t off = next_off(j);
        ssize_t n =
            j->write ? pwrite(j->fd, buf, BS, (off_t)off) : pread(j->fd, buf, BS, (off_t)off);
        if (n != (ssize_t)BS) {
            j->err = n < 0 ? -errno : -EIO;
            break;
        }
    }
    free(buf);
    return NULL;
}

/* n jobs on their own threads, ops requests in all; returns 0 or -errno. */
static int run(const char *name, const struct job *proto, unsigned n, void *(*fn)(void *),
               unsigned ops)
{
    struct job jobs[MAX_THREADS];
    pthread_t t[MAX_THREADS];
    double c0 = cpu_s(), t0 = now_s();
    for (unsigned i = 0; i < n; i++) {
        jobs[i] = *proto;
        jobs[i].ops = ops / n;
        jobs[i].depth = DEPTH / n;
        jobs[i].seed = 0x9e3779b97f4a7c15ull * (i + 1) | 1;
        if (pthread_create(&t[i], NULL, fn, &jobs[i]) != 0) {
            return -EAGAIN;
        }
    }
    int err = 0;
    for (unsigned i = 0; i < n; i++) {
        pthread_join(t[i], NULL);
        if (jobs[i].err != 0) {
            err = jobs[i].err;
        }
    }
    double wall = now_s() - t0, cpu = cpu_s() - c0;
    if (err != 0) {
        fprintf(stderr, "dio-floor: %s: %s\n", name, strerror(-err));
        return err;
    }
    unsigned total = ops / n * n;
    printf("%s %-22s %9.0f IOPS %6.1f us cpu/op\n", proto->write ? "write" : "read", name,
           total / wall, cpu * 1e6 / total);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: dio-floor FILE [read|write] [OPS] [ROUNDS]\n");
        return 2;
    }
    struct job proto = {.write = argc > 2 && strcmp(argv[2], "write") == 0};
    unsigned ops = argc > 3 ? (unsigned)strtoul(argv[3], NULL, 0) : 30000;
    unsigned rounds = argc > 4 ? (unsigned)strtoul(argv[4], NULL, 0) : 2;
    proto.fd = open(argv[1], (proto.write ? O_RDWR : O_RDONLY) | O_DIRECT);
    if (proto.fd < 0) {
        fprintf(stderr, "dio-floor: %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    off_t size = lseek(proto.fd, 0, SEEK_END);
    if (size < (off_t)(1 << 20) || ops < MAX_THREADS) {
        fprintf(stderr, "dio-floor: want a file of 1 MiB or more and at least %u ops\n",
                MAX_THREADS);
        return 2;
    }
    proto.blocks = (uint64_t)size / BS;
    int r = 0;
    for (unsigned i = 0; i < rounds && r == 0; i++) {
        struct job async = proto;
        async.sqe_flags = IOSQE_ASYNC;
        r = run("io_uring", &proto, 1, ring_job, ops);
        r = r ? r : run("io_uring IOSQE_ASYNC", &async, 1, ring_job, ops);
        r = r ? r : run("2 io_urings x16", &proto, 2, ring_job, ops);
        r = r ? r : run("4 io_urings x8", &proto, 4, ring_job, ops);
        r = r ? r : run("32 threads", &proto, 32, sync_job, ops);
    }
    close(proto.fd);
    return r == 0 ? 0 : 1;
}
