// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Display glue: places the VGA (legacy window, ports, PCI function), keeps VRAM in a memfd
 * mapped as a KVM memory slot with dirty logging wherever the guest puts BAR0 (the model
 * falls back to bus handlers while it is unmapped), refreshes the surface on a timer on the
 * event loop, and routes VNC input to the i8042. With virtio-gpu there is no VGA: the
 * gpu, a virtio keyboard and a tablet sit on the PCI bus as virtio-pci functions, flushes
 * damage the surface directly, and VNC input goes to the virtio devices once their drivers
 * are up (the tablet is absolute: no pointer grab), to PS/2 before. Every callback runs
 * with the device lock.
 */
#include "vmm/display_machine.h"

#include <errno.h>
#include <linux/kvm.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "display/keymap.h"
#include "display/surface.h"
#include "display/vnc.h"
#include "io/i8042.h"
#include "io/vga.h"
#include "vmm/display_channel.h"
#include "io/virtio_gpu.h"
#include "io/virtio_input.h"
#include "vmm/evloop.h"
#include "vmm/lazy_pixman.h"
#include "vmm/lazy_png.h"
#include "vmm/pc.h"
#include "vmm/pci_machine.h"
#include "vmm/virtio_machine.h"
#include "vmm/vm.h"
#include "vmm/vram_state.h"

#define VIRTIO_GPU_WIDTH 1024 /* the preferred mode a virtio-gpu starts with */
#define VIRTIO_GPU_HEIGHT 768

struct display_machine {
    struct vm *vm;
    enum display_kind kind;
    struct vga vga;
    struct virtio_gpu gpu; /* DISPLAY_VIRTIO_GPU */
    struct virtio_input kbd, tablet;
    struct display display;
    int vram_fd;
    uint8_t *vram;
    uint32_t vram_size;
    uint64_t slot_addr;   /* where the VRAM slot is mapped, PCI_BAR_UNMAPPED when not */
    bool dirty_log;       /* the slot logs dirty pages */
    uint32_t window_size; /* bytes of the legacy window mapped onto VRAM, 0 = bus handlers */
    bool window_log;      /* that slot logs dirty pages */
    uint64_t *log;        /* KVM_GET_DIRTY_LOG buffer */
    struct vtimer *refresh;
    uint64_t last_activity; /* damage found or input given, engine clock */
    uint64_t last_scan;     /* the last refresh from a tick or a client request */
    uint64_t compare_until; /* compare lines instead of fetching the dirty log until then */
    uint64_t compare_periods;
    struct vnc_server *vnc;
    uint64_t cursor_seen; /* gpu.cursor_updates when last sent to VNC */
    bool cursor_visible;  /* what VNC shows */
    uint32_t cursor_hot_x, cursor_hot_y;
    uint32_t cursor_image[VIRTIO_GPU_CURSOR_SIZE * VIRTIO_GPU_CURSOR_SIZE];
    display_emit_fn *emit; /* QMP events */
    void *emit_opaque;
    struct display_channel *channel;
    struct vram_window vram_win[VRAM_STATE_MAX_WINDOWS]; /* checkpoint sections "vga-vram" */
    bool listen_watched; /* the VNC listening socket is on the event loop */
    int ptr_x, ptr_y;
    unsigned ptr_buttons;
    uint64_t dropped_input; /* events the PS/2 devices could not take */
    bool placed;            /* on the VM's buses and PCI machine: freed only after the VM */
    bool failed;
};

static size_t log_words(const struct display_machine *dm)
{
    return (dm->vram_size / VGA_PAGE_SIZE + 63) / 64;
}

static int set_slot(struct display_machine *dm, uint64_t addr, bool log)
{
    struct kvm_userspace_memory_region r = {
        .slot = DISPLAY_VRAM_KVM_SLOT,
        .flags = log ? KVM_MEM_LOG_DIRTY_PAGES : 0,
        .guest_phys_addr = addr == PCI_BAR_UNMAPPED ? 0 : addr,
        .memory_size = addr == PCI_BAR_UNMAPPED ? 0 : dm->vram_size,
        .userspace_addr = (uintptr_t)dm->vram,
    };
    return ioctl(dm->vm->fd, KVM_SET_USER_MEMORY_REGION, &r) < 0 ? -errno : 0;
}

