// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Character back-ends: stdio (raw terminal when it is a tty, restored at exit), a file, null,
 * and a unix socket server (unix:PATH) that one client at a time attaches to, like QEMU's
 * `-chardev socket,server=on,wait=off` (docs/serial-socket.md). The socket back-end keeps the last
 * CHARDEV_HISTORY_SIZE bytes of output in a ring that doubles as the client's send queue: the
 * guest never waits for a client, a client that reads slowly loses only what fell out of the
 * ring, and a client that attaches is first sent the ring (the recent screen).
 */
#include "vmm/chardev.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include "vmm/evloop.h"
#include "vmm/unix_socket.h"

struct chardev_socket {
    struct unix_listener listen; /* the socket file, removed at close if still ours */
    int client_fd;
    bool client_broken; /* a send failed: the client goes when the loop sees it hang up */
    uint64_t head;      /* output bytes ever written */
    uint64_t sent;      /* stream position the client has been sent up to */
    uint64_t dropped;   /* bytes that left the ring before the attached client got them */
    uint64_t refused;   /* connections closed because a client was attached */
    uint8_t ring[CHARDEV_HISTORY_SIZE];
};

static struct termios saved_tio;
static int saved_tio_fd = -1;

static void restore_tty(void)
{
    if (saved_tio_fd >= 0) {
        tcsetattr(saved_tio_fd, TCSANOW, &saved_tio);
    }
}

static ssize_t fd_writer(struct chardev *chr, const void *buf, size_t len)
{
    if (chr->out_fd < 0) {
        return (ssize_t)len;
    }
    size_t done = 0;
    while (done < len) {
        ssize_t n = write(chr->out_fd, (const char *)buf + done, len - done);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return done ? (ssize_t)done : -errno;
        }
        done += (size_t)n;
    }
    return (ssize_t)done;
}

/* ---- Input: read a chunk, offer it, pause while the consumer is full --------------------- */

/* The events the input fd should be watched for now. */
static uint32_t wanted_events(const struct chardev *chr)
{
    uint32_t ev = chr->in_len == 0 ? EPOLLIN : 0;
    const struct chardev_socket *s = chr->sock;
    if (s && !s->client_broken && s->sent != s->head) {
        ev |= EPOLLOUT;
    }
    return ev;
}

static void update_watch(struct chardev *chr)
{
    if (!chr->loop || chr->in_fd < 0 || !chr->in_watched) {
        return;
    }
    uint32_t ev = wanted_events(chr);
    if (ev != chr->in_events && evloop_mod_fd(chr->loop, chr->in_fd, ev) == 0) {
        chr->in_events = ev;
    }
}

/* One read into the empty input buffer: > 0 bytes, 0 end of input, -EAGAIN nothing now. */
static ssize_t read_input(struct chardev *chr)
{
    ssize_t n = read(chr->in_fd, chr->in_buf, sizeof(chr->in_buf));
    if (n < 0) {
        return errno == EAGAIN || errno == EINTR ? -EAGAIN : 0;
    }
    chr->in_off = 0;
    chr->in_len = (size_t)n;
    return n;
}

static void deliver(struct chardev *chr)
{
    for (;;) {
        while (chr->in_len && chr->input) {
            size_t took = chr->input(chr->input_opaque, chr->in_buf + chr->in_off, chr->in_len);
            if (took > chr->in_len) {
                took = chr->in_len;
            }
            if (took == 0) {
                break;
            }
            chr->in_off += took;
            chr->in_len -= took;
        }
        if (chr->in_len || !chr->in_hup) {
            break;
        }
        /* stdin hung up while we paused: what is left is read without epoll, then EOF. */
        if (read_input(chr) <= 0) {
            chr->in_hup = false;
            chr->in_eof = true;
        }
    }
    update_watch(chr);
}

static void stdio_readable(void *opaque, uint32_t events)
{
    struct chardev *chr = opaque;
    if (chr->in_len) {
        /* Paused, so only a hang-up (or error) brings us here, and it would again at once:
         * stop watching; deliver() reads the rest when the consumer has room. */
        evloop_del_fd(chr->loop, chr->in_fd);
        chr->in_watched = false;
        chr->in_hup = true;
        return;
    }
    ssize_t n = read_input(chr);
    if (n == 0) {
        /* End of input (e.g. stdin is /dev/null): the guest simply gets no more. */
        evloop_del_fd(chr->loop, chr->in_fd);
        chr->in_watched = false;
        chr->in_eof = true;
        return;
    }
    if (n > 0) {
        deliver(chr);
    }
}

