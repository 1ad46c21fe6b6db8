// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * VNC server on libvncserver. The RFB framebuffer is the display surface itself (zero
 * copy, the surface's x8r8g8b8 described to libvncserver as 32 bpp with red at bit 16), so
 * a damage rectangle only has to be marked modified. All socket work happens in
 * rfbProcessEvents() with a zero timeout on the event-loop thread. We listen and accept
 * ourselves and give libvncserver one end of a socketpair per client (display/vnc_pump.h):
 * its blocking writes then never wait for a client that stopped reading.
 */
#include "display/vnc.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <rfb/rfb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "display/vnc_pump.h"
#include "vmm/lazy_vncserver.h"

#define VNC_PASSWORD_MAX 8
/*
 * A client is dropped when the bytes waiting for it pass VNC_QUEUE_FRAMES raw frames of the
 * current size (plus 1 MiB) or when none of them moved for VNC_STALL_MS (libvncserver's own
 * rfbMaxClientWait is 20 s as well).
 */
#define VNC_QUEUE_FRAMES 4
#define VNC_STALL_MS 20000

struct vnc_server {
    struct vnc_config cfg;
    struct display *d;
    rfbScreenInfoPtr screen;
    const struct vnc_input_ops *input;
    void *opaque;
    int listen_fd;                 /* ours, TCP or unix */
    size_t max_queued;             /* per client, see VNC_QUEUE_FRAMES */
    struct vnc_pump *pending_pump; /* handed to the client rfbNewClient() is making */
    struct vnc_client_info pending_info;
    char password[VNC_PASSWORD_MAX + 1];
    char *passwords[2];  /* the NULL-terminated list rfbCheckPasswordByList walks */
    rfbCursorPtr cursor; /* ours (cleanup FALSE): freed when replaced and at the end */
};

/* What we keep per client (cl->clientData). */
struct vnc_client {
    int fd;           /* our dup of the socket, watched; -1 when not */
    bool initialized; /* VNC_EVENT_INITIALIZED sent */
    struct vnc_pump *pump;
    struct vnc_client_info info;
};

static void client_info(int sock, struct vnc_client_info *out)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    memset(out, 0, sizeof(*out));
    if (getpeername(sock, (struct sockaddr *)&ss, &len) == 0 && ss.ss_family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)&ss;
        inet_ntop(AF_INET, &in->sin_addr, out->host, sizeof(out->host));
        snprintf(out->service, sizeof(out->service), "%u", ntohs(in->sin_port));
    } else {
        snprintf(out->host, sizeof(out->host), "unix");
    }
}

static void client_event(struct vnc_server *s, enum vnc_event ev, const struct vnc_client *c)
{
    if (s->input && s->input->client_event) {
        s->input->client_event(s->opaque, ev, &c->info);
    }
}

/* A client that reached RFB_NORMAL finished its handshake: VNC_EVENT_INITIALIZED, once. */
static void check_initialized(struct vnc_server *s, rfbClientPtr cl)
{
    struct vnc_client *c = cl->clientData;
    if (c && !c->initialized && cl->state == RFB_NORMAL) {
        c->initialized = true;
        client_event(s, VNC_EVENT_INITIALIZED, c);
    }
}

