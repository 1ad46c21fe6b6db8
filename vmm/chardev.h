/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A byte-stream back-end for serial-like devices: where guest output goes and where guest
 * input comes from (stdio, a file, nothing, a unix socket clients attach to). Once attached
 * to the event loop, the back-end watches its own fds and offers input to its consumer through
 * a callback; the consumer takes what it has room for and asks for the rest later.
 */
#ifndef DESKVM_VMM_CHARDEV_H
#define DESKVM_VMM_CHARDEV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* The socket back-end keeps this much recent output for clients that attach later. */
#define CHARDEV_HISTORY_SIZE (64 * 1024)
#define CHARDEV_INPUT_CHUNK 256

struct chardev;
struct chardev_socket;
struct evloop;

/*
 * Offer input to the consumer; returns how many bytes it took (0..len). Taking fewer pauses
 * reading from the back-end until the consumer calls chardev_input_resume().
 */
typedef size_t (*chardev_input_fn)(void *opaque, const uint8_t *buf, size_t len);

struct chardev {
    /* Write guest output; may drop bytes if the sink is not ready (returns bytes taken). */
    ssize_t (*write)(struct chardev *chr, const void *buf, size_t len);
    int in_fd;  /* readable fd with guest input, or -1 (for unix:, the attached client) */
    int out_fd; /* fd written by the default writer, or -1 (discard) */
    struct chardev_socket *sock; /* unix:PATH state, else NULL */

    /* Input, once attached (chardev_attach). */
    struct evloop *loop;
    chardev_input_fn input;
    void *input_opaque;
    bool in_watched;                     /* in_fd is on the loop */
    uint32_t in_events;                  /* the events in_fd is watched for */
    bool in_hup;                         /* stdin hung up while paused: drain it without epoll */
    bool in_eof;                         /* stdio input ended: no more ever */
    uint8_t in_buf[CHARDEV_INPUT_CHUNK]; /* read, not yet taken by the consumer */
    size_t in_off, in_len;
};

/*
 * "stdio", "null", "file:PATH", "unix:PATH". Returns 0, or -errno with a message in err
 * (-EINVAL: not a known back-end).
 */
int chardev_open(struct chardev *chr, const char *spec, char *err, size_t errlen);
void chardev_close(struct chardev *chr);
ssize_t chardev_write(struct chardev *chr, const void *buf, size_t len);

/*
 * Watch the back-end's fds on loop and hand input to fn. A stdin epoll cannot watch (a regular
 * file) just gives no input. Call with the loop's device lock held (or before the loop runs).
 */
__attribute__((warn_unused_result)) int chardev_attach(struct chardev *chr, struct evloop *loop,
                                                       chardev_input_fn fn, void *opaque);
/* The consumer has room again: offer what is pending, then read on. */
void chardev_input_resume(struct chardev *chr);
/* Stop watching (chardev_close does this too). */
void chardev_detach(struct chardev *chr);

/*
 * unix:PATH: is a client attached; bytes of output the attached client never got (they left
 * the history before it read them); connections refused because a client was attached.
 */
bool chardev_has_client(const struct chardev *chr);
uint64_t chardev_dropped(const struct chardev *chr);
uint64_t chardev_refused(const struct chardev *chr);

#endif
