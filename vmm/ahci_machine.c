// SPDX-License-Identifier: GPL-2.0-or-later
/* AHCI on the machine's PCI bus, its drives from the command line (vmm/ahci_machine.h). */
#include "vmm/ahci_machine.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>

#include "io/block.h"
#include "vmm/evloop.h"
#include "vmm/pci_machine.h"
#include "vmm/vm.h"

static int open_iso(const char *path, struct block_image **img, char *err, size_t errlen)
{
    char berr[BLOCK_ERR_LEN];
    int r =
        block_open(path, BLOCK_FORMAT_RAW, true, BLOCK_CACHE_WRITEBACK, img, berr, sizeof(berr));
    if (r < 0) {
        snprintf(err, errlen, "%s", berr);
        return r;
    }
    if (block_size(*img) < ATAPI_SECTOR) {
        snprintf(err, errlen, "%s: smaller than one 2048-byte CD sector", path);
        block_close(*img);
        *img = NULL;
        return -EINVAL;
    }
    return 0;
}

/* Event loop, device lock held: finish the commands whose I/O is done. */
static void on_completion(void *opaque, uint32_t events)
{
    (void)events;
    ahci_process(opaque);
}

int ahci_machine_new(struct vm *vm, const struct cli_options *opt, struct ahci_machine **out,
                     char *err, size_t errlen)
{
    *out = NULL;
    unsigned nsata = 0;
    for (unsigned i = 0; i < opt->ndisks; i++) {
        nsata += opt->disks[i].sata;
    }
    if (nsata == 0 && !opt->cdrom) {
        return 0;
    }
    if (nsata + (opt->cdrom != NULL) > AHCI_PORTS) {
        snprintf(err, errlen, "at most %d SATA disks and CD-ROMs together", AHCI_PORTS);
        return -EINVAL;
    }
    struct ahci_machine *am = calloc(1, sizeof(*am));
    if (!am) {
        snprintf(err, errlen, "out of memory");
        return -ENOMEM;
    }
    am->vm = vm;
    am->cdrom_port = -1;
    int r = ahci_init(&am->ahci, &vm->mem);
    if (r < 0) {
        free(am);
        snprintf(err, errlen, "cannot create the AHCI controller: %s", strerror(-r));
        return r;
    }
    unsigned port = 0;
    char aerr[BLOCK_ERR_LEN];
    for (unsigned i = 0; i < opt->ndisks; i++) {
        const struct cli_disk *d = &opt->disks[i];
        if (!d->sata) {
            continue;
        }
        struct block_image *img;
        if ((r = block_open(d->file, d->format, d->readonly, d->cache, &img, aerr, sizeof(aerr))) <
            0) {
            snprintf(err, errlen, "--disk %s: %s", d->file, aerr);
            goto fail;
        }
        char serial[21];
        snprintf(serial, sizeof(serial), "deskvm-sata%u", port);
        if ((r = ahci_attach(&am->ahci, port, AHCI_DRIVE_DISK, img, serial, aerr, sizeof(aerr))) <
            0) {
            block_close(img);
            snprintf(err, errlen, "--disk %s: %s", d->file, aerr);
            goto fail;
        }
        port++;
    }
    if (opt->cdrom) {
        struct block_image *img;
        if ((r = open_iso(opt->cdrom, &img, aerr, sizeof(aerr))) < 0) {
            snprintf(err, errlen, "--cdrom %s: %s", opt->cdrom, aerr);
            goto fail;
        }
        if ((r = ahci_attach(&am->ahci, port, AHCI_DRIVE_CDROM, img, "deskvm-cd0", aerr,
                             sizeof(aerr))) < 0) {
            block_close(img);
            snprintf(err, errlen, "--cdrom %s: %s", opt->cdrom, aerr);
            goto fail;
        }
        am->cdrom_port = (int)port;
    }
    struct pci_bar_handler bars[PCI_NUM_BARS] = {0};
    bars[AHCI_ABAR] = (struct pci_bar_handler){&ahci_abar_ops, &am->ahci};
    if ((r = pci_machine_add(vm->pci, &am->ahci.pci, AHCI_MACHINE_SLOT, AHCI_MACHINE_FN, bars)) <
        0) {
        snprintf(err, errlen, "cannot attach AHCI at PCI slot %#x: %s", AHCI_MACHINE_SLOT,
                 strerror(-r));
        goto fail;
    }
    am->attached = true;
    for (unsigned i = 0; i < AHCI_PORTS; i++) {
        int fd = ahci_port_event_fd(&am->ahci, i);
        if (fd < 0) {
            continue;
        }
        if ((r = evloop_add_fd(vm->loop, fd, EPOLLIN, on_completion, &am->ahci)) < 0) {
            snprintf(err, errlen, "AHCI: cannot watch I/O completions");
            goto fail;
        }
        am->watched |= 1u << i;
    }
    struct device devs[AHCI_STATE_SECTIONS];
    unsigned n = ahci_state_sections(&am->ahci, devs, AHCI_STATE_SECTIONS);
    for (unsigned i = 0; i < n; i++) {
        if ((r = vm_add_device(vm, &devs[i])) < 0) {
            /* The sections added point into am: the caller frees it after vm_destroy(). */
            snprintf(err, errlen, "too many devices");
            *out = am;
            return r;
        }
    }
    *out = am;
    return 0;
fail:
    ahci_machine_free(am);
    return r;
}

