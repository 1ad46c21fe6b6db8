// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * User-mode networking through libslirp, driven by the engine's epoll loop instead of a
 * GLib main loop: after every call into slirp we ask it which sockets it wants polled
 * (slirp_pollfds_fill) and bring the loop's watches in line; a ready socket runs
 * slirp_pollfds_poll with that socket's events; slirp's TCP timers ride on one loop timer
 * armed with the timeout slirp asks for, and its own timers (IPv6 RA) are loop timers too.
 */
#include "io/net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <libslirp.h>

#include "vmm/clock.h"
#include "vmm/evloop.h"
#include "vmm/lazy_slirp.h"

struct slirp_watch {
    struct net_slirp *ns;
    int fd;
    uint32_t want; /* epoll events asked for in the last fill */
    int revents;   /* SLIRP_POLL_* seen for this fd, for the poll being dispatched */
    bool seen;
};

struct slirp_timer {
    struct net_slirp *ns;
    struct vtimer *t;
    SlirpTimerCb cb;
    void *cb_opaque;
};

struct pollent {
    int fd;
    int events;
};

struct held_frame {
    uint8_t *buf;
    size_t len;
};

struct net_slirp {
    struct net_backend be;
    struct evloop *loop;
    struct vclock *clock;
    Slirp *slirp;
    struct vtimer *poll_timer;
    uint64_t poll_deadline; /* when poll_timer fires; 0: disarmed */
    int refresh_fd;         /* eventfd: a refresh is due after the frames being sent */
    bool refresh_queued;
    struct pollent *polls; /* this round's slirp_pollfds_fill, indexed as slirp knows them */
    unsigned npolls, cap_polls;
    struct slirp_watch **watches;
    unsigned nwatches, cap_watches;
    struct held_frame held[NET_USER_HELD_MAX];
    unsigned held_head, held_count;
    int64_t log_last_ns;
};

static void refresh(struct net_slirp *ns);

static int64_t cb_clock_ns(void *opaque)
{
    struct net_slirp *ns = opaque;
    return (int64_t)vclock_now(ns->clock);
}

static void cb_guest_error(const char *msg, void *opaque)
{
    struct net_slirp *ns = opaque;
    int64_t now = cb_clock_ns(ns);
    if (now - ns->log_last_ns >= 1000000000) { /* at most one line a second */
        ns->log_last_ns = now;
        fprintf(stderr, "deskvm-vm: user network: guest error: %s\n", msg);
    }
}

/* Deliver held frames in order, then fresh ones; -EAGAIN holds (bounded) the rest. */
static void deliver_held(struct net_slirp *ns)
{
    while (ns->held_count) {
        struct held_frame *h = &ns->held[ns->held_head];
        if (net_backend_deliver(&ns->be, h->buf, h->len) == -EAGAIN) {
            return;
        }
        free(h->buf);
        h->buf = NULL;
        ns->held_head = (ns->held_head + 1) % NET_USER_HELD_MAX;
        ns->held_count--;
    }
}

static ssize_t cb_send_packet(const void *buf, size_t len, void *opaque)
{
    struct net_slirp *ns = opaque;
    if (ns->held_count == 0 && net_backend_deliver(&ns->be, buf, len) != -EAGAIN) {
        return (ssize_t)len;
    }
    if (ns->held_count == NET_USER_HELD_MAX) {
        ns->be.rx_dropped++; /* slirp's TCP retransmits; UDP is lost as on a wire */
        return (ssize_t)len;
    }
    uint8_t *copy = malloc(len);
    if (!copy) {
        ns->be.rx_dropped++;
        return (ssize_t)len;
    }
    memcpy(copy, buf, len);
    unsigned slot = (ns->held_head + ns->held_count) % NET_USER_HELD_MAX;
    ns->held[slot] = (struct held_frame){copy, len};
    ns->held_count++;
    return (ssize_t)len;
}

static void timer_fire(void *opaque)
{
    struct slirp_timer *t = opaque;
    t->cb(t->cb_opaque);
    refresh(t->ns);
}

static void *cb_timer_new(SlirpTimerCb cb, void *cb_opaque, void *opaque)
{
    struct slirp_timer *t = calloc(1, sizeof(*t));
    if (!t) {
        return NULL;
    }
    t->ns = opaque;
    t->cb = cb;
    t->cb_opaque = cb_opaque;
    t->t = vtimer_new(t->ns->clock, timer_fire, t);
    if (!t->t) {
        free(t);
        return NULL;
    }
    return t;
}