/* BAR0 moved: the slot follows it, so guest VRAM accesses never exit. */
static void vram_bar_moved(void *opaque, unsigned bar, uint64_t old_addr, uint64_t new_addr)
{
    struct display_machine *dm = opaque;
    if (bar != VGA_VRAM_BAR || dm->vm->fd < 0) {
        return;
    }
    if (dm->slot_addr != PCI_BAR_UNMAPPED) {
        set_slot(dm, PCI_BAR_UNMAPPED, false);
        dm->slot_addr = PCI_BAR_UNMAPPED;
    }
    if (new_addr == PCI_BAR_UNMAPPED) {
        return;
    }
    /* guest-controlled: the address was checked by the PCI machine (no RAM, no overlap) */
    dm->dirty_log = set_slot(dm, new_addr, true) == 0;
    if (!dm->dirty_log && set_slot(dm, new_addr, false) < 0) {
        return; /* stays on the bus handlers: slow, but correct */
    }
    dm->slot_addr = new_addr;
    vga_mark_dirty(&dm->vga, 0, dm->vram_size);
}

static int set_window_slot(struct display_machine *dm, uint32_t size, bool log)
{
    struct kvm_userspace_memory_region r = {
        .slot = DISPLAY_WINDOW_KVM_SLOT,
        .flags = log ? KVM_MEM_LOG_DIRTY_PAGES : 0,
        .guest_phys_addr = VGA_LEGACY_BASE,
        .memory_size = size,
        .userspace_addr = (uintptr_t)dm->vram,
    };
    return ioctl(dm->vm->fd, KVM_SET_USER_MEMORY_REGION, &r) < 0 ? -errno : 0;
}

/*
 * In chain-4 mode (13h) the window is VRAM byte for byte: map it as memory, so that the
 * guest's stores do not exit (QEMU's chain4 alias). Any other mode goes back to the bus
 * handlers (vga_legacy_ops), which KVM reaches again once the slot is gone.
 */
static void window_changed(void *opaque)
{
    struct display_machine *dm = opaque;
    if (dm->vm->fd < 0) {
        return;
    }
    uint32_t size = vga_window_linear(&dm->vga);
    if (size == dm->window_size) {
        return;
    }
    if (dm->window_size) {
        set_window_slot(dm, 0, false);
        dm->window_size = 0;
    }
    if (size) {
        dm->window_log = set_window_slot(dm, size, true) == 0;
        if (dm->window_log || set_window_slot(dm, size, false) == 0) {
            dm->window_size = size;
        }
    }
    vga_mark_dirty(&dm->vga, 0, VGA_LEGACY_SIZE);
}

/* The window slot's dirty pages are VRAM pages 0-31. */
static int sync_window(struct display_machine *dm, uint64_t *bitmap)
{
    if (!dm->window_size) {
        return 0;
    }
    if (!dm->window_log) {
        return -ENOSYS;
    }
    uint64_t log = 0; /* 32 pages at most */
    struct kvm_dirty_log l = {.slot = DISPLAY_WINDOW_KVM_SLOT, .dirty_bitmap = &log};
    if (ioctl(dm->vm->fd, KVM_GET_DIRTY_LOG, &l) < 0) {
        return -errno;
    }
    bitmap[0] |= log;
    return 0;
}

static const struct pci_dev_ops vga_pci_ops = {
    .bar_moved = vram_bar_moved,
};

static int sync_dirty(void *opaque, uint64_t *bitmap)
{
    struct display_machine *dm = opaque;
    int w = sync_window(dm, bitmap);
    if (w < 0) {
        return w;
    }
    if (dm->slot_addr == PCI_BAR_UNMAPPED) {
        return 0; /* every write went through vga_vram_ops, which marks it */
    }
    if (!dm->dirty_log) {
        return -ENOSYS;
    }
    uint64_t now = vclock_now(evloop_clock(dm->vm->loop));
    bool compare = vga_can_compare(&dm->vga);
    if (compare && now < dm->compare_until) {
        /* KVM keeps logging; the pages stay writable as long as nobody fetches the log. */
        memset(bitmap, 0xff, log_words(dm) * sizeof(uint64_t));
        return VGA_SYNC_COMPARE;
    }
    struct kvm_dirty_log log = {.slot = DISPLAY_VRAM_KVM_SLOT, .dirty_bitmap = dm->log};
    if (ioctl(dm->vm->fd, KVM_GET_DIRTY_LOG, &log) < 0) {
        return -errno;
    }
    unsigned pages = 0;
    for (size_t i = 0; i < log_words(dm); i++) {
        bitmap[i] |= dm->log[i];
        pages += (unsigned)__builtin_popcountll(dm->log[i]);
    }
    /*
     * Fetching the log write-protects every page again, and each first write after that is a
     * fault: a guest that redraws the whole screen every frame pays one per 4 KiB per
     * refresh. While it does, stop fetching and compare lines instead (DISPLAY_COMPARE_NS
     * at a time; the next fetch decides again and loses nothing, as KVM kept logging).
     */
    if (compare && pages >= DISPLAY_COMPARE_PAGES) {
        dm->compare_until = now + DISPLAY_COMPARE_NS;
        dm->compare_periods++;
    }
    return 0;
}

