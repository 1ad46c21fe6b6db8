/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unix stream sockets the engine listens on (QMP, the serial console): binding a path that a
 * killed engine may have left behind.
 */
#ifndef DESKVM_VMM_UNIX_SOCKET_H
#define DESKVM_VMM_UNIX_SOCKET_H

#include <stddef.h>
#include <sys/types.h>
#include <sys/un.h>

/*
 * Bind fd to addr, replacing a stale socket file left by a crashed engine. A path that is not a
 * socket, or a socket somebody still listens on, is never removed. Returns 0, or -errno with a
 * message naming the path in err.
 */
int unix_socket_bind(int fd, const struct sockaddr_un *addr, char *err, size_t errlen);

/* A listening socket at a path, and the identity of the file it created there. */
struct unix_listener {
    int fd; /* non-blocking, close-on-exec; -1 when closed */
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    dev_t dev; /* the socket file we created: only that one is removed at close */
    ino_t ino;
};

/*
 * Listen at path (1 to 107 bytes) with backlog, the file owner-only (0600) before anyone can
 * connect; a stale socket is replaced as unix_socket_bind() does. Returns 0, or -errno with a
 * message in err that names the path, except for -ENAMETOOLONG (nothing is left behind).
 */
int unix_listener_open(struct unix_listener *l, const char *path, int backlog, char *err,
                       size_t errlen);
/* Close, and remove the file if it is still the one we created (not a later engine's). */
void unix_listener_close(struct unix_listener *l);

#endif
