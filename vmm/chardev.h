/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A byte-stream back-end for serial-like devices: where guest output goes and where guest
 * input comes from (stdio, a file, nothing). Input is pushed to the device by the owner.
 */
#ifndef DESKVM_VMM_CHARDEV_H
#define DESKVM_VMM_CHARDEV_H

#include <stddef.h>
#include <sys/types.h>

struct chardev {
    /* Write guest output; may drop bytes if the sink is not ready (returns bytes taken). */
    ssize_t (*write)(struct chardev *chr, const void *buf, size_t len);
    int in_fd;  /* readable fd with guest input, or -1 */
    int out_fd; /* fd written by the default writer, or -1 (discard) */
};

/* "stdio", "null", "file:PATH". Returns 0 or -errno. */
int chardev_open(struct chardev *chr, const char *spec);
void chardev_close(struct chardev *chr);
ssize_t chardev_write(struct chardev *chr, const void *buf, size_t len);

#endif
