// SPDX-License-Identifier: GPL-2.0-or-later
/* deskvm-vm command-line parsing and validation. */
#include "vmm/cli.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "display/vnc.h"
#include "io/vga.h"
#include "vmm/display_channel.h"
#include "vmm/acpi.h"
#include "vmm/firmware.h"
#include "vmm/virtio_machine.h"

#define DEFAULT_MEM (256ull << 20)
#define MIN_MEM (2ull << 20)

static const char usage[] =
    "Usage: deskvm-vm [OPTIONS]\n"
    "Run one virtual machine on KVM. Without --kernel, runs the built-in demo guest.\n"
    "\n"
    "  --kernel FILE        PVH ELF, vmlinux or bzImage to boot\n"
    "  --firmware bios|uefi|FILE[,vars=PATH]  boot through firmware (bios: Debian's\n"
    "                       SeaBIOS; uefi: Debian's OVMF; PATH: the UEFI variable store,\n"
    "                       created when missing; default FIRST-DISK.vars.fd); with\n"
    "                       --kernel (a bzImage) the firmware boots that kernel\n"
    "  --initrd FILE        initial ramdisk\n"
    "  --append CMDLINE     kernel command line\n"
    "  --memory SIZE        guest RAM, e.g. 512M, 2G (default 256M; plain numbers are MiB)\n"
    "  --cpus N             virtual CPUs (default 1)\n"
    "  --serial stdio|null|file:PATH|unix:PATH\n"
    "                       where COM1 goes (default stdio); unix:PATH listens on a socket\n"
    "                       one client at a time attaches to (others are closed at once);\n"
    "                       a client first gets the last 64 KiB of output\n"
    "  --qmp unix:PATH      QMP control socket\n"
    "  --device SPEC        add a PCI device (repeatable): virtio-rng,\n"
    "                       virtio-console[,chardev=stdio|null|file:PATH|unix:PATH]\n"
    "  --net user[,hostfwd=tcp:127.0.0.1:2222-:22][,mac=52:54:00:12:34:56]\n"
    "  --net tap[,ifname=tap0][,mac=...]\n"
    "                       a virtio-net NIC on user-mode NAT (10.0.2.0/24) or a host tap\n"
    "                       device; repeatable; hostfwd binds 127.0.0.1 unless told otherwise\n"
    "  --disk file=PATH[,format=raw|qcow2][,readonly=on|off][,cache=writeback|writethrough|none]\n"
    "       [,queues=N][,bus=virtio|sata]\n"
    "                       a virtio-blk or AHCI SATA disk (repeatable; ',,' is a comma\n"
    "                       inside PATH; format is probed when not given; cache=none is raw\n"
    "                       only)\n"
    "  --cdrom FILE.iso     an AHCI (ATAPI) CD-ROM drive holding FILE.iso\n"
    "  --boot cdrom,disk    firmware boot order (with --firmware; default: the BIOS's own)\n"
    "  -S, --paused         create the VM paused (continue with QMP 'cont')\n"
    "  --display vga[,vram=MIB]|virtio-gpu|none   the graphics device (default: vga with\n"
    "                       --vnc or a channel, else none); vram: the VGA's video memory in\n"
    "                       MiB, a power of two 1-256 (default 16); virtio-gpu comes with a\n"
    "                       virtio keyboard and tablet\n"
    "  --vnc HOST:PORT[,password=on] | unix:PATH[,password=on]\n"
    "                       VNC server, e.g. 127.0.0.1:5900 (beyond loopback needs a password)\n"
    "  --display-channel unix:PATH | fd:N\n"
    "                       the local display channel for the GUI (docs/display-channel.md)\n"
    "  --restore FILE       start from a checkpoint (QMP snapshot-save); the memory size,\n"
    "                       vCPUs, kernel and command line come from the file\n"
    "  --snapshot-dir DIR   the snapshot tree (QMP snapshot-take); default: the first\n"
    "                       --disk's directory\n"
    "  --kvm-device PATH    KVM device node (default /dev/kvm)\n"
    "  --no-async-teardown  destroy the VM in this process before it exits (default: a\n"
    "                       helper task does it after the exit, docs/engine.md)\n"
    "  -h, --help           this text\n"
    "  -V, --version        version\n"
    "\n"
    "Exit status: 0 powered off or quit, 1 bad arguments or files, 2 KVM unusable,\n"
    "3 the guest stopped on an internal error, (V << 1) | 1 when the guest writes V to the\n"
    "debug-exit port 0xf4.\n";