/* ---- input ------------------------------------------------------------------------------- */

/* Input usually makes the guest draw: scan fast for a while. */
static void input_activity(struct display_machine *dm)
{
    dm->last_activity = vclock_now(evloop_clock(dm->vm->loop));
    if (dm->refresh) {
        vtimer_mod(dm->refresh, dm->last_activity + DISPLAY_REFRESH_FAST_NS);
    }
}

static void vnc_key(void *opaque, uint32_t keysym, bool down)
{
    struct display_machine *dm = opaque;
    input_activity(dm);
    if (dm->kind == DISPLAY_VIRTIO_GPU && virtio_input_ready(&dm->kbd)) {
        int code = keymap_keysym_to_evdev(keysym);
        if (code < 0 || virtio_input_key(&dm->kbd, (unsigned)code, down) < 0) {
            dm->dropped_input++;
        }
        return;
    }
    struct i8042 *kbd = pc_keyboard(dm->vm);
    int code = keymap_keysym_to_set1(keysym);
    if (!kbd || code < 0 || !i8042_key(kbd, (unsigned)code, down)) {
        dm->dropped_input++;
    }
}

static void vnc_pointer(void *opaque, int x, int y, unsigned buttons)
{
    struct display_machine *dm = opaque;
    input_activity(dm);
    if (dm->kind == DISPLAY_VIRTIO_GPU && virtio_input_ready(&dm->tablet)) {
        /* Absolute: the guest pointer is where the client's is. Bits 3/4: wheel up/down. */
        int wheel = (buttons & 8) ? 1 : (buttons & 16) ? -1 : 0;
        if (virtio_input_pointer(&dm->tablet, x < 0 ? 0 : (unsigned)x, y < 0 ? 0 : (unsigned)y,
                                 dm->display.width, dm->display.height, buttons & 7, wheel) < 0) {
            dm->dropped_input++;
        }
        return;
    }
    struct i8042 *kbd = pc_keyboard(dm->vm);
    /* VNC: bit 0 left, 1 middle, 2 right, 3 wheel up, 4 wheel down. */
    unsigned ps2 = (buttons & 1 ? I8042_BUTTON_LEFT : 0) | (buttons & 2 ? I8042_BUTTON_MIDDLE : 0) |
                   (buttons & 4 ? I8042_BUTTON_RIGHT : 0);
    int dz = (buttons & 8) ? -1 : (buttons & 16) ? 1 : 0;
    int dx = x - dm->ptr_x, dy = y - dm->ptr_y;
    if (dx || dy || dz || ps2 != dm->ptr_buttons) {
        if (!kbd || !i8042_mouse_event(kbd, dx, dy, dz, ps2)) {
            dm->dropped_input++;
        }
    }
    /* A relative mouse: the guest's pointer follows motion, not the client's position. */
    dm->ptr_x = x;
    dm->ptr_y = y;
    dm->ptr_buttons = ps2;
}

int display_machine_abs_pointer(void *opaque, unsigned x, unsigned y, unsigned buttons, int wheel)
{
    struct display_machine *dm = opaque;
    if (dm->kind != DISPLAY_VIRTIO_GPU || !virtio_input_ready(&dm->tablet)) {
        return -ENODEV;
    }
    input_activity(dm);
    unsigned b = (buttons & I8042_BUTTON_LEFT ? VIRTIO_INPUT_BUTTON_LEFT : 0) |
                 (buttons & I8042_BUTTON_MIDDLE ? VIRTIO_INPUT_BUTTON_MIDDLE : 0) |
                 (buttons & I8042_BUTTON_RIGHT ? VIRTIO_INPUT_BUTTON_RIGHT : 0);
    /* QMP's 0..0x7fff is the tablet's own range: a 0x8000-wide screen keeps it exact. */
    return virtio_input_pointer(&dm->tablet, x, y, 0x8000, 0x8000, b, wheel);
}

static void scan(struct display_machine *dm, uint64_t now);

