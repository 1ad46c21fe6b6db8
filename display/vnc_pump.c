// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The per-client pump between libvncserver and a VNC client's socket (vnc_pump.h). Its thread
 * touches nothing but its two sockets, its eventfd and its own buffers, so it needs no lock:
 * the server end behaves like a socket that always has room, and whatever the client does,
 * the event loop never waits on it.
 */
#include "display/vnc_pump.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdatomic.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vmm/clock.h"

#define PUMP_READ_CHUNK (256u << 10) /* bytes taken from the server per read */
#define PUMP_IN_SIZE 4096            /* client-to-server bytes held at most */
#define PUMP_STACK (128u << 10)

struct vnc_pump {
    pthread_t thread;
    int net;  /* the client's socket */
    int pair; /* our end of the socketpair */
    atomic_size_t max_queued;
    uint64_t stall_ns;
    uint8_t *out; /* server-to-client bytes: out[out_off..out_len) still to send */
    size_t out_len, out_off, out_cap;
    uint8_t in[PUMP_IN_SIZE]; /* client-to-server bytes: in[in_off..in_len) */
    size_t in_len, in_off;
    bool server_closed;   /* EOF from the server: send what is queued, then close */
    bool client_eof;      /* EOF from the client: passed on, the server closes when it sees it */
    atomic_bool finished; /* set by the thread at its end and by vnc_pump_release(): the
                             second one frees */
};

static bool would_block(ssize_t n)
{
    return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
}

/* Room for PUMP_READ_CHUNK more bytes at out + out_len. */
static int out_reserve(struct vnc_pump *p)
{
    if (p->out_off == p->out_len) {
        p->out_off = p->out_len = 0;
    }
    if (p->out_cap - p->out_len >= PUMP_READ_CHUNK) {
        return 0;
    }
    if (p->out_off) {
        memmove(p->out, p->out + p->out_off, p->out_len - p->out_off);
        p->out_len -= p->out_off;
        p->out_off = 0;
        if (p->out_cap - p->out_len >= PUMP_READ_CHUNK) {
            return 0;
        }
    }
    size_t cap = p->out_cap ? p->out_cap * 2 : 2 * PUMP_READ_CHUNK;
    while (cap - p->out_len < PUMP_READ_CHUNK) {
        cap *= 2;
    }
    uint8_t *b = realloc(p->out, cap);
    if (!b) {
        return -ENOMEM;
    }
    p->out = b;
    p->out_cap = cap;
    return 0;
}

/* One round of moving bytes; false when the connection is over (either side or a drop). */
static bool pump_step(struct vnc_pump *p, short net_ev, short pair_ev, uint64_t *stalled_since)
{
    /* client -> server: small (input events, requests), kept in order */
    if (!p->client_eof && p->in_off == p->in_len && (net_ev & (POLLIN | POLLHUP | POLLERR))) {
        ssize_t n = read(p->net, p->in, sizeof(p->in));
        if (n < 0 && !would_block(n)) {
            return false;
        }
        if (n == 0) {
            p->client_eof = true; /* it may still read what the server answers */
            shutdown(p->pair, SHUT_WR);
        }
        if (n > 0) {
            p->in_off = 0;
            p->in_len = (size_t)n;
        }
    }
    if (p->server_closed) {
        p->in_off = p->in_len; /* nobody reads it any more */
    }
    if (p->in_off < p->in_len) {
        ssize_t n = write(p->pair, p->in + p->in_off, p->in_len - p->in_off);
        if (n < 0 && !would_block(n)) {
            p->server_closed = true; /* what it wrote before closing still goes out */
            p->in_off = p->in_len;
            n = 0;
        }
        p->in_off += n > 0 ? (size_t)n : 0;
    }
    /* server -> client: everything the server wrote is taken at once, up to the limit */
    if (!p->server_closed && (pair_ev & (POLLIN | POLLHUP | POLLERR))) {
        for (;;) {
            if (out_reserve(p) < 0) {
                return false;
            }
            ssize_t n = read(p->pair, p->out + p->out_len, PUMP_READ_CHUNK);
            if (n == 0 || (n < 0 && !would_block(n))) {
                p->server_closed = true; /* its last words (a refusal) still go out */
                break;
            }
            if (n < 0) {
                break;
            }
            p->out_len += (size_t)n;
            if (p->out_len - p->out_off > atomic_load(&p->max_queued)) {
                return false; /* too far behind: dropped */
            }
        }
    }
    if (p->out_off < p->out_len) {
        ssize_t n = send(p->net, p->out + p->out_off, p->out_len - p->out_off, MSG_NOSIGNAL);
        if (n < 0 && !would_block(n)) {
            return false;
        }
        if (n > 0) {
            p->out_off += (size_t)n;
            *stalled_since = 0;
        }
    }
    if (p->server_closed && p->out_off == p->out_len) {
        return false;
    }
    /* stalled: bytes wait for the client and it took none since *stalled_since */
    if (p->out_off == p->out_len) {
        *stalled_since = 0;
    } else if (!*stalled_since) {
        *stalled_since = host_now_ns();
    } else if (host_now_ns() - *stalled_since > p->stall_ns) {
        return false; /* stalled: dropped */
    }
    return true;
}