/* ---- unix:PATH ------------------------------------------------------------------------- */

static void client_close(struct chardev *chr)
{
    struct chardev_socket *s = chr->sock;
    if (s->client_fd < 0) {
        return;
    }
    if (chr->in_watched) {
        evloop_del_fd(chr->loop, s->client_fd);
    }
    close(s->client_fd);
    s->client_fd = chr->in_fd = -1;
    s->client_broken = false;
    chr->in_watched = false;
    chr->in_events = 0;
    /* Input the client sent before it went is still offered to the guest. */
}

/* Send what the client has not had yet, without waiting. Runs on vCPU threads too: it may
 * change the watched events but never removes an fd from the loop. */
static void flush(struct chardev *chr)
{
    struct chardev_socket *s = chr->sock;
    if (s->client_fd < 0 || s->client_broken) {
        return;
    }
    if (s->head - s->sent > CHARDEV_HISTORY_SIZE) {
        s->dropped += s->head - s->sent - CHARDEV_HISTORY_SIZE;
        s->sent = s->head - CHARDEV_HISTORY_SIZE;
    }
    while (s->sent != s->head) {
        size_t off = (size_t)(s->sent % CHARDEV_HISTORY_SIZE);
        size_t n = (size_t)(s->head - s->sent);
        if (n > CHARDEV_HISTORY_SIZE - off) {
            n = CHARDEV_HISTORY_SIZE - off;
        }
        ssize_t r = send(s->client_fd, s->ring + off, n, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (r < 0 && errno == EINTR) {
            continue;
        }
        if (r < 0) {
            if (errno != EAGAIN) {
                s->client_broken = true;
            }
            break;
        }
        s->sent += (uint64_t)r;
    }
    update_watch(chr);
}

static ssize_t socket_writer(struct chardev *chr, const void *buf, size_t len)
{
    struct chardev_socket *s = chr->sock;
    const uint8_t *p = buf;
    size_t n = len;
    if (n > CHARDEV_HISTORY_SIZE) {
        s->head += n - CHARDEV_HISTORY_SIZE; /* only the tail fits the history */
        p += n - CHARDEV_HISTORY_SIZE;
        n = CHARDEV_HISTORY_SIZE;
    }
    size_t off = (size_t)(s->head % CHARDEV_HISTORY_SIZE);
    size_t first = n < CHARDEV_HISTORY_SIZE - off ? n : CHARDEV_HISTORY_SIZE - off;
    memcpy(s->ring + off, p, first);
    memcpy(s->ring, p + first, n - first);
    s->head += n;
    if (!(chr->in_events & EPOLLOUT)) {
        flush(chr); /* else the loop sends once the client reads again */
    }
    return (ssize_t)len;
}

static void client_event(void *opaque, uint32_t events)
{
    struct chardev *chr = opaque;
    struct chardev_socket *s = chr->sock;
    if (events & EPOLLOUT) {
        flush(chr);
    }
    if ((events & EPOLLIN) && chr->in_len == 0) {
        ssize_t n = read_input(chr);
        if (n > 0) {
            deliver(chr);
            return;
        }
        if (n == 0) {
            client_close(chr); /* a client leaving is not the end of the guest's input */
        }
        return;
    }
    if (events & (EPOLLHUP | EPOLLERR) || s->client_broken) {
        /* Gone while input was paused: what it sent and we did not read yet is dropped (keeping
         * it would hold the console from the next client until the guest reads). */
        client_close(chr);
    }
}

/*
 * A new client is first sent the history. One client at a time: a connection while one is
 * attached is closed at once (it reads EOF and nothing else), so a client is never taken over,
 * not even by the probe of an engine checking whether this path is in use.
 */
static void socket_accept(void *opaque, uint32_t events)
{
    struct chardev *chr = opaque;
    struct chardev_socket *s = chr->sock;
    (void)events;
    for (;;) {
        int fd = accept4(s->listen.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            return; /* EAGAIN, or a client that left before we took it */
        }
        if (s->client_fd >= 0) {
            close(fd);
            s->refused++;
            continue;
        }
        s->client_fd = chr->in_fd = fd;
        s->client_broken = false;
        s->sent = s->head > CHARDEV_HISTORY_SIZE ? s->head - CHARDEV_HISTORY_SIZE : 0;
        uint32_t ev = chr->in_len == 0 ? EPOLLIN : 0;
        if (evloop_add_fd(chr->loop, fd, ev, client_event, chr) < 0) {
            close(fd);
            s->client_fd = chr->in_fd = -1;
            continue;
        }
        chr->in_watched = true;
        chr->in_events = ev;
        flush(chr);
    }
}

static int socket_open(struct chardev *chr, const char *path, char *err, size_t errlen)
{
    struct chardev_socket *s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    s->client_fd = -1;
    /* The console is the guest's keyboard: owner only (unix_listener_open). */
    int r = unix_listener_open(&s->listen, path, 4, err, errlen);
    if (r < 0) {
        free(s);
        return r;
    }
    chr->sock = s;
    chr->write = socket_writer;
    return 0;
}

static void socket_close(struct chardev *chr)
{
    /* Removes the file only if it is still ours (not a later engine's). */
    unix_listener_close(&chr->sock->listen);
    free(chr->sock);
    chr->sock = NULL;
}

/* ---- The interface ---------------------------------------------------------------------- */

int chardev_open(struct chardev *chr, const char *spec, char *err, size_t errlen)
{
    memset(chr, 0, sizeof(*chr));
    chr->write = fd_writer;
    chr->in_fd = -1;
    chr->out_fd = -1;
    if (!strcmp(spec, "null") || !strcmp(spec, "none")) {
        return 0;
    }
    if (!strcmp(spec, "stdio")) {
        chr->in_fd = STDIN_FILENO;
        chr->out_fd = STDOUT_FILENO;
        if (isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved_tio) == 0) {
            struct termios raw = saved_tio;
            /* Keep ISIG so Ctrl-C still stops the engine from a terminal. */
            raw.c_lflag &= ~(unsigned)(ICANON | ECHO);
            raw.c_iflag &= ~(unsigned)(ICRNL | IXON);
            raw.c_cc[VMIN] = 1;
            raw.c_cc[VTIME] = 0;
            if (tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0) {
                saved_tio_fd = STDIN_FILENO;
                atexit(restore_tty);
            }
        }
        return 0;
    }
    if (!strncmp(spec, "file:", 5)) {
        int fd = open(spec + 5, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) {
            int e = errno;
            snprintf(err, errlen, "%s", strerror(e));
            return -e;
        }
        chr->out_fd = fd;
        return 0;
    }
    if (!strncmp(spec, "unix:", 5)) {
        return socket_open(chr, spec + 5, err, errlen);
    }
    snprintf(err, errlen, "expected stdio, null, file:PATH or unix:PATH");
    return -EINVAL;
}