/*
 * The virtio-gpu cursor (UPDATE_CURSOR / MOVE_CURSOR) to the VNC clients, from the event
 * loop: the shape when it changed (the device keeps a 64x64 copy, padded transparent), and
 * the position.
 */
static void sync_cursor(struct display_machine *dm)
{
    struct virtio_gpu *gpu = &dm->gpu;
    if (dm->kind != DISPLAY_VIRTIO_GPU || !dm->vnc || gpu->cursor_updates == dm->cursor_seen) {
        return;
    }
    dm->cursor_seen = gpu->cursor_updates;
    /* guest-controlled position: kept in the int range libvncserver uses */
    int x = gpu->cursor_x > 0xffff ? 0xffff : (int)gpu->cursor_x;
    int y = gpu->cursor_y > 0xffff ? 0xffff : (int)gpu->cursor_y;
    vnc_server_move_cursor(dm->vnc, x, y);
    bool visible = gpu->cursor_visible;
    if (visible == dm->cursor_visible && dm->cursor_hot_x == gpu->cursor_hot_x &&
        dm->cursor_hot_y == gpu->cursor_hot_y &&
        (!visible || memcmp(dm->cursor_image, gpu->cursor_image, sizeof(dm->cursor_image)) == 0)) {
        return; /* a move */
    }
    int r = vnc_server_set_cursor(dm->vnc, visible ? gpu->cursor_image : NULL,
                                  VIRTIO_GPU_CURSOR_SIZE, VIRTIO_GPU_CURSOR_SIZE,
                                  VIRTIO_GPU_CURSOR_SIZE, gpu->cursor_hot_x, gpu->cursor_hot_y);
    if (r == -ENOMEM) {
        dm->cursor_seen--; /* again at the next refresh */
    }
    if (r < 0) {
        return; /* -EINVAL: a hot spot from a restored state that is off the image */
    }
    dm->cursor_visible = visible;
    dm->cursor_hot_x = gpu->cursor_hot_x;
    dm->cursor_hot_y = gpu->cursor_hot_y;
    memcpy(dm->cursor_image, gpu->cursor_image, sizeof(dm->cursor_image));
}

/*
 * A client's request or input: while the screen is changing, scan the dirty log right away
 * (at most every DISPLAY_REFRESH_MIN_NS) so that the request is answered with what the guest
 * drew up to now instead of waiting for the next tick.
 */
static void on_vnc_fd(void *opaque, uint32_t events)
{
    struct display_machine *dm = opaque;
    uint64_t now = vclock_now(evloop_clock(dm->vm->loop));
    if (now - dm->last_activity < DISPLAY_FAST_HOLD_NS &&
        now - dm->last_scan >= DISPLAY_REFRESH_MIN_NS) {
        scan(dm, now);
    }
    sync_cursor(dm);
    vnc_server_poll(dm->vnc);
}

static int vnc_watch(void *opaque, int fd)
{
    struct display_machine *dm = opaque;
    return evloop_add_fd(dm->vm->loop, fd, EPOLLIN, on_vnc_fd, dm);
}

static void vnc_unwatch(void *opaque, int fd)
{
    struct display_machine *dm = opaque;
    evloop_del_fd(dm->vm->loop, fd);
}

/* ---- refresh ----------------------------------------------------------------------------- */

static void refresh(struct display_machine *dm)
{
    vm_coalesced_flush(dm->vm); /* VGA window writes KVM queued (a halted vCPU may hold some) */
    dm->vga.clock_ns = vclock_now(evloop_clock(dm->vm->loop));
    display_refresh(&dm->display);
}

/*
 * The dirty log is scanned every DISPLAY_REFRESH_FAST_NS while the screen changes (or
 * input just went in) and a client (VNC or the display channel) watches, every DISPLAY_REFRESH_NS
 * otherwise; what a scan finds goes out in the same call to every client with an update request
 * outstanding.
 */
static void scan(struct display_machine *dm, uint64_t now)
{
    uint64_t updates = dm->display.updates;
    refresh(dm);
    dm->last_scan = now;
    if (dm->display.updates != updates) {
        dm->last_activity = now;
    }
}

static void on_refresh(void *opaque)
{
    struct display_machine *dm = opaque;
    uint64_t now = vclock_now(evloop_clock(dm->vm->loop));
    scan(dm, now);
    if (dm->vnc) {
        sync_cursor(dm);
        vnc_server_poll(dm->vnc);
    }
    display_channel_flush(dm->channel);
    bool watched = (dm->vnc && vnc_server_clients(dm->vnc, NULL, 0) > 0) ||
                   display_channel_watched(dm->channel);
    bool fast = watched && now - dm->last_activity < DISPLAY_FAST_HOLD_NS;
    vtimer_mod(dm->refresh, now + (fast ? DISPLAY_REFRESH_FAST_NS : DISPLAY_REFRESH_NS));
}

