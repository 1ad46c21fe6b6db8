// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * virtio-pci functions on the machine: slot assignment, doorbells on KVM ioeventfds served
 * by the event loop (never on the vCPU thread), MSI-X vectors on KVM irqfds, state and reset
 * registration, and the `--device virtio-rng|virtio-console` devices built from specs.
 */
#include "vmm/virtio_machine.h"

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "io/virtio_console.h"
#include "io/virtio_pci.h"
#include "io/virtio_rng.h"
#include "vmm/chardev.h"
#include "vmm/evloop.h"
#include "vmm/pci_machine.h"
#include "vmm/vm.h"

#define STATE_MAX (VIRTIO_QUEUES_MAX + 4)

struct vm_fn;

struct kick {
    struct vm_fn *f;
    unsigned q;
    int fd;
    bool watched;
    bool pending; /* rung while the VM was not running: served by virtio_machine_resumed() */
};

/* A device the machine built from a spec and owns. */
struct owned {
    enum virtio_spec_kind kind;
    union {
        struct virtio_rng rng;
        struct virtio_console con;
    } u;
    struct chardev chr;
    bool chr_open, chr_attached;
};

struct vm_fn {
    struct vm *vm;
    struct virtio_pci vp;
    bool attached;
    struct kick kicks[VIRTIO_QUEUES_MAX];
    int vec_fd[PCI_MSIX_MAX_VECTORS];
    uint64_t notify_addr; /* where the ioeventfds are registered, or PCI_BAR_UNMAPPED */
    uint64_t ioeventfd_errors;
    struct device state[STATE_MAX];
    unsigned nstate;
    struct owned *owned;
};

struct virtio_machine {
    struct vm_fn *fns[VIRTIO_MACHINE_MAX];
    unsigned n;
};

/* ---- Specs -------------------------------------------------------------------------------- */

int virtio_spec_parse(const char *arg, struct virtio_spec *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    const char *comma = strchr(arg, ',');
    size_t nlen = comma ? (size_t)(comma - arg) : strlen(arg);
    if (nlen == strlen("virtio-rng") && !strncmp(arg, "virtio-rng", nlen)) {
        out->kind = VIRTIO_SPEC_RNG;
    } else if (nlen == strlen("virtio-console") && !strncmp(arg, "virtio-console", nlen)) {
        out->kind = VIRTIO_SPEC_CONSOLE;
        snprintf(out->chardev, sizeof(out->chardev), "stdio");
    } else {
        snprintf(err, errlen, "--device %s: unknown device (known: virtio-rng, virtio-console)",
                 arg);
        return -ENOENT;
    }
    const char *p = comma;
    while (p && *p) {
        p++; /* past the comma */
        const char *end = strchr(p, ',');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (out->kind == VIRTIO_SPEC_CONSOLE && len > 8 && !strncmp(p, "chardev=", 8)) {
            const char *v = p + 8;
            size_t vlen = len - 8;
            bool ok =
                (vlen == 5 && !strncmp(v, "stdio", 5)) || (vlen == 4 && !strncmp(v, "null", 4)) ||
                (vlen > 5 && !strncmp(v, "file:", 5)) || (vlen > 5 && !strncmp(v, "unix:", 5));
            if (!ok || vlen >= sizeof(out->chardev)) {
                snprintf(err, errlen,
                         "--device %s: chardev must be stdio, null, file:PATH or unix:PATH", arg);
                return -EINVAL;
            }
            memcpy(out->chardev, v, vlen);
            out->chardev[vlen] = '\0';
        } else {
            snprintf(err, errlen, "--device %s: unknown option '%.*s'", arg, (int)len, p);
            return -EINVAL;
        }
        p = end;
    }
    return 0;
}

/* ---- Doorbells: ioeventfds served on the event loop ------------------------------------- */

static void on_kick(void *opaque, uint32_t events)
{
    struct kick *k = opaque;
    uint64_t n;
    (void)events;
    if (read(k->fd, &n, sizeof(n)) != (ssize_t)sizeof(n)) {
        return;
    }
    if (k->f->vm->state != VM_RUNNING) {
        /* A doorbell the guest rang just before it was paused: a stopped VM starts no I/O
         * (its disks must read the same until 'cont'), so serve it on resume. */
        k->pending = true;
        return;
    }
    virtio_pci_queue_kick(&k->f->vp, k->q); /* under the device lock, like every callback */
}

