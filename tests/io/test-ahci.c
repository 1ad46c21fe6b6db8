// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * AHCI: HBA registers and PCI identity, ATA IDENTIFY / DMA reads and writes / FLUSH on a SATA
 * disk through command lists and PRDTs in fake guest RAM, the ATAPI CD-ROM commands and media
 * change, and guest structures outside RAM failing one command with a task file error while
 * the controller keeps working; the asynchronous completion path (order, NCQ, I/O errors,
 * a port stopped with a command in flight).
 */
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "io/ahci.h"
#include "snapshots/vmstate.h"
#include "tests/helpers/fake_irq.h"
#include "vmm/device.h"
#include "vmm/memory.h"

#define RAM_SIZE (4u << 20)
#define CLB 0x1000u
#define FB 0x2000u
#define CTBA 0x3000u
#define DATA 0x10000u
#define DISK_SECTORS 2048
#define ISO_SECTORS 64

struct fixture {
    uint8_t *ram;
    struct guest_mem mem;
    struct ahci a;
    struct fake_irq irq;
    char disk_path[64], iso_path[64], iso2_path[64];
};

static struct block_image *make_image(char *path, size_t pathlen, const char *tag, uint64_t size,
                                      uint8_t fill_base, bool ro)
{
    snprintf(path, pathlen, "/tmp/test-ahci-%s-XXXXXX", tag);
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    uint8_t *buf = malloc(size);
    assert_non_null(buf);
    for (uint64_t i = 0; i < size; i++) {
        buf[i] = (uint8_t)(fill_base + i / 512);
    }
    assert_int_equal(write(fd, buf, size), (ssize_t)size);
    free(buf);
    close(fd);
    struct block_image *img;
    char err[BLOCK_ERR_LEN];
    assert_int_equal(
        block_open(path, BLOCK_FORMAT_RAW, ro, BLOCK_CACHE_WRITEBACK, &img, err, sizeof(err)), 0);
    return img;
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    f->ram = calloc(1, RAM_SIZE);
    guest_mem_init_host(&f->mem, f->ram, RAM_SIZE);
    assert_int_equal(ahci_init(&f->a, &f->mem), 0);
    fake_irq_init(&f->irq, 16);
    f->a.pci.intx = &f->irq.line;
    char err[256];
    struct block_image *disk =
        make_image(f->disk_path, sizeof(f->disk_path), "disk", DISK_SECTORS * 512, 0, false);
    assert_int_equal(ahci_attach(&f->a, 0, AHCI_DRIVE_DISK, disk, "SER0", err, sizeof(err)), 0);
    struct block_image *iso =
        make_image(f->iso_path, sizeof(f->iso_path), "iso", ISO_SECTORS * 2048, 0x40, true);
    assert_int_equal(ahci_attach(&f->a, 1, AHCI_DRIVE_CDROM, iso, "CD0", err, sizeof(err)), 0);
    f->iso2_path[0] = '\0';
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    ahci_destroy(&f->a);
    unlink(f->disk_path);
    unlink(f->iso_path);
    if (f->iso2_path[0]) {
        unlink(f->iso2_path);
    }
    free(f->ram);
    free(f);
    return 0;
}

static uint32_t rd(struct fixture *f, uint64_t off)
{
    return (uint32_t)ahci_read(&f->a, off, 4);
}
static void wr(struct fixture *f, uint64_t off, uint32_t v)
{
    ahci_write(&f->a, off, v, 4);
}
static uint32_t prd(struct fixture *f, unsigned port, unsigned reg)
{
    return rd(f, AHCI_PORT_BASE + port * AHCI_PORT_LEN + reg);
}
static void pwr(struct fixture *f, unsigned port, unsigned reg, uint32_t v)
{
    wr(f, AHCI_PORT_BASE + port * AHCI_PORT_LEN + reg, v);
}
static void put32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4); /* x86 test host: little endian like the guest */
}
static uint32_t get32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* Start port: command list, FIS area, FRE and ST, interrupts on. */
static void start_port(struct fixture *f, unsigned port)
{
    wr(f, AHCI_GHC, AHCI_GHC_AE | AHCI_GHC_IE);
    pwr(f, port, AHCI_PxCLB, CLB);
    pwr(f, port, AHCI_PxFB, FB);
    pwr(f, port, AHCI_PxIE, 0xffffffffu);
    pwr(f, port, AHCI_PxCMD, AHCI_PxCMD_FRE | AHCI_PxCMD_ST | AHCI_PxCMD_SUD);
}

struct seg {
    uint64_t addr;
    uint32_t len;
};

/* Slot 0: an H2D FIS with command cmd, lba, count, features; optional ATAPI packet. */
static void build(struct fixture *f, uint8_t cmd, uint64_t lba, uint16_t count, uint8_t feat,
                  const uint8_t *cdb, bool write, const struct seg *segs, unsigned nseg)
{
    uint8_t *h = f->ram + CLB;
    memset(h, 0, 32);
    put32(h, 5u | (cdb ? 1u << 5 : 0) | (write ? 1u << 6 : 0) | (uint32_t)nseg << 16);
    put32(h + 8, CTBA);
    uint8_t *t = f->ram + CTBA;
    memset(t, 0, 0x80 + 16 * nseg);
    t[0] = 0x27;
    t[1] = 0x80;
    t[2] = cmd;
    t[3] = feat;
    t[4] = (uint8_t)lba;
    t[5] = (uint8_t)(lba >> 8);
    t[6] = (uint8_t)(lba >> 16);
    t[7] = 0x40;
    t[8] = (uint8_t)(lba >> 24);
    t[9] = (uint8_t)(lba >> 32);
    t[10] = (uint8_t)(lba >> 40);
    t[12] = (uint8_t)count;
    t[13] = (uint8_t)(count >> 8);
    if (cdb) {
        memcpy(t + 0x40, cdb, 12);
    }
    for (unsigned i = 0; i < nseg; i++) {
        put32(t + 0x80 + 16 * i, (uint32_t)segs[i].addr);
        put32(t + 0x84 + 16 * i, (uint32_t)(segs[i].addr >> 32));
        put32(t + 0x8c + 16 * i, segs[i].len - 1);
    }
}

