// SPDX-License-Identifier: GPL-2.0-or-later
/* --disk and --net: virtio-blk and virtio-net devices on the PCI bus (vmm/virtio_io.h). */
#include "vmm/virtio_io.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>

#include "io/block.h"
#include "io/net.h"
#include "io/virtio.h"
#include "io/virtio_blk.h"
#include "io/virtio_net.h"
#include "vmm/device.h"
#include "vmm/evloop.h"
#include "vmm/virtio_machine.h"
#include "vmm/vm.h"

/* The device's sections and the transport's: enough for 16 queues and a few of its own. */
#define IO_STATE_MAX (VIRTIO_QUEUES_MAX + 4)

static void on_blk_completion(void *opaque, uint32_t events)
{
    virtio_blk_process(opaque);
}

static int attach_disk(struct virtio_io *io, struct vm *vm, const struct cli_disk *d,
                       unsigned index, char *err, size_t errlen)
{
    struct block_image *img;
    char berr[512];
    if (block_open(d->file, d->format, d->readonly, d->cache, &img, berr, sizeof(berr)) < 0) {
        snprintf(err, errlen, "--disk %s: %s", d->file, berr);
        return -EINVAL;
    }
    char serial[24];
    snprintf(serial, sizeof(serial), "deskvm-disk%u", index);
    struct virtio_blk_opts bo = {
        .num_queues = d->queues, .backend = BLOCK_AIO_AUTO, .serial = serial};
    struct virtio_blk *blk = virtio_blk_create(&vm->mem, img, &bo, berr, sizeof(berr));
    if (!blk) {
        block_close(img);
        snprintf(err, errlen, "--disk %s: %s", d->file, berr);
        return -EINVAL;
    }
    io->blk[io->nblk++] = blk;
    if (evloop_add_fd(io->loop, virtio_blk_event_fd(blk), EPOLLIN, on_blk_completion, blk) < 0) {
        snprintf(err, errlen, "--disk %s: cannot watch I/O completions", d->file);
        return -EIO;
    }
    struct device state[IO_STATE_MAX];
    unsigned n = virtio_blk_state_sections(blk, state, IO_STATE_MAX);
    if (!virtio_machine_add(vm, virtio_blk_vdev(blk), "virtio-blk", state,
                            n < IO_STATE_MAX ? n : IO_STATE_MAX, berr, sizeof(berr))) {
        snprintf(err, errlen, "--disk %s: %s", d->file, berr);
        return -EIO;
    }
    return 0;
}

static int attach_nic(struct virtio_io *io, struct vm *vm, const struct cli_net *c, char *err,
                      size_t errlen)
{
    struct net_backend *be;
    char nerr[512];
    int r;
    if (c->kind == CLI_NET_USER) {
        struct net_user_config cfg = {.hostfwd = c->hostfwd, .nhostfwd = c->nhostfwd};
        r = net_user_create(io->loop, &cfg, &be, nerr, sizeof(nerr));
    } else {
        r = net_tap_create(io->loop, c->ifname[0] ? c->ifname : NULL, &be, nerr, sizeof(nerr));
    }
    if (r < 0) {
        snprintf(err, errlen, "--net %s: %s", c->kind == CLI_NET_USER ? "user" : "tap", nerr);
        return r;
    }
    struct virtio_net *nic = virtio_net_create(&vm->mem, c->mac, be);
    if (!nic) {
        net_backend_free(be);
        snprintf(err, errlen, "--net: out of memory");
        return -ENOMEM;
    }
    io->nic[io->nnic] = nic;
    io->be[io->nnic] = be;
    io->nnic++;
    struct device state[IO_STATE_MAX];
    unsigned n = virtio_net_state_sections(nic, state, IO_STATE_MAX);
    if (!virtio_machine_add(vm, virtio_net_vdev(nic), "virtio-net", state,
                            n < IO_STATE_MAX ? n : IO_STATE_MAX, nerr, sizeof(nerr))) {
        snprintf(err, errlen, "--net: %s", nerr);
        return -EIO;
    }
    return 0;
}

int virtio_io_attach(struct virtio_io *io, struct vm *vm, struct evloop *loop,
                     const struct cli_options *opt, char *err, size_t errlen)
{
    memset(io, 0, sizeof(*io));
    io->loop = loop;
    for (unsigned i = 0; i < opt->ndisks; i++) {
        if (opt->disks[i].sata) {
            continue; /* on the AHCI controller (vmm/ahci_machine.c) */
        }
        int r = attach_disk(io, vm, &opt->disks[i], i, err, errlen);
        if (r < 0) {
            return r;
        }
    }
    for (unsigned i = 0; i < opt->nnet; i++) {
        int r = attach_nic(io, vm, &opt->net[i], err, errlen);
        if (r < 0) {
            return r;
        }
    }
    return 0;
}

void virtio_io_quiesce(struct virtio_io *io)
{
    for (unsigned i = 0; i < io->nblk; i++) {
        virtio_blk_drain(io->blk[i]);
    }
}

int virtio_io_flush(struct virtio_io *io)
{
    int ret = 0;
    for (unsigned i = 0; i < io->nblk; i++) {
        virtio_blk_drain(io->blk[i]);
        int r = block_readonly(io->blk[i]->img) ? 0 : block_flush(io->blk[i]->img);
        if (r < 0 && ret == 0) {
            ret = r;
        }
    }
    return ret;
}

void virtio_io_free(struct virtio_io *io)
{
    for (unsigned i = 0; i < io->nblk; i++) {
        evloop_del_fd(io->loop, virtio_blk_event_fd(io->blk[i]));
        virtio_blk_destroy(io->blk[i]);
    }
    for (unsigned i = 0; i < io->nnic; i++) {
        virtio_net_destroy(io->nic[i]);
        net_backend_free(io->be[i]);
    }
    io->nblk = io->nnic = 0;
}