static void ioeventfds_set(struct vm_fn *f, uint64_t base, bool assign)
{
    for (unsigned q = 0; q < f->vp.vdev->num_queues; q++) {
        /* Linux and the kit ring with a 16-bit write of the queue index; other widths reach
         * the BAR handler and are served there. */
        if (f->kicks[q].fd >= 0 &&
            pci_machine_ioeventfd(f->vm->pci, false, base + VIRTIO_PCI_NOTIFY_MULT * q, 2,
                                  f->kicks[q].fd, false, 0, assign) < 0) {
            f->ioeventfd_errors++;
        }
    }
}

static void notify_moved(void *opaque, uint64_t old_addr, uint64_t new_addr)
{
    struct vm_fn *f = opaque;
    (void)old_addr;
    if (f->notify_addr != PCI_BAR_UNMAPPED) {
        ioeventfds_set(f, f->notify_addr, false);
    }
    f->notify_addr = new_addr;
    if (new_addr != PCI_BAR_UNMAPPED) {
        ioeventfds_set(f, new_addr, true);
    }
}

/* ---- MSI-X vectors on irqfds ------------------------------------------------------------- */

static int vector_fd(void *opaque, unsigned vector)
{
    struct vm_fn *f = opaque;
    if (vector >= PCI_MSIX_MAX_VECTORS) {
        return -EINVAL;
    }
    if (f->vec_fd[vector] >= 0) {
        return f->vec_fd[vector];
    }
    int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (fd < 0) {
        return -errno;
    }
    int r = pci_machine_msix_irqfd(f->vm->pci, &f->vp.pci, vector, fd);
    if (r < 0) {
        close(fd);
        return r;
    }
    f->vec_fd[vector] = fd;
    return fd;
}

static void vectors_release(void *opaque)
{
    struct vm_fn *f = opaque;
    for (unsigned v = 0; v < PCI_MSIX_MAX_VECTORS; v++) {
        if (f->vec_fd[v] < 0) {
            continue;
        }
        if (f->attached) {
            /* Unbinding removes the vector's MSI route; the count in the eventfd goes too. */
            if (pci_machine_msix_irqfd(f->vm->pci, &f->vp.pci, v, -1) < 0) {
                f->vp.irqs_dropped++; /* cannot happen: the vector was bound */
            }
        }
        close(f->vec_fd[v]);
        f->vec_fd[v] = -1;
    }
}

/* ---- Adding and removing functions ------------------------------------------------------- */

static int free_slot(struct pci_machine *pm)
{
    for (unsigned s = 1; s < PCI_HOST_SLOTS; s++) {
        if (!pm->fns[s * PCI_HOST_FUNCS]) {
            return (int)s;
        }
    }
    return -ENOSPC;
}

static void fn_free(struct vm_fn *f)
{
    struct vm *vm = f->vm;
    if (f->attached) {
        /* Unmaps the BAR: notify_moved() takes the ioeventfds down. */
        (void)pci_machine_remove(vm->pci, &f->vp.pci);
        f->attached = false;
    }
    vectors_release(f);
    for (unsigned q = 0; q < VIRTIO_QUEUES_MAX; q++) {
        struct kick *k = &f->kicks[q];
        if (k->watched) {
            evloop_del_fd(vm->loop, k->fd);
        }
        if (k->fd >= 0) {
            close(k->fd);
        }
    }
    /* Drop the state entries registered for this function. */
    unsigned j = 0;
    for (unsigned i = 0; i < vm->ndevices; i++) {
        bool ours = false;
        for (unsigned s = 0; s < f->nstate; s++) {
            ours |= vm->devices[i].opaque == f->state[s].opaque &&
                    vm->devices[i].state == f->state[s].state;
        }
        if (!ours) {
            vm->devices[j++] = vm->devices[i];
        }
    }
    vm->ndevices = j;
    virtio_pci_destroy(&f->vp);
    free(f);
}

