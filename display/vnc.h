/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The VNC server (libvncserver) as a listener of a display: updates go out from damage
 * only, key and pointer events come back through input ops. It runs on the engine's event
 * loop: vnc_server_poll() does all protocol work without blocking; the only threads are the
 * per-client pumps that move bytes to and from the clients' sockets (display/vnc_pump.h).
 * docs/display.md.
 */
#ifndef DESKVM_DISPLAY_VNC_H
#define DESKVM_DISPLAY_VNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "display/surface.h"

struct vnc_config {
    bool unix_socket;
    char path[108]; /* unix socket path */
    char host[64];  /* IPv4 address */
    unsigned port;
    bool password; /* clients must authenticate (set with vnc_server_set_password) */
};

/*
 * "HOST:PORT[,password=on]" or "unix:PATH[,password=on]". HOST must be an IPv4 address;
 * a HOST that is not loopback needs password=on. -EINVAL with one line in err.
 */
int vnc_parse(const char *spec, struct vnc_config *cfg, char *err, size_t errlen);

/*
 * The guest's pointer image, sent to clients as a cursor shape (RichCursor / XCursor
 * pseudo-encodings; libvncserver draws it into the pixels it sends to other clients):
 * argb is w x h pixels (stride in pixels, alpha at bit 24, opaque from 128), hot spot
 * (hot_x, hot_y). NULL argb: no cursor. -EINVAL beyond VNC_CURSOR_MAX, -ENOMEM.
 */
#define VNC_CURSOR_MAX 256

struct vnc_client_info {
    char host[64]; /* IPv4 address, or "unix" */
    char service[16];
};

/* Client life cycle, as QEMU's VNC_CONNECTED / VNC_INITIALIZED / VNC_DISCONNECTED. */
enum vnc_event {
    VNC_EVENT_CONNECTED,   /* the socket was accepted */
    VNC_EVENT_INITIALIZED, /* authenticated and ClientInit received: the session is up */
    VNC_EVENT_DISCONNECTED,
};

struct vnc_input_ops {
    void (*key)(void *opaque, uint32_t keysym, bool down);
    /* Absolute position on the surface; buttons: bit 0 left, 1 middle, 2 right, 3/4 wheel. */
    void (*pointer)(void *opaque, int x, int y, unsigned buttons);
    /*
     * Optional: watch fd for reading and call vnc_server_poll() when it is (the listening
     * socket and a dup of each client's socket), so requests and input are served at once
     * rather than at the next refresh. unwatch is called before the fd is closed.
     */
    int (*watch)(void *opaque, int fd);
    void (*unwatch)(void *opaque, int fd);
    /*
     * Optional: a client asks for a width x height desktop (SetDesktopSize). 0: asked of the
     * guest (the surface follows when it changes mode), -ENOTSUP: the display cannot,
     * -EINVAL: not a size it can show. Without it, every request is refused.
     */
    int (*resize)(void *opaque, unsigned width, unsigned height);
    /* Optional: a client connected, finished its handshake or went away. */
    void (*client_event)(void *opaque, enum vnc_event event, const struct vnc_client_info *client);
};

struct vnc_server;

/* Listen as cfg says and attach to d. NULL with err set on failure. */
struct vnc_server *vnc_server_new(const struct vnc_config *cfg, struct display *d,
                                  const struct vnc_input_ops *input, void *opaque, char *err,
                                  size_t errlen);
void vnc_server_free(struct vnc_server *s);
/* Accept, read and send whatever is ready, without blocking. */
void vnc_server_poll(struct vnc_server *s);
/* The listening socket (TCP or unix) to watch for reading. */
int vnc_server_listen_fd(const struct vnc_server *s);
/* Take a waiting client (call when vnc_server_listen_fd() is readable). */
void vnc_server_accept(struct vnc_server *s);
int vnc_server_set_cursor(struct vnc_server *s, const uint32_t *argb, unsigned stride, unsigned w,
                          unsigned h, unsigned hot_x, unsigned hot_y);
/* The cursor's hot spot moved to (x, y) on the surface (PointerPos pseudo-encoding). */
void vnc_server_move_cursor(struct vnc_server *s, int x, int y);
/* Set the VNC password (at most 8 characters are used by the protocol). -EINVAL when too long. */
int vnc_server_set_password(struct vnc_server *s, const char *password);

/* Connected clients: fills at most max entries, returns the number connected. */
unsigned vnc_server_clients(struct vnc_server *s, struct vnc_client_info *out, unsigned max);
const struct vnc_config *vnc_server_config(const struct vnc_server *s);

#endif
