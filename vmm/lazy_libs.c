// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The libraries the engine opens on first use (vmm/lazy_lib.h). The sonames and libdirs
 * come from pkg-config at build time (vmm/meson.build); the package names are only for the
 * message a missing library gives.
 */
#include "vmm/lazy_pixman.h"
#include "vmm/lazy_png.h"
#include "vmm/lazy_slirp.h"
#include "vmm/lazy_vncserver.h"

LAZY_LIB_DEFINE(vncserver, LAZY_VNCSERVER_FUNCS, "libvncserver", LAZY_VNCSERVER_PACKAGE,
                LAZY_VNCSERVER_LIBDIR, LAZY_VNCSERVER_SONAME)
LAZY_LIB_DEFINE(slirp, LAZY_SLIRP_FUNCS, "libslirp", LAZY_SLIRP_PACKAGE, LAZY_SLIRP_LIBDIR,
                LAZY_SLIRP_SONAME)
LAZY_LIB_DEFINE(pixman, LAZY_PIXMAN_FUNCS, "pixman", LAZY_PIXMAN_PACKAGE, LAZY_PIXMAN_LIBDIR,
                LAZY_PIXMAN_SONAME)
LAZY_LIB_DEFINE(png, LAZY_PNG_FUNCS, "libpng", LAZY_PNG_PACKAGE, LAZY_PNG_LIBDIR, LAZY_PNG_SONAME)