/* --display vga[,vram=MIB] | virtio-gpu | none. */
static int parse_display(const char *arg, struct cli_options *opt, char *err, size_t errlen)
{
    if (strcmp(arg, "virtio-gpu") == 0 || strcmp(arg, "none") == 0) {
        opt->display = arg;
        return 0;
    }
    if (strncmp(arg, "vga", 3) != 0 || (arg[3] != '\0' && arg[3] != ',')) {
        snprintf(err, errlen, "--display %s: expected vga, virtio-gpu or none", arg);
        return -EINVAL;
    }
    opt->display = "vga";
    for (const char *p = arg + 3; *p == ',';) {
        p++;
        if (strncmp(p, "vram=", 5) != 0) {
            snprintf(err, errlen, "--display %s: unknown option (expected vram=MIB)", arg);
            return -EINVAL;
        }
        char *end;
        errno = 0;
        unsigned long mib = strtoul(p + 5, &end, 10);
        if (errno || end == p + 5 || (*end != '\0' && *end != ',') || mib == 0 ||
            mib > (VGA_VRAM_MAX >> 20) || (mib & (mib - 1))) {
            snprintf(err, errlen, "--display %s: vram must be a power of two from 1 to %u (MiB)",
                     arg, VGA_VRAM_MAX >> 20);
            return -EINVAL;
        }
        opt->vga_vram = (uint32_t)mib << 20;
        p = end;
    }
    return 0;
}

int cli_parse_size(const char *s, uint64_t *out)
{
    if (!s || !*s) {
        return -EINVAL;
    }
    errno = 0;
    char *end;
    double v = strtod(s, &end);
    if (errno || end == s || v <= 0) {
        return -EINVAL;
    }
    double mul = 1 << 20;
    if (*end) {
        switch (*end) {
        case 'k':
        case 'K':
            mul = 1 << 10;
            break;
        case 'm':
        case 'M':
            mul = 1 << 20;
            break;
        case 'g':
        case 'G':
            mul = 1 << 30;
            break;
        case 't':
        case 'T':
            mul = (double)(1ull << 40);
            break;
        default:
            return -EINVAL;
        }
        end++;
        if (*end == 'i' || *end == 'B') {
            end++;
        }
        if (*end == 'B') {
            end++;
        }
        if (*end) {
            return -EINVAL;
        }
    }
    double bytes = v * mul;
    if (bytes >= 18446744073709551615.0) {
        return -EINVAL;
    }
    *out = (uint64_t)bytes;
    return 0;
}

