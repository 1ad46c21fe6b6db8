/* SPDX-License-Identifier: GPL-2.0-or-later */
/* deskvm-vm's command line: options, defaults and validation (docs/deskvm-vm.md). */
#ifndef DESKVM_VMM_CLI_H
#define DESKVM_VMM_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cli_options {
    const char *kernel;
    const char *initrd;
    const char *cmdline;
    uint64_t mem_size;
    unsigned ncpus;
    const char *serial;
    const char *qmp_path;
    const char *kvm_path;
    const char *restore; /* checkpoint file: the machine comes from it */
    bool start_paused;
};

/*
 * Parse argv. Returns 0 to run, 1 when --help/--version was printed, or -EINVAL with one
 * line in err.
 */
int cli_parse(struct cli_options *opt, int argc, char **argv, char *err, size_t errlen);
/* "512M", "2G", "1024" (MiB), "1.5G" → bytes; -EINVAL for garbage, zero or overflow. */
int cli_parse_size(const char *s, uint64_t *out);

#endif
