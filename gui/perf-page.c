// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The "Performance" page: four graphs (vCPU %, memory, disk and network throughput) of the
 * last minute, redrawn with cairo when DvPerfMonitor has a new point (once a second). Each
 * graph scales to its largest value (CPU: fixed 0-100 %); two-series graphs (read/write,
 * receive/send) share that scale. The labels above the graphs carry the current values and are
 * what the tests and screen readers read (widget names "perf-cpu", "perf-memory", ...).
 */
#include "gui/perf-page.h"

#include "gui/perf.h"
#include "gui/settings-dialog.h"

#include <math.h>

struct graph {
    const char *id, *title;
    enum dv_perf_series a, b; /* b == a: one series */
    gboolean percent, bytes_per_second;
    GtkWidget *area;
    GtkLabel *label;
};

struct _DvPerfPage {
    GtkBox parent;
    DvPerfMonitor *monitor;
    struct graph graphs[4];
    GtkLabel *status;
};

static void page_iface_init(DvConsolePageInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE(DvPerfPage, dv_perf_page, GTK_TYPE_BOX,
                              G_IMPLEMENT_INTERFACE(DV_TYPE_CONSOLE_PAGE, page_iface_init))

static double last(DvPerfMonitor *m, enum dv_perf_series s)
{
    guint n;
    const double *v = dv_perf_monitor_get_series(m, s, &n);
    return n ? v[n - 1] : 0.0;
}

static char *rate_text(double bps)
{
    return bps >= 1024 * 1024 ? g_strdup_printf("%.1f MiB/s", bps / (1024 * 1024))
                              : g_strdup_printf("%.0f KiB/s", bps / 1024);
}

static void update_labels(DvPerfPage *self)
{
    for (int i = 0; i < 4; i++) {
        struct graph *g = &self->graphs[i];
        g_autofree char *text = NULL;
        if (g->percent) {
            text = g_strdup_printf("%s: %.0f %%", g->title, last(self->monitor, g->a));
        } else if (!g->bytes_per_second) {
            text = g_strdup_printf("%s: %.0f MiB resident", g->title, last(self->monitor, g->a));
        } else {
            g_autofree char *ra = rate_text(last(self->monitor, g->a));
            g_autofree char *rb = rate_text(last(self->monitor, g->b));
            text = g_strdup_printf("%s: %s %s, %s %s", g->title, ra,
                                   g->a == DV_PERF_DISK_READ ? "read" : "in", rb,
                                   g->a == DV_PERF_DISK_READ ? "written" : "out");
        }
        gtk_label_set_text(g->label, text);
        AtkObject *acc = gtk_widget_get_accessible(g->area);
        if (acc != NULL) {
            atk_object_set_description(acc, text);
        }
        gtk_widget_queue_draw(g->area);
    }
}

static void on_updated(DvPerfMonitor *m, gpointer data)
{
    update_labels(data);
}

static void plot(cairo_t *cr, const double *v, guint n, double max, int w, int h)
{
    if (n < 2) {
        return;
    }
    double step = (double)w / (DV_PERF_HISTORY - 1);
    double x0 = w - step * (n - 1); /* the newest point at the right edge */
    cairo_move_to(cr, x0, h - v[0] / max * (h - 2) - 1);
    for (guint i = 1; i < n; i++) {
        cairo_line_to(cr, x0 + step * i, h - v[i] / max * (h - 2) - 1);
    }
    cairo_stroke(cr);
}

static gboolean draw(GtkWidget *area, cairo_t *cr, gpointer data)
{
    DvPerfPage *self = g_object_get_data(G_OBJECT(area), "page");
    struct graph *g = data;
    int w = gtk_widget_get_allocated_width(area), h = gtk_widget_get_allocated_height(area);
    cairo_set_source_rgb(cr, 0.12, 0.12, 0.14);
    cairo_paint(cr);
    cairo_set_source_rgba(cr, 1, 1, 1, 0.15);
    cairo_set_line_width(cr, 1);
    for (int i = 1; i < 4; i++) { /* quarter lines */
        cairo_move_to(cr, 0, floor(h * i / 4.0) + 0.5);
        cairo_line_to(cr, w, floor(h * i / 4.0) + 0.5);
    }
    cairo_stroke(cr);
    guint na, nb;
    const double *a = dv_perf_monitor_get_series(self->monitor, g->a, &na);
    const double *b = dv_perf_monitor_get_series(self->monitor, g->b, &nb);
    double max = g->percent ? 100.0 : 1.0;
    for (guint i = 0; !g->percent && i < na; i++) {
        max = MAX(max, MAX(a[i], b[i]) * 1.1);
    }
    cairo_set_line_width(cr, 2);
    cairo_set_source_rgb(cr, 0.36, 0.75, 0.36);
    plot(cr, a, na, max, w, h);
    if (g->b != g->a) {
        cairo_set_source_rgb(cr, 0.95, 0.6, 0.2);
        plot(cr, b, nb, max, w, h);
    }
    return FALSE;
}

static void set_vm(DvConsolePage *page, DvVm *vm)
{
    DvPerfPage *self = DV_PERF_PAGE(page);
    dv_perf_monitor_set_vm(self->monitor, vm);
    gtk_label_set_text(self->status, vm == NULL ? "No VM selected"
                                     : dv_vm_get_engine(vm) == NULL
                                         ? "The VM is not running"
                                         : "Updated every second; the last "
                                           "minute is shown (green: read / in, "
                                           "orange: written / out)");
    update_labels(self);
}

static const char *get_title(DvConsolePage *page)
{
    return "Performance";
}

static void page_iface_init(DvConsolePageInterface *iface)
{
    iface->get_title = get_title;
    iface->set_vm = set_vm;
}

static void dv_perf_page_dispose(GObject *obj)
{
    DvPerfPage *self = DV_PERF_PAGE(obj);
    if (self->monitor != NULL) {
        g_signal_handlers_disconnect_by_data(self->monitor, self);
        g_clear_object(&self->monitor);
    }
    G_OBJECT_CLASS(dv_perf_page_parent_class)->dispose(obj);
}

static void dv_perf_page_class_init(DvPerfPageClass *klass)
{
    G_OBJECT_CLASS(klass)->dispose = dv_perf_page_dispose;
}

static void dv_perf_page_init(DvPerfPage *self)
{
    static const struct graph defs[4] = {
        {"perf-cpu", "vCPU", DV_PERF_CPU, DV_PERF_CPU, TRUE, FALSE, NULL, NULL},
        {"perf-memory", "Memory", DV_PERF_MEMORY, DV_PERF_MEMORY, FALSE, FALSE, NULL, NULL},
        {"perf-disk", "Disk", DV_PERF_DISK_READ, DV_PERF_DISK_WRITE, FALSE, TRUE, NULL, NULL},
        {"perf-net", "Network", DV_PERF_NET_RX, DV_PERF_NET_TX, FALSE, TRUE, NULL, NULL},
    };
    gtk_orientable_set_orientation(GTK_ORIENTABLE(self), GTK_ORIENTATION_VERTICAL);
    gtk_box_set_spacing(GTK_BOX(self), 4);
    g_object_set(self, "margin", 6, NULL);
    self->monitor = dv_perf_monitor_new(1000);
    g_signal_connect(self->monitor, "updated", G_CALLBACK(on_updated), self);
    self->status = GTK_LABEL(gtk_label_new(NULL));
    gtk_label_set_xalign(self->status, 0);
    dv_widget_set_names(GTK_WIDGET(self->status), "perf-status", "Performance status");
    gtk_container_add(GTK_CONTAINER(self), GTK_WIDGET(self->status));
    for (int i = 0; i < 4; i++) {
        struct graph *g = &self->graphs[i];
        *g = defs[i];
        g->label = GTK_LABEL(gtk_label_new(g->title));
        gtk_label_set_xalign(g->label, 0);
        g_autofree char *label_id = g_strdup_printf("%s-value", g->id);
        dv_widget_set_names(GTK_WIDGET(g->label), label_id, g->title);
        g->area = gtk_drawing_area_new();
        gtk_widget_set_size_request(g->area, 240, 70);
        gtk_widget_set_vexpand(g->area, TRUE);
        dv_widget_set_names(g->area, g->id, g->title);
        g_object_set_data(G_OBJECT(g->area), "page", self);
        g_signal_connect(g->area, "draw", G_CALLBACK(draw), g);
        gtk_container_add(GTK_CONTAINER(self), GTK_WIDGET(g->label));
        gtk_container_add(GTK_CONTAINER(self), g->area);
    }
    gtk_widget_show_all(GTK_WIDGET(self));
}

GtkWidget *dv_perf_page_new(void)
{
    return g_object_new(DV_TYPE_PERF_PAGE, NULL);
}