struct virtio_pci *virtio_machine_add(struct vm *vm, struct virtio_dev *vdev, const char *name,
                                      const struct device *state, unsigned nstate, char *err,
                                      size_t errlen)
{
    if (!vm->pci) {
        snprintf(err, errlen, "%s: this machine has no PCI bus", name);
        return NULL;
    }
    if (!vm->virtio) {
        vm->virtio = calloc(1, sizeof(*vm->virtio));
        if (!vm->virtio) {
            snprintf(err, errlen, "out of memory");
            return NULL;
        }
    }
    struct virtio_machine *m = vm->virtio;
    int slot = free_slot(vm->pci);
    if (m->n >= VIRTIO_MACHINE_MAX || slot < 0) {
        snprintf(err, errlen, "%s: no free PCI slot", name);
        return NULL;
    }
    struct vm_fn *f = calloc(1, sizeof(*f));
    if (!f) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    f->vm = vm;
    f->notify_addr = PCI_BAR_UNMAPPED;
    for (unsigned v = 0; v < PCI_MSIX_MAX_VECTORS; v++) {
        f->vec_fd[v] = -1;
    }
    for (unsigned q = 0; q < VIRTIO_QUEUES_MAX; q++) {
        f->kicks[q] = (struct kick){.f = f, .q = q, .fd = -1};
    }
    int r = virtio_pci_init(&f->vp, vdev, name);
    if (r < 0) {
        free(f);
        snprintf(err, errlen, "%s: cannot create the virtio-pci function: %s", name, strerror(-r));
        return NULL;
    }
    for (unsigned q = 0; q < vdev->num_queues; q++) {
        struct kick *k = &f->kicks[q];
        k->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (k->fd < 0 || evloop_add_fd(vm->loop, k->fd, EPOLLIN, on_kick, k) < 0) {
            snprintf(err, errlen, "%s: cannot set up the doorbell of queue %u", name, q);
            fn_free(f);
            return NULL;
        }
        k->watched = true;
    }
    virtio_pci_set_hooks(&f->vp, &(struct virtio_pci_hooks){
                                     .notify_moved = notify_moved,
                                     .vector_fd = vector_fd,
                                     .vectors_release = vectors_release,
                                     .opaque = f,
                                 });

    /* State: the device's sections, then the transport's (pci_machine_add adds the config). */
    if (state) {
        if (nstate > STATE_MAX - 1) {
            snprintf(err, errlen, "%s: too many state sections", name);
            fn_free(f);
            return NULL;
        }
        memcpy(f->state, state, nstate * sizeof(*state));
        f->nstate = nstate;
    } else {
        f->nstate = virtio_dev_state_sections(vdev, f->state, STATE_MAX - 1);
        if (f->nstate > STATE_MAX - 1) {
            f->nstate = STATE_MAX - 1;
        }
    }
    f->state[f->nstate++] = virtio_pci_device(&f->vp);
    if (vm->ndevices + f->nstate + 1 > VM_MAX_DEVICES) {
        snprintf(err, errlen, "%s: too many devices", name);
        f->nstate = 0;
        fn_free(f);
        return NULL;
    }
    struct pci_bar_handler bars[PCI_NUM_BARS] = {
        [VIRTIO_PCI_BAR] = {.ops = &virtio_pci_bar_ops, .opaque = &f->vp},
    };
    r = pci_machine_add(vm->pci, &f->vp.pci, (unsigned)slot, 0, bars);
    if (r < 0) {
        snprintf(err, errlen, "%s: cannot attach to PCI slot %d: %s", name, slot, strerror(-r));
        f->nstate = 0;
        fn_free(f);
        return NULL;
    }
    f->attached = true;
    for (unsigned s = 0; s < f->nstate; s++) {
        vm->devices[vm->ndevices++] = f->state[s];
    }
    m->fns[m->n++] = f;
    return &f->vp;
}

int virtio_machine_doorbell_fd(const struct virtio_pci *vp, unsigned q)
{
    const struct vm_fn *f = (const void *)((const char *)vp - offsetof(struct vm_fn, vp));
    return q < vp->vdev->num_queues ? f->kicks[q].fd : -1;
}

/* ---- Devices from specs ------------------------------------------------------------------ */

/* Console input: what the guest has posted buffers for; the rest once it posts more. */
static size_t console_input(void *opaque, const uint8_t *buf, size_t len)
{
    struct owned *o = opaque;
    return virtio_console_receive(&o->u.con, 0, buf, len);
}

static void console_rx_ready(void *opaque, unsigned port)
{
    struct owned *o = opaque;
    if (port == 0) {
        chardev_input_resume(&o->chr);
    }
}

static int open_chardev(struct owned *o, const char *spec, bool stdin_taken, char *err,
                        size_t errlen)
{
    if (!strcmp(spec, "stdio") && stdin_taken) {
        /* The serial port owns stdin (and the terminal mode): share stdout only. */
        int r = chardev_open(&o->chr, "null", err, errlen);
        o->chr.out_fd = STDOUT_FILENO;
        return r;
    }
    return chardev_open(&o->chr, spec, err, errlen);
}