int vnc_parse(const char *spec, struct vnc_config *cfg, char *err, size_t errlen)
{
    memset(cfg, 0, sizeof(*cfg));
    char buf[256];
    if (strlen(spec) >= sizeof(buf)) {
        snprintf(err, errlen, "--vnc: too long");
        return -EINVAL;
    }
    strcpy(buf, spec);
    char *opts = strchr(buf, ',');
    if (opts) {
        *opts++ = '\0';
        for (char *save = NULL, *o = strtok_r(opts, ",", &save); o;
             o = strtok_r(NULL, ",", &save)) {
            if (strcmp(o, "password=on") == 0) {
                cfg->password = true;
            } else if (strcmp(o, "password=off") == 0) {
                cfg->password = false;
            } else {
                snprintf(err, errlen, "--vnc %s: unknown option '%s' (expected password=on)", spec,
                         o);
                return -EINVAL;
            }
        }
    }
    if (strncmp(buf, "unix:", 5) == 0) {
        if (!buf[5] || strlen(buf + 5) >= sizeof(cfg->path)) {
            snprintf(err, errlen, "--vnc %s: expected unix:PATH (at most %zu bytes)", spec,
                     sizeof(cfg->path) - 1);
            return -EINVAL;
        }
        cfg->unix_socket = true;
        strcpy(cfg->path, buf + 5);
        return 0;
    }
    char *colon = strrchr(buf, ':');
    struct in_addr a;
    char *end = NULL;
    long port = colon ? strtol(colon + 1, &end, 10) : -1;
    if (!colon || end == colon + 1 || *end || port < 1 || port > 65535) {
        snprintf(err, errlen, "--vnc %s: expected HOST:PORT or unix:PATH", spec);
        return -EINVAL;
    }
    *colon = '\0';
    if (strlen(buf) >= sizeof(cfg->host) || inet_pton(AF_INET, buf, &a) != 1) {
        snprintf(err, errlen, "--vnc %s: HOST must be an IPv4 address such as 127.0.0.1", spec);
        return -EINVAL;
    }
    strcpy(cfg->host, buf);
    cfg->port = (unsigned)port;
    /* Anyone who can reach a non-loopback address could take the guest's console. */
    if ((ntohl(a.s_addr) >> 24) != 127 && !cfg->password) {
        snprintf(err, errlen, "--vnc %s: listening beyond loopback needs password=on", spec);
        return -EINVAL;
    }
    return 0;
}

static void set_queue_limit(struct vnc_server *s, const struct display *d)
{
    s->max_queued = (size_t)VNC_QUEUE_FRAMES * d->width * d->height * 4 + ((size_t)1 << 20);
    if (!s->screen) {
        return;
    }
    rfbClientIteratorPtr it = lazy_vncserver.rfbGetClientIterator(s->screen);
    for (rfbClientPtr cl = lazy_vncserver.rfbClientIteratorNext(it); cl;
         cl = lazy_vncserver.rfbClientIteratorNext(it)) {
        struct vnc_client *c = cl->clientData;
        if (c && c->pump) {
            vnc_pump_set_limit(c->pump, s->max_queued);
        }
    }
    lazy_vncserver.rfbReleaseClientIterator(it);
}

static void set_format(rfbScreenInfoPtr screen)
{
    screen->serverFormat.redShift = 16;
    screen->serverFormat.greenShift = 8;
    screen->serverFormat.blueShift = 0;
}

static void on_resize(void *opaque, struct display *d)
{
    struct vnc_server *s = opaque;
    /* Clients that support it get a desktop-size update; the others keep the old size. */
    lazy_vncserver.rfbNewFramebuffer(s->screen, (char *)d->data, (int)d->width, (int)d->height, 8,
                                     3, 4);
    set_format(s->screen);
    set_queue_limit(s, d);
}

static void on_update(void *opaque, struct display *d, unsigned x, unsigned y, unsigned w,
                      unsigned h)
{
    struct vnc_server *s = opaque;
    lazy_vncserver.rfbMarkRectAsModified(s->screen, (int)x, (int)y, (int)(x + w), (int)(y + h));
}

static const struct display_listener_ops vnc_listener_ops = {
    .resize = on_resize,
    .update = on_update,
};

static void on_key(rfbBool down, rfbKeySym keysym, rfbClientPtr cl)
{
    struct vnc_server *s = cl->screen->screenData;
    if (s->input && s->input->key) {
        s->input->key(s->opaque, (uint32_t)keysym, down);
    }
}

static void on_pointer(int buttons, int x, int y, rfbClientPtr cl)
{
    struct vnc_server *s = cl->screen->screenData;
    /* guest-independent but client-controlled: keep the position on the surface */
    x = x < 0 ? 0 : x >= (int)s->d->width ? (int)s->d->width - 1 : x;
    y = y < 0 ? 0 : y >= (int)s->d->height ? (int)s->d->height - 1 : y;
    if (s->input && s->input->pointer) {
        s->input->pointer(s->opaque, x, y, (unsigned)buttons & 0x1f);
    }
}

/*
 * SetDesktopSize: the surface only changes when the guest sets the new mode, so the client
 * gets its ExtendedDesktopSize reply (reason "client requested", the status) at once with the
 * current size, and the new size later as any resize. One screen only: its layout is ignored.
 */
