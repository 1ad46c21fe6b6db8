// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * ICH9-style AHCI (AHCI 1.3 chapters 3-5): HBA and port registers, the command list, command
 * tables and PRDTs read from guest memory, ATA commands for SATA disks (ATA8-ACS 7.x) and the
 * ATAPI PACKET command set of a CD-ROM drive (MMC-6). Every guest address and length is
 * checked against RAM before use; a bad one fails that command with a task file error.
 */
#include "io/ahci.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AHCI_BUF_SIZE 65536       /* largest reply we build (IDENTIFY, INQUIRY, MODE SENSE, ...) */
#define AHCI_MAX_XFER (32u << 20) /* READ DMA EXT with count 0: 65536 sectors */
#define CMD_HDR_SIZE 32
#define CMD_TBL_PRDT 0x80
#define PRD_SIZE 16
#define RFIS_D2H 0x40
#define RFIS_SDB 0x58
#define AHCI_AIO_DEPTH AHCI_SLOTS

/* ATA status and error bits. */
#define ATA_DRDY 0x40
#define ATA_DSC 0x10
#define ATA_ERR 0x01
#define ATA_ABRT 0x04

/* SCSI sense keys and codes. */
#define SK_NOT_READY 0x02
#define SK_ILLEGAL_REQUEST 0x05
#define SK_UNIT_ATTENTION 0x06
#define ASC_INVALID_OPCODE 0x20
#define ASC_LBA_OUT_OF_RANGE 0x21
#define ASC_INVALID_FIELD 0x24
#define ASC_MEDIUM_CHANGED 0x28
#define ASC_MEDIUM_NOT_PRESENT 0x3a
#define ASC_REMOVAL_PREVENTED 0x53

