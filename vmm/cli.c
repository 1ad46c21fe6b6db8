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
#include "vmm/acpi.h"

#define DEFAULT_MEM (256ull << 20)
#define MIN_MEM (2ull << 20)

static const char usage[] =
    "Usage: deskvm-vm [OPTIONS]\n"
    "Run one virtual machine on KVM. Without --kernel, runs the built-in demo guest.\n"
    "\n"
    "  --kernel FILE        PVH ELF, vmlinux or bzImage to boot\n"
    "  --initrd FILE        initial ramdisk\n"
    "  --append CMDLINE     kernel command line\n"
    "  --memory SIZE        guest RAM, e.g. 512M, 2G (default 256M; plain numbers are MiB)\n"
    "  --cpus N             virtual CPUs (default 1)\n"
    "  --serial stdio|null|file:PATH\n"
    "                       where COM1 goes (default stdio)\n"
    "  --qmp unix:PATH      QMP control socket\n"
    "  -S, --paused         create the VM paused (continue with QMP 'cont')\n"
    "  --restore FILE       start from a checkpoint (QMP snapshot-save); the memory size,\n"
    "                       vCPUs, kernel and command line come from the file\n"
    "  --kvm-device PATH    KVM device node (default /dev/kvm)\n"
    "  -h, --help           this text\n"
    "  -V, --version        version\n"
    "\n"
    "Exit status: 0 powered off or quit, 1 bad arguments or files, 2 KVM unusable,\n"
    "3 the guest stopped on an internal error, (V << 1) | 1 when the guest writes V to the\n"
    "debug-exit port 0xf4.\n";

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

enum {
    OPT_KERNEL = 256,
    OPT_INITRD,
    OPT_APPEND,
    OPT_MEMORY,
    OPT_CPUS,
    OPT_SERIAL,
    OPT_QMP,
    OPT_KVM,
    OPT_RESTORE,
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
    {"restore", required_argument, NULL, OPT_RESTORE},
    {"paused", no_argument, NULL, 'S'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    /* Options of later parts of the engine: refused clearly until they exist. */
    {"disk", required_argument, NULL, OPT_LATER},
    {"cdrom", required_argument, NULL, OPT_LATER},
    {"firmware", required_argument, NULL, OPT_LATER},
    {"vnc", required_argument, NULL, OPT_LATER},
    {"net", required_argument, NULL, OPT_LATER},
    {"display", required_argument, NULL, OPT_LATER},
    {"config", required_argument, NULL, OPT_LATER},

    {NULL, 0, NULL, 0},
};

int cli_parse(struct cli_options *opt, int argc, char **argv, char *err, size_t errlen)
{
    memset(opt, 0, sizeof(*opt));
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
        case OPT_RESTORE:
            opt->restore = optarg;
            break;
        case 'S':
            opt->start_paused = true;
            break;
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
    if (opt->restore && (opt->kernel || opt->initrd || opt->cmdline || machine_set)) {
        snprintf(err, errlen,
                 "--restore takes the memory size, vCPUs, kernel and command line "
                 "from the checkpoint: drop --memory, --cpus, --kernel, --initrd "
                 "and --append");
        return -EINVAL;
    }
    if ((opt->initrd || opt->cmdline) && !opt->kernel) {
        snprintf(err, errlen, "--initrd and --append need --kernel");
        return -EINVAL;
    }
    return 0;
}