static int on_set_desktop_size(int width, int height, int nscreens, rfbExtDesktopScreen *screens,
                               rfbClientPtr cl)
{
    struct vnc_server *s = cl->screen->screenData;
    int r = -ENOTSUP;
    if (s->input && s->input->resize && width > 0 && height > 0) {
        r = s->input->resize(s->opaque, (unsigned)width, (unsigned)height);
    }
    cl->newFBSizePending = TRUE;
    return r == 0         ? rfbExtDesktopSize_Success
           : r == -EINVAL ? rfbExtDesktopSize_InvalidScreenLayout
                          : rfbExtDesktopSize_ResizeProhibited;
}

/*
 * Each client's socket is watched through a dup of its own: libvncserver closes its fd before
 * clientGoneHook runs, and a new client may take the same number in between; our dup stays
 * ours until the hook closes it.
 */
static void on_client_gone(rfbClientPtr cl)
{
    struct vnc_server *s = cl->screen->screenData;
    struct vnc_client *c = cl->clientData;
    if (!c) {
        return;
    }
    if (c->fd >= 0) {
        s->input->unwatch(s->opaque, c->fd);
        close(c->fd);
    }
    check_initialized(s, cl); /* it may have finished and gone within one poll */
    client_event(s, VNC_EVENT_DISCONNECTED, c);
    cl->clientData = NULL;
    vnc_pump_release(c->pump);
    free(c);
}

static enum rfbNewClientAction on_client(rfbClientPtr cl)
{
    struct vnc_server *s = cl->screen->screenData;
    struct vnc_client *c = calloc(1, sizeof(*c));
    if (!c) {
        return RFB_CLIENT_REFUSE;
    }
    c->fd = -1; /* served at the next refresh only */
    c->info = s->pending_info;
    c->pump = s->pending_pump;
    s->pending_pump = NULL;
    cl->clientData = c;
    cl->clientGoneHook = on_client_gone;
    if (s->input && s->input->watch) {
        int fd = fcntl(cl->sock, F_DUPFD_CLOEXEC, 0);
        if (fd >= 0 && s->input->watch(s->opaque, fd) < 0) {
            close(fd);
            fd = -1;
        }
        c->fd = fd;
    }
    client_event(s, VNC_EVENT_CONNECTED, c);
    return RFB_CLIENT_ACCEPT;
}

static int listen_unix(const char *path, char *err, size_t errlen)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        snprintf(err, errlen, "vnc: socket: %s", strerror(errno));
        return -1;
    }
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    unlink(path); /* a stale socket from an engine that died */
    mode_t old = umask(0077);
    int r = bind(fd, (struct sockaddr *)&sa, sizeof(sa));
    umask(old);
    if (r < 0 || listen(fd, 8) < 0) {
        snprintf(err, errlen, "vnc: bind %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    return fd;
}

static int listen_tcp(const struct vnc_config *cfg, char *err, size_t errlen)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)cfg->port)};
    inet_pton(AF_INET, cfg->host, &sa.sin_addr);
    int one = 1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 32) < 0) {
        snprintf(err, errlen, "vnc: cannot listen on %s:%u: %s", cfg->host, cfg->port,
                 strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        return -1;
    }
    return fd;
}

