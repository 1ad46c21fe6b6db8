// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * A host tap device as network back-end: /dev/net/tun with IFF_TAP | IFF_NO_PI, plus
 * IFF_VNET_HDR when the kernel offers it, so frames carry the virtio-net header both ways
 * and checksum offload passes through (TUN_F_CSUM; no segmentation offloads).
 */
#include "io/net.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if.h>
#include <linux/if_tun.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "vmm/evloop.h"

#define TAP_BATCH 64 /* frames read per wake-up: other fds get their turn */

struct net_tap {
    struct net_backend be;
    struct evloop *loop;
    int fd;
    bool reading;
    size_t held_len; /* a frame in buf the peer had no room for */
    uint8_t buf[VIRTIO_NET_HDR_SIZE + NET_FRAME_MAX];
};

static void set_reading(struct net_tap *t, bool on)
{
    if (t->reading != on) {
        t->reading = on;
        evloop_mod_fd(t->loop, t->fd, on ? EPOLLIN : 0);
    }
}

/* Offer the held frame again; false while the peer still has no room. */
static bool flush_held(struct net_tap *t)
{
    if (t->held_len && net_backend_deliver(&t->be, t->buf, t->held_len) == -EAGAIN) {
        return false;
    }
    t->held_len = 0;
    return true;
}

static void on_readable(void *opaque, uint32_t events)
{
    struct net_tap *t = opaque;
    for (unsigned i = 0; i < TAP_BATCH; i++) {
        ssize_t n = read(t->fd, t->buf, sizeof(t->buf));
        if (n <= 0) {
            return; /* EAGAIN, or the interface went away: nothing to read now */
        }
        t->held_len = (size_t)n;
        if (!flush_held(t)) {
            set_reading(t, false); /* backpressure: the kernel queues (and drops) for us */
            return;
        }
    }
}

static int tap_send(struct net_backend *be, const uint8_t *frame, size_t len)
{
    struct net_tap *t = (struct net_tap *)be;
    ssize_t n = write(t->fd, frame, len);
    return n < 0 ? -errno : 0;
}

static void tap_rx_ready(struct net_backend *be)
{
    struct net_tap *t = (struct net_tap *)be;
    if (flush_held(t)) {
        set_reading(t, true);
    }
}

static void tap_destroy(struct net_backend *be)
{
    struct net_tap *t = (struct net_tap *)be;
    if (t->fd >= 0) {
        evloop_del_fd(t->loop, t->fd);
        close(t->fd);
    }
    free(t);
}

static const struct net_backend_ops tap_ops = {
    .kind = "tap",
    .send = tap_send,
    .rx_ready = tap_rx_ready,
    .destroy = tap_destroy,
};

__attribute__((format(printf, 5, 6))) static int tap_fail(struct net_tap *t, int r, char *err,
                                                          size_t errlen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
    tap_destroy(&t->be);
    return r;
}

int net_tap_create_dev(struct evloop *loop, const char *dev, const char *ifname,
                       struct net_backend **out, char *err, size_t errlen)
{
    const char *name = ifname ? ifname : "";
    if (strlen(name) >= IFNAMSIZ || strchr(name, '/')) {
        snprintf(err, errlen, "tap %s: not an interface name (at most %d characters)", name,
                 IFNAMSIZ - 1);
        return -EINVAL;
    }
    struct net_tap *t = calloc(1, sizeof(*t));
    if (!t) {
        snprintf(err, errlen, "tap: out of memory");
        return -ENOMEM;
    }
    t->be.ops = &tap_ops;
    t->loop = loop;
    t->fd = open(dev, O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (t->fd < 0) {
        int r = -errno;
        if (r == -EACCES || r == -EPERM) {
            return tap_fail(t, r, err, errlen,
                            "%s: permission denied: tap networking needs access to %s "
                            "(root, or a user in the group that owns it)",
                            dev, dev);
        }
        return tap_fail(t, r, err, errlen, "%s: %s (is the tun module loaded?)", dev, strerror(-r));
    }
    unsigned int features = 0;
    if (ioctl(t->fd, TUNGETFEATURES, &features) < 0) {
        features = 0;
    }
    struct ifreq ifr = {0};
    ifr.ifr_flags = IFF_TAP | IFF_NO_PI | ((features & IFF_VNET_HDR) ? IFF_VNET_HDR : 0);
    strncpy(ifr.ifr_name, name, IFNAMSIZ - 1);
    if (ioctl(t->fd, TUNSETIFF, &ifr) < 0) {
        int r = -errno;
        if (r == -EPERM || r == -EACCES) {
            return tap_fail(t, r, err, errlen,
                            "tap %s: permission denied: creating a tap device needs "
                            "CAP_NET_ADMIN; create it once as root with 'ip tuntap add %s mode "
                            "tap user YOURNAME' and deskvm can attach to it",
                            name[0] ? name : "(any)", name[0] ? name : "tap0");
        }
        if (r == -EBUSY) {
            return tap_fail(t, r, err, errlen, "tap %s: in use by another program", name);
        }
        return tap_fail(t, r, err, errlen, "tap %s: %s", name, strerror(-r));
    }
    if (ifr.ifr_flags & IFF_VNET_HDR) {
        int sz = VIRTIO_NET_HDR_SIZE;
        if (ioctl(t->fd, TUNSETVNETHDRSZ, &sz) < 0 ||
            ioctl(t->fd, TUNSETOFFLOAD, (unsigned long)TUN_F_CSUM) < 0) {
            int r = -errno;
            return tap_fail(t, r, err, errlen, "tap %s: cannot set up the vnet header: %s",
                            ifr.ifr_name, strerror(-r));
        }
        t->be.vnet_hdr = true;
    }
    int r = evloop_add_fd(loop, t->fd, EPOLLIN, on_readable, t);
    if (r < 0) {
        snprintf(err, errlen, "tap %s: cannot watch it: %s", ifr.ifr_name, strerror(-r));
        close(t->fd);
        free(t);
        return r;
    }
    t->reading = true;
    *out = &t->be;
    return 0;
}

int net_tap_create(struct evloop *loop, const char *ifname, struct net_backend **out, char *err,
                   size_t errlen)
{
    return net_tap_create_dev(loop, "/dev/net/tun", ifname, out, err, errlen);
}
