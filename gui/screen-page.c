// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Screen page: a client of the engine's display channel. The surface memfd is mapped read-only
 * and wrapped in a cairo image surface (cairo_image_surface_create_for_data: no copy); damage
 * messages queue redraws of their rectangles only, and each is acked so the engine sends the
 * next. Keys go as X keysyms (GDK keyvals are keysyms), the pointer as absolute surface
 * coordinates. A click grabs the keyboard (gdk_seat_grab), Ctrl+Alt releases it.
 * Every engine message is checked by dc_decode() and against the current surface.
 */
#include "gui/screen-page.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <math.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <glib-unix.h>

#include "display/channel_proto.h"

#define MAX_FDS 4

struct _DvScreenPage {
    GtkBox parent;
    GtkWidget *area;
    GtkLabel *hint;
    GtkToggleButton *fit;
    DvVm *vm;
    char *path;  /* the channel we are (or want to be) connected to */
    int fd;      /* the socket, -1 when not connected */
    guint watch; /* g_unix_fd_add on fd */
    guint retry; /* reconnect timer while the engine starts */
    uint8_t rx[2 * DC_MAX_MSG];
    size_t rx_len;
    int fds[MAX_FDS]; /* memfds received and not yet claimed by a surface message */
    unsigned nfds;
    cairo_surface_t *surface;
    void *map;
    size_t map_len;
    uint32_t width, height;
    gboolean grabbed;
    unsigned buttons;
    FILE *trace; /* $DESKVM_TRACE_FRAMES: one line per frame drawn, for bench/gui.py */
};

