// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Unix stream sockets the engine listens on: binding over a stale socket file. A socket file
 * outlives a killed engine; the next engine on that path probes it (connect) and replaces it
 * only when nobody answers.
 */
#include "vmm/unix_socket.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

int unix_socket_bind(int fd, const struct sockaddr_un *addr, char *err, size_t errlen)
{
    if (bind(fd, (const struct sockaddr *)addr, sizeof(*addr)) == 0) {
        return 0;
    }
    int e = errno;
    if (e != EADDRINUSE) {
        snprintf(err, errlen, "bind %s: %s", addr->sun_path, strerror(e));
        return -e;
    }
    struct stat st;
    if (lstat(addr->sun_path, &st) < 0 || !S_ISSOCK(st.st_mode)) {
        snprintf(err, errlen, "%s exists and is not a socket", addr->sun_path);
        return -EEXIST;
    }
    int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (probe < 0) {
        e = errno;
        snprintf(err, errlen, "socket: %s", strerror(e));
        return -e;
    }
    int rc = connect(probe, (const struct sockaddr *)addr, sizeof(*addr));
    e = errno;
    close(probe);
    if (rc == 0 || e == EAGAIN) { /* EAGAIN: alive, its backlog is full */
        snprintf(err, errlen, "%s is in use by a running server", addr->sun_path);
        return -EADDRINUSE;
    }
    if (e != ECONNREFUSED) {
        snprintf(err, errlen, "probing %s: %s", addr->sun_path, strerror(e));
        return -e;
    }
    if (unlink(addr->sun_path) < 0 && errno != ENOENT) {
        e = errno;
        snprintf(err, errlen, "removing stale %s: %s", addr->sun_path, strerror(e));
        return -e;
    }
    if (bind(fd, (const struct sockaddr *)addr, sizeof(*addr)) < 0) {
        e = errno;
        snprintf(err, errlen, "bind %s: %s", addr->sun_path, strerror(e));
        return -e;
    }
    return 0;
}

int unix_listener_open(struct unix_listener *l, const char *path, int backlog, char *err,
                       size_t errlen)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    size_t len = strlen(path);
    l->fd = -1;
    if (len == 0 || len >= sizeof(addr.sun_path)) {
        snprintf(err, errlen, "socket path %s (1 to %zu bytes)", len ? "too long" : "empty",
                 sizeof(addr.sun_path) - 1);
        return -ENAMETOOLONG;
    }
    memcpy(addr.sun_path, path, len + 1);
    memcpy(l->path, path, len + 1);
    l->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int r;
    if (l->fd < 0) {
        r = -errno;
        snprintf(err, errlen, "socket: %s", strerror(-r));
        return r;
    }
    if ((r = unix_socket_bind(l->fd, &addr, err, errlen)) < 0) {
        close(l->fd);
        l->fd = -1;
        return r;
    }
    struct stat st;
    if (lstat(path, &st) == 0) {
        l->dev = st.st_dev;
        l->ino = st.st_ino;
    }
    /* Nobody can connect before listen(): the mode is set first. */
    if (chmod(path, 0600) < 0 || listen(l->fd, backlog) < 0) {
        r = -errno;
        snprintf(err, errlen, "listen %s: %s", path, strerror(-r));
        unlink(path);
        close(l->fd);
        l->fd = -1;
        return r;
    }
    return 0;
}

void unix_listener_close(struct unix_listener *l)
{
    if (l->fd < 0) {
        return;
    }
    close(l->fd);
    l->fd = -1;
    struct stat st;
    if (lstat(l->path, &st) == 0 && st.st_dev == l->dev && st.st_ino == l->ino) {
        unlink(l->path);
    }
}