/* A client's SetDesktopSize: the virtio-gpu's preferred mode (display event to the driver). */
static int vnc_resize(void *opaque, unsigned width, unsigned height)
{
    struct display_machine *dm = opaque;
    if (dm->kind != DISPLAY_VIRTIO_GPU) {
        return -ENOTSUP; /* the VGA's modes are the guest's choice alone */
    }
    return virtio_gpu_set_preferred_size(&dm->gpu, width, height) < 0 ? -EINVAL : 0;
}

/* QEMU's VncServerInfo (with auth) and VncClientInfo/VncBasicInfo. */
static json_t *vnc_server_json(const struct vnc_config *c)
{
    char service[16];
    snprintf(service, sizeof(service), "%u", c->port);
    return json_pack("{s:s, s:s, s:s, s:b, s:s}", "host", c->unix_socket ? c->path : c->host,
                     "service", c->unix_socket ? "" : service, "family",
                     c->unix_socket ? "unix" : "ipv4", "websocket", 0, "auth",
                     c->password ? "vnc" : "none");
}

static json_t *vnc_client_json(const struct vnc_config *c, const struct vnc_client_info *info)
{
    bool unix_client = strcmp(info->host, "unix") == 0;
    return json_pack("{s:s, s:s, s:s, s:b}", "host", unix_client ? c->path : info->host, "service",
                     info->service, "family", unix_client ? "unix" : "ipv4", "websocket", 0);
}

static void vnc_client_event(void *opaque, enum vnc_event event,
                             const struct vnc_client_info *client)
{
    static const char *const names[] = {
        [VNC_EVENT_CONNECTED] = "VNC_CONNECTED",
        [VNC_EVENT_INITIALIZED] = "VNC_INITIALIZED",
        [VNC_EVENT_DISCONNECTED] = "VNC_DISCONNECTED",
    };
    struct display_machine *dm = opaque;
    if (!dm->emit || !dm->vnc) {
        return;
    }
    const struct vnc_config *c = vnc_server_config(dm->vnc);
    dm->emit(dm->emit_opaque, names[event],
             json_pack("{s:o, s:o}", "server", vnc_server_json(c), "client",
                       vnc_client_json(c, client)));
}

static const struct vnc_input_ops vnc_input = {
    .key = vnc_key,
    .pointer = vnc_pointer,
    .watch = vnc_watch,
    .unwatch = vnc_unwatch,
    .resize = vnc_resize,
    .client_event = vnc_client_event,
};

static void on_vnc_listen(void *opaque, uint32_t events)
{
    struct display_machine *dm = opaque;
    vnc_server_accept(dm->vnc);
    vnc_server_poll(dm->vnc);
}

/* ---- life cycle -------------------------------------------------------------------------- */

static int place(struct display_machine *dm, char *err, size_t errlen)
{
    struct vm *vm = dm->vm;
    struct vga *vga = &dm->vga;
    int r;
    if ((r = bus_register(&vm->pio, VGA_PORT_BASE, VGA_PORT_LEN, &vga_ioport_ops, vga,
                          "vga-ports")) < 0 ||
        (r = bus_register(&vm->pio, VBE_PORT_BASE, VBE_PORT_LEN + 1, &vga_vbe_ops, vga,
                          "vbe-dispi")) < 0 ||
        (r = bus_register(&vm->mmio, VGA_LEGACY_BASE, VGA_LEGACY_SIZE, &vga_legacy_ops, vga,
                          "vga-window")) < 0) {
        snprintf(err, errlen, "cannot place the VGA's legacy ports and window: %s", strerror(-r));
        return r;
    }
    /*
     * The VGA BIOS's font upload and screen clears, and planar drawing, are tens of
     * thousands of single-byte writes to the window: KVM queues them instead of exiting for
     * each (refresh() applies what is queued before it reads VRAM). Optional.
     */
    (void)vm_coalesce_mmio(vm, VGA_LEGACY_BASE, VGA_LEGACY_SIZE);
    pci_dev_set_ops(&vga->pci, &vga_pci_ops, dm);
    struct pci_bar_handler bars[PCI_NUM_BARS] = {0};
    bars[VGA_VRAM_BAR] = (struct pci_bar_handler){&vga_vram_ops, vga};
    bars[VGA_MMIO_BAR] = (struct pci_bar_handler){&vga_mmio_ops, vga};
    if ((r = pci_machine_add(vm->pci, &vga->pci, DISPLAY_VGA_SLOT, 0, bars)) < 0) {
        snprintf(err, errlen, "cannot attach the VGA at PCI slot %d: %s", DISPLAY_VGA_SLOT,
                 strerror(-r));
        return r;
    }
    struct device dev = {0};
    vga_device(vga, &dev);
    /*
     * VRAM is not guest RAM, so a checkpoint would leave the screen the guest drew after it
     * (the text of a reverted VM stayed on screen). It goes in sections of its own
     * (vmm/vram_state.h), after the VGA's: each window's load marks its pages dirty.
     */
    unsigned nwin =
        vram_windows_init(dm->vram_win, VRAM_STATE_MAX_WINDOWS, vga, dm->vram, dm->vram_size);
    if ((r = vm_add_device(vm, &dev)) < 0) {
        snprintf(err, errlen, "too many devices");
        return r;
    }
    for (unsigned i = 0; i < nwin; i++) {
        struct device vram = {
            .name = "vga-vram", .opaque = &dm->vram_win[i], .state = &vram_window_vmstate};
        if ((r = vm_add_device(vm, &vram)) < 0) {
            snprintf(err, errlen, "too many devices");
            return r;
        }
    }
    return 0;
}

