/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * Unix stream sockets the engine listens on (QMP, the serial console): binding a path that a
 * killed engine may have left behind.
 */
#ifndef DESKVM_VMM_UNIX_SOCKET_H
#define DESKVM_VMM_UNIX_SOCKET_H

#include <stddef.h>
#include <sys/un.h>

/*
 * Bind fd to addr, replacing a stale socket file left by a crashed engine. A path that is not a
 * socket, or a socket somebody still listens on, is never removed. Returns 0, or -errno with a
 * message naming the path in err.
 */
int unix_socket_bind(int fd, const struct sockaddr_un *addr, char *err, size_t errlen);

#endif