struct vnc_server *vnc_server_new(const struct vnc_config *cfg, struct display *d,
                                  const struct vnc_input_ops *input, void *opaque, char *err,
                                  size_t errlen)
{
    const char *why;
    if (lazy_vncserver_load(&why) < 0) {
        snprintf(err, errlen, "--vnc needs %s", why);
        return NULL;
    }
    struct vnc_server *s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(err, errlen, "vnc: out of memory");
        return NULL;
    }
    s->cfg = *cfg;
    s->d = d;
    s->input = input;
    s->opaque = opaque;
    s->listen_fd = -1;
    set_queue_limit(s, d);
    lazy_vncserver.rfbLogEnable(0);
    int argc = 0;
    s->screen = lazy_vncserver.rfbGetScreen(&argc, NULL, (int)d->width, (int)d->height, 8, 3, 4);
    if (!s->screen) {
        snprintf(err, errlen, "vnc: cannot create the server");
        free(s);
        return NULL;
    }
    rfbScreenInfoPtr sc = s->screen;
    sc->frameBuffer = (char *)d->data;
    set_format(sc);
    sc->desktopName = "deskvm";
    sc->screenData = s;
    sc->kbdAddEvent = on_key;
    sc->ptrAddEvent = on_pointer;
    sc->newClientHook = on_client;
    sc->setDesktopSizeHook = on_set_desktop_size;
    /* No server-drawn cursor in the pixels: the guest draws its own, as on real VGA. */
    sc->cursor = NULL;
    sc->alwaysShared = TRUE;
    sc->deferUpdateTime = 0;
    /* We listen ourselves: libvncserver opens no socket, IPv6 on every interface included. */
    sc->port = 0;
    sc->ipv6port = 0;
    sc->autoPort = FALSE;
    if (cfg->password) {
        /* Until a password is set, the list is empty and every attempt fails. */
        s->passwords[0] = NULL;
        sc->authPasswdData = s->passwords;
        sc->passwordCheck = lazy_vncserver.rfbCheckPasswordByList;
    }
    s->listen_fd =
        cfg->unix_socket ? listen_unix(cfg->path, err, errlen) : listen_tcp(cfg, err, errlen);
    if (s->listen_fd < 0) {
        vnc_server_free(s);
        return NULL;
    }
    lazy_vncserver.rfbInitServer(sc);
    if (display_add_listener(d, &vnc_listener_ops, s) < 0) {
        snprintf(err, errlen, "vnc: too many display listeners");
        vnc_server_free(s);
        return NULL;
    }
    return s;
}

static void free_cursor(rfbCursorPtr c)
{
    if (c) {
        free(c->source);
        free(c->mask);
        free(c->richSource);
        free(c->alphaSource);
        free(c);
    }
}

/* Where the cursor is, in the pixels sent to clients that draw no cursor of their own. */
static void mark_cursor(struct vnc_server *s)
{
    rfbCursorPtr c = s->cursor;
    if (c) {
        int x = s->screen->cursorX - c->xhot, y = s->screen->cursorY - c->yhot;
        lazy_vncserver.rfbMarkRectAsModified(s->screen, x < 0 ? 0 : x, y < 0 ? 0 : y, x + c->width,
                                             y + c->height);
    }
}

int vnc_server_set_cursor(struct vnc_server *s, const uint32_t *argb, unsigned stride, unsigned w,
                          unsigned h, unsigned hot_x, unsigned hot_y)
{
    rfbCursorPtr c = NULL;
    if (argb) {
        if (!w || !h || w > VNC_CURSOR_MAX || h > VNC_CURSOR_MAX || stride < w || hot_x >= w ||
            hot_y >= h) {
            return -EINVAL;
        }
        size_t row = (w + 7) / 8;
        c = calloc(1, sizeof(*c));
        if (!c || !(c->source = calloc(row, h)) || !(c->mask = calloc(row, h)) ||
            !(c->richSource = malloc((size_t)w * h * 4)) ||
            !(c->alphaSource = malloc((size_t)w * h))) {
            free_cursor(c);
            return -ENOMEM;
        }
        c->width = (unsigned short)w;
        c->height = (unsigned short)h;
        c->xhot = (unsigned short)hot_x;
        c->yhot = (unsigned short)hot_y;
        c->foreRed = c->foreGreen = c->foreBlue = 0xffff; /* XCursor: white on black */
        for (unsigned y = 0; y < h; y++) {
            for (unsigned x = 0; x < w; x++) {
                uint32_t p = argb[(size_t)y * stride + x];
                unsigned a = p >> 24;
                unsigned lum = ((p >> 16 & 0xff) * 3 + (p >> 8 & 0xff) * 6 + (p & 0xff)) / 10;
                size_t i = (size_t)y * w + x;
                /* the server format: 32 bpp little endian, red at bit 16 */
                memcpy(c->richSource + i * 4, &p, 4);
                c->alphaSource[i] = (unsigned char)a;
                if (a >= 128) {
                    c->mask[y * row + x / 8] |= (unsigned char)(0x80 >> (x % 8));
                }
                if (lum >= 128) {
                    c->source[y * row + x / 8] |= (unsigned char)(0x80 >> (x % 8));
                }
            }
        }
    }
    mark_cursor(s); /* where the old one was drawn */
    lazy_vncserver.rfbSetCursor(s->screen, c);
    free_cursor(s->cursor);
    s->cursor = c;
    mark_cursor(s);
    return 0;
}