static void pump_free(struct vnc_pump *p)
{
    close(p->pair);
    close(p->net);
    free(p->out);
    free(p);
}

static void *pump_thread(void *opaque)
{
    struct vnc_pump *p = opaque;
    uint64_t stalled_since = 0;
    for (;;) {
        bool out_pending = p->out_off < p->out_len, in_pending = p->in_off < p->in_len;
        struct pollfd f[2] = {
            {.fd = p->net,
             .events =
                 (short)((in_pending || p->client_eof ? 0 : POLLIN) | (out_pending ? POLLOUT : 0))},
            {.fd = p->server_closed ? -1 : p->pair,
             .events = (short)(POLLIN | (in_pending ? POLLOUT : 0))},
        };
        /* while bytes wait for the client, wake up now and then to see whether it stalled */
        int r = poll(f, 2, out_pending ? 200 : -1);
        if (r < 0 && errno != EINTR) {
            break;
        }
        if (!pump_step(p, r > 0 ? f[0].revents : 0, r > 0 ? f[1].revents : 0, &stalled_since)) {
            break;
        }
    }
    /* The server sees EOF on its end and lets the client go; the client sees the close. */
    shutdown(p->pair, SHUT_RDWR);
    shutdown(p->net, SHUT_RDWR);
    if (atomic_exchange(&p->finished, true)) {
        pump_free(p);
    }
    return NULL;
}

int vnc_pump_new(int net_fd, size_t max_queued, unsigned stall_ms, struct vnc_pump **out,
                 int *server_fd)
{
    int sv[2] = {-1, -1};
    struct vnc_pump *p = calloc(1, sizeof(*p));
    int r = -ENOMEM;
    if (!p) {
        goto fail;
    }
    p->net = net_fd;
    p->pair = -1;
    atomic_init(&p->max_queued, max_queued);
    p->stall_ns = (uint64_t)stall_ms * 1000000u;
    atomic_init(&p->finished, false);
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0 ||
        fcntl(net_fd, F_SETFL, fcntl(net_fd, F_GETFL) | O_NONBLOCK) < 0 ||
        fcntl(sv[1], F_SETFL, fcntl(sv[1], F_GETFL) | O_NONBLOCK) < 0) {
        r = -errno;
        goto fail;
    }
    p->pair = sv[1];
    pthread_attr_t attr;
    r = -pthread_attr_init(&attr);
    if (r < 0) {
        goto fail;
    }
    pthread_attr_setstacksize(&attr, PUMP_STACK); /* a poll loop: no deep calls */
    r = -pthread_create(&p->thread, &attr, pump_thread, p);
    pthread_attr_destroy(&attr);
    if (r < 0) {
        goto fail;
    }
    *out = p;
    *server_fd = sv[0];
    return 0;
fail:
    if (sv[0] >= 0) {
        close(sv[0]);
        close(sv[1]);
    }
    free(p);
    close(net_fd);
    return r;
}

void vnc_pump_set_limit(struct vnc_pump *p, size_t max_queued)
{
    atomic_store(&p->max_queued, max_queued);
}

void vnc_pump_release(struct vnc_pump *p)
{
    if (!p) {
        return;
    }
    pthread_detach(p->thread);
    if (atomic_exchange(&p->finished, true)) {
        pump_free(p);
    }
}