/* One virtio function with its state sections. */
static int add_virtio(struct display_machine *dm, struct virtio_dev *vdev, const char *name,
                      struct device *state, unsigned nstate, char *err, size_t errlen)
{
    return virtio_machine_add(dm->vm, vdev, name, state, nstate, err, errlen) ? 0 : -EINVAL;
}

/* virtio-gpu, keyboard and tablet on the PCI bus, in that order (slots 1, 2, 3 if free). */
static int place_virtio(struct display_machine *dm, char *err, size_t errlen)
{
    struct device state[VIRTIO_QUEUES_MAX + 4];
    unsigned n;
    if (virtio_gpu_init(&dm->gpu, &dm->vm->mem, &dm->display, VIRTIO_GPU_WIDTH, VIRTIO_GPU_HEIGHT) <
            0 ||
        virtio_input_init(&dm->kbd, &dm->vm->mem, VIRTIO_INPUT_KEYBOARD) < 0 ||
        virtio_input_init(&dm->tablet, &dm->vm->mem, VIRTIO_INPUT_TABLET) < 0) {
        snprintf(err, errlen, "cannot create the virtio display devices");
        return -EINVAL;
    }
    dm->placed = true;
    n = virtio_gpu_state_sections(&dm->gpu, state, VIRTIO_QUEUES_MAX + 4);
    if (add_virtio(dm, &dm->gpu.vdev, "virtio-gpu", state, n, err, errlen) < 0) {
        return -EINVAL;
    }
    n = virtio_input_state_sections(&dm->kbd, state, VIRTIO_QUEUES_MAX + 4);
    if (add_virtio(dm, &dm->kbd.vdev, "virtio-keyboard", state, n, err, errlen) < 0) {
        return -EINVAL;
    }
    n = virtio_input_state_sections(&dm->tablet, state, VIRTIO_QUEUES_MAX + 4);
    return add_virtio(dm, &dm->tablet.vdev, "virtio-tablet", state, n, err, errlen);
}