void vnc_server_move_cursor(struct vnc_server *s, int x, int y)
{
    if (x == s->screen->cursorX && y == s->screen->cursorY) {
        return;
    }
    mark_cursor(s);
    s->screen->cursorX = x;
    s->screen->cursorY = y;
    mark_cursor(s);
    rfbClientIteratorPtr it = lazy_vncserver.rfbGetClientIterator(s->screen);
    for (rfbClientPtr cl = lazy_vncserver.rfbClientIteratorNext(it); cl;
         cl = lazy_vncserver.rfbClientIteratorNext(it)) {
        cl->cursorWasMoved = TRUE;
    }
    lazy_vncserver.rfbReleaseClientIterator(it);
}

void vnc_server_free(struct vnc_server *s)
{
    if (!s) {
        return;
    }
    display_remove_listener(s->d, s);
    if (s->screen) {
        lazy_vncserver.rfbShutdownServer(s->screen, TRUE);
        s->screen->cursor = NULL; /* ours, freed below */
        lazy_vncserver.rfbScreenCleanup(s->screen);
    }
    free_cursor(s->cursor);
    if (s->listen_fd >= 0) {
        close(s->listen_fd);
        if (s->cfg.unix_socket) {
            unlink(s->cfg.path);
        }
    }
    free(s);
}

void vnc_server_poll(struct vnc_server *s)
{
    lazy_vncserver.rfbProcessEvents(s->screen, 0);
    if (s->input && s->input->client_event) {
        rfbClientIteratorPtr it = lazy_vncserver.rfbGetClientIterator(s->screen);
        for (rfbClientPtr cl = lazy_vncserver.rfbClientIteratorNext(it); cl;
             cl = lazy_vncserver.rfbClientIteratorNext(it)) {
            check_initialized(s, cl);
        }
        lazy_vncserver.rfbReleaseClientIterator(it);
    }
}

int vnc_server_listen_fd(const struct vnc_server *s)
{
    return s->listen_fd;
}

void vnc_server_accept(struct vnc_server *s)
{
    int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0) {
        return;
    }
    int one = 1;
    if (!s->cfg.unix_socket) {
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    client_info(fd, &s->pending_info);
    int server_fd;
    if (vnc_pump_new(fd, s->max_queued, VNC_STALL_MS, &s->pending_pump, &server_fd) < 0) {
        return; /* the pump closed the client's socket */
    }
    /*
     * libvncserver takes its end, sends the protocol version and owns it from now on (it
     * closes it when it refuses the client); the client's record (on_client) takes the pump.
     */
    lazy_vncserver.rfbNewClient(s->screen, server_fd);
    if (s->pending_pump) { /* refused before on_client took it */
        vnc_pump_release(s->pending_pump);
        s->pending_pump = NULL;
    }
}

int vnc_server_set_password(struct vnc_server *s, const char *password)
{
    if (strlen(password) > VNC_PASSWORD_MAX) {
        return -EINVAL;
    }
    strcpy(s->password, password);
    s->passwords[0] = s->password;
    s->passwords[1] = NULL;
    if (!s->screen->authPasswdData) {
        s->screen->authPasswdData = s->passwords;
        s->screen->passwordCheck = lazy_vncserver.rfbCheckPasswordByList;
    }
    return 0;
}

unsigned vnc_server_clients(struct vnc_server *s, struct vnc_client_info *out, unsigned max)
{
    unsigned n = 0;
    rfbClientIteratorPtr it = lazy_vncserver.rfbGetClientIterator(s->screen);
    for (rfbClientPtr cl = lazy_vncserver.rfbClientIteratorNext(it); cl;
         cl = lazy_vncserver.rfbClientIteratorNext(it)) {
        if (n < max) {
            struct vnc_client *c = cl->clientData;
            if (c) {
                out[n] = c->info;
            } else {
                client_info(cl->sock, &out[n]);
            }
        }
        n++;
    }
    lazy_vncserver.rfbReleaseClientIterator(it);
    return n;
}

const struct vnc_config *vnc_server_config(const struct vnc_server *s)
{
    return &s->cfg;
}