static void cb_timer_free(void *timer, void *opaque)
{
    struct slirp_timer *t = timer;
    if (t) {
        vtimer_free(t->t);
        free(t);
    }
}

static void cb_timer_mod(void *timer, int64_t expire_ms, void *opaque)
{
    struct slirp_timer *t = timer;
    vtimer_mod(t->t, expire_ms <= 0 ? 1 : (uint64_t)expire_ms * 1000000ull);
}

static void cb_register_poll_fd(int fd, void *opaque)
{
    /* Watches follow slirp_pollfds_fill(), which lists every socket that wants events. */
}

static void cb_unregister_poll_fd(int fd, void *opaque)
{
}

static void cb_notify(void *opaque)
{
    refresh(opaque);
}

static const SlirpCb slirp_cbs = {
    .send_packet = cb_send_packet,
    .guest_error = cb_guest_error,
    .clock_get_ns = cb_clock_ns,
    .timer_new = cb_timer_new,
    .timer_free = cb_timer_free,
    .timer_mod = cb_timer_mod,
    .register_poll_fd = cb_register_poll_fd,
    .unregister_poll_fd = cb_unregister_poll_fd,
    .notify = cb_notify,
};

static uint32_t to_epoll(int ev)
{
    return ((ev & SLIRP_POLL_IN) ? EPOLLIN : 0) | ((ev & SLIRP_POLL_OUT) ? EPOLLOUT : 0) |
           ((ev & SLIRP_POLL_PRI) ? EPOLLPRI : 0);
}

static int from_epoll(uint32_t ev)
{
    return ((ev & EPOLLIN) ? SLIRP_POLL_IN : 0) | ((ev & EPOLLOUT) ? SLIRP_POLL_OUT : 0) |
           ((ev & EPOLLPRI) ? SLIRP_POLL_PRI : 0) | ((ev & EPOLLERR) ? SLIRP_POLL_ERR : 0) |
           ((ev & EPOLLHUP) ? SLIRP_POLL_HUP : 0);
}

static struct slirp_watch *find_watch(struct net_slirp *ns, int fd)
{
    for (unsigned i = 0; i < ns->nwatches; i++) {
        if (ns->watches[i]->fd == fd) {
            return ns->watches[i];
        }
    }
    return NULL;
}

static int cb_add_poll(int fd, int events, void *opaque)
{
    struct net_slirp *ns = opaque;
    if (ns->npolls == ns->cap_polls) {
        unsigned cap = ns->cap_polls ? 2 * ns->cap_polls : 16;
        struct pollent *p = realloc(ns->polls, cap * sizeof(*p));
        if (!p) {
            return -1; /* slirp skips a socket it could not list; it is polled next round */
        }
        ns->polls = p;
        ns->cap_polls = cap;
    }
    ns->polls[ns->npolls] = (struct pollent){fd, events};
    return (int)ns->npolls++;
}

static int cb_get_revents(int idx, void *opaque)
{
    struct net_slirp *ns = opaque;
    if (idx < 0 || (unsigned)idx >= ns->npolls) {
        return 0;
    }
    struct slirp_watch *w = find_watch(ns, ns->polls[idx].fd);
    if (!w) {
        return 0;
    }
    return w->revents & (ns->polls[idx].events | SLIRP_POLL_ERR | SLIRP_POLL_HUP);
}

static void dispatch(struct net_slirp *ns)
{
    lazy_slirp.slirp_pollfds_poll(ns->slirp, 0, cb_get_revents, ns);
    for (unsigned i = 0; i < ns->nwatches; i++) {
        ns->watches[i]->revents = 0;
    }
    refresh(ns);
}

static void on_fd(void *opaque, uint32_t events)
{
    struct slirp_watch *w = opaque;
    w->revents = from_epoll(events);
    dispatch(w->ns);
}

static void on_poll_timer(void *opaque)
{
    struct net_slirp *ns = opaque;
    ns->poll_deadline = 0;
    dispatch(ns); /* no socket ready: slirp runs its TCP timers */
}

static void drop_watch(struct net_slirp *ns, unsigned i)
{
    struct slirp_watch *w = ns->watches[i];
    evloop_del_fd(ns->loop, w->fd);
    free(w);
    ns->watches[i] = ns->watches[--ns->nwatches];
}

