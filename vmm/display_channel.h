/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The engine's end of the local display channel (docs/display-channel.md): a display listener
 * that hands the surface's memfd and its damage to one client over a unix stream socket, and
 * turns the client's key and pointer messages into the machine's input callbacks.
 */
#ifndef DESKVM_VMM_DISPLAY_CHANNEL_H
#define DESKVM_VMM_DISPLAY_CHANNEL_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

#include "display/vnc.h"

struct display;
struct evloop;
struct display_channel;

/* Check a --display-channel value: unix:PATH (listen there) or fd:N (a connected socket). */
int display_channel_parse(const char *spec, char *err, size_t errlen);

/*
 * Listen on (or adopt) the socket of spec, watched on loop, serving d. input gets the client's
 * keys (X keysyms) and pointer (absolute, VNC button bits) with opaque. NULL with err set.
 */
struct display_channel *display_channel_new(const char *spec, struct display *d,
                                            struct evloop *loop, const struct vnc_input_ops *input,
                                            void *opaque, char *err, size_t errlen);
/* After each display_refresh(): send the damage gathered, if the client has caught up. */
void display_channel_flush(struct display_channel *c);
/* Whether a client has said hello and is being sent the screen (false for NULL): the display
 * is then refreshed at the fast rate while it changes, as for a VNC client. */
bool display_channel_watched(const struct display_channel *c);
/* Close the sockets (a unix: path is unlinked) and free it. Accepts NULL. */
void display_channel_free(struct display_channel *c);

/* Counters for tests and logs. */
struct display_channel_stats {
    uint64_t clients, surfaces, damages, rects, keys, pointers, bad_msgs;
};
void display_channel_stats(const struct display_channel *c, struct display_channel_stats *s);

#endif