struct display_machine *display_machine_new(struct vm *vm, enum display_kind kind,
                                            uint32_t vram_size, const char *vnc_spec,
                                            const char *channel_spec, char *err, size_t errlen)
{
    struct vnc_config vcfg;
    if (vnc_spec && vnc_parse(vnc_spec, &vcfg, err, errlen) < 0) {
        return NULL;
    }
    const char *why;
    if (lazy_pixman_load(&why) < 0) {
        snprintf(err, errlen, "%s needs %s",
                 vnc_spec                     ? "--vnc"
                 : kind == DISPLAY_VIRTIO_GPU ? "--display virtio-gpu"
                                              : "--display vga",
                 why);
        return NULL;
    }
    struct display_machine *dm = calloc(1, sizeof(*dm));
    if (!dm) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    dm->vm = vm;
    dm->kind = kind;
    dm->vram_fd = -1;
    dm->slot_addr = PCI_BAR_UNMAPPED;
    if (kind == DISPLAY_VIRTIO_GPU) {
        if (display_init(&dm->display, VIRTIO_GPU_WIDTH, VIRTIO_GPU_HEIGHT) < 0) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        if (place_virtio(dm, err, errlen) < 0) {
            goto fail;
        }
        goto vnc;
    }
    dm->vram_size = vram_size ? vram_size : VGA_VRAM_DEFAULT;
    dm->vram_fd = memfd_create("deskvm-vram", MFD_CLOEXEC);
    if (dm->vram_fd < 0 || ftruncate(dm->vram_fd, dm->vram_size) < 0) {
        snprintf(err, errlen, "cannot allocate %u MiB of VRAM: %s", dm->vram_size >> 20,
                 strerror(errno));
        goto fail;
    }
    dm->vram = mmap(NULL, dm->vram_size, PROT_READ | PROT_WRITE, MAP_SHARED, dm->vram_fd, 0);
    if (dm->vram == MAP_FAILED) {
        dm->vram = NULL;
        snprintf(err, errlen, "cannot map VRAM: %s", strerror(errno));
        goto fail;
    }
    dm->log = calloc(log_words(dm), sizeof(uint64_t));
    if (!dm->log || vga_init(&dm->vga, dm->vram, dm->vram_size) < 0) {
        snprintf(err, errlen, "cannot create the VGA (VRAM %u bytes)", dm->vram_size);
        goto fail;
    }
    dm->vga.sync_dirty = sync_dirty;
    dm->vga.sync_opaque = dm;
    dm->vga.window_changed = window_changed;
    if (display_init(&dm->display, 640, 400) < 0) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    display_set_hw(&dm->display, &vga_display_ops, &dm->vga);
    dm->placed = true;
    if (place(dm, err, errlen) < 0) {
        goto fail;
    }
vnc:
    if (vnc_spec) {
        dm->vnc = vnc_server_new(&vcfg, &dm->display, &vnc_input, dm, err, errlen);
        if (!dm->vnc) {
            goto fail;
        }
        if (evloop_add_fd(vm->loop, vnc_server_listen_fd(dm->vnc), EPOLLIN, on_vnc_listen, dm) <
            0) {
            snprintf(err, errlen, "vnc: cannot watch the socket");
            goto fail;
        }
        dm->listen_watched = true;
    }
    if (channel_spec) {
        dm->channel =
            display_channel_new(channel_spec, &dm->display, vm->loop, &vnc_input, dm, err, errlen);
        if (!dm->channel) {
            goto fail;
        }
    }
    if (vnc_spec || channel_spec) {
        dm->refresh = vtimer_new(evloop_clock(vm->loop), on_refresh, dm);
        if (!dm->refresh) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        vtimer_mod(dm->refresh, vclock_now(evloop_clock(vm->loop)) + DISPLAY_REFRESH_NS);
    }
    return dm;
fail:
    if (dm->placed) {
        /*
         * The buses, the PCI machine and the device table point into dm until vm_destroy():
         * the caller ends the engine on this error and frees dm after the VM.
         */
        display_machine_stop(dm);
        dm->failed = true;
        return NULL;
    }
    display_machine_free(dm);
    return NULL;
}

void display_machine_stop(struct display_machine *dm)
{
    if (!dm) {
        return;
    }
    if (dm->listen_watched) {
        evloop_del_fd(dm->vm->loop, vnc_server_listen_fd(dm->vnc));
        dm->listen_watched = false;
    }
    vtimer_free(dm->refresh);
    dm->refresh = NULL;
    dm->emit = NULL; /* no events from the teardown: QMP may be gone */
    vnc_server_free(dm->vnc);
    dm->vnc = NULL;
    display_channel_free(dm->channel);
    dm->channel = NULL;
}

void display_machine_free(struct display_machine *dm)
{
    if (!dm) {
        return;
    }
    display_machine_stop(dm);
    display_destroy(&dm->display);
    vga_destroy(&dm->vga);
    if (dm->kind == DISPLAY_VIRTIO_GPU) {
        virtio_gpu_destroy(&dm->gpu);
    }
    free(dm->log);
    if (dm->vram) {
        munmap(dm->vram, dm->vram_size);
    }
    if (dm->vram_fd >= 0) {
        close(dm->vram_fd);
    }
    free(dm);
}

void display_machine_set_emit(struct display_machine *dm, display_emit_fn *emit, void *opaque)
{
    dm->emit = emit;
    dm->emit_opaque = opaque;
}

const struct display *display_machine_display(const struct display_machine *dm)
{
    return &dm->display;
}

/* ---- QMP --------------------------------------------------------------------------------- */

