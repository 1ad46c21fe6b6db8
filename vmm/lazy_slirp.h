// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The libslirp functions io/net_slirp.c calls, through lazy_slirp after lazy_slirp_load()
 * (vmm/lazy_lib.h): only --net user pays for libslirp and GLib.
 */
#ifndef DESKVM_VMM_LAZY_SLIRP_H
#define DESKVM_VMM_LAZY_SLIRP_H

#include <libslirp.h>

#include "vmm/lazy_lib.h"

#define LAZY_SLIRP_FUNCS(X)                                                                        \
    X(slirp_new)                                                                                   \
    X(slirp_cleanup)                                                                               \
    X(slirp_input)                                                                                 \
    X(slirp_pollfds_fill)                                                                          \
    X(slirp_pollfds_poll)                                                                          \
    X(slirp_add_hostfwd)

LAZY_LIB_DECLARE(slirp, LAZY_SLIRP_FUNCS)

#endif