static int add_spec(struct vm *vm, const struct virtio_spec *s, bool stdin_taken, char *err,
                    size_t errlen)
{
    struct owned *o = calloc(1, sizeof(*o));
    if (!o) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    o->kind = s->kind;
    struct device state[STATE_MAX];
    unsigned nstate;
    struct virtio_dev *vdev;
    const char *name;
    int r;
    if (s->kind == VIRTIO_SPEC_RNG) {
        name = "virtio-rng-pci";
        r = virtio_rng_init(&o->u.rng, &vm->mem);
        if (r < 0) {
            snprintf(err, errlen, "virtio-rng: %s", strerror(-r));
            free(o);
            return r;
        }
        vdev = &o->u.rng.vdev;
        nstate = virtio_rng_state_sections(&o->u.rng, state, STATE_MAX);
    } else {
        name = "virtio-console-pci";
        char why[256] = "";
        r = open_chardev(o, s->chardev, stdin_taken, why, sizeof(why));
        if (r < 0) {
            snprintf(err, errlen, "virtio-console chardev=%s: %s", s->chardev, why);
            free(o);
            return r;
        }
        o->chr_open = true;
        r = virtio_console_init(&o->u.con, &vm->mem, &o->chr);
        if (r < 0) {
            snprintf(err, errlen, "virtio-console: %s", strerror(-r));
            chardev_close(&o->chr);
            free(o);
            return r;
        }
        vdev = &o->u.con.vdev;
        nstate = virtio_console_state_sections(&o->u.con, state, STATE_MAX);
    }
    if (nstate > STATE_MAX) {
        nstate = STATE_MAX; /* cannot happen with today's devices; keeps the copy in bounds */
    }
    struct virtio_pci *vp = virtio_machine_add(vm, vdev, name, state, nstate, err, errlen);
    if (!vp) {
        if (o->chr_open) {
            chardev_close(&o->chr);
        }
        free(o);
        return -EINVAL;
    }
    struct vm_fn *f = vm->virtio->fns[vm->virtio->n - 1];
    f->owned = o;
    if (s->kind == VIRTIO_SPEC_CONSOLE) {
        /* The back-end is there from the start: the driver hears PORT_OPEN after PORT_READY. */
        (void)virtio_console_set_host_open(&o->u.con, 0, true);
        o->u.con.rx_ready = console_rx_ready;
        o->u.con.rx_ready_opaque = o;
        r = chardev_attach(&o->chr, vm->loop, console_input, o);
        if (r < 0) {
            /* The function stays (the machine has no way back); it just gets no input. */
            snprintf(err, errlen, "virtio-console chardev=%s: %s", s->chardev, strerror(-r));
            return r;
        }
        o->chr_attached = true;
    }
    return 0;
}

int virtio_machine_add_specs(struct vm *vm, const char *const *args, unsigned n, bool stdin_taken,
                             char *err, size_t errlen)
{
    bool stdin_used = stdin_taken;
    for (unsigned i = 0; i < n; i++) {
        struct virtio_spec s;
        int r = virtio_spec_parse(args[i], &s, err, errlen);
        if (r < 0) {
            return r;
        }
        r = add_spec(vm, &s, stdin_used, err, errlen);
        /* One reader of stdin: the first console on stdio, unless the serial port has it. */
        stdin_used |= s.kind == VIRTIO_SPEC_CONSOLE && !strcmp(s.chardev, "stdio");
        if (r < 0) {
            return r;
        }
    }
    return 0;
}

static void owned_free(struct owned *o)
{
    if (!o) {
        return;
    }
    if (o->kind == VIRTIO_SPEC_RNG) {
        virtio_rng_destroy(&o->u.rng);
    } else {
        if (o->chr_attached) {
            chardev_detach(&o->chr);
        }
        virtio_console_destroy(&o->u.con);
    }
    if (o->chr_open) {
        chardev_close(&o->chr);
    }
    free(o);
}

void virtio_machine_destroy(struct vm *vm)
{
    struct virtio_machine *m = vm->virtio;
    if (!m) {
        return;
    }
    for (unsigned i = m->n; i-- > 0;) {
        struct owned *o = m->fns[i]->owned;
        fn_free(m->fns[i]);
        owned_free(o);
    }
    free(m);
    vm->virtio = NULL;
}

void virtio_machine_resumed(struct vm *vm)
{
    struct virtio_machine *m = vm->virtio;
    for (unsigned i = 0; m && i < m->n; i++) {
        struct vm_fn *f = m->fns[i];
        for (unsigned q = 0; q < f->vp.vdev->num_queues; q++) {
            if (f->kicks[q].pending) {
                f->kicks[q].pending = false;
                virtio_pci_queue_kick(&f->vp, q);
            }
        }
    }
}

void virtio_machine_kick_all(struct vm *vm)
{
    struct virtio_machine *m = vm->virtio;
    for (unsigned i = 0; m && i < m->n; i++) {
        struct virtio_dev *vdev = m->fns[i]->vp.vdev;
        for (unsigned q = 0; q < vdev->num_queues; q++) {
            virtio_dev_queue_notify(vdev, q);
        }
    }
}
