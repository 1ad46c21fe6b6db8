/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * An ICH9-compatible AHCI 1.3 SATA controller (PCI 8086:2922, class 01 06 01, the ABAR in
 * BAR5, INTx) with SATA disks (ATA8-ACS DMA and PIO reads/writes, IDENTIFY, FLUSH) and ATAPI
 * CD-ROM drives (MMC-6 subset: the commands SeaBIOS, GRUB and Linux need). Data transfers
 * and flushes go to the asynchronous block layer (io/block_aio.h) and complete later, from
 * ahci_process() on the event loop; NCQ (READ/WRITE FPDMA QUEUED) commands run in parallel.
 * docs/ahci.md lists what is modelled and what is not.
 */
#ifndef DESKVM_IO_AHCI_H
#define DESKVM_IO_AHCI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "io/block.h"
#include "io/block_aio.h"
#include "io/block_stats.h"
#include "io/pci.h"
#include "vmm/bus.h"
#include "vmm/device.h"
#include "vmm/memory.h"

#define AHCI_PORTS 6 /* as ICH9 */
#define AHCI_SLOTS 32
#define AHCI_ABAR 5
#define AHCI_ABAR_SIZE 0x1000
#define AHCI_PCI_VENDOR 0x8086
#define AHCI_PCI_DEVICE 0x2922
#define AHCI_PCI_CLASS 0x010601

/* Global HBA registers (AHCI 1.3 3.1). */
#define AHCI_CAP 0x00
#define AHCI_GHC 0x04
#define AHCI_IS 0x08
#define AHCI_PI 0x0c
#define AHCI_VS 0x10
#define AHCI_CAP2 0x24
#define AHCI_GHC_HR (1u << 0)
#define AHCI_GHC_IE (1u << 1)
#define AHCI_GHC_AE (1u << 31)

/* Port registers at 0x100 + port * 0x80 (AHCI 1.3 3.3). */
#define AHCI_PORT_BASE 0x100
#define AHCI_PORT_LEN 0x80
#define AHCI_PxCLB 0x00
#define AHCI_PxCLBU 0x04
#define AHCI_PxFB 0x08
#define AHCI_PxFBU 0x0c
#define AHCI_PxIS 0x10
#define AHCI_PxIE 0x14
#define AHCI_PxCMD 0x18
#define AHCI_PxTFD 0x20
#define AHCI_PxSIG 0x24
#define AHCI_PxSSTS 0x28
#define AHCI_PxSCTL 0x2c
#define AHCI_PxSERR 0x30
#define AHCI_PxSACT 0x34
#define AHCI_PxCI 0x38

#define AHCI_PxCMD_ST (1u << 0)
#define AHCI_PxCMD_SUD (1u << 1)
#define AHCI_PxCMD_POD (1u << 2)
#define AHCI_PxCMD_FRE (1u << 4)
#define AHCI_PxCMD_FR (1u << 14)
#define AHCI_PxCMD_CR (1u << 15)
#define AHCI_PxCMD_ATAPI (1u << 24)

#define AHCI_PxIS_DHRS (1u << 0)
#define AHCI_PxIS_PSS (1u << 1)
#define AHCI_PxIS_SDBS (1u << 3)
#define AHCI_PxIS_HBFS (1u << 29)
#define AHCI_PxIS_TFES (1u << 30)

#define AHCI_SIG_ATA 0x00000101u
#define AHCI_SIG_ATAPI 0xeb140101u

#define ATA_SECTOR 512
#define ATAPI_SECTOR 2048

enum ahci_drive { AHCI_DRIVE_NONE, AHCI_DRIVE_DISK, AHCI_DRIVE_CDROM };

/* MMC media event codes (GET EVENT STATUS NOTIFICATION, media class). */
enum ahci_media_event {
    AHCI_MEDIA_NO_CHANGE = 0,
    AHCI_MEDIA_EJECT_REQUEST = 1,
    AHCI_MEDIA_NEW = 2,
    AHCI_MEDIA_REMOVAL = 3,
};

struct ahci;
struct ahci_port;

/* One command slot's transfer on the block layer. */
struct ahci_io {
    struct block_aio_req req; /* first: the completion finds the slot from it */
    struct ahci_port *p;
    unsigned slot;
    bool ncq;       /* READ/WRITE FPDMA QUEUED: completes through a Set Device Bits FIS */
    bool atapi;     /* a PACKET READ: an I/O error becomes sense 3/11h */
    bool cancelled; /* the port was stopped or reset: complete silently */
    uint64_t hdr_gpa, len;
    uint64_t start_ns; /* for the statistics */
    struct iovec *iov;
    unsigned niov, cap;
};

