// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Serial console: VTE fed from the engine's "serial-output" (the engine object owns the
 * console socket and a scrollback, so switching VMs or opening the page late loses nothing),
 * and VTE's "commit" (typed text, already encoded, Ctrl+C as the byte 0x03) written back to the
 * guest's COM1.
 */
#include "gui/serial-console.h"

#include <vte/vte.h>

struct _DvSerialConsole {
    GtkBin parent;
    VteTerminal *term;
    DvVm *vm;
    DvEngine *engine;
};

static void page_iface_init(DvConsolePageInterface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE(DvSerialConsole, dv_serial_console, GTK_TYPE_BIN,
                              G_IMPLEMENT_INTERFACE(DV_TYPE_CONSOLE_PAGE, page_iface_init))

static void on_output(DvEngine *engine, GBytes *bytes, gpointer data)
{
    DvSerialConsole *self = data;
    gsize len;
    const char *p = g_bytes_get_data(bytes, &len);
    vte_terminal_feed(self->term, p, (gssize)len);
}

static void on_commit(VteTerminal *term, const char *text, guint size, gpointer data)
{
    DvSerialConsole *self = data;
    if (self->engine != NULL) {
        dv_engine_serial_write(self->engine, text, size);
    }
}

static void detach_engine(DvSerialConsole *self)
{
    if (self->engine != NULL) {
        g_signal_handlers_disconnect_by_data(self->engine, self);
        g_clear_object(&self->engine);
    }
}

static void set_vm(DvConsolePage *page, DvVm *vm)
{
    DvSerialConsole *self = DV_SERIAL_CONSOLE(page);
    DvEngine *engine = vm ? dv_vm_get_engine(vm) : NULL;
    if (vm == self->vm && engine == self->engine) {
        return;
    }
    detach_engine(self);
    g_set_object(&self->vm, vm);
    vte_terminal_reset(self->term, TRUE, TRUE);
    if (engine != NULL) {
        self->engine = g_object_ref(engine);
        g_autoptr(GBytes) old = dv_engine_get_serial_scrollback(engine);
        gsize len;
        const char *p = g_bytes_get_data(old, &len);
        vte_terminal_feed(self->term, p, (gssize)len);
        g_signal_connect(engine, "serial-output", G_CALLBACK(on_output), self);
    } else if (vm != NULL) {
        vte_terminal_feed(self->term, "\r\n[ the VM is not running ]\r\n", -1);
    }
}

static const char *get_title(DvConsolePage *page)
{
    return "Serial console";
}

static void page_iface_init(DvConsolePageInterface *iface)
{
    iface->get_title = get_title;
    iface->set_vm = set_vm;
}

static void dv_serial_console_dispose(GObject *obj)
{
    DvSerialConsole *self = DV_SERIAL_CONSOLE(obj);
    detach_engine(self);
    g_clear_object(&self->vm);
    G_OBJECT_CLASS(dv_serial_console_parent_class)->dispose(obj);
}

static void dv_serial_console_class_init(DvSerialConsoleClass *klass)
{
    G_OBJECT_CLASS(klass)->dispose = dv_serial_console_dispose;
}

static void dv_serial_console_init(DvSerialConsole *self)
{
    self->term = VTE_TERMINAL(vte_terminal_new());
    vte_terminal_set_scrollback_lines(self->term, 5000);
    gtk_widget_set_name(GTK_WIDGET(self->term), "serial-terminal");
    g_signal_connect(self->term, "commit", G_CALLBACK(on_commit), self);
    GtkWidget *scroll = gtk_scrolled_window_new(NULL, NULL);
    gtk_container_add(GTK_CONTAINER(scroll), GTK_WIDGET(self->term));
    gtk_container_add(GTK_CONTAINER(self), scroll);
    gtk_widget_show_all(scroll);
}

GtkWidget *dv_serial_console_new(void)
{
    return g_object_new(DV_TYPE_SERIAL_CONSOLE, NULL);
}

void dv_serial_console_focus(DvSerialConsole *self)
{
    gtk_widget_grab_focus(GTK_WIDGET(self->term));
}
