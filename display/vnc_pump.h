/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A VNC client's socket seen through a socketpair: libvncserver writes whole updates with
 * blocking writes, so the server is given one end of a socketpair and a thread of the pump
 * moves the bytes between the other end and the client's socket, queueing what the client has
 * not taken yet. A client that stops reading then blocks nobody; it is dropped (both sockets
 * closed, the server reads EOF) when its queue passes a limit or has not moved for a while.
 * docs/display.md, "Slow clients".
 */
#ifndef DESKVM_DISPLAY_VNC_PUMP_H
#define DESKVM_DISPLAY_VNC_PUMP_H

#include <stdbool.h>
#include <stddef.h>

struct vnc_pump;

/*
 * Takes net_fd (the client's connected socket; closed by the pump). *server_fd is the end
 * the server reads and writes (the caller owns it). max_queued bounds the bytes waiting for
 * the client; stall_ms is how long queued bytes may wait without the client taking any.
 * 0 or -errno (net_fd closed then too).
 */
__attribute__((warn_unused_result)) int vnc_pump_new(int net_fd, size_t max_queued,
                                                     unsigned stall_ms, struct vnc_pump **out,
                                                     int *server_fd);
/* A new bound for the queue (the framebuffer changed size); any thread. */
void vnc_pump_set_limit(struct vnc_pump *p, size_t max_queued);
/*
 * The server closed its end (the client is gone for it): the thread sends what is still
 * queued (a refusal, the last update) without anyone waiting for it, within the same limits,
 * then closes the client's socket and frees the pump. NULL is fine.
 */
void vnc_pump_release(struct vnc_pump *p);

#endif
