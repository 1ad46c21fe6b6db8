// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The libpng functions display/screendump.c calls, through lazy_png after lazy_png_load()
 * (vmm/lazy_lib.h): only a PNG screendump pays for libpng.
 */
#ifndef DESKVM_VMM_LAZY_PNG_H
#define DESKVM_VMM_LAZY_PNG_H

#include <png.h>

#include "vmm/lazy_lib.h"

/* png_set_longjmp_fn is what the png_jmpbuf() macro calls. */
#define LAZY_PNG_FUNCS(X)                                                                          \
    X(png_create_write_struct)                                                                     \
    X(png_create_info_struct)                                                                      \
    X(png_destroy_write_struct)                                                                    \
    X(png_set_longjmp_fn)                                                                          \
    X(png_init_io)                                                                                 \
    X(png_set_IHDR)                                                                                \
    X(png_set_compression_level)                                                                   \
    X(png_write_info)                                                                              \
    X(png_write_row)                                                                               \
    X(png_write_end)

LAZY_LIB_DECLARE(png, LAZY_PNG_FUNCS)

#endif
