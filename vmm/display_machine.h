/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The machine's display: the VGA PCI device with its VRAM in a memfd mapped into the guest
 * as a dirty-logged KVM memory slot, the display surface, the refresh timer, the VNC server
 * and its input into the PS/2 keyboard and mouse, and the QMP commands on top (screendump,
 * query-vnc, set_password). Or, instead of the VGA, virtio-gpu with a virtio keyboard and
 * tablet that take the VNC input once their drivers are up. docs/display.md.
 */
#ifndef DESKVM_VMM_DISPLAY_MACHINE_H
#define DESKVM_VMM_DISPLAY_MACHINE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "vmm/qmp.h"

struct vm;
struct display_machine;

/* The PCI slot the VGA takes (QEMU's q35 puts it at 00:01.0 too). */
#define DISPLAY_VGA_SLOT 1
/* The KVM memory slot of VRAM, clear of the RAM regions' slots 0..GUEST_MEM_MAX_REGIONS-1. */
#define DISPLAY_VRAM_KVM_SLOT 16
/* The legacy window 0xA0000 mapped onto VRAM while the VGA is in chain-4 (vga_window_linear). */
#define DISPLAY_WINDOW_KVM_SLOT 17
/*
 * How often the surface is brought up to date from the dirty log: DISPLAY_REFRESH_NS when
 * idle, DISPLAY_REFRESH_FAST_NS for DISPLAY_FAST_HOLD_NS after damage or VNC input while a
 * client is connected. Client requests and input are served when they arrive (epoll).
 */
#define DISPLAY_REFRESH_NS (1000000000ull / 30)
#define DISPLAY_REFRESH_FAST_NS (1000000000ull / 125)
#define DISPLAY_FAST_HOLD_NS 500000000ull
/* While fast, a client request triggers a refresh too, at most this often. */
#define DISPLAY_REFRESH_MIN_NS 2000000ull
/* A refresh that finds this many dirty VRAM pages (1 MiB) in a 32 bpp VBE mode switches to
 * comparing lines for DISPLAY_COMPARE_NS instead of fetching the dirty log. */
#define DISPLAY_COMPARE_PAGES 256
#define DISPLAY_COMPARE_NS 250000000ull

enum display_kind {
    DISPLAY_VGA,
    DISPLAY_VIRTIO_GPU, /* virtio-gpu + virtio-keyboard + virtio-tablet, no VGA */
};

/*
 * Add the graphics device of kind to vm (after vm_create, before vm_start; vm->pc and vm->pci
 * exist) with vram_size bytes of VRAM (0: VGA_VRAM_DEFAULT), and a VNC server when vnc_spec is not
 * NULL (vnc_parse syntax), and the local display channel when channel_spec is not NULL
 * (display_channel_parse syntax). NULL with err set on failure (the engine must then end).
 */
struct display_machine *display_machine_new(struct vm *vm, enum display_kind kind,
                                            uint32_t vram_size, const char *vnc_spec,
                                            const char *channel_spec, char *err, size_t errlen);
/* Close the VNC server and stop refreshing (before the event loop goes). */
void display_machine_stop(struct display_machine *dm);
/* Free it all: after vm_destroy(), which still reaches the device. Accepts NULL. */
void display_machine_free(struct display_machine *dm);

/*
 * QMP events of the display (VNC_CONNECTED, VNC_INITIALIZED, VNC_DISCONNECTED, in QEMU's
 * shapes) go to emit, which takes the reference to data. NULL emit: none are sent.
 */
typedef void display_emit_fn(void *opaque, const char *event, json_t *data);
void display_machine_set_emit(struct display_machine *dm, display_emit_fn *emit, void *opaque);

/*
 * An absolute pointer event for QMP input-send-event (an input_qmp_abs_fn, dm as opaque):
 * x, y in 0..0x7fff, buttons I8042_BUTTON_*, wheel steps (positive: up) to the virtio tablet.
 * -ENODEV without one (--display vga) or before its driver is up; -ENOSPC when dropped.
 */
int display_machine_abs_pointer(void *dm, unsigned x, unsigned y, unsigned buttons, int wheel);

/* The surface the display shows (for absolute pointer events). */
const struct display *display_machine_display(const struct display_machine *dm);

/* QMP handlers, with dm as opaque (the engine forwards its commands to them). */
/*
 * The screen as it is now, scaled to fit max_w x max_h, as a PNG at path (snapshot
 * thumbnails, display_write_thumbnail_png). 0 or -errno (-ENOPKG without libpng).
 */
int display_machine_thumbnail(struct display_machine *dm, const char *path, unsigned max_w,
                              unsigned max_h);
int display_qmp_screendump(struct display_machine *dm, json_t *args, json_t **ret,
                           struct qmp_error *err);
int display_qmp_query_vnc(struct display_machine *dm, json_t *args, json_t **ret,
                          struct qmp_error *err);
int display_qmp_set_password(struct display_machine *dm, json_t *args, json_t **ret,
                             struct qmp_error *err);

#endif