static struct slirp_watch *new_watch(struct net_slirp *ns, int fd)
{
    if (ns->nwatches == ns->cap_watches) {
        unsigned cap = ns->cap_watches ? 2 * ns->cap_watches : 16;
        struct slirp_watch **p = realloc(ns->watches, cap * sizeof(*p));
        if (!p) {
            return NULL;
        }
        ns->watches = p;
        ns->cap_watches = cap;
    }
    struct slirp_watch *w = calloc(1, sizeof(*w));
    if (!w) {
        return NULL;
    }
    w->ns = ns;
    w->fd = fd;
    ns->watches[ns->nwatches++] = w;
    return w;
}

/*
 * Bring the loop's watches in line with what slirp wants now. Every kept watch is modified
 * (one epoll_ctl each): slirp may have closed a socket and opened another under the same fd
 * number since the last round, and the kernel forgets a closed fd's registration, which
 * MOD reports as ENOENT; that watch is then added afresh.
 */
static void refresh(struct net_slirp *ns)
{
    uint32_t timeout_ms = UINT32_MAX;
    ns->npolls = 0;
    lazy_slirp.slirp_pollfds_fill(ns->slirp, &timeout_ms, cb_add_poll, ns);
    for (unsigned i = 0; i < ns->nwatches; i++) {
        ns->watches[i]->seen = false;
        ns->watches[i]->want = 0;
    }
    for (unsigned i = 0; i < ns->npolls; i++) {
        struct slirp_watch *w = find_watch(ns, ns->polls[i].fd);
        if (!w) {
            w = new_watch(ns, ns->polls[i].fd);
            if (!w) {
                continue;
            }
            w->want = to_epoll(ns->polls[i].events);
            if (evloop_add_fd(ns->loop, w->fd, w->want, on_fd, w) < 0) {
                drop_watch(ns, ns->nwatches - 1);
                continue;
            }
            w->seen = true;
            continue;
        }
        if (!w->seen) {
            w->seen = true;
            w->want = 0;
        }
        w->want |= to_epoll(ns->polls[i].events); /* the same fd listed twice */
    }
    for (unsigned i = 0; i < ns->nwatches;) {
        struct slirp_watch *w = ns->watches[i];
        if (!w->seen) {
            drop_watch(ns, i);
            continue;
        }
        if (evloop_mod_fd(ns->loop, w->fd, w->want) == -ENOENT) {
            evloop_del_fd(ns->loop, w->fd);
            if (evloop_add_fd(ns->loop, w->fd, w->want, on_fd, w) < 0) {
                free(w);
                ns->watches[i] = ns->watches[--ns->nwatches];
                continue;
            }
        }
        i++;
    }
    if (timeout_ms == UINT32_MAX) {
        if (ns->poll_deadline) {
            vtimer_del(ns->poll_timer);
            ns->poll_deadline = 0;
        }
        return;
    }
    /*
     * An armed deadline that is still to come and no later than slirp's does as well (it
     * fires, slirp runs what is due, the refresh re-arms): during a transfer slirp asks for
     * now + 2 ms after every frame, and re-arming each time cost a timerfd_settime per frame.
     */
    uint64_t now = vclock_now(ns->clock), want = now + (uint64_t)timeout_ms * 1000000ull;
    if (ns->poll_deadline == 0 || ns->poll_deadline <= now || ns->poll_deadline > want) {
        vtimer_mod(ns->poll_timer, want);
        ns->poll_deadline = want;
    }
}

static void on_refresh(void *opaque, uint32_t events)
{
    struct net_slirp *ns = opaque;
    uint64_t n;
    if (read(ns->refresh_fd, &n, sizeof(n)) < 0) {
        /* EAGAIN: nothing counted; the refresh below is what matters */
    }
    ns->refresh_queued = false;
    refresh(ns);
}

static int user_send(struct net_backend *be, const uint8_t *frame, size_t len)
{
    struct net_slirp *ns = (struct net_slirp *)be;
    if (len > NET_FRAME_MAX) {
        return -EMSGSIZE;
    }
    lazy_slirp.slirp_input(ns->slirp, frame, (int)len);
    /*
     * A new connection may want polling, a timer may be due: refresh once after the batch
     * the NIC is sending (the eventfd is read when the loop gets back to its events), not
     * after every frame, which cost a slirp_pollfds_fill and a few syscalls per frame.
     */
    if (!ns->refresh_queued) {
        uint64_t one = 1;
        if (ns->refresh_fd >= 0 && write(ns->refresh_fd, &one, sizeof(one)) == sizeof(one)) {
            ns->refresh_queued = true;
        } else {
            refresh(ns);
        }
    }
    return 0;
}