/* One "key=value" item of a --net value: [item, end). */
static int net_item(const char *spec, const char *item, const char *end, struct cli_net *out,
                    bool *mac_set, char *err, size_t errlen)
{
    char buf[128];
    size_t len = (size_t)(end - item);
    if (len >= sizeof(buf)) {
        snprintf(err, errlen, "--net %s: option too long", spec);
        return -EINVAL;
    }
    memcpy(buf, item, len);
    buf[len] = 0;
    char *val = strchr(buf, '=');
    if (!val || !val[1]) {
        snprintf(err, errlen, "--net %s: '%s' is not KEY=VALUE", spec, buf);
        return -EINVAL;
    }
    *val++ = 0;
    if (strcmp(buf, "mac") == 0) {
        if (*mac_set) {
            snprintf(err, errlen, "--net %s: mac given twice", spec);
            return -EINVAL;
        }
        if (net_mac_parse(val, out->mac) < 0) {
            snprintf(err, errlen, "--net %s: mac=%s is not a unicast MAC like 52:54:00:12:34:56",
                     spec, val);
            return -EINVAL;
        }
        *mac_set = true;
        return 0;
    }
    if (out->kind == CLI_NET_USER && strcmp(buf, "hostfwd") == 0) {
        if (out->nhostfwd == CLI_HOSTFWD_MAX) {
            snprintf(err, errlen, "--net %s: at most %d hostfwd rules", spec, CLI_HOSTFWD_MAX);
            return -EINVAL;
        }
        struct net_hostfwd *f = &out->hostfwd[out->nhostfwd];
        if (net_hostfwd_parse(val, f) < 0) {
            snprintf(err, errlen,
                     "--net %s: hostfwd=%s: expected tcp|udp:[HOSTADDR]:HOSTPORT-[GUESTADDR]:PORT",
                     spec, val);
            return -EINVAL;
        }
        for (unsigned i = 0; i < out->nhostfwd; i++) {
            const struct net_hostfwd *g = &out->hostfwd[i];
            if (g->udp == f->udp && g->host_port == f->host_port && g->host_addr == f->host_addr) {
                snprintf(err, errlen, "--net %s: host port %u forwarded twice", spec, f->host_port);
                return -EINVAL;
            }
        }
        out->nhostfwd++;
        return 0;
    }
    if (out->kind == CLI_NET_TAP && strcmp(buf, "ifname") == 0) {
        if (strlen(val) >= sizeof(out->ifname) || strchr(val, '/')) {
            snprintf(err, errlen, "--net %s: ifname=%s: at most %zu characters, no '/'", spec, val,
                     sizeof(out->ifname) - 1);
            return -EINVAL;
        }
        strcpy(out->ifname, val);
        return 0;
    }
    snprintf(err, errlen, "--net %s: unknown option '%s' (%s takes %s)", spec, buf,
             out->kind == CLI_NET_USER ? "user" : "tap",
             out->kind == CLI_NET_USER ? "hostfwd=, mac=" : "ifname=, mac=");
    return -EINVAL;
}

int cli_parse_net(const char *s, unsigned n, struct cli_net *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof(*out));
    const char *comma = strchr(s, ',');
    size_t kind_len = comma ? (size_t)(comma - s) : strlen(s);
    if (kind_len == 4 && strncmp(s, "user", 4) == 0) {
        out->kind = CLI_NET_USER;
    } else if (kind_len == 3 && strncmp(s, "tap", 3) == 0) {
        out->kind = CLI_NET_TAP;
    } else {
        snprintf(err, errlen, "--net %s: expected user or tap first", s);
        return -EINVAL;
    }
    static const uint8_t default_mac[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
    memcpy(out->mac, default_mac, 6);
    out->mac[5] = (uint8_t)(0x56 + n); /* as QEMU numbers its NICs */
    bool mac_set = false;
    while (comma) {
        const char *item = comma + 1;
        comma = strchr(item, ',');
        const char *end = comma ? comma : item + strlen(item);
        if (net_item(s, item, end, out, &mac_set, err, errlen) < 0) {
            return -EINVAL;
        }
    }
    return 0;
}

enum {
    OPT_KERNEL = 256,
    OPT_FIRMWARE,
    OPT_INITRD,
    OPT_APPEND,
    OPT_MEMORY,
    OPT_CPUS,
    OPT_SERIAL,
    OPT_QMP,
    OPT_KVM,
    OPT_DISPLAY,
    OPT_VNC,
    OPT_DISPLAY_CHANNEL,
    OPT_DEVICE,
    OPT_NET,
    OPT_DISK,
    OPT_CDROM,
    OPT_BOOT,
    OPT_RESTORE,
    OPT_SNAPSHOT_DIR,
    OPT_NO_ASYNC_TEARDOWN,
    OPT_LATER,
};