int display_machine_thumbnail(struct display_machine *dm, const char *path, unsigned max_w,
                              unsigned max_h)
{
    refresh(dm);
    return display_write_thumbnail_png(&dm->display, path, max_w, max_h, NULL, NULL);
}

int display_qmp_screendump(struct display_machine *dm, json_t *args, json_t **ret,
                           struct qmp_error *err)
{
    static const char *const known[] = {"filename", "device", "head", "format", NULL};
    const char *path, *format = "png", *device = NULL;
    int64_t head = 0;
    if (qmp_arg_check_known(args, known, err) < 0 ||
        qmp_arg_string(args, "filename", &path, true, err) < 0 ||
        qmp_arg_string(args, "device", &device, false, err) < 0 ||
        qmp_arg_int(args, "head", &head, false, err) < 0 ||
        qmp_arg_string(args, "format", &format, false, err) < 0) {
        return -1;
    }
    if (device && strcmp(device, dm->kind == DISPLAY_VIRTIO_GPU ? "virtio-gpu" : "vga") != 0) {
        qmp_error_set(err, "DeviceNotFound", "Device '%.64s' not found", device);
        return -1;
    }
    if (head != 0) {
        qmp_error_set(err, "GenericError", "Head '%lld' not found", (long long)head);
        return -1;
    }
    if (strcmp(format, "png") != 0 && strcmp(format, "ppm") != 0) {
        qmp_error_set(err, "GenericError", "Parameter 'format' does not accept value '%.32s'",
                      format);
        return -1;
    }
    const char *why;
    if (strcmp(format, "png") == 0 && lazy_png_load(&why) < 0) {
        qmp_error_set(err, "GenericError", "format 'png' needs %.400s; format 'ppm' works without",
                      why);
        return -1;
    }
    refresh(dm); /* what the guest has drawn up to now */
    int r = strcmp(format, "png") == 0 ? display_write_png(&dm->display, path)
                                       : display_write_ppm(&dm->display, path);
    if (r < 0) {
        qmp_error_set(err, "GenericError", "Could not write '%.128s': %s", path, strerror(-r));
        return -1;
    }
    return 0;
}

int display_qmp_query_vnc(struct display_machine *dm, json_t *args, json_t **ret,
                          struct qmp_error *err)
{
    static const char *const known[] = {NULL};
    if (qmp_arg_check_known(args, known, err) < 0) {
        return -1;
    }
    if (!dm || !dm->vnc) {
        *ret = json_pack("{s:b}", "enabled", 0);
        return 0;
    }
    const struct vnc_config *c = vnc_server_config(dm->vnc);
    struct vnc_client_info info[16];
    unsigned n = vnc_server_clients(dm->vnc, info, 16);
    json_t *clients = json_array();
    for (unsigned i = 0; i < n && i < 16; i++) {
        json_array_append_new(clients, vnc_client_json(c, &info[i]));
    }
    char service[16];
    snprintf(service, sizeof(service), "%u", c->port);
    *ret = json_pack("{s:b, s:s, s:s, s:s, s:s, s:o}", "enabled", 1, "host",
                     c->unix_socket ? c->path : c->host, "service", c->unix_socket ? "" : service,
                     "family", c->unix_socket ? "unix" : "ipv4", "auth",
                     c->password ? "vnc" : "none", "clients", clients);
    return 0;
}

int display_qmp_set_password(struct display_machine *dm, json_t *args, json_t **ret,
                             struct qmp_error *err)
{
    static const char *const known[] = {"protocol", "password", "connected", NULL};
    const char *protocol, *password, *connected = "keep";
    if (qmp_arg_check_known(args, known, err) < 0 ||
        qmp_arg_string(args, "protocol", &protocol, true, err) < 0 ||
        qmp_arg_string(args, "password", &password, true, err) < 0 ||
        qmp_arg_string(args, "connected", &connected, false, err) < 0) {
        return -1;
    }
    if (strcmp(protocol, "vnc") != 0) {
        qmp_error_set(err, "GenericError", "Parameter 'protocol' does not accept value '%.32s'",
                      protocol);
        return -1;
    }
    if (strcmp(connected, "keep") != 0) {
        qmp_error_set(err, "GenericError", "VNC only supports connected=keep");
        return -1;
    }
    if (!dm || !dm->vnc) {
        qmp_error_set(err, "GenericError", "VNC is not enabled");
        return -1;
    }
    if (vnc_server_set_password(dm->vnc, password) < 0) {
        qmp_error_set(err, "GenericError", "VNC passwords are at most 8 characters");
        return -1;
    }
    return 0;
}
