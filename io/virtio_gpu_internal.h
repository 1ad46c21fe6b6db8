/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * What io/virtio_gpu.c (the command model) shares with io/virtio_gpu_state.c (checkpoints):
 * resource limits and helpers. Not for other devices.
 */
#ifndef DESKVM_IO_VIRTIO_GPU_INTERNAL_H
#define DESKVM_IO_VIRTIO_GPU_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "display/surface.h"
#include "io/virtio_gpu.h"

/* The largest resource: what one surface may hold (64 MiB). */
#define RES_MAX_BYTES ((uint64_t)DISPLAY_MAX_WIDTH * DISPLAY_MAX_HEIGHT * 4)
#define RES_MAX_DIM 16384u

/* A forward-only reader over a resource's backing iovecs. */
struct backing_cursor {
    const struct virtio_gpu_res *res;
    uint32_t i;     /* current iovec */
    uint64_t start; /* byte offset of iovec i in the backing */
};

/* The byte offsets of red, green and blue in a pixel of format; false for unknown formats. */
bool gpu_format_offsets(uint32_t format, uint8_t rgb[3]);
struct virtio_gpu_res *gpu_res_find(struct virtio_gpu *gpu, uint32_t id);
/* Drop the backing (the host views and their guest addresses). */
void gpu_res_detach(struct virtio_gpu_res *res);
/* Free a resource and its slot, its bytes off the host-memory count. */
void gpu_res_free(struct virtio_gpu *gpu, struct virtio_gpu_res *res);
/* Whether rect r lies inside a w x h area and is not empty. */
bool gpu_rect_inside(const struct virtio_gpu_rect *r, uint32_t w, uint32_t h);
void gpu_scanout_disable(struct virtio_gpu *gpu);
/* Convert resource rectangle r (already inside the resource) where it overlaps the scanout. */
void gpu_scanout_render(struct virtio_gpu *gpu, const struct virtio_gpu_res *res,
                        const struct virtio_gpu_rect *r);
/* Copy len bytes at backing offset off (>= the last call's); the caller checked the range. */
void gpu_backing_copy(struct backing_cursor *c, uint64_t off, uint8_t *dst, size_t len);

#endif
