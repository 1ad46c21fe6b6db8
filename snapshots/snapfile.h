/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The checkpoint file (docs/snapshot-format.md): a header, then checksummed sections for
 * the host features, the machine configuration, each device's vmstate, each vCPU, the
 * irqchip, the PIT, the KVM clock, and last the RAM, whose page data is page-aligned in the
 * file so that it can be mapped. This layer knows the format, not the VM: vmm/snapshot.c
 * fills a struct snap_state from KVM and the devices and applies one back.
 */
#ifndef DESKVM_SNAPSHOTS_SNAPFILE_H
#define DESKVM_SNAPSHOTS_SNAPFILE_H

#include <linux/kvm.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SNAP_MAGIC "DVMSNAP\x1a"
#define SNAP_VERSION 1u
#define SNAP_PAGE 4096u

/* Hard limits: every length in a file is checked against them before use. */
#define SNAP_MAX_DEVICES 128 /* VM_MAX_DEVICES: 17 of them can be VRAM windows */
#define SNAP_MAX_VCPUS 255
#define SNAP_MAX_MSRS 256
#define SNAP_MAX_XSAVE 16384u
#define SNAP_MAX_DEVICE_STATE (1u << 20)
#define SNAP_MAX_STRING 4096u
#define SNAP_NAME_LEN 32
#define SNAP_MAX_RAM (1ull << 40)

/* Header flags. */
#define SNAP_F_ZSTD 1u   /* RAM page data is one zstd frame (not mappable) */
#define SNAP_F_PADDED 2u /* zero padding (< SNAP_MAX_PAD) may precede the page data */
#define SNAP_MAX_PAD (1u << 20)

/* What the saved vCPU state depends on; a file from another kind of host is refused. */
struct snap_host {
    char vendor[12];     /* CPUID.0 EBX EDX ECX */
    uint32_t family;     /* CPUID.1 display family */
    uint32_t model;      /* CPUID.1 display model */
    uint32_t xsave_size; /* bytes KVM_GET_XSAVE(2) transfers */
    uint32_t tsc_khz;    /* vCPU 0's TSC frequency */
};

/* Enough to rebuild the machine; strings are NUL-terminated, "" when absent. */
#define SNAP_CFG_EMBEDDED_KERNEL 1u /* the engine's built-in demo guest */
/* Booted through firmware: kernel is the firmware image, initrd its UEFI variable store. */
#define SNAP_CFG_FIRMWARE 2u
struct snap_config {
    uint64_t mem_size;
    uint32_t ncpus;
    uint32_t flags;
    char kernel[SNAP_MAX_STRING];
    char initrd[SNAP_MAX_STRING];
    char cmdline[SNAP_MAX_STRING];
};

struct snap_device {
    char name[SNAP_NAME_LEN];
    const uint8_t *data; /* vmstate_save() output */
    uint32_t len;
};

struct snap_vcpu {
    struct kvm_regs regs;
    struct kvm_sregs sregs;
    struct kvm_xcrs xcrs;
    struct kvm_lapic_state lapic;
    struct kvm_vcpu_events events;
    struct kvm_mp_state mp;
    struct kvm_debugregs debugregs;
    uint64_t tsc; /* IA32_TSC, also in msrs; kept apart so it is restored last */
    uint32_t tsc_khz;
    uint32_t nmsrs;
    uint32_t xsave_len;
    struct kvm_msr_entry msrs[SNAP_MAX_MSRS];
    uint8_t xsave[SNAP_MAX_XSAVE];
};

/* One run of non-zero pages: guest RAM offset (not GPA) and length, in pages. */
struct snap_extent {
    uint64_t page;
    uint64_t npages;
};

struct snap_ram {
    uint64_t size; /* RAM bytes */
    uint64_t nextents;
    const struct snap_extent *extents; /* sorted, disjoint, inside size */
    uint64_t data_offset;              /* in the file, SNAP_PAGE aligned */
    uint64_t data_len;                 /* bytes in the file (compressed size with SNAP_F_ZSTD) */
    uint64_t data_hash;                /* XXH3-64 of the data bytes */
};

/* The whole machine state except RAM contents. */
struct snap_state {
    struct snap_host host;
    struct snap_config config;
    unsigned ndevices;
    struct snap_device devices[SNAP_MAX_DEVICES];
    unsigned nvcpus;
    struct snap_vcpu *vcpus;       /* nvcpus entries */
    struct kvm_irqchip irqchip[3]; /* PIC master, PIC slave, IOAPIC */
    struct kvm_pit_state2 pit;
    struct kvm_clock_data clock;
};

/*
 * Write st and ram (ram_size bytes, zero pages skipped) to path crash-safely: a temporary
 * file in the same directory, fsync, rename over path, fsync of the directory. A failure
 * or a kill at any point leaves whatever was at path before. ram_fd (or -1) is the file
 * behind ram: its holes are skipped without reading them. flags: SNAP_F_ZSTD.
 */
int snapfile_write(const char *path, const struct snap_state *st, const uint8_t *ram,
                   uint64_t ram_size, int ram_fd, unsigned flags, char *err, size_t errlen);

/*
 * snapfile_write() in two steps, so that a VM can run again as soon as its state is in the
 * temporary file: begin writes everything (not yet durable, not yet at path); commit
 * fsyncs, renames and fsyncs the directory; abort removes the temporary file. A failed
 * begin or commit cleans up after itself.
 */
