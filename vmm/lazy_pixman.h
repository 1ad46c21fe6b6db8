// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The pixman functions display/surface.c and display/screendump.c (thumbnails) call, through
 * lazy_pixman after lazy_pixman_load() (vmm/lazy_lib.h): only --display vga (and --vnc) pays for
 * pixman.
 */
#ifndef DESKVM_VMM_LAZY_PIXMAN_H
#define DESKVM_VMM_LAZY_PIXMAN_H

#include <pixman.h>

#include "vmm/lazy_lib.h"

#define LAZY_PIXMAN_FUNCS(X)                                                                       \
    X(pixman_image_create_bits)                                                                    \
    X(pixman_image_unref)                                                                          \
    X(pixman_image_composite32)                                                                    \
    X(pixman_region32_init)                                                                        \
    X(pixman_region32_init_rect)                                                                   \
    X(pixman_region32_fini)                                                                        \
    X(pixman_region32_union_rect)                                                                  \
    X(pixman_region32_not_empty)                                                                   \
    X(pixman_region32_rectangles)                                                                  \
    X(pixman_region32_clear)                                                                       \
    X(pixman_image_set_transform)                                                                  \
    X(pixman_image_set_filter)                                                                     \
    X(pixman_image_set_repeat)                                                                     \
    X(pixman_transform_init_scale)                                                                 \
    X(pixman_filter_create_separable_convolution)

LAZY_LIB_DECLARE(pixman, LAZY_PIXMAN_FUNCS)

#endif