/* Issue slot 0 on port; returns PxTFD after completion (checks the slot completed). */
static uint32_t issue(struct fixture *f, unsigned port)
{
    pwr(f, port, AHCI_PxIS, 0xffffffffu);
    pwr(f, port, AHCI_PxCI, 1);
    ahci_drain(&f->a); /* what the event loop does when the block layer signals */
    assert_int_equal(prd(f, port, AHCI_PxCI), 0);
    return prd(f, port, AHCI_PxTFD);
}

/* Slot slot: like build(), at its own header and table (CTBA + slot * 0x400). build() writes
 * slot 0's, so build the highest slot first and slot 0 last. */
static void build_slot(struct fixture *f, unsigned slot, uint8_t cmd, uint64_t lba, uint16_t count,
                       bool write, const struct seg *segs, unsigned nseg)
{
    build(f, cmd, lba, count, 0, NULL, write, segs, nseg);
    uint8_t *h0 = f->ram + CLB, *h = h0 + 32 * slot;
    uint8_t *t0 = f->ram + CTBA, *t = t0 + 0x400 * slot;
    if (slot) {
        memcpy(h, h0, 32);
        memcpy(t, t0, 0x80 + 16 * nseg);
        put32(h + 8, CTBA + 0x400 * slot);
    }
    if (cmd == 0x60 || cmd == 0x61) { /* FPDMA QUEUED: count in the features, tag in count */
        t[3] = (uint8_t)count;
        t[11] = (uint8_t)(count >> 8);
        t[12] = (uint8_t)(slot << 3);
        t[13] = 0;
    }
}

