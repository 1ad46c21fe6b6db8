// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Display channel server: one client at a time on a unix stream socket. The client says
 * hello, gets the surface's memfd (SCM_RIGHTS) and from then on damage rectangles, gathered in
 * a pixman region between refreshes and sent only once the client has acked the previous
 * message, so a slow client gets fewer, larger updates instead of a growing backlog. Every
 * client message goes through dc_decode() first; a malformed one drops the client, never
 * the engine. docs/display-channel.md.
 */
#include "vmm/display_channel.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "display/channel_proto.h"
#include "display/surface.h"
#include "vmm/evloop.h"
#include "vmm/lazy_pixman.h"

struct display_channel {
    struct display *d;
    struct evloop *loop;
    const struct vnc_input_ops *input;
    void *opaque;
    int listen_fd;
    int client_fd;
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    bool listener_added;
    bool hello;        /* the client said hello: it gets surfaces and damage */
    bool need_surface; /* send the surface (new client or resize) before any damage */
    uint32_t serial;   /* of the last surface or damage message sent */
    uint32_t acked;    /* the last serial the client acked */
    pixman_region32_t pending;
    uint8_t rx[2 * DC_MAX_MSG];
    size_t rx_len;
    struct display_channel_stats stats;
};

int display_channel_parse(const char *spec, char *err, size_t errlen)
{
    if (strncmp(spec, "unix:", 5) == 0) {
        size_t n = strlen(spec + 5);
        if (n == 0 || n >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
            snprintf(err, errlen, "--display-channel %s: expected unix:PATH (at most %zu bytes)",
                     spec, sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
            return -EINVAL;
        }
        return 0;
    }
    if (strncmp(spec, "fd:", 3) == 0) {
        char *end;
        errno = 0;
        long fd = strtol(spec + 3, &end, 10);
        if (errno == 0 && end != spec + 3 && *end == '\0' && fd >= 0 && fd <= INT_MAX) {
            return 0;
        }
    }
    snprintf(err, errlen, "--display-channel %s: expected unix:PATH or fd:N", spec);
    return -EINVAL;
}

/* ---- sending ------------------------------------------------------------------------------ */

static void drop_client(struct display_channel *c);

/* One message, with fd attached when fd >= 0. A full socket drops the client: with acks
 * pacing the damage, only a client that stopped reading fills it. */
static int send_msg(struct display_channel *c, const struct dc_msg *msg, int fd)
{
    uint8_t buf[DC_MAX_MSG];
    int n = dc_encode(msg, buf, sizeof(buf));
    if (n < 0) {
        return n;
    }
    struct iovec iov = {.iov_base = buf, .iov_len = (size_t)n};
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof(int))];
    } ctl;
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
    if (fd >= 0) {
        memset(&ctl, 0, sizeof(ctl));
        mh.msg_control = ctl.buf;
        mh.msg_controllen = sizeof(ctl.buf);
        struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(cm), &fd, sizeof(int));
    }
    ssize_t w = sendmsg(c->client_fd, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (w != n) {
        drop_client(c);
        return -EPIPE;
    }
    return 0;
}

static void send_surface(struct display_channel *c)
{
    struct display *d = c->d;
    struct dc_msg m = {.type = DC_S_SURFACE};
    m.surface.width = d->width;
    m.surface.height = d->height;
    m.surface.stride = d->stride;
    m.surface.format = DC_FORMAT_XRGB8888;
    m.surface.serial = ++c->serial;
    if (send_msg(c, &m, d->fd) == 0) {
        c->need_surface = false;
        c->stats.surfaces++;
        lazy_pixman.pixman_region32_clear(&c->pending); /* a new surface is drawn whole */
    }
}