static void page_iface_init(DvConsolePageInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE(DvScreenPage, dv_screen_page, GTK_TYPE_BOX,
                              G_IMPLEMENT_INTERFACE(DV_TYPE_CONSOLE_PAGE, page_iface_init))

/* ---- channel ---------------------------------------------------------------------------- */

static void send_msg(DvScreenPage *self, const struct dc_msg *m)
{
    uint8_t buf[DC_MAX_MSG];
    int n = dc_encode(m, buf, sizeof(buf));
    if (self->fd >= 0 && n > 0) {
        /* Small messages on a socket the engine drains at once; a full one loses input. */
        (void)send(self->fd, buf, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL);
    }
}

static void drop_surface(DvScreenPage *self)
{
    g_clear_pointer(&self->surface, cairo_surface_destroy);
    if (self->map != NULL) {
        munmap(self->map, self->map_len);
        self->map = NULL;
    }
    self->width = self->height = 0;
}

static void set_hint(DvScreenPage *self)
{
    const char *text;
    if (self->fd < 0) {
        text = self->vm != NULL && dv_vm_get_display_path(self->vm) != NULL
                   ? "Connecting to the display…"
                   : "The VM is not running.";
    } else if (self->grabbed) {
        text = "Keyboard grabbed: press Ctrl+Alt to release";
    } else {
        text = "Click the screen to grab the keyboard";
    }
    gtk_label_set_text(self->hint, text);
}

static void ungrab(DvScreenPage *self)
{
    if (self->grabbed) {
        gdk_seat_ungrab(gdk_display_get_default_seat(gtk_widget_get_display(self->area)));
        self->grabbed = FALSE;
        set_hint(self);
    }
}

static void disconnect(DvScreenPage *self)
{
    ungrab(self);
    if (self->watch != 0) {
        g_source_remove(self->watch);
        self->watch = 0;
    }
    if (self->fd >= 0) {
        close(self->fd);
        self->fd = -1;
    }
    for (unsigned i = 0; i < self->nfds; i++) {
        close(self->fds[i]);
    }
    self->nfds = 0;
    self->rx_len = 0;
    drop_surface(self);
    gtk_widget_queue_draw(self->area);
    set_hint(self);
}

/* A new surface: map its memfd (checked against the size the message claims). */
static int take_surface(DvScreenPage *self, const struct dc_msg *m)
{
    if (self->nfds == 0) {
        return -EPROTO;
    }
    int fd = self->fds[0];
    memmove(self->fds, self->fds + 1, --self->nfds * sizeof(int));
    size_t len = (size_t)m->surface.stride * m->surface.height;
    struct stat st;
    if (fstat(fd, &st) < 0 || st.st_size < 0 || (size_t)st.st_size < len) {
        close(fd);
        return -EPROTO;
    }
    void *map = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
    close(fd);
    if (map == MAP_FAILED) {
        return -errno;
    }
    drop_surface(self);
    self->map = map;
    self->map_len = len;
    self->width = m->surface.width;
    self->height = m->surface.height;
    /* cairo only reads a source surface: the read-only mapping is never written. */
    self->surface = cairo_image_surface_create_for_data(map, CAIRO_FORMAT_RGB24, (int)self->width,
                                                        (int)self->height, (int)m->surface.stride);
    gtk_widget_queue_draw(self->area);
    return 0;
}

/* The widget's transform: surface pixel (x, y) is drawn at (ox + x * scale, oy + y * scale). */
static void transform(DvScreenPage *self, double *scale, double *ox, double *oy)
{
    double aw = gtk_widget_get_allocated_width(self->area);
    double ah = gtk_widget_get_allocated_height(self->area);
    *scale = 1.0;
    if (gtk_toggle_button_get_active(self->fit) && self->width && self->height) {
        *scale = MIN(aw / self->width, ah / self->height);
        if (*scale <= 0) {
            *scale = 1.0;
        }
    }
    *ox = floor((aw - self->width * *scale) / 2);
    *oy = floor((ah - self->height * *scale) / 2);
}

static void damage(DvScreenPage *self, const struct dc_msg *m)
{
    double s, ox, oy;
    transform(self, &s, &ox, &oy);
    for (uint32_t i = 0; i < m->damage.count; i++) {
        const struct dc_rect *r = &m->damage.rects[i];
        /* engine-controlled: clip to the surface we have */
        if (self->surface == NULL || r->x >= self->width || r->y >= self->height) {
            continue;
        }
        uint32_t w = MIN(r->w, self->width - r->x), h = MIN(r->h, self->height - r->y);
        cairo_surface_mark_dirty_rectangle(self->surface, (int)r->x, (int)r->y, (int)w, (int)h);
        gtk_widget_queue_draw_area(self->area, (int)floor(ox + r->x * s) - 1,
                                   (int)floor(oy + r->y * s) - 1, (int)ceil(w * s) + 2,
                                   (int)ceil(h * s) + 2);
    }
}

static int handle(DvScreenPage *self, const struct dc_msg *m)
{
    switch (m->type) {
    case DC_S_HELLO:
        return 0;
    case DC_S_SURFACE: {
        int r = take_surface(self, m);
        if (r == 0) {
            struct dc_msg a = {.type = DC_C_ACK, .ack = {m->surface.serial}};
            send_msg(self, &a);
        }
        return r;
    }
    case DC_S_DAMAGE: {
        damage(self, m);
        struct dc_msg a = {.type = DC_C_ACK, .ack = {m->damage.serial}};
        send_msg(self, &a);
        return 0;
    }
    default:
        return -EPROTO;
    }
}

static gboolean on_readable(int fd, GIOCondition cond, gpointer data)
{
    DvScreenPage *self = data;
    union {
        struct cmsghdr align;
        char b[CMSG_SPACE(MAX_FDS * sizeof(int))];
    } ctl;
    struct iovec iov = {.iov_base = self->rx + self->rx_len,
                        .iov_len = sizeof(self->rx) - self->rx_len};
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.b, .msg_controllen = sizeof(ctl.b)};
    ssize_t n = recvmsg(fd, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
        return G_SOURCE_CONTINUE;
    }
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(&mh); cm != NULL; cm = CMSG_NXTHDR(&mh, cm)) {
        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) {
            continue;
        }
        size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < k; i++) {
            int got;
            memcpy(&got, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
            if (self->nfds < MAX_FDS) {
                self->fds[self->nfds++] = got;
            } else {
                close(got);
            }
        }
    }
    if (n <= 0) {
        self->watch = 0;
        disconnect(self);
        return G_SOURCE_REMOVE;
    }
    self->rx_len += (size_t)n;
    size_t off = 0;
    for (;;) {
        struct dc_msg m;
        int r = dc_decode(self->rx + off, self->rx_len - off, false, &m);
        if (r == 0) {
            break;
        }
        if (r < 0 || handle(self, &m) < 0) {
            g_warning("display channel: malformed message from the engine, disconnecting");
            self->watch = 0;
            disconnect(self);
            return G_SOURCE_REMOVE;
        }
        off += (size_t)r;
    }
    memmove(self->rx, self->rx + off, self->rx_len - off);
    self->rx_len -= off;
    return G_SOURCE_CONTINUE;
}

