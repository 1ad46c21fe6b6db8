/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * virtio devices on the machine's PCI bus: each one is a virtio-pci function (io/virtio_pci.h)
 * in the next free slot, its doorbells on KVM ioeventfds served by the event loop, its MSI-X
 * vectors on KVM irqfds, its state registered for reset and snapshots. `--device` specs of
 * deskvm-vm (virtio-rng, virtio-console) are parsed and built here; other device types call
 * virtio_machine_add() with their own struct virtio_dev (docs/virtio.md).
 */
#ifndef DESKVM_VMM_VIRTIO_MACHINE_H
#define DESKVM_VMM_VIRTIO_MACHINE_H

#include <stdbool.h>
#include <stddef.h>

struct device;
struct virtio_dev;
struct virtio_pci;
struct vm;

#define VIRTIO_MACHINE_MAX 24 /* functions; slots 1..31 are shared with other PCI devices */
#define VIRTIO_SPEC_CHARDEV_MAX 256

enum virtio_spec_kind {
    VIRTIO_SPEC_RNG,
    VIRTIO_SPEC_CONSOLE,
};

/* One `--device` argument, parsed. */
struct virtio_spec {
    enum virtio_spec_kind kind;
    char
        chardev[VIRTIO_SPEC_CHARDEV_MAX]; /* console: stdio (default), null, file:PATH, unix:PATH */
};

/*
 * "virtio-rng" or "virtio-console[,chardev=stdio|null|file:PATH|unix:PATH]". Returns 0, or -EINVAL
 * with one line in err; -ENOENT when the device name is not one of these (another part of the
 * engine may know it).
 */
int virtio_spec_parse(const char *arg, struct virtio_spec *out, char *err, size_t errlen);

/*
 * Build the devices named by args[0..n) (already accepted by virtio_spec_parse) on vm's PCI
 * bus, in order. stdin_taken: another back-end (the serial port) owns standard input, so a
 * console on stdio only writes to stdout. Before the vCPUs start. 0 or -errno with err.
 */
int virtio_machine_add_specs(struct vm *vm, const char *const *args, unsigned n, bool stdin_taken,
                             char *err, size_t errlen);

/*
 * The generic entry point: put vdev (initialised with vm's guest memory; num_queues final)
 * on vm's PCI bus as a virtio-pci function called name, in the next free slot. state[0..n)
 * are the device's snapshot sections (what virtio_X_state_sections() fills: the common ones,
 * the queues, its own); with state NULL the common sections of vdev are registered. The
 * caller keeps vdev alive until virtio_machine_destroy(). Call before the vCPUs start (or
 * with the device lock held). Returns the function (owned by the machine) or NULL with err.
 */
struct virtio_pci *virtio_machine_add(struct vm *vm, struct virtio_dev *vdev, const char *name,
                                      const struct device *state, unsigned nstate, char *err,
                                      size_t errlen);

/*
 * Serve every queue of every virtio function once, as if the driver had rung each doorbell
 * (after a state load: a kick the checkpoint missed is not lost). Device lock held.
 */
void virtio_machine_kick_all(struct vm *vm);

/*
 * The VM runs again: serve the doorbells rung while it was paused (their kicks were held back
 * so that a paused VM starts no I/O). Device lock held; vm_resume() calls it.
 */
void virtio_machine_resumed(struct vm *vm);

/* The eventfd behind queue q's doorbell of a function from virtio_machine_add, or -1. */
int virtio_machine_doorbell_fd(const struct virtio_pci *vp, unsigned q);

/*
 * Take every virtio function off the machine: doorbells and vectors released, functions
 * detached from the PCI bus, their state entries dropped, the devices built from specs
 * freed. Called by the platform teardown before pci_machine_destroy(); the vCPUs are joined.
 */
void virtio_machine_destroy(struct vm *vm);

#endif