static inline uint16_t get16be(const uint8_t *p)
{
    return (uint16_t)(p[0] << 8 | p[1]);
}
static inline uint32_t get32be(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline void put16be(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}
static inline void put32be(uint8_t *p, uint32_t v)
{
    put16be(p, (uint16_t)(v >> 16));
    put16be(p + 2, (uint16_t)v);
}
static inline uint32_t get32le(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline void put16le(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

/* ---- interrupts -------------------------------------------------------------------------- */

static void update_irq(struct ahci *a)
{
    bool level = false;
    for (unsigned i = 0; i < AHCI_PORTS; i++) {
        if (a->ports[i].is & a->ports[i].ie) {
            level = true;
        }
    }
    pci_set_irq(&a->pci, level && (a->ghc & AHCI_GHC_IE));
}

static uint32_t global_is(const struct ahci *a)
{
    uint32_t is = 0;
    for (unsigned i = 0; i < AHCI_PORTS; i++) {
        if (a->ports[i].is & a->ports[i].ie) {
            is |= 1u << i;
        }
    }
    return is;
}

/* ---- one command in flight: its header, table and scatter list ---------------------------- */

struct ahci_cmd {
    struct ahci_port *p;
    uint64_t hdr_gpa, tbl_gpa;
    uint32_t flags; /* command header DW0 */
    unsigned prdtl;
    uint8_t cfis[64];
    uint8_t acmd[16];
    uint64_t xferred; /* bytes moved, written back as PRDBC */
    bool bad;         /* a guest structure was invalid: fail with a task file error */
};

static uint64_t port_addr(uint32_t lo, uint32_t hi)
{
    return (uint64_t)hi << 32 | lo;
}

/*
 * Walk the scatter list for a transfer of len bytes: fn(ctx, hva, off, n) for each piece of
 * guest RAM, off counting from the start of the transfer. Every PRD entry is read from guest
 * memory as it is used and its region checked whole. Returns 0, fn's error, or -EFAULT (and
 * marks the command bad) for an entry or region outside RAM or a list shorter than len.
 */
typedef int (*prd_fn)(void *ctx, void *hva, uint64_t off, uint64_t n);

static int prd_walk(struct ahci_cmd *c, uint64_t len, prd_fn fn, void *ctx)
{
    uint64_t done = 0;
    for (unsigned i = 0; i < c->prdtl && done < len; i++) { /* guest-controlled */
        uint8_t prd[PRD_SIZE];
        if (guest_mem_read(c->p->ahci->mem, c->tbl_gpa + CMD_TBL_PRDT + (uint64_t)i * PRD_SIZE, prd,
                           sizeof(prd)) < 0) {
            c->bad = true;
            return -EFAULT;
        }
        uint64_t dba = port_addr(get32le(prd) & ~1u, get32le(prd + 4)); /* guest-controlled */
        uint64_t dbc = (get32le(prd + 12) & 0x3fffff) + 1;              /* at most 4 MiB */
        uint64_t n = len - done < dbc ? len - done : dbc;
        void *hva = guest_mem_ptr(c->p->ahci->mem, dba, n);
        if (!hva) {
            c->bad = true;
            return -EFAULT;
        }
        int r = fn(ctx, hva, done, n);
        if (r < 0) {
            return r;
        }
        done += n;
        c->xferred = done;
    }
    if (done < len) {
        c->bad = true;
        return -EFAULT;
    }
    return 0;
}

static int copy_to_guest(void *ctx, void *hva, uint64_t off, uint64_t n)
{
    memcpy(hva, (const uint8_t *)ctx + off, n);
    return 0;
}

/* Bytes of buf into the PRD regions. */
static int prd_copy(struct ahci_cmd *c, const void *buf, uint64_t len)
{
    return prd_walk(c, len, copy_to_guest, (void *)buf);
}

/* The PRD regions of a transfer as the iovec list of its block request. */
static int collect_iov(void *ctx, void *hva, uint64_t off, uint64_t n)
{
    struct ahci_io *io = ctx;
    (void)off;
    if (io->niov == io->cap) {
        if (io->cap == BLOCK_AIO_IOV_MAX) {
            return -E2BIG; /* guest-controlled: more PRDs than one request carries */
        }
        unsigned cap = io->cap ? io->cap * 2 : 16;
        cap = cap > BLOCK_AIO_IOV_MAX ? BLOCK_AIO_IOV_MAX : cap;
        struct iovec *iov = realloc(io->iov, cap * sizeof(*iov));
        if (!iov) {
            return -ENOMEM;
        }
        io->iov = iov;
        io->cap = cap;
    }
    io->iov[io->niov++] = (struct iovec){hva, n};
    return 0;
}

/* Bytes described by the PRDT (entries read and checked; 0 with c->bad on a fault). */
static uint64_t prd_total(struct ahci_cmd *c)
{
    uint64_t total = 0;
    for (unsigned i = 0; i < c->prdtl; i++) {
        uint8_t prd[PRD_SIZE];
        if (guest_mem_read(c->p->ahci->mem, c->tbl_gpa + CMD_TBL_PRDT + (uint64_t)i * PRD_SIZE, prd,
                           sizeof(prd)) < 0) {
            c->bad = true;
            return 0;
        }
        total += (get32le(prd + 12) & 0x3fffff) + 1;
    }
    return total;
}

/* ---- completion --------------------------------------------------------------------------- */

static void post_d2h(struct ahci_port *p, uint8_t status, uint8_t error)
{
    if (!(p->cmd & AHCI_PxCMD_FRE)) {
        return;
    }
    uint8_t fis[20] = {0x34, 0x40, status, error}; /* D2H register FIS, I bit set */
    /* guest-controlled: a received-FIS area outside RAM is dropped (the guest sees TFD). */
    if (guest_mem_write(p->ahci->mem, port_addr(p->fb, p->fbu) + RFIS_D2H, fis, sizeof(fis)) < 0) {
        p->errors++;
    }
}

/* Set Device Bits FIS: the NCQ tags in done have completed (SATA 3.x 10.5.8). */
static void post_sdb(struct ahci_port *p, uint8_t status, uint8_t error, uint32_t done)
{
    if (!(p->cmd & AHCI_PxCMD_FRE)) {
        return;
    }
    uint8_t fis[8] = {0xa1, 0x40, status & 0x77, error};
    fis[4] = (uint8_t)done;
    fis[5] = (uint8_t)(done >> 8);
    fis[6] = (uint8_t)(done >> 16);
    fis[7] = (uint8_t)(done >> 24);
    /* guest-controlled: a received-FIS area outside RAM is dropped. */
    if (guest_mem_write(p->ahci->mem, port_addr(p->fb, p->fbu) + RFIS_SDB, fis, sizeof(fis)) < 0) {
        p->errors++;
    }
}

static void finish(struct ahci_cmd *c, unsigned slot, uint8_t status, uint8_t error)
{
    struct ahci_port *p = c->p;
    if (c->bad) {
        p->errors++;
        status = ATA_DRDY | ATA_ERR;
        error = ATA_ABRT;
        c->xferred = 0;
    }
    uint8_t prdbc[4];
    uint32_t x = (uint32_t)c->xferred;
    prdbc[0] = (uint8_t)x;
    prdbc[1] = (uint8_t)(x >> 8);
    prdbc[2] = (uint8_t)(x >> 16);
    prdbc[3] = (uint8_t)(x >> 24);
    if (c->hdr_gpa) {
        guest_mem_write(p->ahci->mem, c->hdr_gpa + 4, prdbc, 4);
    }
    p->tfd = (uint32_t)error << 8 | status;
    post_d2h(p, status, error);
    p->ci &= ~(1u << slot);
    p->is |= AHCI_PxIS_DHRS;
    if (status & ATA_ERR) {
        p->is |= AHCI_PxIS_TFES;
    }
}

/* ---- asynchronous transfers ---------------------------------------------------------------- */

static void io_done(struct block_aio_req *req, int result);

/* The statistics of a transfer that finished or could not start. */
static void account(struct ahci_port *p, const struct ahci_io *io, bool ok)
{
    enum block_stats_kind k = BLOCK_STATS_UNMAP;
    switch (io->req.op) {
    case BLOCK_AIO_READ:
        k = BLOCK_STATS_READ;
        break;
    case BLOCK_AIO_WRITE:
        k = BLOCK_STATS_WRITE;
        break;
    case BLOCK_AIO_FLUSH:
        k = BLOCK_STATS_FLUSH;
        break;
    default:
        break;
    }
    block_stats_done(&p->stats, k, io->len, ok, io->start_ns);
}

/*
 * Send slot's transfer (len bytes through the PRDT at image offset off; len 0 for a flush)
 * to the block layer. true: it completes in io_done(). false: it could not start (c->bad for
 * a bad PRDT, else the block layer refused it); the caller fails the command.
 */
static bool submit_io(struct ahci_cmd *c, unsigned slot, enum block_aio_op op, uint64_t off,
                      uint64_t len, bool ncq, bool atapi)
{
    struct ahci_port *p = c->p;
    struct ahci_io *io = &p->io[slot];
    io->niov = 0;
    if (len && prd_walk(c, len, collect_iov, io) < 0) {
        c->bad = true; /* a PRD outside RAM, a short PRDT or more PRDs than BLOCK_AIO_IOV_MAX */
        return false;
    }
    io->p = p;
    io->slot = slot;
    io->ncq = ncq;
    io->atapi = atapi;
    io->cancelled = false;
    io->hdr_gpa = c->hdr_gpa;
    io->len = len;
    io->req = (struct block_aio_req){
        .op = op, .off = off, .iov = io->iov, .iovcnt = io->niov, .done = io_done};
    io->start_ns = host_now_ns();
    if (!p->aio || block_aio_submit(p->aio, &io->req) < 0) {
        p->io_errors++;
        account(p, io, false);
        return false;
    }
    p->busy |= 1u << slot;
    p->serial_busy |= !ncq;
    return true;
}

/* Stop waiting for the transfers in flight (port stopped or reset): they finish unseen. */
static void cancel_io(struct ahci_port *p)
{
    for (unsigned slot = 0; slot < AHCI_SLOTS; slot++) {
        if (p->busy & (1u << slot)) {
            p->io[slot].cancelled = true;
        }
    }
}

/* ---- ATA ---------------------------------------------------------------------------------- */

static void ata_string(uint8_t *id, unsigned word, unsigned words, const char *s)
{
    size_t n = strlen(s);
    for (unsigned i = 0; i < words * 2; i++) {
        char ch = i < n ? s[i] : ' ';
        id[word * 2 + (i ^ 1)] = (uint8_t)ch; /* ATA strings swap each byte pair */
    }
}

static void identify_disk(struct ahci_port *p, uint8_t *id)
{
    memset(id, 0, 512);
    uint64_t s = p->sectors;
    uint64_t chs = s < 16383ull * 16 * 63 ? s : 16383ull * 16 * 63;
    put16le(id + 0 * 2, 0x0040);
    put16le(id + 1 * 2, (uint16_t)(chs / (16 * 63)));
    put16le(id + 3 * 2, 16);
    put16le(id + 6 * 2, 63);
    ata_string(id, 10, 10, p->serial);
    ata_string(id, 23, 4, "1.0");
    ata_string(id, 27, 20, "DESKVM HARDDISK");
    put16le(id + 47 * 2, 0x8010);
    put16le(id + 49 * 2, 0x0300); /* LBA, DMA */
    put16le(id + 53 * 2, 0x0007);
    put16le(id + 54 * 2, (uint16_t)(chs / (16 * 63)));
    put16le(id + 55 * 2, 16);
    put16le(id + 56 * 2, 63);
    put16le(id + 57 * 2, (uint16_t)chs);
    put16le(id + 58 * 2, (uint16_t)(chs >> 16));
    uint32_t lba28 = s < 0x0fffffff ? (uint32_t)s : 0x0fffffff;
    put16le(id + 60 * 2, (uint16_t)lba28);
    put16le(id + 61 * 2, (uint16_t)(lba28 >> 16));
    put16le(id + 63 * 2, 0x0007);
    put16le(id + 64 * 2, 0x0003);
    put16le(id + 65 * 2, 120);
    put16le(id + 66 * 2, 120);
    put16le(id + 67 * 2, 120);
    put16le(id + 68 * 2, 120);
    put16le(id + 75 * 2, AHCI_SLOTS - 1); /* NCQ queue depth - 1 */
    put16le(id + 76 * 2, 0x0106);         /* NCQ; SATA gen 1 and 2 */
    put16le(id + 80 * 2, 0x00f0);         /* ATA/ATAPI-4..7 */
    put16le(id + 82 * 2, 0x4020);         /* write cache */
    put16le(id + 83 * 2, 0x7400);         /* LBA48, FLUSH CACHE (EXT) */
    put16le(id + 84 * 2, 0x4000);
    put16le(id + 85 * 2, 0x4020);
    put16le(id + 86 * 2, 0x3400);
    put16le(id + 87 * 2, 0x4000);
    put16le(id + 88 * 2, 0x203f); /* UDMA 0-5, mode 5 selected */
    for (unsigned w = 0; w < 4; w++) {
        put16le(id + (100 + w) * 2, (uint16_t)(s >> (16 * w)));
    }
}

static void identify_packet(struct ahci_port *p, uint8_t *id)
{
    memset(id, 0, 512);
    put16le(id + 0 * 2, 0x85c0); /* ATAPI, CD-ROM, removable, 12-byte packets */
    ata_string(id, 10, 10, p->serial);
    ata_string(id, 23, 4, "1.0");
    ata_string(id, 27, 20, "DESKVM DVD-ROM");
    put16le(id + 49 * 2, 0x0300);
    put16le(id + 53 * 2, 0x0007);
    put16le(id + 63 * 2, 0x0007);
    put16le(id + 64 * 2, 0x0003);
    put16le(id + 65 * 2, 0x00b4);
    put16le(id + 66 * 2, 0x00b4);
    put16le(id + 67 * 2, 0x012c);
    put16le(id + 68 * 2, 0x00b4);
    put16le(id + 76 * 2, 0x0006);
    put16le(id + 80 * 2, 0x001e);
    put16le(id + 88 * 2, 0x203f);
}

/* Sector count and LBA of a 28- or 48-bit command. */
static void ata_lba(const uint8_t *f, bool ext, uint64_t *lba, uint32_t *count)
{
    uint64_t l = (uint64_t)f[4] | (uint64_t)f[5] << 8 | (uint64_t)f[6] << 16;
    uint32_t n = f[12];
    if (ext) {
        l |= (uint64_t)f[8] << 24 | (uint64_t)f[9] << 32 | (uint64_t)f[10] << 40;
        n |= (uint32_t)f[13] << 8;
        if (n == 0) {
            n = 65536;
        }
    } else {
        l |= (uint64_t)(f[7] & 0x0f) << 24;
        if (n == 0) {
            n = 256;
        }
    }
    *lba = l;
    *count = n;
}

/* A read or write; true when it went to the block layer (it completes in io_done()). */
static bool ata_rw(struct ahci_cmd *c, unsigned slot, bool ext, bool write)
{
    struct ahci_port *p = c->p;
    uint64_t lba;
    uint32_t count;
    ata_lba(c->cfis, ext, &lba, &count);
    if (lba > p->sectors || count > p->sectors - lba) { /* guest-controlled */
        return false;
    }
    return submit_io(c, slot, write ? BLOCK_AIO_WRITE : BLOCK_AIO_READ, lba * ATA_SECTOR,
                     (uint64_t)count * ATA_SECTOR, false, false);
}

/*
 * READ/WRITE FPDMA QUEUED (ATA8-ACS 7.57/7.69): the count is in the features fields, the tag
 * is the slot (AHCI 1.3 5.6.4.1). Accepted at once (PxCI bit cleared, PxTFD not busy); the
 * PxSACT bit clears when the data has moved. true when it was accepted.
 */
static bool ncq_rw(struct ahci_cmd *c, unsigned slot, bool write)
{
    struct ahci_port *p = c->p;
    const uint8_t *f = c->cfis;
    uint64_t lba = (uint64_t)f[4] | (uint64_t)f[5] << 8 | (uint64_t)f[6] << 16 |
                   (uint64_t)f[8] << 24 | (uint64_t)f[9] << 32 | (uint64_t)f[10] << 40;
    uint32_t count = (uint32_t)f[3] | (uint32_t)f[11] << 8;
    count = count ? count : 65536;
    if (!(p->sact & (1u << slot)) || lba > p->sectors || count > p->sectors - lba) {
        return false; /* guest-controlled: no PxSACT bit for the tag, or beyond the disk */
    }
    if (!submit_io(c, slot, write ? BLOCK_AIO_WRITE : BLOCK_AIO_READ, lba * ATA_SECTOR,
                   (uint64_t)count * ATA_SECTOR, true, false)) {
        return false;
    }
    p->ci &= ~(1u << slot);
    p->tfd = ATA_DRDY | ATA_DSC;
    return true;
}

static void ata_command(struct ahci_cmd *c, unsigned slot)
{
    struct ahci_port *p = c->p;
    uint8_t op = c->cfis[2];
    bool ok = false;
    bool disk = p->drive == AHCI_DRIVE_DISK;
    switch (op) {
    case 0xec: /* IDENTIFY DEVICE */
        if (disk) {
            identify_disk(p, p->ahci->buf);
            ok = prd_copy(c, p->ahci->buf, 512) == 0;
        }
        break;
    case 0xa1: /* IDENTIFY PACKET DEVICE */
        if (!disk) {
            identify_packet(p, p->ahci->buf);
            ok = prd_copy(c, p->ahci->buf, 512) == 0;
        }
        break;
    case 0x25: /* READ DMA EXT */
    case 0x24: /* READ SECTORS EXT */
    case 0xc8: /* READ DMA */
    case 0x20: /* READ SECTORS */
    case 0x35: /* WRITE DMA EXT */
    case 0x34: /* WRITE SECTORS EXT */
    case 0xca: /* WRITE DMA */
    case 0x30: /* WRITE SECTORS */
        if (disk && ata_rw(c, slot, op == 0x25 || op == 0x24 || op == 0x35 || op == 0x34,
                           op == 0x35 || op == 0x34 || op == 0xca || op == 0x30)) {
            return; /* io_done() finishes it */
        }
        break;
    case 0x60: /* READ FPDMA QUEUED */
    case 0x61: /* WRITE FPDMA QUEUED */
        if (disk && ncq_rw(c, slot, op == 0x61)) {
            return;
        }
        p->sact &= ~(1u << slot);
        break;
    case 0xe7: /* FLUSH CACHE */
    case 0xea: /* FLUSH CACHE EXT */
        if (disk && submit_io(c, slot, BLOCK_AIO_FLUSH, 0, 0, false, false)) {
            return;
        }
        break;
    case 0xef: /* SET FEATURES */
    case 0xc6: /* SET MULTIPLE MODE */
    case 0x91: /* INITIALIZE DEVICE PARAMETERS */
    case 0xe0: /* STANDBY IMMEDIATE */
    case 0xe1: /* IDLE IMMEDIATE */
    case 0xe5: /* CHECK POWER MODE */
    case 0xf5: /* SECURITY FREEZE LOCK */
    case 0x40: /* READ VERIFY SECTORS */
    case 0x42: /* READ VERIFY SECTORS EXT */
        ok = disk || op == 0xef;
        break;
    case 0x08: /* DEVICE RESET */
        ok = !disk;
        break;
    default:
        break;
    }
    /* Anything else aborts; a packet device so answers IDENTIFY DEVICE (ATA8-ACS 7.16), and
     * the guest reads its signature from PxSIG. */
    if (ok) {
        finish(c, slot, ATA_DRDY | ATA_DSC, 0);
    } else {
        finish(c, slot, ATA_DRDY | ATA_ERR, ATA_ABRT);
    }
}

/* ---- ATAPI -------------------------------------------------------------------------------- */

static void sense(struct ahci_port *p, uint8_t key, uint8_t asc)
{
    p->sense_key = key;
    p->asc = asc;
    p->ascq = 0;
}

static bool medium_ready(const struct ahci_port *p)
{
    return p->img && !p->tray_open;
}

static void lba_to_msf(uint8_t *m, uint64_t lba)
{
    lba += 150;
    m[0] = (uint8_t)(lba / (75 * 60));
    m[1] = (uint8_t)((lba / 75) % 60);
    m[2] = (uint8_t)(lba % 75);
}

static unsigned mode_page(const struct ahci_port *p, uint8_t page, uint8_t *b)
{
    switch (page) {
    case 0x01: /* read error recovery */
        memset(b, 0, 12);
        b[0] = 0x01;
        b[1] = 10;
        b[3] = 5; /* retries */
        return 12;
    case 0x2a: /* CD/DVD capabilities and mechanical status */
        memset(b, 0, 28);
        b[0] = 0x2a;
        b[1] = 26;
        b[2] = 0x3b; /* reads CD-R/RW, DVD-ROM/R/RAM */
        b[4] = 0x71; /* audio play, composite, digital port, multi-session */
        b[5] = 0x60;
        b[6] = 0x29 | (p->locked ? 0x02 : 0); /* lock, eject, tray loader */
        put16be(b + 8, 706);                  /* max speed, kB/s (4x) */
        put16be(b + 10, 2);
        put16be(b + 12, 512);
        put16be(b + 14, 706);
        return 28;
    default:
        return 0;
    }
}

/* Build the reply of a data-in ATAPI command into buf; returns its length, or -1 on error. */
static long atapi_reply(struct ahci_port *p, const uint8_t *cdb, uint8_t *buf)
{
    switch (cdb[0]) {
    case 0x12: { /* INQUIRY */
        memset(buf, 0, 36);
        buf[0] = 0x05;
        buf[1] = 0x80;
        buf[2] = 0x05; /* SPC-3 */
        buf[3] = 0x32;
        buf[4] = 31;
        memcpy(buf + 8, "DESKVM  ", 8);
        memcpy(buf + 16, "DVD-ROM         ", 16);
        memcpy(buf + 32, "1.0 ", 4);
        return 36;
    }
    case 0x03: { /* REQUEST SENSE */
        memset(buf, 0, 18);
        buf[0] = 0x70;
        buf[2] = p->sense_key;
        buf[7] = 10;
        buf[12] = p->asc;
        buf[13] = p->ascq;
        sense(p, 0, 0);
        return 18;
    }
    case 0x25: /* READ CAPACITY */
        put32be(buf, (uint32_t)(p->sectors ? p->sectors - 1 : 0));
        put32be(buf + 4, ATAPI_SECTOR);
        return 8;
    case 0x1a:   /* MODE SENSE(6) */
    case 0x5a: { /* MODE SENSE(10) */
        bool ten = cdb[0] == 0x5a;
        uint8_t page = cdb[2] & 0x3f;
        unsigned hdr = ten ? 8 : 4;
        unsigned n = hdr;
        memset(buf, 0, hdr);
        if (page == 0x3f) {
            n += mode_page(p, 0x01, buf + n);
            n += mode_page(p, 0x2a, buf + n);
        } else {
            unsigned m = mode_page(p, page, buf + n);
            if (m == 0) {
                sense(p, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD);
                return -1;
            }
            n += m;
        }
        if (ten) {
            put16be(buf, (uint16_t)(n - 2));
            buf[2] = 0x70; /* medium type: door closed, no disc / unknown */
        } else {
            buf[0] = (uint8_t)(n - 1);
        }
        return n;
    }
    case 0x46: {                        /* GET CONFIGURATION */
        bool dvd = p->sectors > 360000; /* larger than a CD */
        uint16_t profile = !medium_ready(p) ? 0 : dvd ? 0x0010 : 0x0008;
        memset(buf, 0, 32);
        put16be(buf + 6, profile);
        /* feature 0: profile list (DVD-ROM, CD-ROM) */
        put16be(buf + 8, 0x0000);
        buf[10] = 0x03;
        buf[11] = 8;
        put16be(buf + 12, 0x0010);
        buf[14] = profile == 0x0010;
        put16be(buf + 16, 0x0008);
        buf[18] = profile == 0x0008;
        /* feature 1: core, ATAPI physical interface */
        put16be(buf + 20, 0x0001);
        buf[22] = 0x0b;
        buf[23] = 8;
        put32be(buf + 24, 2);
        buf[28] = 1;
        put32be(buf, 32 - 4);
        return 32;
    }
    case 0x43: { /* READ TOC/PMA/ATIP */
        if (!medium_ready(p)) {
            sense(p, SK_NOT_READY, ASC_MEDIUM_NOT_PRESENT);
            return -1;
        }
        bool msf = cdb[1] & 0x02;
        unsigned format = cdb[2] & 0x0f;
        if (format == 0 && cdb[9] >> 6) {
            format = cdb[9] >> 6; /* the older place of the format field */
        }
        memset(buf, 0, 20);
        if (format == 0) {
            if (cdb[6] > 1 && cdb[6] != 0xaa) {
                sense(p, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD);
                return -1;
            }
            uint8_t *d = buf + 4;
            buf[2] = 1;
            buf[3] = 1;
            if (cdb[6] <= 1) {
                d[1] = 0x14; /* data track, ADR 1 */
                d[2] = 1;
                if (msf) {
                    lba_to_msf(d + 5, 0);
                }
                d += 8;
            }
            d[1] = 0x14;
            d[2] = 0xaa;
            if (msf) {
                lba_to_msf(d + 5, p->sectors);
            } else {
                put32be(d + 4, (uint32_t)p->sectors);
            }
            d += 8;
            unsigned n = (unsigned)(d - buf);
            put16be(buf, (uint16_t)(n - 2));
            return n;
        }
        if (format == 1) { /* session info */
            put16be(buf, 10);
            buf[2] = 1;
            buf[3] = 1;
            buf[5] = 0x14;
            buf[6] = 1;
            if (msf) {
                lba_to_msf(buf + 9, 0);
            }
            return 12;
        }
        sense(p, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD);
        return -1;
    }
    case 0x4a: {             /* GET EVENT STATUS NOTIFICATION */
        if (!(cdb[1] & 1)) { /* only polled mode */
            sense(p, SK_ILLEGAL_REQUEST, ASC_INVALID_FIELD);
            return -1;
        }
        memset(buf, 0, 8);
        buf[3] = 0x10; /* supported: media class */
        if (!(cdb[4] & 0x10)) {
            put16be(buf, 2);
            buf[2] = 0x80; /* no event available */
            return 4;
        }
        put16be(buf, 6);
        buf[2] = 0x04;
        buf[4] = (uint8_t)p->media_event;
        buf[5] = (uint8_t)((p->img ? 0x02 : 0) | (p->tray_open ? 0x01 : 0));
        p->media_event = AHCI_MEDIA_NO_CHANGE;
        return 8;
    }
    case 0xbd: /* MECHANISM STATUS */
        memset(buf, 0, 8);
        buf[1] = p->tray_open ? 0x10 : 0;
        return 8;
    default:
        return -2; /* not a data-in command */
    }
}

static unsigned alloc_len(const uint8_t *cdb)
{
    switch (cdb[0]) {
    case 0x12:
    case 0x03:
    case 0x1a:
        return cdb[4];
    case 0x25:
        return 8;
    default:
        return get16be(cdb + 7);
    }
}

/* READ(10)/READ(12); true when it went to the block layer (it completes in io_done()). */
static bool atapi_read(struct ahci_cmd *c, unsigned slot, const uint8_t *cdb)
{
    struct ahci_port *p = c->p;
    uint64_t lba = get32be(cdb + 2);
    uint64_t count = cdb[0] == 0x28 ? get16be(cdb + 7) : get32be(cdb + 6);
    if (lba > p->sectors || count > p->sectors - lba) { /* guest-controlled */
        sense(p, SK_ILLEGAL_REQUEST, ASC_LBA_OUT_OF_RANGE);
        return false;
    }
    uint64_t len = count * ATAPI_SECTOR;
    if (len > AHCI_MAX_XFER) {
        c->bad = true;
        return false;
    }
    if (len == 0) {
        return false; /* nothing to read: done */
    }
    if (!submit_io(c, slot, BLOCK_AIO_READ, lba * ATAPI_SECTOR, len, false, true) && !c->bad) {
        sense(p, 0x03, 0x11); /* medium error, unrecovered read error */
    }
    return !c->bad && !p->sense_key;
}

/* The end of a PACKET command: its sense decides the status. */
static void atapi_finish(struct ahci_cmd *c, unsigned slot)
{
    struct ahci_port *p = c->p;
    if (!c->bad && p->sense_key) {
        finish(c, slot, ATA_DRDY | ATA_ERR, (uint8_t)(p->sense_key << 4 | ATA_ABRT));
    } else {
        finish(c, slot, ATA_DRDY | ATA_DSC, 0);
    }
}

static void atapi_command(struct ahci_cmd *c, unsigned slot)
{
    struct ahci_port *p = c->p;
    const uint8_t *cdb = c->acmd;
    uint8_t op = cdb[0];
    bool needs_medium = op == 0x00 || op == 0x28 || op == 0xa8 || op == 0x25;
    p->sense_key = op == 0x03 ? p->sense_key : 0;
    if (op != 0x03 && op != 0x12 && op != 0x4a && op != 0x46 && p->unit_attention) {
        /* The first command after a media change reports it (MMC-6 4.1.6.2). */
        p->unit_attention = false;
        sense(p, SK_UNIT_ATTENTION, ASC_MEDIUM_CHANGED);
    } else if (needs_medium && !medium_ready(p)) {
        sense(p, SK_NOT_READY, ASC_MEDIUM_NOT_PRESENT);
    } else if (op == 0x28 || op == 0xa8) {
        if (atapi_read(c, slot, cdb)) {
            return; /* io_done() finishes it */
        }
    } else if (op == 0x00) { /* TEST UNIT READY */
    } else if (op == 0x1e) { /* PREVENT ALLOW MEDIUM REMOVAL */
        p->locked = cdb[4] & 1;
    } else if (op == 0x1b) { /* START STOP UNIT */
        bool loej = cdb[4] & 2, start = cdb[4] & 1;
        if (loej && !start) {
            if (p->locked) {
                sense(p, SK_ILLEGAL_REQUEST, ASC_REMOVAL_PREVENTED);
            } else if (!p->tray_open) {
                p->tray_open = true;
                p->media_event = AHCI_MEDIA_REMOVAL;
            }
        } else if (loej && start && p->tray_open) {
            p->tray_open = false;
            if (p->img) {
                p->media_event = AHCI_MEDIA_NEW;
            }
        }
    } else if (op == 0xbb || op == 0x55 || op == 0x2b) { /* SET CD SPEED, MODE SELECT, SEEK */
    } else {
        long n = atapi_reply(p, cdb, p->ahci->buf);
        if (n == -2) {
            sense(p, SK_ILLEGAL_REQUEST, ASC_INVALID_OPCODE);
        } else if (n >= 0) {
            uint64_t want = alloc_len(cdb);
            uint64_t len = (uint64_t)n < want ? (uint64_t)n : want;
            uint64_t room = prd_total(c);
            len = len < room ? len : room;
            if (!c->bad && len) {
                prd_copy(c, p->ahci->buf, len);
            }
        }
    }
    atapi_finish(c, slot);
}

/* ---- the command engine ------------------------------------------------------------------- */

static void run_slot(struct ahci_port *p, unsigned slot)
{
    struct ahci *a = p->ahci;
    struct ahci_cmd c = {.p = p};
    uint8_t hdr[CMD_HDR_SIZE];
    uint64_t clb = port_addr(p->clb & ~0x3ffu, p->clbu);
    c.hdr_gpa = clb + (uint64_t)slot * CMD_HDR_SIZE;
    if (guest_mem_read(a->mem, c.hdr_gpa, hdr, sizeof(hdr)) < 0) { /* guest-controlled */
        c.bad = true;
        c.hdr_gpa = 0;
        finish(&c, slot, 0, 0);
        return;
    }
    c.flags = get32le(hdr);
    c.prdtl = c.flags >> 16;
    c.tbl_gpa = port_addr(get32le(hdr + 8) & ~0x7fu, get32le(hdr + 12));
    unsigned cfl = c.flags & 0x1f;
    /* The table and the whole PRDT must be RAM; a FIS of fewer than 5 dwords is no command. */
    if (cfl < 5 || !guest_mem_ptr(a->mem, c.tbl_gpa, CMD_TBL_PRDT + (uint64_t)c.prdtl * PRD_SIZE) ||
        guest_mem_read(a->mem, c.tbl_gpa, c.cfis, sizeof(c.cfis)) < 0 ||
        guest_mem_read(a->mem, c.tbl_gpa + 0x40, c.acmd, sizeof(c.acmd)) < 0) {
        c.bad = true;
        finish(&c, slot, 0, 0);
        return;
    }
    if (c.cfis[0] != 0x27 || !(c.cfis[1] & 0x80)) {
        /* Not a command FIS (a device control FIS for soft reset, SRST): nothing to do. */
        finish(&c, slot, ATA_DRDY | ATA_DSC, 0);
        return;
    }
    if (p->drive == AHCI_DRIVE_CDROM && c.cfis[2] == 0xa0) {
        atapi_command(&c, slot);
    } else {
        ata_command(&c, slot);
    }
}

/*
 * Start the issued commands whose slot is free, in slot order. A non-queued command with its
 * transfer in flight holds back the rest until it completes (io_done() calls this again);
 * queued (NCQ) commands run side by side.
 */
static void port_run(struct ahci_port *p)
{
    if (!(p->cmd & AHCI_PxCMD_ST) || p->drive == AHCI_DRIVE_NONE) {
        return;
    }
    for (unsigned slot = 0; slot < AHCI_SLOTS && (p->ci & ~p->busy) && !p->serial_busy; slot++) {
        if ((p->ci & (1u << slot)) && !(p->busy & (1u << slot))) {
            run_slot(p, slot);
        }
    }
    update_irq(p->ahci);
}

/* A transfer finished (from block_aio_complete / block_aio_drain, device lock held). */
static void io_done(struct block_aio_req *req, int result)
{
    struct ahci_io *io = (struct ahci_io *)req;
    struct ahci_port *p = io->p;
    unsigned slot = io->slot;
    p->busy &= ~(1u << slot);
    if (!io->ncq) {
        p->serial_busy = false;
    }
    if (io->cancelled) {
        io->cancelled = false;
    } else {
        if (result < 0) {
            p->io_errors++;
        }
        account(p, io, result >= 0);
        struct ahci_cmd c = {.p = p, .hdr_gpa = io->hdr_gpa, .xferred = result < 0 ? 0 : io->len};
        if (io->ncq) {
            p->sact &= ~(1u << slot);
            if (result < 0) {
                p->tfd = (uint32_t)ATA_ABRT << 8 | ATA_DRDY | ATA_ERR;
                post_sdb(p, ATA_DRDY | ATA_ERR, ATA_ABRT, 1u << slot);
                p->is |= AHCI_PxIS_TFES | AHCI_PxIS_SDBS;
            } else {
                post_sdb(p, ATA_DRDY | ATA_DSC, 0, 1u << slot);
                p->is |= AHCI_PxIS_SDBS;
            }
        } else if (io->atapi) {
            if (result < 0) {
                sense(p, 0x03, 0x11); /* medium error, unrecovered read error */
            }
            atapi_finish(&c, slot);
        } else if (result < 0) {
            finish(&c, slot, ATA_DRDY | ATA_ERR, ATA_ABRT);
        } else {
            finish(&c, slot, ATA_DRDY | ATA_DSC, 0);
        }
    }
    port_run(p);
    update_irq(p->ahci);
}

int ahci_port_event_fd(const struct ahci *a, unsigned port)
{
    return port < AHCI_PORTS && a->ports[port].aio ? block_aio_event_fd(a->ports[port].aio) : -1;
}

void ahci_process(struct ahci *a)
{
    for (unsigned i = 0; i < AHCI_PORTS; i++) {
        if (a->ports[i].aio) {
            block_aio_complete(a->ports[i].aio);
        }
    }
}

void ahci_drain(struct ahci *a)
{
    for (unsigned i = 0; i < AHCI_PORTS; i++) {
        /* a completion may start the next held-back command: until the port is idle */
        while (a->ports[i].aio && a->ports[i].busy) {
            block_aio_drain(a->ports[i].aio);
        }
    }
}

/* COMRESET done (or power-on): the device's signature arrives. */
static void port_link_up(struct ahci_port *p)
{
    if (p->drive == AHCI_DRIVE_NONE) {
        p->ssts = 0;
        p->tfd = 0x7f;
        p->sig = 0xffffffffu;
        return;
    }
    p->ssts = 0x113; /* device present, Gen 1, active */
    p->sig = p->drive == AHCI_DRIVE_CDROM ? AHCI_SIG_ATAPI : AHCI_SIG_ATA;
    p->tfd = ATA_DRDY | ATA_DSC;
    p->serr = 0;
}

static void port_reset(struct ahci_port *p)
{
    cancel_io(p);
    p->clb = p->clbu = p->fb = p->fbu = 0;
    p->is = p->ie = p->serr = p->sact = p->ci = p->sctl = 0;
    p->cmd =
        AHCI_PxCMD_SUD | AHCI_PxCMD_POD | (p->drive == AHCI_DRIVE_CDROM ? AHCI_PxCMD_ATAPI : 0);
    p->sense_key = p->asc = p->ascq = 0;
    p->locked = false;
    port_link_up(p);
}

void ahci_reset(struct ahci *a)
{
    a->ghc = AHCI_GHC_AE;
    for (unsigned i = 0; i < AHCI_PORTS; i++) {
        port_reset(&a->ports[i]);
    }
    update_irq(a);
}

/* ---- registers ---------------------------------------------------------------------------- */

static uint32_t port_read(struct ahci_port *p, unsigned off)
{
    switch (off) {
    case AHCI_PxCLB:
        return p->clb;
    case AHCI_PxCLBU:
        return p->clbu;
    case AHCI_PxFB:
        return p->fb;
    case AHCI_PxFBU:
        return p->fbu;
    case AHCI_PxIS:
        return p->is;
    case AHCI_PxIE:
        return p->ie;
    case AHCI_PxCMD:
        return p->cmd;
    case AHCI_PxTFD:
        return p->tfd;
    case AHCI_PxSIG:
        return p->sig;
    case AHCI_PxSSTS:
        return p->ssts;
    case AHCI_PxSCTL:
        return p->sctl;
    case AHCI_PxSERR:
        return p->serr;
    case AHCI_PxSACT:
        return p->sact;
    case AHCI_PxCI:
        return p->ci;
    default:
        return 0;
    }
}

static void port_write(struct ahci_port *p, unsigned off, uint32_t v)
{
    switch (off) {
    case AHCI_PxCLB:
        p->clb = v & ~0x3ffu;
        break;
    case AHCI_PxCLBU:
        p->clbu = v;
        break;
    case AHCI_PxFB:
        p->fb = v & ~0xffu;
        break;
    case AHCI_PxFBU:
        p->fbu = v;
        break;
    case AHCI_PxIS:
        p->is &= ~v;
        break;
    case AHCI_PxIE:
        p->ie = v & 0xfdc000ffu;
        break;
    case AHCI_PxCMD: {
        uint32_t keep = p->cmd & (AHCI_PxCMD_ATAPI);
        uint32_t cmd =
            (v & (AHCI_PxCMD_ST | AHCI_PxCMD_SUD | AHCI_PxCMD_POD | AHCI_PxCMD_FRE | 0xf0000000u)) |
            keep;
        cmd &= ~0xf0000000u; /* ICC reads back idle once the transition is done */
        if (cmd & AHCI_PxCMD_ST) {
            cmd |= AHCI_PxCMD_CR;
        } else {
            p->ci = 0; /* clearing ST drops the outstanding commands (AHCI 1.3 3.3.14) */
            p->sact = 0;
            cancel_io(p);
        }
        if (cmd & AHCI_PxCMD_FRE) {
            cmd |= AHCI_PxCMD_FR;
        }
        p->cmd = cmd;
        port_run(p);
        break;
    }
    case AHCI_PxSCTL:
        if ((p->sctl & 0xf) == 1 && (v & 0xf) != 1) {
            port_link_up(p); /* end of COMRESET */
            if (p->drive != AHCI_DRIVE_NONE) {
                post_d2h(p, (uint8_t)p->tfd, 0);
                p->is |= AHCI_PxIS_DHRS;
            }
        } else if ((v & 0xf) == 1) {
            p->ssts = 0;
            p->ci = p->sact = 0;
            cancel_io(p);
        }
        p->sctl = v;
        break;
    case AHCI_PxSERR:
        p->serr &= ~v;
        break;
    case AHCI_PxSACT:
        if (p->cmd & AHCI_PxCMD_ST) {
            p->sact |= v;
        }
        break;
    case AHCI_PxCI:
        if (p->cmd & AHCI_PxCMD_ST) {
            p->ci |= v;
            port_run(p);
        }
        break;
    default:
        break;
    }
    update_irq(p->ahci);
}

uint64_t ahci_read(void *opaque, uint64_t off, unsigned size)
{
    struct ahci *a = opaque;
    if (size != 4 || (off & 3)) {
        a->bad_access++;
        return UINT32_MAX;
    }
    if (off >= AHCI_PORT_BASE) {
        uint64_t n = (off - AHCI_PORT_BASE) / AHCI_PORT_LEN;
        if (n >= AHCI_PORTS) { /* guest-controlled */
            return 0;
        }
        struct ahci_port *p = &a->ports[n];
        if (p->busy) {
            /* A guest polling for its command (firmware does) reaps a finished transfer
             * here rather than waiting for the event loop thread to be scheduled. */
            block_aio_complete(p->aio);
        }
        return port_read(p, (unsigned)((off - AHCI_PORT_BASE) % AHCI_PORT_LEN));
    }
    switch (off) {
    case AHCI_CAP:
        /* 64-bit, NCQ, AHCI only, Gen 1, 32 slots, staggered spin-up, ports - 1 */
        return 1u << 31 | 1u << 30 | 1u << 27 | 1u << 18 | 1u << 20 | (AHCI_SLOTS - 1) << 8 |
               (AHCI_PORTS - 1);
    case AHCI_GHC:
        return a->ghc;
    case AHCI_IS:
        return global_is(a);
    case AHCI_PI:
        return (1u << AHCI_PORTS) - 1;
    case AHCI_VS:
        return 0x00010300; /* 1.3 */
    default:
        return 0;
    }
}

void ahci_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    struct ahci *a = opaque;
    uint32_t v = (uint32_t)val;
    if (size != 4 || (off & 3)) {
        a->bad_access++;
        return;
    }
    if (off >= AHCI_PORT_BASE) {
        uint64_t n = (off - AHCI_PORT_BASE) / AHCI_PORT_LEN;
        if (n < AHCI_PORTS) { /* guest-controlled */
            port_write(&a->ports[n], (unsigned)((off - AHCI_PORT_BASE) % AHCI_PORT_LEN), v);
        }
        return;
    }
    if (off == AHCI_GHC) {
        if (v & AHCI_GHC_HR) {
            ahci_reset(a); /* completes at once: HR reads back 0 */
            return;
        }
        a->ghc = AHCI_GHC_AE | (v & AHCI_GHC_IE);
        update_irq(a);
    }
    /* IS is derived from the ports' IS & IE; writes to it have nothing left to clear. */
}

const struct bus_ops ahci_abar_ops = {
    .read = ahci_read,
    .write = ahci_write,
    .min_size = 4,
    .max_size = 4,
};

/* ---- life cycle --------------------------------------------------------------------------- */

int ahci_init(struct ahci *a, const struct guest_mem *mem)
{
    memset(a, 0, sizeof(*a));
    a->mem = mem;
    a->buf = calloc(1, AHCI_BUF_SIZE);
    if (!a->buf) {
        return -ENOMEM;
    }
    int r = pci_dev_init(&a->pci, "ahci", AHCI_PCI_VENDOR, AHCI_PCI_DEVICE, AHCI_PCI_CLASS, 0x02,
                         PCI_INTA);
    if (r == 0) {
        r = pci_dev_set_bar(&a->pci, AHCI_ABAR, PCI_BAR_MEM32, AHCI_ABAR_SIZE, false);
    }
    if (r < 0) {
        free(a->buf);
        a->buf = NULL;
        return r;
    }
    pci_dev_set_subsystem(&a->pci, 0x1af4, 0x1100);
    pci_dev_realize(&a->pci);
    for (unsigned i = 0; i < AHCI_PORTS; i++) {
        a->ports[i].ahci = a;
        a->ports[i].idx = i;
    }
    ahci_reset(a);
    return 0;
}

void ahci_destroy(struct ahci *a)
{
    if (!a) {
        return;
    }
    for (unsigned i = 0; i < AHCI_PORTS; i++) {
        struct ahci_port *p = &a->ports[i];
        /* what is still in flight finishes unseen; nothing new starts */
        p->ci = p->sact = 0;
        cancel_io(p);
        block_aio_destroy(p->aio);
        p->aio = NULL;
        for (unsigned s = 0; s < AHCI_SLOTS; s++) {
            free(p->io[s].iov);
            p->io[s].iov = NULL;
            p->io[s].cap = 0;
        }
        if (p->img) {
            block_close(p->img);
            p->img = NULL;
        }
    }
    free(a->buf);
    a->buf = NULL;
    pci_dev_destroy(&a->pci);
}

static uint64_t medium_sectors(struct block_image *img)
{
    return img ? block_size(img) / ATAPI_SECTOR : 0;
}

int ahci_attach(struct ahci *a, unsigned port, enum ahci_drive drive, struct block_image *img,
                const char *serial, char *err, size_t errlen)
{
    if (port >= AHCI_PORTS || a->ports[port].drive != AHCI_DRIVE_NONE || drive == AHCI_DRIVE_NONE) {
        snprintf(err, errlen, "AHCI port %u is taken or does not exist", port);
        return -EINVAL;
    }
    struct ahci_port *p = &a->ports[port];
    if (drive == AHCI_DRIVE_DISK) {
        if (!img || block_size(img) % ATA_SECTOR || block_size(img) == 0) {
            snprintf(err, errlen, "a SATA disk must be a non-empty whole number of %d-byte sectors",
                     ATA_SECTOR);
            return -EINVAL;
        }
        p->sectors = block_size(img) / ATA_SECTOR;
    } else {
        p->sectors = medium_sectors(img);
        p->tray_open = false;
        p->media_event = img ? AHCI_MEDIA_NEW : AHCI_MEDIA_NO_CHANGE;
    }
    char aerr[BLOCK_ERR_LEN];
    int r = block_aio_create(img, a->backend, AHCI_AIO_DEPTH, &p->aio, aerr, sizeof(aerr));
    if (r < 0) {
        snprintf(err, errlen, "AHCI port %u: %s", port, aerr);
        return r;
    }
    p->drive = drive;
    p->img = img;
    snprintf(p->serial, sizeof(p->serial), "%s", serial ? serial : "");
    port_reset(p);
    update_irq(a);
    return 0;
}

int ahci_change_medium(struct ahci *a, unsigned port, struct block_image *img, bool force)
{
    if (port >= AHCI_PORTS || a->ports[port].drive != AHCI_DRIVE_CDROM) {
        return -ENODEV;
    }
    struct ahci_port *p = &a->ports[port];
    if (p->locked && !force) {
        p->media_event = AHCI_MEDIA_EJECT_REQUEST; /* the guest may honour it */
        return -EBUSY;
    }
    ahci_drain(a);
    block_aio_set_image(p->aio, img);
    if (p->img) {
        block_close(p->img);
    }
    p->img = img;
    p->sectors = medium_sectors(img);
    p->tray_open = img == NULL;
    p->locked = false;
    p->media_event = img ? AHCI_MEDIA_NEW : AHCI_MEDIA_REMOVAL;
    p->unit_attention = true;
    return 0;
}

static void reset_cb(void *opaque)
{
    ahci_reset(opaque);
}

static void quiesce_cb(void *opaque)
{
    ahci_drain(opaque);
}

/* ---- state -------------------------------------------------------------------------------- */

static int hba_post_load(void *opaque)
{
    struct ahci *a = opaque;
    if (!(a->ghc & AHCI_GHC_AE) || (a->ghc & ~(AHCI_GHC_AE | AHCI_GHC_IE))) {
        return -EINVAL;
    }
    update_irq(a);
    return 0;
}

static const struct vmstate_field hba_fields[] = {
    VMSTATE_FIELD(struct ahci, ghc),
    VMSTATE_END,
};

static const struct vmstate hba_vmstate = {
    .name = "ahci",
    .version = 1,
    .fields = hba_fields,
    .post_load = hba_post_load,
};

/*
 * Checkpoints are taken after ahci_drain() (the "ahci" section's quiesce hook), so a saved
 * port never has a command in flight; the drive and its medium come from the command line,
 * not from the state.
 */
static int port_post_load(void *opaque)
{
    struct ahci_port *p = opaque;
    if (p->ci || p->sact || p->media_event > AHCI_MEDIA_REMOVAL || (p->clb & 0x3ff) ||
        (p->fb & 0xff) || p->sense_key > 0x0f) {
        return -EINVAL;
    }
    p->unit_attention = !!p->unit_attention;
    p->tray_open = !!p->tray_open;
    p->locked = !!p->locked;
    if (p->drive == AHCI_DRIVE_NONE) {
        port_link_up(p); /* nothing attached here now, whatever the state says */
    }
    update_irq(p->ahci);
    return 0;
}

#define PORT_FIELD(f) VMSTATE_FIELD(struct ahci_port, f)
static const struct vmstate_field port_fields[] = {
    PORT_FIELD(clb),         PORT_FIELD(clbu),
    PORT_FIELD(fb),          PORT_FIELD(fbu),
    PORT_FIELD(is),          PORT_FIELD(ie),
    PORT_FIELD(cmd),         PORT_FIELD(tfd),
    PORT_FIELD(sig),         PORT_FIELD(ssts),
    PORT_FIELD(sctl),        PORT_FIELD(serr),
    PORT_FIELD(sact),        PORT_FIELD(ci),
    PORT_FIELD(sense_key),   PORT_FIELD(asc),
    PORT_FIELD(ascq),        PORT_FIELD(unit_attention),
    PORT_FIELD(media_event), PORT_FIELD(tray_open),
    PORT_FIELD(locked),      VMSTATE_END,
};

static const struct vmstate port_vmstate = {
    .name = "ahci-port",
    .version = 1,
    .fields = port_fields,
    .post_load = port_post_load,
};

static const char *const port_names[AHCI_PORTS] = {
    "ahci-port0", "ahci-port1", "ahci-port2", "ahci-port3", "ahci-port4", "ahci-port5",
};

unsigned ahci_state_sections(struct ahci *a, struct device *out, unsigned max)
{
    unsigned n = 0;
    if (n < max) {
        out[n++] = (struct device){"ahci", a, reset_cb, &hba_vmstate, quiesce_cb};
    }
    for (unsigned i = 0; i < AHCI_PORTS && n < max; i++) {
        out[n++] = (struct device){port_names[i], &a->ports[i], NULL, &port_vmstate};
    }
    return n;
}