static const struct option options[] = {
    {"kernel", required_argument, NULL, OPT_KERNEL},
    {"initrd", required_argument, NULL, OPT_INITRD},
    {"append", required_argument, NULL, OPT_APPEND},
    {"memory", required_argument, NULL, OPT_MEMORY},
    {"cpus", required_argument, NULL, OPT_CPUS},
    {"serial", required_argument, NULL, OPT_SERIAL},
    {"qmp", required_argument, NULL, OPT_QMP},
    {"kvm-device", required_argument, NULL, OPT_KVM},
    {"device", required_argument, NULL, OPT_DEVICE},
    {"disk", required_argument, NULL, OPT_DISK},
    {"restore", required_argument, NULL, OPT_RESTORE},
    {"snapshot-dir", required_argument, NULL, OPT_SNAPSHOT_DIR},
    {"paused", no_argument, NULL, 'S'},
    {"no-async-teardown", no_argument, NULL, OPT_NO_ASYNC_TEARDOWN},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    /* Options of later parts of the engine: refused clearly until they exist. */
    {"cdrom", required_argument, NULL, OPT_CDROM},
    {"boot", required_argument, NULL, OPT_BOOT},
    {"firmware", required_argument, NULL, OPT_FIRMWARE},
    {"vnc", required_argument, NULL, OPT_VNC},
    {"net", required_argument, NULL, OPT_NET},
    {"display", required_argument, NULL, OPT_DISPLAY},
    {"display-channel", required_argument, NULL, OPT_DISPLAY_CHANNEL},
    {"config", required_argument, NULL, OPT_LATER},

    {NULL, 0, NULL, 0},
};

/* The next ','-separated item of *p into buf (",," is a literal comma); false at the end. */
static bool next_item(const char **p, char *buf, size_t len, bool *too_long)
{
    const char *s = *p;
    if (*s == '\0') {
        return false;
    }
    size_t n = 0;
    *too_long = false;
    while (*s) {
        if (*s == ',') {
            if (s[1] != ',') {
                s++;
                break;
            }
            s++; /* ",," */
        }
        if (n + 1 < len) {
            buf[n++] = *s;
        } else {
            *too_long = true;
        }
        s++;
    }
    buf[n] = '\0';
    *p = s;
    return true;
}

static int on_off(const char *v, bool *out)
{
    if (!strcmp(v, "on") || !strcmp(v, "true") || !strcmp(v, "yes")) {
        *out = true;
    } else if (!strcmp(v, "off") || !strcmp(v, "false") || !strcmp(v, "no")) {
        *out = false;
    } else {
        return -EINVAL;
    }
    return 0;
}

static int parse_boot(const char *arg, struct cli_options *opt, char *err, size_t errlen)
{
    char item[16];
    bool too_long;
    const char *p = arg;
    opt->nboot = 0;
    while (next_item(&p, item, sizeof(item), &too_long)) {
        unsigned char b = !strcmp(item, "cdrom")  ? CLI_BOOT_CDROM
                          : !strcmp(item, "disk") ? CLI_BOOT_DISK
                                                  : 0;
        if (too_long || !b) {
            snprintf(err, errlen, "--boot %s: expected a list of cdrom and disk", arg);
            return -EINVAL;
        }
        for (unsigned i = 0; i < opt->nboot; i++) {
            if (opt->boot[i] == b) {
                snprintf(err, errlen, "--boot %s: %s given twice", arg, item);
                return -EINVAL;
            }
        }
        opt->boot[opt->nboot++] = b;
    }
    if (opt->nboot == 0) {
        snprintf(err, errlen, "--boot: empty list");
        return -EINVAL;
    }
    return 0;
}