struct ahci_port {
    struct ahci *ahci;
    unsigned idx;
    enum ahci_drive drive;
    struct block_image *img; /* NULL: no disk / no medium; owned by the port */
    uint64_t sectors;        /* in ATA_SECTOR (disk) or ATAPI_SECTOR (cdrom) units */
    char serial[21];

    uint32_t clb, clbu, fb, fbu, is, ie, cmd, tfd, sig, ssts, sctl, serr, sact, ci;

    /* ATAPI */
    uint8_t sense_key, asc, ascq;
    bool unit_attention; /* a medium change the guest has not been told of by a command */
    enum ahci_media_event media_event;
    bool tray_open, locked;

    uint64_t errors;          /* commands failed for bad guest structures (addresses, lengths) */
    uint64_t io_errors;       /* commands failed by the image (the block layer's error) */
    struct block_stats stats; /* reads, writes and flushes (QMP query-blockstats) */

    /* Asynchronous I/O: the port's engine, which slots have a transfer in flight, and
     * whether one of those is a non-queued command (no other command starts meanwhile). */
    struct block_aio *aio;
    uint32_t busy;
    bool serial_busy;
    struct ahci_io io[AHCI_SLOTS];
};

struct ahci {
    struct pci_dev pci;
    const struct guest_mem *mem;
    uint32_t ghc;
    struct ahci_port ports[AHCI_PORTS];
    uint8_t *buf; /* scratch for IDENTIFY and ATAPI replies */
    uint64_t bad_access;
    enum block_aio_backend backend; /* for the ports attached next (default: auto) */
};

/* Set up the PCI function and empty ports. 0 or -errno. */
__attribute__((warn_unused_result)) int ahci_init(struct ahci *a, const struct guest_mem *mem);
/* Frees the scratch buffer and closes every image. NULL is fine. */
void ahci_destroy(struct ahci *a);

/*
 * Put a drive on port (before the guest runs), with its block I/O engine (a->backend).
 * img may be NULL only for a CD-ROM (an empty drive). The port takes img. -EINVAL (port out
 * of range, taken, or a disk whose size is not a whole number of sectors) or the block
 * layer's error, with one line in err; on error img is not taken.
 */
__attribute__((warn_unused_result)) int ahci_attach(struct ahci *a, unsigned port,
                                                    enum ahci_drive drive, struct block_image *img,
                                                    const char *serial, char *err, size_t errlen);

/*
 * CD-ROM media change (QMP eject / blockdev-change-medium): img NULL removes the medium (the
 * tray stays open), otherwise img replaces the medium (the tray closes). The guest sees
 * UNIT ATTENTION and a media event. -EBUSY when the guest locked the tray and force is
 * false, -ENODEV when port is not a CD-ROM. The old image is closed; on error img is not taken.
 */
int ahci_change_medium(struct ahci *a, unsigned port, struct block_image *img, bool force);

/* ABAR handlers (opaque: struct ahci), 4-byte accesses. */
extern const struct bus_ops ahci_abar_ops;
uint64_t ahci_read(void *opaque, uint64_t off, unsigned size);
void ahci_write(void *opaque, uint64_t off, uint64_t val, unsigned size);

void ahci_reset(struct ahci *a);

/*
 * Completions: each attached port's engine signals on its event fd (-1 for a port without a
 * drive); ahci_process() then finishes the commands whose I/O is done (FIS, PxCI/PxSACT,
 * interrupt) and starts the ones they held back. Never blocks. ahci_drain() waits until no
 * command is in flight on any port (before a checkpoint, before guest RAM goes away).
 */
int ahci_port_event_fd(const struct ahci *a, unsigned port);
void ahci_process(struct ahci *a);
void ahci_drain(struct ahci *a);
/*
 * The device entries for the VM: "ahci" (the HBA, with reset) and one state section per port
 * ("ahci-port0".., no reset of their own). Fills at most max; returns how many
 * (1 + AHCI_PORTS when max allows).
 */
#define AHCI_STATE_SECTIONS (1 + AHCI_PORTS)
unsigned ahci_state_sections(struct ahci *a, struct device *out, unsigned max);

#endif