static gboolean try_connect(gpointer data)
{
    DvScreenPage *self = data;
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    if (self->path == NULL || strlen(self->path) >= sizeof(sa.sun_path)) {
        self->retry = 0;
        return G_SOURCE_REMOVE;
    }
    g_strlcpy(sa.sun_path, self->path, sizeof(sa.sun_path));
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        if (fd >= 0) {
            close(fd);
        }
        return G_SOURCE_CONTINUE; /* the engine has not created it yet */
    }
    self->retry = 0;
    self->fd = fd;
    self->watch = g_unix_fd_add(fd, G_IO_IN | G_IO_HUP | G_IO_ERR, on_readable, self);
    struct dc_msg hello = {.type = DC_C_HELLO, .hello = {DC_MAGIC, DC_VERSION}};
    send_msg(self, &hello);
    set_hint(self);
    return G_SOURCE_REMOVE;
}

/* ---- drawing and input ------------------------------------------------------------------- */

static gboolean on_draw(GtkWidget *w, cairo_t *cr, gpointer data)
{
    DvScreenPage *self = data;
    cairo_set_source_rgb(cr, 0, 0, 0);
    cairo_paint(cr);
    if (self->surface == NULL) {
        return TRUE;
    }
    double s, ox, oy;
    transform(self, &s, &ox, &oy);
    cairo_translate(cr, ox, oy);
    cairo_scale(cr, s, s);
    cairo_set_source_surface(cr, self->surface, 0, 0);
    cairo_pattern_set_filter(cairo_get_source(cr),
                             s == 1.0 ? CAIRO_FILTER_NEAREST : CAIRO_FILTER_GOOD);
    cairo_paint(cr);
    if (self->trace != NULL) {
        /* CLOCK_MONOTONIC in µs (a benchmark compares it with its own clock), pixel (0,0),
         * where bench guests write their frame number, and the surface size. */
        uint32_t first = 0;
        memcpy(&first, self->map, sizeof(first));
        fprintf(self->trace, "draw %" G_GINT64_FORMAT " %u %ux%u\n", g_get_monotonic_time(),
                first & 0xffffffu, self->width, self->height);
    }
    return TRUE;
}

static void send_key(DvScreenPage *self, guint keyval, gboolean down)
{
    struct dc_msg m = {.type = DC_C_KEY, .key = {keyval, down}};
    if (keyval != 0 && keyval <= 0x1fffffff) {
        send_msg(self, &m);
    }
}

static gboolean is_ctrl(guint k)
{
    return k == GDK_KEY_Control_L || k == GDK_KEY_Control_R;
}

static gboolean is_alt(guint k)
{
    return k == GDK_KEY_Alt_L || k == GDK_KEY_Alt_R || k == GDK_KEY_Meta_L || k == GDK_KEY_Meta_R;
}

static gboolean on_key(GtkWidget *w, GdkEventKey *ev, gpointer data)
{
    DvScreenPage *self = data;
    if (self->fd < 0) {
        return FALSE;
    }
    gboolean down = ev->type == GDK_KEY_PRESS;
    send_key(self, ev->keyval, down);
    /* Ctrl+Alt: release the grab, and the guest sees both keys go up. */
    if (down && self->grabbed &&
        ((is_alt(ev->keyval) && (ev->state & GDK_CONTROL_MASK)) ||
         (is_ctrl(ev->keyval) && (ev->state & GDK_MOD1_MASK)))) {
        send_key(self, GDK_KEY_Control_L, FALSE);
        send_key(self, GDK_KEY_Control_R, FALSE);
        send_key(self, GDK_KEY_Alt_L, FALSE);
        send_key(self, GDK_KEY_Alt_R, FALSE);
        ungrab(self);
    }
    return TRUE;
}

static void send_pointer(DvScreenPage *self, double wx, double wy)
{
    if (self->surface == NULL) {
        return;
    }
    double s, ox, oy;
    transform(self, &s, &ox, &oy);
    double x = (wx - ox) / s, y = (wy - oy) / s;
    struct dc_msg m = {.type = DC_C_POINTER};
    m.pointer.x = (uint32_t)CLAMP(x, 0, self->width - 1);
    m.pointer.y = (uint32_t)CLAMP(y, 0, self->height - 1);
    m.pointer.buttons = self->buttons;
    send_msg(self, &m);
}

static unsigned button_bit(guint button)
{
    /* GDK 1 left, 2 middle, 3 right -> channel bits 0, 1, 2 (the VNC order). */
    return button >= 1 && button <= 3 ? 1u << (button - 1) : 0;
}