int cli_parse_disk(const char *arg, struct cli_disk *d, char *err, size_t errlen)
{
    char item[4200];
    bool too_long;
    unsigned seen = 0; /* bit per key: each may be given once */
    static const char *const keys[] = {"file", "format", "readonly", "cache", "queues", "bus"};
    memset(d, 0, sizeof(*d));
    d->format = BLOCK_FORMAT_AUTO;
    d->cache = BLOCK_CACHE_WRITEBACK;
    d->queues = 1;
    const char *p = arg;
    char file[sizeof(item)] = "";
    while (next_item(&p, item, sizeof(item), &too_long)) {
        if (too_long) {
            snprintf(err, errlen, "--disk: an item is longer than %zu bytes", sizeof(item) - 1);
            return -EINVAL;
        }
        char *eq = strchr(item, '=');
        if (eq == NULL) {
            snprintf(err, errlen, "--disk %s: '%s' is not KEY=VALUE (expected file=PATH,...)", arg,
                     item);
            return -EINVAL;
        }
        *eq = '\0';
        const char *k = item, *v = eq + 1;
        unsigned ki = 0;
        while (ki < sizeof(keys) / sizeof(keys[0]) && strcmp(k, keys[ki]) != 0) {
            ki++;
        }
        if (ki == sizeof(keys) / sizeof(keys[0])) {
            snprintf(err, errlen,
                     "--disk: unknown key '%s' (known: file, format, readonly, cache, queues, bus)",
                     k);
            return -EINVAL;
        }
        if (seen & (1u << ki)) {
            snprintf(err, errlen, "--disk: %s given twice", k);
            return -EINVAL;
        }
        seen |= 1u << ki;
        if (!strcmp(k, "file")) {
            if (!*v) {
                snprintf(err, errlen, "--disk: file= is empty");
                return -EINVAL;
            }
            snprintf(file, sizeof(file), "%s", v);
        } else if (!strcmp(k, "format")) {
            if (!strcmp(v, "raw")) {
                d->format = BLOCK_FORMAT_RAW;
            } else if (!strcmp(v, "qcow2")) {
                d->format = BLOCK_FORMAT_QCOW2;
            } else {
                snprintf(err, errlen, "--disk: format=%s: expected raw or qcow2", v);
                return -EINVAL;
            }
        } else if (!strcmp(k, "readonly")) {
            if (on_off(v, &d->readonly) < 0) {
                snprintf(err, errlen, "--disk: readonly=%s: expected on or off", v);
                return -EINVAL;
            }
        } else if (!strcmp(k, "cache")) {
            if (!strcmp(v, "writeback")) {
                d->cache = BLOCK_CACHE_WRITEBACK;
            } else if (!strcmp(v, "writethrough")) {
                d->cache = BLOCK_CACHE_WRITETHROUGH;
            } else if (!strcmp(v, "none")) {
                d->cache = BLOCK_CACHE_NONE;
            } else {
                snprintf(err, errlen, "--disk: cache=%s: expected writeback, writethrough or none",
                         v);
                return -EINVAL;
            }
        } else if (!strcmp(k, "bus")) {
            if (!strcmp(v, "sata")) {
                d->sata = true;
            } else if (strcmp(v, "virtio") != 0) {
                snprintf(err, errlen, "--disk: bus=%s: expected virtio or sata", v);
                return -EINVAL;
            }
        } else {
            char *end;
            errno = 0;
            long n = strtol(v, &end, 10);
            if (errno || end == v || *end || n < 1 || n > CLI_MAX_DISK_QUEUES) {
                snprintf(err, errlen, "--disk: queues=%s: must be a whole number from 1 to %d", v,
                         CLI_MAX_DISK_QUEUES);
                return -EINVAL;
            }
            d->queues = (unsigned)n;
        }
    }
    if (!file[0]) {
        snprintf(err, errlen, "--disk %s: file=PATH is missing", arg);
        return -EINVAL;
    }
    if (d->cache == BLOCK_CACHE_NONE && d->format == BLOCK_FORMAT_QCOW2) {
        snprintf(err, errlen,
                 "--disk: cache=none works with raw images only (qcow2 needs the "
                 "page cache for now)");
        return -EINVAL;
    }
    d->file = strdup(file);
    if (d->file == NULL) {
        snprintf(err, errlen, "--disk: out of memory");
        return -ENOMEM;
    }
    return 0;
}

void cli_options_free(struct cli_options *opt)
{
    for (unsigned i = 0; i < opt->ndisks; i++) {
        free(opt->disks[i].file);
        opt->disks[i].file = NULL;
    }
    opt->ndisks = 0;
}

