/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The AHCI controller on the machine: built when deskvm-vm is given SATA disks
 * (--disk ...,bus=sata) or a --cdrom, placed at PCI 00:1f.0 with its ABAR in BAR5, the SATA
 * disks on ports 0.. in command-line order and the CD-ROM on the port after them.
 */
#ifndef DESKVM_VMM_AHCI_MACHINE_H
#define DESKVM_VMM_AHCI_MACHINE_H

#include <stddef.h>
#include <stdint.h>

#include "io/ahci.h"
#include "vmm/cli.h"

struct vm;

#define AHCI_MACHINE_SLOT 0x1f
#define AHCI_MACHINE_FN 2 /* 00:1f.2 as on ICH9 (and QEMU's q35): 1f.0 is the LPC bridge */

struct ahci_machine {
    struct vm *vm;
    struct ahci ahci;
    int cdrom_port;   /* -1: no CD-ROM drive */
    bool attached;    /* on the PCI bus */
    uint32_t watched; /* ports whose completion fd is on the event loop */
};

/*
 * Build the controller when opt asks for one (*out stays NULL otherwise). Before the vCPUs
 * start. 0 or -errno with one line in err; *out may be set on error too, to be freed with
 * ahci_machine_free() after vm_destroy().
 */
__attribute__((warn_unused_result)) int ahci_machine_new(struct vm *vm,
                                                         const struct cli_options *opt,
                                                         struct ahci_machine **out, char *err,
                                                         size_t errlen);
/* Complete the commands in flight: after the vCPUs are joined, before vm_destroy(). */
void ahci_machine_quiesce(struct ahci_machine *am);
/*
 * Port i (SATA disks on ports 0.. in --disk order, then the CD-ROM), or NULL when it has no
 * drive: for its statistics and image.
 */
const struct ahci_port *ahci_machine_port(const struct ahci_machine *am, unsigned i);
/* Drain, then flush every writable SATA disk to its file (QMP 'stop'); 0 or -EIO. */
int ahci_machine_flush(struct ahci_machine *am);
/* After vm_destroy() (or on a failed start). NULL is fine. */
void ahci_machine_free(struct ahci_machine *am);

/*
 * QMP media change of the CD-ROM, with the device lock held: path NULL ejects, otherwise the
 * ISO at path is opened read-only and inserted. 0 or -errno with one line in err.
 */
int ahci_machine_change_medium(struct ahci_machine *am, const char *path, bool force, char *err,
                               size_t errlen);

/*
 * The firmware device path (fw_cfg bootorder) of the first drive of this kind, into buf.
 * -ENOENT when there is none.
 */
int ahci_machine_boot_path(const struct ahci_machine *am, enum ahci_drive drive, char *buf,
                           size_t len);

#endif