struct snap_pending {
    int fd;
    char *tmp;
    char *path;
};
int snapfile_write_begin(const char *path, const struct snap_state *st, const uint8_t *ram,
                         uint64_t ram_size, int ram_fd, unsigned flags, struct snap_pending *out,
                         char *err, size_t errlen);
int snapfile_write_commit(struct snap_pending *p, char *err, size_t errlen);
void snapfile_write_abort(struct snap_pending *p);

/*
 * A live checkpoint: the RAM is written while the guest runs, then the pages it dirtied
 * meanwhile are written again, as often as needed, and only the last ones and the rest of
 * the state with the guest paused. The page data is one extent over the whole RAM at a
 * fixed place in the file (page p at data offset + 4096 p), so a page can be rewritten in
 * place; pages never written stay holes of the sparse file. The data checksum is computed
 * at commit, from the file. Sequence: begin, write (bitmap NULL first, then dirty bitmaps),
 * end (vCPUs parked: state and metadata), commit (fsync, rename) or abort.
 */
struct snap_live {
    int fd;
    char *tmp;
    char *path;
    const uint8_t *ram;
    uint64_t ram_size;
    uint64_t data_off; /* reserved for the metadata: page data starts here */
    uint8_t *meta;     /* snapfile_live_end(): header and sections, RAM not sealed */
    size_t meta_len;
    size_t ram_at; /* offset of the RAM section header in meta */
};
/*
 * st: the configuration, host and devices as they are now, and nvcpus (vcpus unused): they
 * bound the metadata, for which room is left before the page data.
 */
int snapfile_live_begin(const char *path, const struct snap_state *st, const uint8_t *ram,
                        uint64_t ram_size, struct snap_live *lv, char *err, size_t errlen);
/*
 * Write pages: bitmap NULL writes every non-zero page (ram_fd, or -1: its holes are
 * skipped unread), else the pages whose bit is set (one bit per page), as they are now.
 * *pages: how many were written.
 */
int snapfile_live_write(struct snap_live *lv, const uint64_t *bitmap, int ram_fd, uint64_t *pages,
                        char *err, size_t errlen);
/* The rest of the state (complete st); kept in memory until commit. -E2BIG: no room. */
int snapfile_live_end(struct snap_live *lv, const struct snap_state *st, char *err, size_t errlen);
/* Checksum the page data from the file, seal, fsync, rename, fsync the directory. */
int snapfile_live_commit(struct snap_live *lv, char *err, size_t errlen);
void snapfile_live_abort(struct snap_live *lv);

/*
 * Phase timings on stderr when DESKVM_SNAP_TRACE is set in the environment: "snap: WHAT
 * +N.NNN ms" since the previous mark (profiling the save and load paths).
 */
void snap_trace(const char *what);

/* A parsed and validated checkpoint file. */
struct snap_file {
    int fd;             /* -1 for an in-memory buffer */
    const uint8_t *map; /* the file, read-only */
    size_t len;
    bool mapped; /* map is ours to munmap */
    uint32_t flags;
    struct snap_state st; /* device data point into map */
    struct snap_ram ram;
};

#define SNAP_OPEN_VERIFY_RAM 1u /* also check the RAM data checksum (reads every page) */

/*
 * Open and validate: magic, version, every section's bounds, lengths, order and checksum,
 * the extent list, and (SNAP_OPEN_VERIFY_RAM) the page data. On failure err holds one line
 * naming the section at fault. Returns 0 or -errno (-EINVAL for a bad file).
 */
int snapfile_open(const char *path, unsigned flags, struct snap_file *f, char *err, size_t errlen);
/* The same over a buffer that must outlive f (fuzzing, tests). */
int snapfile_parse(const uint8_t *buf, size_t len, unsigned flags, struct snap_file *f, char *err,
                   size_t errlen);
void snapfile_close(struct snap_file *f);
/* The page data against its checksum (what SNAP_OPEN_VERIFY_RAM does): 0 or -EINVAL. */
int snapfile_verify_ram(const struct snap_file *f, char *err, size_t errlen);

/* Host features of a file against this host: 0, or -EINVAL with err naming the mismatch. */
int snap_host_check(const struct snap_host *file, const struct snap_host *here, char *err,
                    size_t errlen);

/*
 * Fill dst (ram.size bytes) with the RAM: data extents copied or decompressed, gaps
 * zeroed (MADV_REMOVE where the memory allows it, else memset).
 */
int snapfile_ram_copy(const struct snap_file *f, uint8_t *dst, char *err, size_t errlen);
/*
 * The same into fd, a file of ram.size bytes that reads as zeros (a fresh memfd), with
 * pwrite: gaps stay holes, and no page is faulted in one at a time.
 */
int snapfile_ram_write_fd(const struct snap_file *f, int fd, char *err, size_t errlen);
/*
 * Lazy restore: a new private mapping of ram.size bytes whose non-zero runs map the file
 * MAP_PRIVATE (pages are read on first touch, writes stay private). -ENOTSUP for a
 * compressed file, a buffer, or more extents than max_extents (mapping count).
 */
int snapfile_ram_map(const struct snap_file *f, uint64_t max_extents, uint8_t **out, char *err,
                     size_t errlen);

#endif