void ahci_machine_free(struct ahci_machine *am)
{
    if (!am) {
        return;
    }
    /* vm_destroy() tore the PCI machine down already; before that, take the function off. */
    if (am->attached && am->vm->pci) {
        pci_machine_remove(am->vm->pci, &am->ahci.pci);
    }
    for (unsigned i = 0; i < AHCI_PORTS; i++) {
        if (am->watched & (1u << i)) {
            evloop_del_fd(am->vm->loop, ahci_port_event_fd(&am->ahci, i));
        }
    }
    ahci_destroy(&am->ahci);
    free(am);
}

void ahci_machine_quiesce(struct ahci_machine *am)
{
    if (am) {
        ahci_drain(&am->ahci);
    }
}

const struct ahci_port *ahci_machine_port(const struct ahci_machine *am, unsigned i)
{
    return am && i < AHCI_PORTS && am->ahci.ports[i].drive != AHCI_DRIVE_NONE ? &am->ahci.ports[i]
                                                                              : NULL;
}

int ahci_machine_flush(struct ahci_machine *am)
{
    int ret = 0;
    if (!am) {
        return 0;
    }
    ahci_drain(&am->ahci);
    for (unsigned i = 0; i < AHCI_PORTS; i++) {
        struct block_image *img = am->ahci.ports[i].img;
        int r = img && !block_readonly(img) ? block_flush(img) : 0;
        if (r < 0 && ret == 0) {
            ret = r;
        }
    }
    return ret;
}

int ahci_machine_change_medium(struct ahci_machine *am, const char *path, bool force, char *err,
                               size_t errlen)
{
    if (!am || am->cdrom_port < 0) {
        snprintf(err, errlen, "this VM has no CD-ROM drive (start it with --cdrom)");
        return -ENODEV;
    }
    struct block_image *img = NULL;
    int r;
    if (path && (r = open_iso(path, &img, err, errlen)) < 0) {
        return r;
    }
    r = ahci_change_medium(&am->ahci, (unsigned)am->cdrom_port, img, force);
    if (r < 0) {
        block_close(img);
        snprintf(err, errlen,
                 r == -EBUSY ? "the guest has locked the CD-ROM tray (use force)"
                             : "no CD-ROM drive");
    }
    return r;
}

int ahci_machine_boot_path(const struct ahci_machine *am, enum ahci_drive drive, char *buf,
                           size_t len)
{
    for (unsigned i = 0; am && i < AHCI_PORTS; i++) {
        if (am->ahci.ports[i].drive == drive) {
            /* SeaBIOS and OVMF match /pci@i0cf8/<any>@1f,2/drive@<port>/disk@0 for an AHCI port. */
            snprintf(buf, len, "/pci@i0cf8/sata@%x,%x/drive@%x/disk@0", AHCI_MACHINE_SLOT,
                     AHCI_MACHINE_FN, i);
            return 0;
        }
    }
    return -ENOENT;
}