static gboolean on_button(GtkWidget *w, GdkEventButton *ev, gpointer data)
{
    DvScreenPage *self = data;
    if (self->fd < 0) {
        return FALSE;
    }
    gtk_widget_grab_focus(self->area);
    if (ev->type == GDK_BUTTON_PRESS && !self->grabbed) {
        GdkSeat *seat = gdk_display_get_default_seat(gtk_widget_get_display(w));
        GdkGrabStatus st =
            gdk_seat_grab(seat, gtk_widget_get_window(w), GDK_SEAT_CAPABILITY_KEYBOARD, FALSE, NULL,
                          (GdkEvent *)ev, NULL, NULL);
        /* Without a window manager the grab may be refused; focus still routes the keys. */
        self->grabbed = st == GDK_GRAB_SUCCESS;
        set_hint(self);
    }
    if (ev->type == GDK_BUTTON_PRESS) {
        self->buttons |= button_bit(ev->button);
    } else if (ev->type == GDK_BUTTON_RELEASE) {
        self->buttons &= ~button_bit(ev->button);
    }
    send_pointer(self, ev->x, ev->y);
    return TRUE;
}

static gboolean on_motion(GtkWidget *w, GdkEventMotion *ev, gpointer data)
{
    send_pointer(data, ev->x, ev->y);
    return TRUE;
}

static gboolean on_scroll(GtkWidget *w, GdkEventScroll *ev, gpointer data)
{
    DvScreenPage *self = data;
    unsigned bit = ev->direction == GDK_SCROLL_UP ? 8 : ev->direction == GDK_SCROLL_DOWN ? 16 : 0;
    if (bit == 0) {
        return FALSE;
    }
    self->buttons |= bit; /* a wheel step is a press and a release, as in VNC */
    send_pointer(self, ev->x, ev->y);
    self->buttons &= ~bit;
    send_pointer(self, ev->x, ev->y);
    return TRUE;
}

static void on_fit_toggled(GtkToggleButton *b, gpointer data)
{
    gtk_widget_queue_draw(DV_SCREEN_PAGE(data)->area);
}

/* Send-key menu: the keys go down in order and up in reverse. */
static void on_send_keys(GtkMenuItem *item, gpointer data)
{
    DvScreenPage *self = data;
    const guint *keys = g_object_get_data(G_OBJECT(item), "keys");
    int n = 0;
    while (keys[n] != 0) {
        send_key(self, keys[n++], TRUE);
    }
    while (n > 0) {
        send_key(self, keys[--n], FALSE);
    }
}

static void add_send_key(DvScreenPage *self, GtkWidget *menu, const char *label, guint last)
{
    GtkWidget *item = gtk_menu_item_new_with_label(label);
    guint *keys = g_new0(guint, 4);
    keys[0] = GDK_KEY_Control_L;
    keys[1] = GDK_KEY_Alt_L;
    keys[2] = last;
    g_object_set_data_full(G_OBJECT(item), "keys", keys, g_free);
    g_signal_connect(item, "activate", G_CALLBACK(on_send_keys), self);
    gtk_menu_shell_append(GTK_MENU_SHELL(menu), item);
}

/* ---- page ------------------------------------------------------------------------------- */

static void set_vm(DvConsolePage *page, DvVm *vm)
{
    DvScreenPage *self = DV_SCREEN_PAGE(page);
    const char *path = vm != NULL ? dv_vm_get_display_path(vm) : NULL;
    if (vm == self->vm && g_strcmp0(path, self->path) == 0 && (self->fd >= 0 || self->retry)) {
        return;
    }
    g_set_object(&self->vm, vm);
    if (g_strcmp0(path, self->path) != 0 || path == NULL) {
        disconnect(self);
        if (self->retry != 0) {
            g_source_remove(self->retry);
            self->retry = 0;
        }
        g_free(self->path);
        self->path = g_strdup(path);
    }
    if (self->path != NULL && self->fd < 0 && self->retry == 0 && try_connect(self)) {
        self->retry = g_timeout_add(200, try_connect, self);
    }
    set_hint(self);
}

static const char *get_title(DvConsolePage *page)
{
    return "Screen";
}

static void page_iface_init(DvConsolePageInterface *iface)
{
    iface->get_title = get_title;
    iface->set_vm = set_vm;
}