int chardev_attach(struct chardev *chr, struct evloop *loop, chardev_input_fn fn, void *opaque)
{
    chr->loop = loop;
    chr->input = fn;
    chr->input_opaque = opaque;
    if (chr->sock) {
        return evloop_add_fd(loop, chr->sock->listen.fd, EPOLLIN, socket_accept, chr);
    }
    if (chr->in_fd >= 0 && !chr->in_eof) {
        if (evloop_add_fd(loop, chr->in_fd, EPOLLIN, stdio_readable, chr) == 0) {
            chr->in_watched = true;
            chr->in_events = EPOLLIN;
        } else {
            chr->in_eof = true; /* e.g. a regular file on stdin: output still works */
        }
    }
    return 0;
}

void chardev_input_resume(struct chardev *chr)
{
    deliver(chr);
}

void chardev_detach(struct chardev *chr)
{
    if (!chr || !chr->loop) {
        return;
    }
    if (chr->sock) {
        client_close(chr);
        evloop_del_fd(chr->loop, chr->sock->listen.fd);
    } else if (chr->in_watched) {
        evloop_del_fd(chr->loop, chr->in_fd);
        chr->in_watched = false;
    }
    chr->loop = NULL;
    chr->input = NULL;
}

void chardev_close(struct chardev *chr)
{
    if (!chr) {
        return;
    }
    chardev_detach(chr);
    if (chr->sock) {
        if (chr->sock->client_fd >= 0) {
            close(chr->sock->client_fd);
        }
        socket_close(chr);
    }
    if (chr->out_fd > STDERR_FILENO) {
        close(chr->out_fd);
    }
    chr->out_fd = chr->in_fd = -1;
}

ssize_t chardev_write(struct chardev *chr, const void *buf, size_t len)
{
    if (!chr || !chr->write) {
        return (ssize_t)len;
    }
    return chr->write(chr, buf, len);
}

bool chardev_has_client(const struct chardev *chr)
{
    return chr && chr->sock && chr->sock->client_fd >= 0;
}

uint64_t chardev_dropped(const struct chardev *chr)
{
    return chr && chr->sock ? chr->sock->dropped : 0;
}

uint64_t chardev_refused(const struct chardev *chr)
{
    return chr && chr->sock ? chr->sock->refused : 0;
}
