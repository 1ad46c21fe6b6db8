/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The disks (--disk, virtio-blk) and network cards (--net, virtio-net) of deskvm-vm's command
 * line, built on the machine's PCI bus through virtio_machine_add() and torn down in the order
 * their I/O needs: requests drained while guest RAM is still mapped, devices freed after the
 * machine has let go of them, back-ends before the event loop they are registered on.
 */
#ifndef DESKVM_VMM_VIRTIO_IO_H
#define DESKVM_VMM_VIRTIO_IO_H

#include <stddef.h>

#include "vmm/cli.h"

struct evloop;
struct net_backend;
struct virtio_blk;
struct virtio_net;
struct vm;

struct virtio_io {
    struct evloop *loop;
    struct virtio_blk *blk[CLI_MAX_DISKS];
    unsigned nblk;
    struct virtio_net *nic[CLI_NET_MAX];
    struct net_backend *be[CLI_NET_MAX];
    unsigned nnic;
};

/*
 * Open every --disk image and every --net back-end of opt and put their devices on vm's PCI
 * bus, disks first, in command-line order. Before the vCPUs start. 0, or -errno with one line
 * in err (what was built stays in io for virtio_io_free()).
 */
int virtio_io_attach(struct virtio_io *io, struct vm *vm, struct evloop *loop,
                     const struct cli_options *opt, char *err, size_t errlen);
/* Complete the disks' in-flight requests: after the vCPUs are joined, before vm_destroy(). */
void virtio_io_quiesce(struct virtio_io *io);
/*
 * QMP stop (as QEMU's vm_stop flushes its block devices): complete the disks' requests and
 * flush each writable image, so a paused VM's images are whole on disk for other readers
 * (qemu-img, a copy). The first failing disk's -errno; the others are still flushed.
 */
int virtio_io_flush(struct virtio_io *io);
/* Free the devices and back-ends: after vm_destroy(), before the event loop is freed. */
void virtio_io_free(struct virtio_io *io);

#endif