static void dv_screen_page_dispose(GObject *obj)
{
    DvScreenPage *self = DV_SCREEN_PAGE(obj);
    if (self->retry != 0) {
        g_source_remove(self->retry);
        self->retry = 0;
    }
    if (self->area != NULL) {
        disconnect(self);
    }
    g_clear_pointer(&self->path, g_free);
    g_clear_object(&self->vm);
    g_clear_pointer(&self->trace, fclose);
    G_OBJECT_CLASS(dv_screen_page_parent_class)->dispose(obj);
}

static void dv_screen_page_class_init(DvScreenPageClass *klass)
{
    G_OBJECT_CLASS(klass)->dispose = dv_screen_page_dispose;
}

static void dv_screen_page_init(DvScreenPage *self)
{
    self->fd = -1;
    const char *trace = g_getenv("DESKVM_TRACE_FRAMES");
    if (trace != NULL && *trace != '\0') {
        self->trace = fopen(trace, "ae");
        if (self->trace != NULL) {
            setvbuf(self->trace, NULL, _IOLBF, 0);
        }
    }
    gtk_orientable_set_orientation(GTK_ORIENTABLE(self), GTK_ORIENTATION_VERTICAL);
    GtkWidget *bar = gtk_box_new(GTK_ORIENTATION_HORIZONTAL, 6);
    gtk_container_set_border_width(GTK_CONTAINER(bar), 3);
    self->fit = GTK_TOGGLE_BUTTON(gtk_toggle_button_new_with_label("Scale to fit"));
    gtk_toggle_button_set_active(self->fit, TRUE);
    gtk_widget_set_tooltip_text(GTK_WIDGET(self->fit), "Off: one guest pixel per screen pixel");
    g_signal_connect(self->fit, "toggled", G_CALLBACK(on_fit_toggled), self);
    GtkWidget *menu = gtk_menu_new();
    add_send_key(self, menu, "Ctrl+Alt+Del", GDK_KEY_Delete);
    for (guint i = 0; i < 12; i++) {
        g_autofree char *label = g_strdup_printf("Ctrl+Alt+F%u", i + 1);
        add_send_key(self, menu, label, GDK_KEY_F1 + i);
    }
    gtk_widget_show_all(menu);
    GtkWidget *send = gtk_menu_button_new();
    gtk_button_set_label(GTK_BUTTON(send), "Send key");
    gtk_menu_button_set_popup(GTK_MENU_BUTTON(send), menu);
    self->hint = GTK_LABEL(gtk_label_new(NULL));
    gtk_label_set_xalign(self->hint, 0);
    gtk_box_pack_start(GTK_BOX(bar), GTK_WIDGET(self->fit), FALSE, FALSE, 0);
    gtk_box_pack_start(GTK_BOX(bar), send, FALSE, FALSE, 0);
    gtk_box_pack_start(GTK_BOX(bar), GTK_WIDGET(self->hint), TRUE, TRUE, 6);
    self->area = gtk_drawing_area_new();
    gtk_widget_set_can_focus(self->area, TRUE);
    atk_object_set_name(gtk_widget_get_accessible(self->area), "Guest screen");
    gtk_widget_add_events(self->area, GDK_KEY_PRESS_MASK | GDK_KEY_RELEASE_MASK |
                                          GDK_BUTTON_PRESS_MASK | GDK_BUTTON_RELEASE_MASK |
                                          GDK_POINTER_MOTION_MASK | GDK_SCROLL_MASK);
    gtk_widget_set_size_request(self->area, 320, 200);
    g_signal_connect(self->area, "draw", G_CALLBACK(on_draw), self);
    g_signal_connect(self->area, "key-press-event", G_CALLBACK(on_key), self);
    g_signal_connect(self->area, "key-release-event", G_CALLBACK(on_key), self);
    g_signal_connect(self->area, "button-press-event", G_CALLBACK(on_button), self);
    g_signal_connect(self->area, "button-release-event", G_CALLBACK(on_button), self);
    g_signal_connect(self->area, "motion-notify-event", G_CALLBACK(on_motion), self);
    g_signal_connect(self->area, "scroll-event", G_CALLBACK(on_scroll), self);
    gtk_box_pack_start(GTK_BOX(self), bar, FALSE, FALSE, 0);
    gtk_box_pack_start(GTK_BOX(self), self->area, TRUE, TRUE, 0);
    gtk_widget_show_all(GTK_WIDGET(self));
    set_hint(self);
}

GtkWidget *dv_screen_page_new(void)
{
    return g_object_new(DV_TYPE_SCREEN_PAGE, NULL);
}