static void user_rx_ready(struct net_backend *be)
{
    deliver_held((struct net_slirp *)be);
}

static void user_destroy(struct net_backend *be)
{
    struct net_slirp *ns = (struct net_slirp *)be;
    while (ns->nwatches) {
        drop_watch(ns, ns->nwatches - 1);
    }
    if (ns->refresh_fd >= 0) {
        evloop_del_fd(ns->loop, ns->refresh_fd);
        close(ns->refresh_fd);
    }
    if (ns->slirp) {
        lazy_slirp.slirp_cleanup(ns->slirp);
    }
    vtimer_free(ns->poll_timer);
    for (unsigned i = 0; i < ns->held_count; i++) {
        free(ns->held[(ns->held_head + i) % NET_USER_HELD_MAX].buf);
    }
    free(ns->watches);
    free(ns->polls);
    free(ns);
}

static const struct net_backend_ops user_ops = {
    .kind = "user",
    .send = user_send,
    .rx_ready = user_rx_ready,
    .destroy = user_destroy,
};

static struct in_addr ip4(const char *s)
{
    struct in_addr a;
    inet_pton(AF_INET, s, &a);
    return a;
}

static struct in6_addr ip6(const char *s)
{
    struct in6_addr a;
    inet_pton(AF_INET6, s, &a);
    return a;
}

int net_user_create(struct evloop *loop, const struct net_user_config *cfg,
                    struct net_backend **out, char *err, size_t errlen)
{
    const char *why;
    if (lazy_slirp_load(&why) < 0) {
        snprintf(err, errlen, "needs %s", why); /* "--net user: needs libslirp (...): ..." */
        return -ENOPKG;
    }
    struct net_slirp *ns = calloc(1, sizeof(*ns));
    if (!ns) {
        snprintf(err, errlen, "user network: out of memory");
        return -ENOMEM;
    }
    ns->be.ops = &user_ops;
    ns->loop = loop;
    ns->clock = evloop_clock(loop);
    ns->poll_timer = vtimer_new(ns->clock, on_poll_timer, ns);
    ns->refresh_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (ns->refresh_fd >= 0 && evloop_add_fd(loop, ns->refresh_fd, EPOLLIN, on_refresh, ns) < 0) {
        close(ns->refresh_fd);
        ns->refresh_fd = -1; /* user_send then refreshes after every frame */
    }
    /* The addresses QEMU's -netdev user uses, so guides written for QEMU apply. */
    SlirpConfig sc = {
        .version = 4,
        .in_enabled = true,
        .vnetwork = ip4("10.0.2.0"),
        .vnetmask = ip4("255.255.255.0"),
        .vhost = ip4("10.0.2.2"),
        .in6_enabled = true,
        .vprefix_addr6 = ip6("fec0::"),
        .vprefix_len = 64,
        .vhost6 = ip6("fec0::2"),
        .vdhcp_start = ip4("10.0.2.15"),
        .vnameserver = ip4("10.0.2.3"),
        .vnameserver6 = ip6("fec0::3"),
    };
    if (ns->poll_timer) {
        ns->slirp = lazy_slirp.slirp_new(&sc, &slirp_cbs, ns);
    }
    if (!ns->slirp) {
        snprintf(err, errlen, "user network: cannot start libslirp");
        user_destroy(&ns->be);
        return -ENOMEM;
    }
    for (unsigned i = 0; cfg && i < cfg->nhostfwd; i++) {
        const struct net_hostfwd *f = &cfg->hostfwd[i];
        struct in_addr host = {f->host_addr}, guest = {f->guest_addr};
        if (lazy_slirp.slirp_add_hostfwd(ns->slirp, f->udp, host, f->host_port, guest,
                                         f->guest_port) < 0) {
            char a[INET_ADDRSTRLEN];
            inet_ntop(AF_INET, &host, a, sizeof(a));
            snprintf(err, errlen, "hostfwd %s:%s:%u: cannot listen there (port in use?)",
                     f->udp ? "udp" : "tcp", a, f->host_port);
            user_destroy(&ns->be);
            return -EADDRINUSE;
        }
    }
    refresh(ns);
    *out = &ns->be;
    return 0;
}