static void send_damage(struct display_channel *c)
{
    int n;
    pixman_box32_t *boxes = lazy_pixman.pixman_region32_rectangles(&c->pending, &n);
    struct dc_msg m = {.type = DC_S_DAMAGE};
    if (n <= 0) {
        return;
    }
    if ((unsigned)n <= DC_MAX_RECTS) {
        for (int i = 0; i < n; i++) {
            m.damage.rects[i] = (struct dc_rect){(uint32_t)boxes[i].x1, (uint32_t)boxes[i].y1,
                                                 (uint32_t)(boxes[i].x2 - boxes[i].x1),
                                                 (uint32_t)(boxes[i].y2 - boxes[i].y1)};
        }
        m.damage.count = (uint32_t)n;
    } else {
        /* Too many pieces: their bounding box is cheaper to send and to redraw. */
        pixman_box32_t e = boxes[0];
        for (int i = 1; i < n; i++) {
            e.x1 = boxes[i].x1 < e.x1 ? boxes[i].x1 : e.x1;
            e.y1 = boxes[i].y1 < e.y1 ? boxes[i].y1 : e.y1;
            e.x2 = boxes[i].x2 > e.x2 ? boxes[i].x2 : e.x2;
            e.y2 = boxes[i].y2 > e.y2 ? boxes[i].y2 : e.y2;
        }
        m.damage.rects[0] = (struct dc_rect){(uint32_t)e.x1, (uint32_t)e.y1,
                                             (uint32_t)(e.x2 - e.x1), (uint32_t)(e.y2 - e.y1)};
        m.damage.count = 1;
    }
    m.damage.serial = ++c->serial;
    if (send_msg(c, &m, -1) == 0) {
        c->stats.damages++;
        c->stats.rects += m.damage.count;
        lazy_pixman.pixman_region32_clear(&c->pending);
    }
}

void display_channel_flush(struct display_channel *c)
{
    if (!c || c->client_fd < 0 || !c->hello) {
        return;
    }
    if (c->need_surface) {
        send_surface(c);
        return;
    }
    if (c->acked == c->serial && lazy_pixman.pixman_region32_not_empty(&c->pending)) {
        send_damage(c);
    }
}

/* ---- display listener ------------------------------------------------------------------- */

static void on_resize(void *opaque, struct display *d)
{
    struct display_channel *c = opaque;
    c->need_surface = true;
}

static void on_update(void *opaque, struct display *d, unsigned x, unsigned y, unsigned w,
                      unsigned h)
{
    struct display_channel *c = opaque;
    if (c->client_fd >= 0) {
        lazy_pixman.pixman_region32_union_rect(&c->pending, &c->pending, (int)x, (int)y, w, h);
    }
}

static const struct display_listener_ops listener_ops = {
    .resize = on_resize,
    .update = on_update,
};

/* ---- receiving ---------------------------------------------------------------------------- */

static void drop_client(struct display_channel *c)
{
    if (c->client_fd < 0) {
        return;
    }
    evloop_del_fd(c->loop, c->client_fd);
    close(c->client_fd);
    c->client_fd = -1;
    c->hello = false;
    c->rx_len = 0;
    lazy_pixman.pixman_region32_clear(&c->pending);
}

/* 0, or -EPROTO when the client must go. */
static int handle(struct display_channel *c, const struct dc_msg *m)
{
    if (!c->hello && m->type != DC_C_HELLO) {
        return -EPROTO;
    }
    switch (m->type) {
    case DC_C_HELLO: {
        if (c->hello) {
            return -EPROTO;
        }
        struct dc_msg r = {.type = DC_S_HELLO, .hello = {DC_MAGIC, DC_VERSION}};
        /* A client of a later version speaks ours (it sees our version in the reply). */
        if (send_msg(c, &r, -1) < 0) {
            return 0; /* already dropped */
        }
        c->hello = true;
        c->need_surface = true;
        c->acked = c->serial;
        display_channel_flush(c);
        return 0;
    }
    case DC_C_KEY:
        c->stats.keys++;
        c->input->key(c->opaque, m->key.keysym, m->key.down);
        return 0;
    case DC_C_POINTER:
        c->stats.pointers++;
        c->input->pointer(c->opaque, (int)m->pointer.x, (int)m->pointer.y, m->pointer.buttons);
        return 0;
    case DC_C_ACK:
        /* client-controlled: an ack from the future is a broken client */
        if ((int32_t)(m->ack.serial - c->serial) > 0) {
            return -EPROTO;
        }
        c->acked = m->ack.serial;
        display_channel_flush(c);
        return 0;
    default:
        return -EPROTO;
    }
}