static int parse_args(struct cli_options *opt, int argc, char **argv, char *err, size_t errlen)
{
    opt->mem_size = DEFAULT_MEM;
    opt->ncpus = 1;
    opt->serial = "stdio";
    opt->kvm_path = "/dev/kvm";
    optind = 1;
    opterr = 0;
    int c, idx = -1;
    bool machine_set = false; /* --memory or --cpus given */
    while ((c = getopt_long(argc, argv, ":ShV", options, &idx)) != -1) {
        switch (c) {
        case OPT_KERNEL:
            opt->kernel = optarg;
            break;
        case OPT_FIRMWARE: {
            char *vars = strstr(optarg, ",vars=");
            if (vars) {
                *vars = '\0'; /* argv strings are ours to split */
                opt->firmware_vars = vars + strlen(",vars=");
                if (!*opt->firmware_vars) {
                    snprintf(err, errlen, "--firmware: vars= needs a path");
                    return -EINVAL;
                }
            }
            opt->firmware_uefi = strcmp(optarg, "uefi") == 0;
            opt->firmware = strcmp(optarg, "bios") == 0 ? FIRMWARE_BIOS_PATH
                            : opt->firmware_uefi        ? FIRMWARE_UEFI_CODE
                                                        : optarg;
            break;
        }
        case OPT_INITRD:
            opt->initrd = optarg;
            break;
        case OPT_APPEND:
            opt->cmdline = optarg;
            break;
        case OPT_MEMORY:
            machine_set = true;
            if (cli_parse_size(optarg, &opt->mem_size) < 0) {
                snprintf(err, errlen, "--memory %s: not a size (examples: 512M, 2G)", optarg);
                return -EINVAL;
            }
            break;
        case OPT_CPUS: {
            machine_set = true;
            char *end;
            errno = 0;
            long n = strtol(optarg, &end, 10);
            if (errno || *end || end == optarg || n < 1 || n > ACPI_MAX_CPUS) {
                /* The MADT's 8-bit APIC IDs cap it; the host's KVM may allow fewer. */
                snprintf(err, errlen, "--cpus %s: must be a whole number from 1 to %d", optarg,
                         ACPI_MAX_CPUS);
                return -EINVAL;
            }
            opt->ncpus = (unsigned)n;
            break;
        }
        case OPT_SERIAL:
            opt->serial = optarg;
            break;
        case OPT_QMP:
            if (strncmp(optarg, "unix:", 5) != 0 || !optarg[5]) {
                snprintf(err, errlen, "--qmp %s: expected unix:PATH", optarg);
                return -EINVAL;
            }
            opt->qmp_path = optarg + 5;
            break;
        case OPT_KVM:
            opt->kvm_path = optarg;
            break;
        case OPT_DEVICE: {
            struct virtio_spec spec;
            if (opt->ndevices >= CLI_MAX_DEVICES) {
                snprintf(err, errlen, "--device: at most %d devices", CLI_MAX_DEVICES);
                return -EINVAL;
            }
            if (virtio_spec_parse(optarg, &spec, err, errlen) < 0) {
                return -EINVAL;
            }
            opt->devices[opt->ndevices++] = optarg;
            break;
        }
        case OPT_NET:
            if (opt->nnet == CLI_NET_MAX) {
                snprintf(err, errlen, "--net: at most %d network cards", CLI_NET_MAX);
                return -EINVAL;
            }
            if (cli_parse_net(optarg, opt->nnet, &opt->net[opt->nnet], err, errlen) < 0) {
                return -EINVAL;
            }
            opt->nnet++;
            break;
        case OPT_DISK:
            if (opt->ndisks == CLI_MAX_DISKS) {
                snprintf(err, errlen, "--disk: at most %d disks", CLI_MAX_DISKS);
                return -EINVAL;
            }
            if (cli_parse_disk(optarg, &opt->disks[opt->ndisks], err, errlen) < 0) {
                return -EINVAL;
            }
            opt->ndisks++;
            break;
        case OPT_CDROM:
            if (opt->cdrom) {
                snprintf(err, errlen, "--cdrom: given twice (one CD-ROM drive)");
                return -EINVAL;
            }
            opt->cdrom = optarg;
            break;
        case OPT_BOOT:
            if (parse_boot(optarg, opt, err, errlen) < 0) {
                return -EINVAL;
            }
            break;
        case OPT_RESTORE:
            opt->restore = optarg;
            break;
        case OPT_SNAPSHOT_DIR:
            opt->snapshot_dir = optarg;
            break;
        case 'S':
            opt->start_paused = true;
            break;
        case OPT_NO_ASYNC_TEARDOWN:
            opt->no_async_teardown = true;
            break;
        case OPT_DISPLAY:
            if (parse_display(optarg, opt, err, errlen) < 0) {
                return -EINVAL;
            }
            break;
        case OPT_DISPLAY_CHANNEL:
            if (display_channel_parse(optarg, err, errlen) < 0) {
                return -EINVAL;
            }
            opt->display_channel = optarg;
            break;
        case OPT_VNC: {
            struct vnc_config vcfg;
            if (vnc_parse(optarg, &vcfg, err, errlen) < 0) {
                return -EINVAL;
            }
            opt->vnc = optarg;
            break;
        }
        case 'h':
            fputs(usage, stdout);
            return 1;
        case 'V':
            printf("deskvm-vm %s\n", DESKVM_VERSION);
            return 1;
        case OPT_LATER:
            snprintf(err, errlen, "--%s is not available in this version of deskvm-vm",
                     options[idx].name);
            return -EINVAL;
        case ':':
            snprintf(err, errlen, "%s needs a value", argv[optind - 1]);
            return -EINVAL;
        default:
            snprintf(err, errlen, "unknown option %s", argv[optind - 1]);
            return -EINVAL;
        }
    }
    if (optind < argc) {
        snprintf(err, errlen, "unexpected argument '%s'", argv[optind]);
        return -EINVAL;
    }
    if (opt->mem_size < MIN_MEM || (opt->mem_size & 0xfff)) {
        snprintf(err, errlen, "--memory must be at least 2 MiB and a multiple of 4 KiB");
        return -EINVAL;
    }
    long pages = sysconf(_SC_PHYS_PAGES);
    long psize = sysconf(_SC_PAGESIZE);
    if (pages > 0 && psize > 0 && opt->mem_size > (uint64_t)pages * (uint64_t)psize) {
        snprintf(err, errlen, "--memory %llu MiB is more than this host's %llu MiB of RAM",
                 (unsigned long long)(opt->mem_size >> 20),
                 (unsigned long long)(((uint64_t)pages * (uint64_t)psize) >> 20));
        return -EINVAL;
    }
    if (opt->vnc && opt->display && strcmp(opt->display, "none") == 0) {
        snprintf(err, errlen, "--vnc needs a display: drop --display none");
        return -EINVAL;
    }
    if (opt->display_channel && opt->display && strcmp(opt->display, "none") == 0) {
        snprintf(err, errlen, "--display-channel needs a display: drop --display none");
        return -EINVAL;
    }
    if ((opt->vnc || opt->display_channel) && !opt->display) {
        opt->display = "vga";
    }
    for (unsigned i = 0; i < opt->nnet; i++) {
        for (unsigned j = 0; j < i; j++) {
            if (memcmp(opt->net[i].mac, opt->net[j].mac, 6) == 0) {
                snprintf(err, errlen, "--net: two network cards with the same MAC address");
                return -EINVAL;
            }
        }
    }
    if (opt->nboot && !opt->firmware) {
        snprintf(err, errlen, "--boot needs --firmware (direct kernel boot has no boot order)");
        return -EINVAL;
    }
    for (unsigned i = 0; i < opt->nboot; i++) {
        if (opt->boot[i] == CLI_BOOT_CDROM && !opt->cdrom) {
            snprintf(err, errlen, "--boot cdrom needs --cdrom");
            return -EINVAL;
        }
        if (opt->boot[i] == CLI_BOOT_DISK && !opt->ndisks) {
            snprintf(err, errlen, "--boot disk needs a --disk");
            return -EINVAL;
        }
    }
    if (opt->nboot && opt->kernel) {
        /* With --firmware, --kernel boots first: a boot order would never be reached. */
        snprintf(err, errlen, "--boot and --kernel cannot be combined (the kernel boots first)");
        return -EINVAL;
    }
    if (opt->restore &&
        (opt->kernel || opt->initrd || opt->cmdline || machine_set || opt->firmware)) {
        snprintf(err, errlen,
                 "--restore takes the memory size, vCPUs, kernel and command line "
                 "from the checkpoint: drop --memory, --cpus, --kernel, --initrd, "
                 "--append and --firmware");
        return -EINVAL;
    }
    if ((opt->initrd || opt->cmdline) && !opt->kernel) {
        snprintf(err, errlen, "--initrd and --append need --kernel");
        return -EINVAL;
    }
    return 0;
}

int cli_parse(struct cli_options *opt, int argc, char **argv, char *err, size_t errlen)
{
    memset(opt, 0, sizeof(*opt));
    int r = parse_args(opt, argc, argv, err, errlen);
    if (r != 0) {
        cli_options_free(opt); /* only a run keeps the disk paths */
    }
    return r;
}
