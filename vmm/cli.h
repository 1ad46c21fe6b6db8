/* SPDX-License-Identifier: GPL-2.0-or-later */
/* deskvm-vm's command line: options, defaults and validation (docs/deskvm-vm.md). */
#ifndef DESKVM_VMM_CLI_H
#define DESKVM_VMM_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CLI_MAX_DEVICES 16
#include "io/block.h"
#include "io/net.h"

#define CLI_NET_MAX 8      /* NICs */
#define CLI_HOSTFWD_MAX 16 /* forwarded ports per user network */

enum cli_net_kind {
    CLI_NET_USER, /* libslirp NAT: net_user_create() */
    CLI_NET_TAP,  /* host tap device: net_tap_create() */
};

/* One --net: a virtio-net NIC and its back-end. */
struct cli_net {
    enum cli_net_kind kind;
    uint8_t mac[6];  /* default 52:54:00:12:34:(56 + index) */
    char ifname[16]; /* tap: "" lets the kernel pick */
    struct net_hostfwd hostfwd[CLI_HOSTFWD_MAX];
    unsigned nhostfwd;
};

/* --boot items: the CD-ROM, the first disk (SATA if any, else virtio). */
enum cli_boot { CLI_BOOT_CDROM = 1, CLI_BOOT_DISK };
#define CLI_BOOT_MAX 2

/* --disk may be given this often; queues per disk at most (virtio-blk's own limit). */
#define CLI_MAX_DISKS 16
#define CLI_MAX_DISK_QUEUES 16

/*
 * One --disk file=PATH[,format=raw|qcow2][,readonly=on|off][,cache=...][,queues=N]
 * [,bus=virtio|sata].
 */
struct cli_disk {
    char *file; /* allocated; ",," in the option stands for a comma in the path */
    enum block_format format;
    bool readonly;
    enum block_cache cache;
    unsigned queues;
    bool sata; /* bus=sata: a disk on the AHCI controller instead of virtio-blk */
};

struct cli_options {
    const char *kernel;
    const char *firmware;      /* --firmware: a path ("bios"/"uefi" already resolved to Debian's) */
    const char *firmware_vars; /* --firmware ...,vars=PATH: the UEFI variable store */
    bool firmware_uefi;        /* --firmware uefi: Debian's OVMF, vars template known */
    const char *initrd;
    const char *cmdline;
    uint64_t mem_size;
    unsigned ncpus;
    const char *serial;
    const char *qmp_path;
    const char *kvm_path;
    const char *restore;      /* checkpoint file: the machine comes from it */
    const char *snapshot_dir; /* --snapshot-dir: the snapshot tree (vmm/snaptree.h) */
    bool start_paused;
    bool no_async_teardown; /* --no-async-teardown (vmm/teardown.h) */
    const char *display;    /* "vga", "virtio-gpu", "none", or NULL: vga with --vnc or a channel */
    uint32_t vga_vram;      /* --display vga,vram=: VRAM bytes, 0 = VGA_VRAM_DEFAULT */
    const char *vnc;        /* the --vnc argument (display/vnc.h vnc_parse) */
    const char *display_channel; /* --display-channel (vmm/display_channel.h) */
    /* --device specs in command-line order (checked by virtio_spec_parse). */
    const char *devices[CLI_MAX_DEVICES];
    unsigned ndevices;
    struct cli_net net[CLI_NET_MAX];
    unsigned nnet;
    struct cli_disk disks[CLI_MAX_DISKS];
    unsigned ndisks;
    const char *cdrom; /* --cdrom ISO: an ATAPI CD-ROM on the AHCI controller */
    /* --boot cdrom,disk: firmware boot order, most preferred first (CLI_BOOT_*) */
    unsigned char boot[CLI_BOOT_MAX];
    unsigned nboot;
};

/*
 * Parse argv. Returns 0 to run, 1 when --help/--version was printed, or -EINVAL with one
 * line in err.
 */
int cli_parse(struct cli_options *opt, int argc, char **argv, char *err, size_t errlen);
/*
 * One --net value: "user[,hostfwd=RULE]...[,mac=MAC]" or "tap[,ifname=NAME][,mac=MAC]",
 * into out with index n's default MAC. Returns 0 or -EINVAL with one line in err.
 */
int cli_parse_net(const char *s, unsigned n, struct cli_net *out, char *err, size_t errlen);
/* Frees what cli_parse allocated (disk paths); opt stays readable but empty of disks. */
void cli_options_free(struct cli_options *opt);
/* One --disk value into d (allocates d->file on success). -EINVAL with one line in err. */
int cli_parse_disk(const char *arg, struct cli_disk *d, char *err, size_t errlen);
/* "512M", "2G", "1024" (MiB), "1.5G" → bytes; -EINVAL for garbage, zero or overflow. */
int cli_parse_size(const char *s, uint64_t *out);

#endif