static void on_client(void *opaque, uint32_t events)
{
    struct display_channel *c = opaque;
    ssize_t n = recv(c->client_fd, c->rx + c->rx_len, sizeof(c->rx) - c->rx_len, MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        return;
    }
    if (n <= 0) {
        drop_client(c);
        return;
    }
    c->rx_len += (size_t)n;
    size_t off = 0;
    while (c->client_fd >= 0) {
        struct dc_msg m;
        int r = dc_decode(c->rx + off, c->rx_len - off, true, &m);
        if (r == 0) {
            break;
        }
        if (r < 0 || handle(c, &m) < 0) {
            c->stats.bad_msgs++;
            fprintf(stderr, "deskvm-vm: display channel: malformed client message, dropped it\n");
            drop_client(c);
            return;
        }
        off += (size_t)r;
    }
    if (c->client_fd < 0) {
        return;
    }
    memmove(c->rx, c->rx + off, c->rx_len - off);
    c->rx_len -= off;
}

static int adopt_client(struct display_channel *c, int fd)
{
    drop_client(c); /* the newest client wins: a GUI that reconnects gets the screen back */
    int r = evloop_add_fd(c->loop, fd, EPOLLIN, on_client, c);
    if (r < 0) {
        close(fd);
        return r;
    }
    c->client_fd = fd;
    c->stats.clients++;
    return 0;
}

static void on_listen(void *opaque, uint32_t events)
{
    struct display_channel *c = opaque;
    int fd = accept4(c->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd >= 0) {
        (void)adopt_client(c, fd);
    }
}

/* ---- life cycle --------------------------------------------------------------------------- */

static int listen_unix(struct display_channel *c, const char *path, char *err, size_t errlen)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        snprintf(err, errlen, "display channel: socket: %s", strerror(errno));
        return -errno;
    }
    unlink(path);
    mode_t old = umask(0077); /* only the user: the channel carries keystrokes */
    int r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    umask(old);
    if (r < 0 || listen(fd, 4) < 0) {
        r = -errno;
        snprintf(err, errlen, "display channel: %s: %s", path, strerror(errno));
        close(fd);
        return r;
    }
    c->listen_fd = fd;
    snprintf(c->path, sizeof(c->path), "%s", path);
    return 0;
}

struct display_channel *display_channel_new(const char *spec, struct display *d,
                                            struct evloop *loop, const struct vnc_input_ops *input,
                                            void *opaque, char *err, size_t errlen)
{
    if (display_channel_parse(spec, err, errlen) < 0) {
        return NULL;
    }
    struct display_channel *c = calloc(1, sizeof(*c));
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    c->d = d;
    c->loop = loop;
    c->input = input;
    c->opaque = opaque;
    c->listen_fd = c->client_fd = -1;
    lazy_pixman.pixman_region32_init(&c->pending);
    if (display_add_listener(d, &listener_ops, c) < 0) {
        snprintf(err, errlen, "display channel: too many display listeners");
        goto fail;
    }
    c->listener_added = true;
    if (strncmp(spec, "unix:", 5) == 0) {
        if (listen_unix(c, spec + 5, err, errlen) < 0) {
            goto fail;
        }
        if (evloop_add_fd(loop, c->listen_fd, EPOLLIN, on_listen, c) < 0) {
            snprintf(err, errlen, "display channel: cannot watch the socket");
            goto fail;
        }
        return c;
    }
    int fd = (int)strtol(spec + 3, NULL, 10);
    int type = 0;
    socklen_t tl = sizeof(type);
    if (getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tl) < 0 || type != SOCK_STREAM) {
        snprintf(err, errlen, "--display-channel %s: not a stream socket", spec);
        goto fail;
    }
    if (adopt_client(c, fd) < 0) {
        snprintf(err, errlen, "display channel: cannot watch fd %d", fd);
        goto fail;
    }
    return c;
fail:
    display_channel_free(c);
    return NULL;
}

void display_channel_free(struct display_channel *c)
{
    if (!c) {
        return;
    }
    drop_client(c);
    if (c->listen_fd >= 0) {
        evloop_del_fd(c->loop, c->listen_fd);
        close(c->listen_fd);
        unlink(c->path);
    }
    if (c->listener_added) {
        display_remove_listener(c->d, c);
    }
    lazy_pixman.pixman_region32_fini(&c->pending);
    free(c);
}

bool display_channel_watched(const struct display_channel *c)
{
    return c && c->client_fd >= 0 && c->hello;
}

void display_channel_stats(const struct display_channel *c, struct display_channel_stats *s)
{
    *s = c->stats;
}