/* A raw image whose reads and writes fail from now on (its fd becomes a directory). */
static void break_image(struct block_image *img)
{
    int dir = open("/", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    assert_true(dir >= 0);
    assert_true(dup2(dir, block_sync_fd(img)) >= 0);
    close(dir);
}

static void fill(struct fixture *f, uint64_t addr, unsigned len, uint8_t seed)
{
    for (unsigned i = 0; i < len; i++) {
        f->ram[addr + i] = (uint8_t)(i * 13 + seed);
    }
}

/*
 * The data moves asynchronously: after the PxCI write the command is in flight (PxCI bit
 * still set, no interrupt) until the block layer's completion is processed. Non-queued
 * commands run one at a time in slot order, so a read issued with a write sees its data.
 */
static void test_async_order(void **state)
{
    struct fixture *f = *state;
    start_port(f, 0);
    fill(f, DATA, 2048, 3);
    struct seg w = {DATA, 2048}, r = {0x20000, 2048};
    build_slot(f, 2, 0x25, 40, 4, false, &r, 1);  /* READ DMA EXT */
    build_slot(f, 1, 0xea, 0, 0, false, NULL, 0); /* FLUSH CACHE EXT */
    build_slot(f, 0, 0x35, 40, 4, true, &w, 1);   /* WRITE DMA EXT */
    pwr(f, 0, AHCI_PxIS, 0xffffffffu);
    pwr(f, 0, AHCI_PxCI, 7);
    /* the write is in flight, the flush and the read wait behind it (the fields, not the
     * registers: a register read reaps what has finished, as a polling guest would) */
    assert_int_equal(f->a.ports[0].ci, 7);
    assert_int_equal(f->a.ports[0].busy, 1);
    assert_false(f->irq.level);
    assert_int_equal(f->a.ports[0].is, 0);
    ahci_drain(&f->a);
    assert_int_equal(prd(f, 0, AHCI_PxCI), 0);
    assert_int_equal(f->a.ports[0].busy, 0);
    assert_int_equal(prd(f, 0, AHCI_PxTFD) & 1, 0);
    assert_true(prd(f, 0, AHCI_PxIS) & AHCI_PxIS_DHRS);
    assert_true(f->irq.level);
    assert_memory_equal(f->ram + 0x20000, f->ram + DATA, 2048);
    assert_int_equal(get32(f->ram + CLB + 2 * 32 + 4), 2048); /* slot 2's PRDBC */
    /* ATAPI READ(10) through the block layer too: 2 sectors from LBA 5 of the ISO */
    start_port(f, 1);
    uint8_t cdb[12] = {0x28, 0, 0, 0, 0, 5, 0, 0, 2};
    struct seg c = {0x30000, 4096};
    build(f, 0xa0, 0, 0, 1, cdb, false, &c, 1);
    pwr(f, 1, AHCI_PxCI, 1);
    assert_int_equal(f->a.ports[1].ci, 1);
    ahci_drain(&f->a);
    assert_int_equal(prd(f, 1, AHCI_PxCI), 0);
    assert_int_equal(prd(f, 1, AHCI_PxTFD) & 1, 0);
    assert_int_equal(f->ram[0x30000], 0x40 + 5 * 4);            /* fill: base + offset / 512 */
    assert_int_equal(f->ram[0x30000 + 4095], 0x40 + 6 * 4 + 3); /* last byte of sector 6 */
}

/*
 * A guest that polls PxCI (SeaBIOS does) sees its command finish without the event loop:
 * a port register read reaps the finished transfer. Bounded by a count of polls, not time.
 */
static void test_poll_reaps(void **state)
{
    struct fixture *f = *state;
    start_port(f, 0);
    struct seg r = {DATA, 512};
    build(f, 0x25, 7, 1, 0, NULL, false, &r, 1);
    pwr(f, 0, AHCI_PxCI, 1);
    unsigned long polls = 0;
    while ((prd(f, 0, AHCI_PxCI) & 1) && polls < 100000000ul) {
        polls++;
        sched_yield();
    }
    assert_int_equal(prd(f, 0, AHCI_PxCI), 0);
    assert_int_equal(prd(f, 0, AHCI_PxTFD) & 1, 0);
    assert_int_equal(f->ram[DATA], 7);
    assert_true(prd(f, 0, AHCI_PxIS) & AHCI_PxIS_DHRS);
}

/*
 * NCQ: four READ/WRITE FPDMA QUEUED commands are accepted at once (PxCI clears, PxSACT
 * stays) and in flight together; each completion clears its PxSACT bit through a Set Device
 * Bits FIS. A command whose PRD points outside RAM fails alone with a task file error.
 */
static void test_ncq(void **state)
{
    struct fixture *f = *state;
    start_port(f, 0);
    assert_true(rd(f, AHCI_CAP) & (1u << 30)); /* CAP.SNCQ */
    struct seg id = {DATA, 512};
    build(f, 0xec, 0, 0, 0, NULL, false, &id, 1);
    assert_int_equal(issue(f, 0) & 1, 0);
    assert_int_equal(f->ram[DATA + 75 * 2] & 0x1f, 31); /* queue depth 32 */
    assert_true(f->ram[DATA + 76 * 2 + 1] & 1);         /* word 76 bit 8: NCQ */
    fill(f, DATA, 4096, 9);
    struct seg w0 = {DATA, 2048}, w1 = {DATA + 2048, 2048};
    build_slot(f, 1, 0x61, 300, 4, true, &w1, 1);
    build_slot(f, 0, 0x61, 200, 4, true, &w0, 1);
    pwr(f, 0, AHCI_PxIS, 0xffffffffu);
    pwr(f, 0, AHCI_PxSACT, 3);
    pwr(f, 0, AHCI_PxCI, 3);
    assert_int_equal(f->a.ports[0].ci, 0);   /* accepted */
    assert_int_equal(f->a.ports[0].sact, 3); /* not done yet */
    assert_int_equal(f->a.ports[0].busy, 3); /* both in flight */
    ahci_drain(&f->a);
    assert_int_equal(prd(f, 0, AHCI_PxSACT), 0);
    assert_true(prd(f, 0, AHCI_PxIS) & AHCI_PxIS_SDBS);
    assert_false(prd(f, 0, AHCI_PxIS) & AHCI_PxIS_TFES);
    assert_true(f->irq.level);
    assert_int_equal(f->ram[FB + 0x58], 0xa1); /* Set Device Bits FIS */
    /* read them back in the opposite order, with a bad PRD in the middle slot */
    memset(f->ram + 0x20000, 0, 0x20000);
    struct seg r0 = {0x20000, 2048}, bad = {RAM_SIZE - 1024, 2048}, r2 = {0x30000, 2048};
    build_slot(f, 2, 0x60, 200, 4, false, &r2, 1);
    build_slot(f, 1, 0x60, 200, 4, false, &bad, 1);
    build_slot(f, 0, 0x60, 300, 4, false, &r0, 1);
    pwr(f, 0, AHCI_PxIS, 0xffffffffu);
    pwr(f, 0, AHCI_PxSACT, 7);
    pwr(f, 0, AHCI_PxCI, 7);
    assert_int_equal(f->a.ports[0].busy, 5);
    assert_true(f->a.ports[0].is & AHCI_PxIS_TFES); /* slot 1 failed at once */
    assert_int_equal(f->a.ports[0].errors, 1);
    assert_int_equal(f->a.ports[0].ci, 0);
    ahci_drain(&f->a);
    assert_int_equal(prd(f, 0, AHCI_PxSACT), 0);
    assert_memory_equal(f->ram + 0x20000, f->ram + DATA + 2048, 2048);
    assert_memory_equal(f->ram + 0x30000, f->ram + DATA, 2048);
    /* without its PxSACT bit, or beyond the disk, a queued command aborts */
    pwr(f, 0, AHCI_PxIS, 0xffffffffu);
    build_slot(f, 0, 0x60, 200, 4, false, &r0, 1);
    assert_int_equal(issue(f, 0) & 1, 1);
    build_slot(f, 0, 0x60, DISK_SECTORS - 2, 4, false, &r0, 1);
    pwr(f, 0, AHCI_PxSACT, 1);
    assert_int_equal(issue(f, 0) & 1, 1);
    assert_int_equal(prd(f, 0, AHCI_PxSACT), 0);
}

/* An I/O error from the image fails the command with a task file error; the port goes on. */
static void test_io_error(void **state)
{
    struct fixture *f = *state;
    start_port(f, 0);
    start_port(f, 1);
    break_image(f->a.ports[0].img);
    struct seg r = {DATA, 512};
    build(f, 0x25, 0, 1, 0, NULL, false, &r, 1);
    uint32_t tfd = issue(f, 0);
    assert_int_equal(tfd & 1, 1);
    assert_int_equal((tfd >> 8) & 0xff, 0x04);
    assert_true(prd(f, 0, AHCI_PxIS) & AHCI_PxIS_TFES);
    assert_int_equal(f->a.ports[0].io_errors, 1);
    assert_int_equal(f->a.ports[0].stats.failed[BLOCK_STATS_READ], 1);
    assert_int_equal(f->a.ports[0].stats.bytes[BLOCK_STATS_READ], 0);
    assert_int_equal(get32(f->ram + CLB + 4), 0); /* nothing transferred */
    /* queued: the error comes with the Set Device Bits FIS */
    build_slot(f, 0, 0x60, 0, 1, false, &r, 1);
    pwr(f, 0, AHCI_PxIS, 0xffffffffu);
    pwr(f, 0, AHCI_PxSACT, 1);
    pwr(f, 0, AHCI_PxCI, 1);
    ahci_drain(&f->a);
    assert_int_equal(prd(f, 0, AHCI_PxSACT), 0);
    assert_true(prd(f, 0, AHCI_PxIS) & AHCI_PxIS_TFES);
    assert_int_equal(f->ram[FB + 0x5a] & 1, 1);
    /* commands that need no I/O still work */
    build(f, 0xec, 0, 0, 0, NULL, false, &r, 1);
    assert_int_equal(issue(f, 0) & 1, 0);
    /* a CD read error: CHECK CONDITION, medium error 3/11h (a writable medium, so that its
     * fd can be broken; the first command after the change reports UNIT ATTENTION) */
    struct block_image *iso2 =
        make_image(f->iso2_path, sizeof(f->iso2_path), "iso2", ISO_SECTORS * 2048, 0x80, false);
    assert_int_equal(ahci_change_medium(&f->a, 1, iso2, false), 0);
    break_image(iso2);
    uint8_t cdb[12] = {0x28, 0, 0, 0, 0, 1, 0, 0, 1};
    struct seg c = {DATA, 2048};
    build(f, 0xa0, 0, 0, 1, cdb, false, &c, 1);
    tfd = issue(f, 1);
    assert_int_equal((tfd >> 12) & 0xf, 0x06);
    tfd = issue(f, 1);
    assert_int_equal(tfd & 1, 1);
    assert_int_equal((tfd >> 12) & 0xf, 0x03);
}

/*
 * Before a checkpoint the engine calls every device's quiesce hook: AHCI's completes the
 * commands in flight, the held-back ones too, so the saved ports have no PxCI/PxSACT bits
 * (a state with them is refused on load).
 */
static void test_quiesce(void **state)
{
    struct fixture *f = *state;
    start_port(f, 0);
    struct seg r0 = {DATA, 512}, r1 = {0x20000, 512};
    build_slot(f, 1, 0x25, 1, 1, false, &r1, 1);
    build_slot(f, 0, 0x25, 0, 1, false, &r0, 1);
    pwr(f, 0, AHCI_PxCI, 3);
    assert_int_equal(f->a.ports[0].ci, 3);
    struct device devs[AHCI_STATE_SECTIONS];
    ahci_state_sections(&f->a, devs, AHCI_STATE_SECTIONS);
    assert_non_null(devs[0].quiesce);
    devs[0].quiesce(devs[0].opaque);
    assert_int_equal(prd(f, 0, AHCI_PxCI), 0);
    assert_int_equal(f->ram[0x20000], 1); /* the second (held-back) read ran too */
    uint8_t buf[256];
    long len = vmstate_save(devs[1].state, devs[1].opaque, buf, sizeof(buf));
    assert_true(len > 0);
    assert_int_equal(vmstate_load(devs[1].state, devs[1].opaque, buf, (size_t)len), 0);
}

/* Stopping the port (PxCMD.ST = 0) with a command in flight: it completes unseen. */
static void test_stop_in_flight(void **state)
{
    struct fixture *f = *state;
    start_port(f, 0);
    struct seg r = {DATA, 512};
    build(f, 0x25, 0, 1, 0, NULL, false, &r, 1);
    pwr(f, 0, AHCI_PxIS, 0xffffffffu);
    pwr(f, 0, AHCI_PxCI, 1);
    pwr(f, 0, AHCI_PxCMD, AHCI_PxCMD_FRE);
    assert_int_equal(prd(f, 0, AHCI_PxCI), 0);
    ahci_drain(&f->a);
    assert_int_equal(prd(f, 0, AHCI_PxIS), 0);
    assert_int_equal(f->a.ports[0].busy, 0);
    /* restarted, the slot works again */
    start_port(f, 0);
    assert_int_equal(issue(f, 0) & 1, 0);
}

static void test_registers(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(pci_cfg_read(&f->a.pci, PCI_VENDOR_ID, 2), 0x8086);
    assert_int_equal(pci_cfg_read(&f->a.pci, PCI_DEVICE_ID, 2), 0x2922);
    assert_int_equal(pci_cfg_read(&f->a.pci, 0x08, 4) >> 8, 0x010601);
    assert_int_equal(f->a.pci.bars[AHCI_ABAR].size, AHCI_ABAR_SIZE);
    uint32_t cap = rd(f, AHCI_CAP);
    assert_int_equal(cap & 0x1f, AHCI_PORTS - 1);
    assert_int_equal((cap >> 8) & 0x1f, 31);
    assert_true(cap & (1u << 31));
    assert_int_equal(rd(f, AHCI_PI), 0x3f);
    assert_int_equal(rd(f, AHCI_VS), 0x10300);
    assert_true(rd(f, AHCI_GHC) & AHCI_GHC_AE);
    assert_int_equal(prd(f, 0, AHCI_PxSIG), AHCI_SIG_ATA);
    assert_int_equal(prd(f, 1, AHCI_PxSIG), AHCI_SIG_ATAPI);
    assert_int_equal(prd(f, 0, AHCI_PxSSTS) & 0xf, 3);
    assert_int_equal(prd(f, 2, AHCI_PxSSTS) & 0xf, 0); /* empty port */
    assert_true(prd(f, 1, AHCI_PxCMD) & AHCI_PxCMD_ATAPI);
    start_port(f, 0);
    assert_true(prd(f, 0, AHCI_PxCMD) & AHCI_PxCMD_CR);
    assert_true(prd(f, 0, AHCI_PxCMD) & AHCI_PxCMD_FR);
    /* COMRESET: DET=1 then 0 brings the signature FIS */
    pwr(f, 0, AHCI_PxSCTL, 1);
    assert_int_equal(prd(f, 0, AHCI_PxSSTS) & 0xf, 0);
    pwr(f, 0, AHCI_PxSCTL, 0);
    assert_int_equal(prd(f, 0, AHCI_PxSSTS) & 0xf, 3);
    assert_true(prd(f, 0, AHCI_PxIS) & AHCI_PxIS_DHRS);
    assert_true(rd(f, AHCI_IS) & 1);
    assert_true(f->irq.level);
    pwr(f, 0, AHCI_PxIS, 0xffffffffu);
    assert_false(f->irq.level);
    /* HBA reset */
    wr(f, AHCI_GHC, AHCI_GHC_HR);
    assert_int_equal(prd(f, 0, AHCI_PxCLB), 0);
    assert_false(rd(f, AHCI_GHC) & AHCI_GHC_HR);
    /* odd sizes are refused, counted */
    assert_int_equal(ahci_read(&f->a, 2, 2), UINT32_MAX);
    assert_int_equal(f->a.bad_access, 1);
}

static void test_identify(void **state)
{
    struct fixture *f = *state;
    start_port(f, 0);
    struct seg s = {DATA, 512};
    build(f, 0xec, 0, 0, 0, NULL, false, &s, 1);
    uint32_t tfd = issue(f, 0);
    assert_int_equal(tfd & 0x01, 0);
    assert_true(tfd & 0x40);
    const uint8_t *id = f->ram + DATA;
    assert_memory_equal(id + 54, "EDKSMVH RADDSI K", 16); /* byte-swapped "DESKVM HARDDISK " */
    uint64_t n48 = (uint64_t)id[200] | (uint64_t)id[201] << 8 | (uint64_t)id[202] << 16;
    assert_int_equal(n48, DISK_SECTORS);
    assert_int_equal(get32(f->ram + CLB + 4), 512); /* PRDBC */
    assert_int_equal(f->ram[FB + 0x40], 0x34);      /* D2H FIS posted */
    assert_int_equal(f->ram[FB + 0x42], 0x50);
    assert_true(prd(f, 0, AHCI_PxIS) & AHCI_PxIS_DHRS);
    assert_true(f->irq.level);
    /* IDENTIFY PACKET on a disk aborts */
    build(f, 0xa1, 0, 0, 0, NULL, false, &s, 1);
    tfd = issue(f, 0);
    assert_int_equal(tfd & 0x01, 1);
    assert_int_equal((tfd >> 8) & 0xff, 0x04);
    assert_true(prd(f, 0, AHCI_PxIS) & AHCI_PxIS_TFES);
}

static void test_read_write(void **state)
{
    struct fixture *f = *state;
    start_port(f, 0);
    /* write 3 sectors at LBA 100 from two PRDs (1024 + 512 bytes) */
    for (unsigned i = 0; i < 1536; i++) {
        f->ram[DATA + i] = (uint8_t)(i * 7 + 1);
    }
    struct seg w[2] = {{DATA, 1024}, {DATA + 1024, 512}};
    build(f, 0x35, 100, 3, 0, NULL, true, w, 2);
    assert_int_equal(issue(f, 0) & 1, 0);
    build(f, 0xea, 0, 0, 0, NULL, false, NULL, 0);
    assert_int_equal(issue(f, 0) & 1, 0);
    /* read them back, plus the sector before, into three PRDs elsewhere */
    struct seg r[3] = {{0x20000, 512}, {0x30000, 1024}, {0x40000, 512}};
    build(f, 0x25, 99, 4, 0, NULL, false, r, 3);
    assert_int_equal(issue(f, 0) & 1, 0);
    assert_int_equal(get32(f->ram + CLB + 4), 2048);
    assert_int_equal(f->ram[0x20000], 99); /* the image's original fill */
    assert_memory_equal(f->ram + 0x30000, f->ram + DATA, 1024);
    assert_memory_equal(f->ram + 0x40000, f->ram + DATA + 1024, 512);
    /* 28-bit READ DMA of the last sector works; one past the end aborts */
    struct seg one = {0x50000, 512};
    build(f, 0xc8, DISK_SECTORS - 1, 1, 0, NULL, false, &one, 1);
    assert_int_equal(issue(f, 0) & 1, 0);
    assert_int_equal(f->ram[0x50000], (uint8_t)(DISK_SECTORS - 1));
    build(f, 0x25, DISK_SECTORS - 1, 2, 0, NULL, false, r, 3);
    assert_int_equal(issue(f, 0) & 1, 1);
    /* an unknown command aborts */
    build(f, 0xb0, 0, 0, 0, NULL, false, NULL, 0);
    assert_int_equal(issue(f, 0) & 1, 1);
    /* the statistics: what reached the disk, not the commands refused before it */
    const struct block_stats *st = &f->a.ports[0].stats;
    assert_int_equal(st->ops[BLOCK_STATS_WRITE], 1);
    assert_int_equal(st->bytes[BLOCK_STATS_WRITE], 1536);
    assert_int_equal(st->ops[BLOCK_STATS_FLUSH], 1);
    assert_int_equal(st->ops[BLOCK_STATS_READ], 2);
    assert_int_equal(st->bytes[BLOCK_STATS_READ], 2048 + 512);
    assert_int_equal(st->failed[BLOCK_STATS_READ] + st->failed[BLOCK_STATS_WRITE], 0);
    assert_int_equal(f->a.ports[1].stats.ops[BLOCK_STATS_READ], 0);
}

static void test_bad_guest_structures(void **state)
{
    struct fixture *f = *state;
    start_port(f, 0);
    /* a PRD pointing past the end of RAM */
    struct seg bad = {RAM_SIZE - 256, 512};
    build(f, 0x25, 0, 1, 0, NULL, false, &bad, 1);
    uint32_t tfd = issue(f, 0);
    assert_int_equal(tfd & 1, 1);
    assert_true(prd(f, 0, AHCI_PxIS) & AHCI_PxIS_TFES);
    assert_int_equal(f->a.ports[0].errors, 1);
    /* a PRD far outside RAM, with the largest byte count */
    struct seg far = {0xfffffffff000ull, 4u << 20};
    build(f, 0x25, 0, 1, 0, NULL, false, &far, 1);
    assert_int_equal(issue(f, 0) & 1, 1);
    /* too few PRD bytes for the transfer */
    struct seg small = {DATA, 256};
    build(f, 0x25, 0, 1, 0, NULL, false, &small, 1);
    assert_int_equal(issue(f, 0) & 1, 1);
    /* a command table whose PRDT runs out of RAM (65535 entries near the end) */
    build(f, 0x25, 0, 1, 0, NULL, false, NULL, 0);
    put32(f->ram + CLB, 5u | 0xffffu << 16);
    put32(f->ram + CLB + 8, RAM_SIZE - 0x1000);
    assert_int_equal(issue(f, 0) & 1, 1);
    /* a command table outside RAM */
    put32(f->ram + CLB, 5u);
    put32(f->ram + CLB + 8, 0x80000000u);
    assert_int_equal(issue(f, 0) & 1, 1);
    /* a command list outside RAM: the slot completes with an error */
    pwr(f, 0, AHCI_PxCLB, 0xfff00000u);
    assert_int_equal(issue(f, 0) & 1, 1);
    /* a FIS length below 5 dwords */
    pwr(f, 0, AHCI_PxCLB, CLB);
    build(f, 0xec, 0, 0, 0, NULL, false, &small, 1);
    put32(f->ram + CLB, 2u | 1u << 16);
    assert_int_equal(issue(f, 0) & 1, 1);
    assert_int_equal(f->a.ports[0].errors, 7);
    /* the port still works */
    struct seg good = {DATA, 512};
    build(f, 0xec, 0, 0, 0, NULL, false, &good, 1);
    assert_int_equal(issue(f, 0) & 1, 0);
    /* port registers past the implemented ports are ignored */
    wr(f, AHCI_PORT_BASE + 20 * AHCI_PORT_LEN + AHCI_PxCI, 1);
    assert_int_equal(rd(f, AHCI_PORT_BASE + 20 * AHCI_PORT_LEN + AHCI_PxCI), 0);
}

/* Run an ATAPI packet on port 1 into DATA (len bytes of PRD); returns PxTFD. */
static uint32_t packet(struct fixture *f, const uint8_t *cdb, uint32_t len)
{
    struct seg s = {DATA, len};
    memset(f->ram + DATA, 0xee, len);
    build(f, 0xa0, 0, 0, 1, cdb, false, &s, len ? 1 : 0);
    return issue(f, 1);
}

static uint8_t sense_key(struct fixture *f, uint8_t *asc)
{
    uint8_t cdb[12] = {0x03, 0, 0, 0, 18};
    assert_int_equal(packet(f, cdb, 18) & 1, 0);
    *asc = f->ram[DATA + 12];
    return f->ram[DATA + 2] & 0x0f;
}

static void test_atapi(void **state)
{
    struct fixture *f = *state;
    start_port(f, 1);
    /* IDENTIFY DEVICE aborts on a packet device, IDENTIFY PACKET DEVICE works */
    struct seg s = {DATA, 512};
    build(f, 0xec, 0, 0, 0, NULL, false, &s, 1);
    assert_int_equal(issue(f, 1) & 1, 1);
    build(f, 0xa1, 0, 0, 0, NULL, false, &s, 1);
    assert_int_equal(issue(f, 1) & 1, 0);
    assert_int_equal(f->ram[DATA + 1], 0x85);

    uint8_t inq[12] = {0x12, 0, 0, 0, 36};
    assert_int_equal(packet(f, inq, 36) & 1, 0);
    assert_int_equal(f->ram[DATA], 0x05);
    assert_memory_equal(f->ram + DATA + 8, "DESKVM", 6);
    /* allocation length limits the reply */
    inq[4] = 5;
    assert_int_equal(packet(f, inq, 36) & 1, 0);
    assert_int_equal(f->ram[DATA + 5], 0xee);

    uint8_t tur[12] = {0};
    assert_int_equal(packet(f, tur, 0) & 1, 0);

    uint8_t cap[12] = {0x25};
    assert_int_equal(packet(f, cap, 8) & 1, 0);
    assert_int_equal(f->ram[DATA + 3], ISO_SECTORS - 1);
    assert_int_equal(f->ram[DATA + 6], 0x08); /* 2048 */

    uint8_t rd10[12] = {0x28, 0, 0, 0, 0, 3, 0, 0, 2};
    assert_int_equal(packet(f, rd10, 4096) & 1, 0);
    assert_int_equal(f->ram[DATA], 0x40 + 12); /* sector 3 = 512-byte block 12 */
    assert_int_equal(f->ram[DATA + 2048], 0x40 + 16);
    uint8_t rd12[12] = {0xa8, 0, 0, 0, 0, ISO_SECTORS - 1, 0, 0, 0, 2};
    uint32_t tfd = packet(f, rd12, 4096);
    assert_int_equal(tfd & 1, 1);
    assert_int_equal(tfd >> 12 & 0xf, 0x05); /* ILLEGAL REQUEST in the error register */
    uint8_t asc;
    assert_int_equal(sense_key(f, &asc), 0x05);
    assert_int_equal(asc, 0x21);

    uint8_t toc[12] = {0x43, 0, 0, 0, 0, 0, 0, 0, 100};
    assert_int_equal(packet(f, toc, 100) & 1, 0);
    assert_int_equal(f->ram[DATA + 1], 18);
    assert_int_equal(f->ram[DATA + 6], 1);     /* track 1 */
    assert_int_equal(f->ram[DATA + 14], 0xaa); /* lead-out */
    assert_int_equal(f->ram[DATA + 19], ISO_SECTORS);

    uint8_t ms[12] = {0x5a, 0, 0x2a, 0, 0, 0, 0, 0, 64};
    assert_int_equal(packet(f, ms, 64) & 1, 0);
    assert_int_equal(f->ram[DATA + 8], 0x2a);
    ms[2] = 0x05;
    assert_int_equal(packet(f, ms, 64) & 1, 1);

    uint8_t gc[12] = {0x46, 0, 0, 0, 0, 0, 0, 0, 64};
    assert_int_equal(packet(f, gc, 64) & 1, 0);
    assert_int_equal(f->ram[DATA + 7], 0x08); /* CD-ROM profile */

    uint8_t bad[12] = {0xff};
    assert_int_equal(packet(f, bad, 0) & 1, 1);
    assert_int_equal(sense_key(f, &asc), 0x05);
    assert_int_equal(asc, 0x20);

    /* a PRD outside RAM on a packet command: task file error, port keeps going */
    struct seg out = {RAM_SIZE, 512};
    build(f, 0xa0, 0, 0, 1, inq, false, &out, 1);
    assert_int_equal(issue(f, 1) & 1, 1);
    assert_int_equal(f->a.ports[1].errors, 1);
    assert_int_equal(packet(f, tur, 0) & 1, 0);
}

static void test_media_change(void **state)
{
    struct fixture *f = *state;
    start_port(f, 1);
    uint8_t gesn[12] = {0x4a, 1, 0, 0, 0x10, 0, 0, 0, 8};
    /* the medium attached at start is reported once as new */
    assert_int_equal(packet(f, gesn, 8) & 1, 0);
    assert_int_equal(f->ram[DATA + 4], AHCI_MEDIA_NEW);
    assert_int_equal(f->ram[DATA + 5], 0x02);
    assert_int_equal(packet(f, gesn, 8) & 1, 0);
    assert_int_equal(f->ram[DATA + 4], AHCI_MEDIA_NO_CHANGE);

    /* the guest locks the tray: a QMP eject without force is refused */
    uint8_t lock[12] = {0x1e, 0, 0, 0, 1};
    assert_int_equal(packet(f, lock, 0) & 1, 0);
    assert_int_equal(ahci_change_medium(&f->a, 1, NULL, false), -EBUSY);
    assert_int_equal(packet(f, gesn, 8) & 1, 0);
    assert_int_equal(f->ram[DATA + 4], AHCI_MEDIA_EJECT_REQUEST);
    uint8_t eject[12] = {0x1b, 0, 0, 0, 0x02};
    assert_int_equal(packet(f, eject, 0) & 1, 1); /* locked */
    lock[4] = 0;
    assert_int_equal(packet(f, lock, 0) & 1, 0);

    /* eject: UNIT ATTENTION once, then NOT READY; GESN says removed, tray open */
    assert_int_equal(ahci_change_medium(&f->a, 1, NULL, false), 0);
    uint8_t tur[12] = {0};
    uint8_t asc;
    assert_int_equal(packet(f, tur, 0) & 1, 1);
    assert_int_equal(sense_key(f, &asc), 0x06);
    assert_int_equal(asc, 0x28);
    assert_int_equal(packet(f, tur, 0) & 1, 1);
    assert_int_equal(sense_key(f, &asc), 0x02);
    assert_int_equal(asc, 0x3a);
    assert_int_equal(packet(f, gesn, 8) & 1, 0);
    assert_int_equal(f->ram[DATA + 4], AHCI_MEDIA_REMOVAL);
    assert_int_equal(f->ram[DATA + 5], 0x01);

    /* a new medium of another size */
    struct block_image *iso2 =
        make_image(f->iso2_path, sizeof(f->iso2_path), "iso2", 8 * 2048, 0x80, true);
    assert_int_equal(ahci_change_medium(&f->a, 1, iso2, false), 0);
    assert_int_equal(packet(f, tur, 0) & 1, 1); /* unit attention */
    assert_int_equal(packet(f, tur, 0) & 1, 0);
    uint8_t cap[12] = {0x25};
    assert_int_equal(packet(f, cap, 8) & 1, 0);
    assert_int_equal(f->ram[DATA + 3], 7);
    assert_int_equal(packet(f, gesn, 8) & 1, 0);
    assert_int_equal(f->ram[DATA + 4], AHCI_MEDIA_NEW);

    /* the guest ejects through START STOP UNIT, then loads again */
    assert_int_equal(packet(f, eject, 0) & 1, 0);
    assert_int_equal(packet(f, tur, 0) & 1, 1);
    eject[4] = 0x03;
    assert_int_equal(packet(f, eject, 0) & 1, 0);
    assert_int_equal(packet(f, tur, 0) & 1, 0);

    /* no such drive */
    assert_int_equal(ahci_change_medium(&f->a, 0, NULL, true), -ENODEV);
    assert_int_equal(ahci_change_medium(&f->a, 9, NULL, true), -ENODEV);
}

static void test_state(void **state)
{
    struct fixture *f = *state;
    start_port(f, 1);
    uint8_t lock[12] = {0x1e, 0, 0, 0, 1};
    assert_int_equal(packet(f, lock, 0) & 1, 0);
    assert_int_equal(ahci_change_medium(&f->a, 1, NULL, true), 0);
    struct device devs[AHCI_STATE_SECTIONS];
    assert_int_equal(ahci_state_sections(&f->a, devs, AHCI_STATE_SECTIONS), 1 + AHCI_PORTS);
    assert_string_equal(devs[0].name, "ahci");
    assert_string_equal(devs[2].name, "ahci-port1");
    uint8_t buf[AHCI_STATE_SECTIONS][256];
    long len[AHCI_STATE_SECTIONS];
    for (unsigned i = 0; i < AHCI_STATE_SECTIONS; i++) {
        len[i] = vmstate_save(devs[i].state, devs[i].opaque, buf[i], sizeof(buf[i]));
        assert_true(len[i] > 0);
    }
    /* into a fresh controller with the same drives */
    struct ahci *bp = calloc(1, sizeof(*bp)); /* too big for the stack */
    assert_non_null(bp);
    char err[256];
    assert_int_equal(ahci_init(bp, &f->mem), 0);
    struct block_image *iso;
    assert_int_equal(block_open(f->iso_path, BLOCK_FORMAT_RAW, true, BLOCK_CACHE_WRITEBACK, &iso,
                                err, sizeof(err)),
                     0);
    assert_int_equal(ahci_attach(bp, 1, AHCI_DRIVE_CDROM, iso, "CD0", err, sizeof(err)), 0);
    struct device bdevs[AHCI_STATE_SECTIONS];
    ahci_state_sections(bp, bdevs, AHCI_STATE_SECTIONS);
    for (unsigned i = 0; i < AHCI_STATE_SECTIONS; i++) {
        assert_int_equal(vmstate_load(bdevs[i].state, bdevs[i].opaque, buf[i], (size_t)len[i]), 0);
        uint8_t again[256];
        assert_int_equal(vmstate_save(bdevs[i].state, bdevs[i].opaque, again, sizeof(again)),
                         len[i]);
        if (i != 1) { /* port 0: a disk in f, empty in b, so its link state differs */
            assert_memory_equal(again, buf[i], (size_t)len[i]);
        }
    }
    assert_int_equal(bp->ports[1].clb, CLB);
    assert_true(bp->ports[1].unit_attention);
    assert_true(bp->ports[1].tray_open);
    assert_int_equal(bp->ports[1].media_event, AHCI_MEDIA_REMOVAL);
    /* a command in flight or a bad event code is refused and leaves the port as it was */
    uint8_t bad[256];
    memcpy(bad, buf[2], (size_t)len[2]);
    size_t ci_off = 8 + 13 * 4; /* header, then clb..sact: ci is the 14th u32 */
    bad[ci_off] = 1;
    assert_int_equal(vmstate_load(bdevs[2].state, bdevs[2].opaque, bad, (size_t)len[2]), -EINVAL);
    assert_int_equal(bp->ports[1].ci, 0);
    bad[ci_off] = 0;
    bad[(size_t)len[2] - 6] = 9; /* media_event, before tray_open and locked */
    assert_int_equal(vmstate_load(bdevs[2].state, bdevs[2].opaque, bad, (size_t)len[2]), -EINVAL);
    uint8_t ghc[256];
    memcpy(ghc, buf[0], (size_t)len[0]);
    ghc[8] = 0; /* GHC without AE */
    ghc[11] = 0;
    assert_int_equal(vmstate_load(bdevs[0].state, bdevs[0].opaque, ghc, (size_t)len[0]), -EINVAL);
    ahci_destroy(bp);
    free(bp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_registers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_identify, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_write, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_guest_structures, setup, teardown),
        cmocka_unit_test_setup_teardown(test_atapi, setup, teardown),
        cmocka_unit_test_setup_teardown(test_media_change, setup, teardown),
        cmocka_unit_test_setup_teardown(test_state, setup, teardown),
        cmocka_unit_test_setup_teardown(test_async_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ncq, setup, teardown),
        cmocka_unit_test_setup_teardown(test_io_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stop_in_flight, setup, teardown),
        cmocka_unit_test_setup_teardown(test_quiesce, setup, teardown),
        cmocka_unit_test_setup_teardown(test_poll_reaps, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
