// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * virtio-gpu in checkpoints (virtio_gpu_vmstate, docs/snapshot-format.md
 * "virtio-gpu.resources"); the device model is io/virtio_gpu.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "display/surface.h"
#include "io/virtio_gpu.h"
#include "io/virtio_gpu_internal.h"
#include "snapshots/vmstate.h"
#include "vmm/device.h"
#include "vmm/memory.h"

/* ---- Checkpoints ---------------------------------------------------------------------------
 *
 * Section "virtio-gpu.resources": the cursor as fields, then a tail (docs/snapshot-format.md,
 * "virtio-gpu"): scanout 0 (resource id, rectangle), the cursor's resource id, and every
 * resource with its id, format, size, backing page list (guest addresses) and the rows of its
 * host copy that differ from what its backing pages hold. A load rebuilds each resource from
 * the restored guest RAM and puts those rows back, so the host copy is exactly what was saved
 * without storing megabytes the guest RAM already holds. Saved state is hostile input: every
 * id, size, address and row is checked against the same limits as the guest's commands.
 */

#define TAIL_HDR 28 /* scanout res, rect, cursor res, resource count */
#define TAIL_RES 24 /* id, format, width, height, backing entries, rows */
#define TAIL_ENTRY 16

struct rd {
    const uint8_t *p;
    size_t left;
};

/* The next n bytes of the tail into v (a u32 or u64, little-endian like the host). */
static bool rd(struct rd *r, void *v, size_t n)
{
    if (r->left < n) {
        return false;
    }
    memcpy(v, r->p, n);
    r->p += n;
    r->left -= n;
    return true;
}

static bool rd32(struct rd *r, uint32_t *v)
{
    return rd(r, v, 4);
}

/* Row y of what the backing holds at offset y * stride (zeroes past its end). */
static void backing_row(const struct virtio_gpu_res *res, struct backing_cursor *c, uint32_t y,
                        uint8_t *row)
{
    uint64_t stride = (uint64_t)res->width * 4, off = stride * y, n = 0;
    if (res->backing && off < res->backing_len) {
        n = res->backing_len - off < stride ? res->backing_len - off : stride;
        gpu_backing_copy(c, off, row, (size_t)n);
    }
    memset(row + n, 0, (size_t)(stride - n));
}

/* Rows of res->data that differ from the backing, written to out (NULL: counted only). */
static long diff_rows(const struct virtio_gpu_res *res, uint8_t *out, size_t room, uint8_t *row)
{
    size_t stride = (size_t)res->width * 4, used = 0;
    long rows = 0;
    struct backing_cursor c = {.res = res};
    for (uint32_t y = 0; y < res->height; y++) {
        backing_row(res, &c, y, row);
        const uint8_t *have = res->data + stride * y;
        if (memcmp(row, have, stride) == 0) {
            continue;
        }
        if (out) {
            if (room - used < 4 + stride) {
                return -ENOSPC;
            }
            memcpy(out + used, &y, 4);
            memcpy(out + used + 4, have, stride);
        }
        used += 4 + stride;
        rows++;
    }
    return rows;
}

static long gpu_tail_save(const void *opaque, void *buf, size_t len)
{
    const struct virtio_gpu *gpu = opaque;
    uint8_t *out = buf, *row = malloc((size_t)RES_MAX_DIM * 4);
    size_t pos = TAIL_HDR;
    uint32_t nres = 0;
    if (!row) {
        return -ENOMEM;
    }
    for (unsigned i = 0; i < VIRTIO_GPU_MAX_RESOURCES; i++) {
        const struct virtio_gpu_res *res = &gpu->res[i];
        if (!res->id) {
            continue;
        }
        nres++;
        size_t at = pos;
        pos += TAIL_RES + (size_t)res->nbacking * TAIL_ENTRY;
        if (out && pos > len) {
            free(row);
            return -ENOSPC;
        }
        long rows = diff_rows(res, out ? out + pos : NULL, out ? len - pos : 0, row);
        if (rows < 0) {
            free(row);
            return rows;
        }
        pos += (size_t)rows * (4 + (size_t)res->width * 4);
        if (out) {
            uint32_t h[6] = {res->id,     res->format,   res->width,
                             res->height, res->nbacking, (uint32_t)rows};
            memcpy(out + at, h, sizeof(h));
            for (uint32_t e = 0; e < res->nbacking; e++) {
                uint8_t *p = out + at + TAIL_RES + (size_t)e * TAIL_ENTRY;
                uint32_t l[2] = {(uint32_t)res->backing[e].iov_len, 0};
                memcpy(p, &res->backing_gpa[e], 8);
                memcpy(p + 8, l, 8);
            }
        }
    }
    free(row);
    if (out) {
        if (len < TAIL_HDR) {
            return -ENOSPC;
        }
        uint32_t h[7] = {gpu->scanout_res,
                         gpu->scanout.x,
                         gpu->scanout.y,
                         gpu->scanout.width,
                         gpu->scanout.height,
                         gpu->cursor_res,
                         nres};
        memcpy(out, h, sizeof(h));
    }
    return (long)pos;
}

/*
 * Parse and check a tail against gpu's limits and guest RAM. With out, also build the
 * resources (data rebuilt from the backing pages, then the saved rows): the caller frees them
 * on failure. Returns 0 or -EINVAL / -ENOMEM.
 */
static int gpu_tail_parse(const struct virtio_gpu *gpu, const void *buf, size_t len,
                          struct virtio_gpu_res *out, uint32_t hdr[7])
{
    struct rd r = {buf, len};
    uint64_t hostmem = 0;
    for (unsigned i = 0; i < 7; i++) {
        if (!rd32(&r, &hdr[i])) {
            return -EINVAL;
        }
    }
    uint32_t nres = hdr[6];
    if (nres > VIRTIO_GPU_MAX_RESOURCES) {
        return -EINVAL;
    }
    struct virtio_gpu_res *tmp = out ? out : calloc(VIRTIO_GPU_MAX_RESOURCES, sizeof(*tmp));
    if (!tmp) {
        return -ENOMEM;
    }
    int ret = -EINVAL;
    bool scanout_ok = hdr[0] == 0, cursor_ok = hdr[5] == 0;
    for (uint32_t i = 0; i < nres; i++) {
        struct virtio_gpu_res *res = &tmp[i];
        uint32_t nrows, e2;
        if (!rd32(&r, &res->id) || !rd32(&r, &res->format) || !rd32(&r, &res->width) ||
            !rd32(&r, &res->height) || !rd32(&r, &res->nbacking) || !rd32(&r, &nrows)) {
            goto out;
        }
        uint64_t bytes = (uint64_t)res->width * res->height * 4;
        if (res->id == 0 || !gpu_format_offsets(res->format, res->rgb) || res->width == 0 ||
            res->height == 0 || res->width > RES_MAX_DIM || res->height > RES_MAX_DIM ||
            bytes > RES_MAX_BYTES || (hostmem += bytes) > VIRTIO_GPU_MAX_HOSTMEM ||
            res->nbacking > VIRTIO_GPU_MAX_BACKING_ENTRIES || nrows > res->height ||
            r.left / TAIL_ENTRY < res->nbacking) {
            goto out;
        }
        for (uint32_t k = 0; k < i; k++) {
            if (tmp[k].id == res->id) {
                goto out;
            }
        }
        uint32_t nb = res->nbacking;
        res->nbacking = 0;
        if (out && nb) {
            res->backing = calloc(nb, sizeof(*res->backing));
            res->backing_gpa = calloc(nb, sizeof(*res->backing_gpa));
            if (!res->backing || !res->backing_gpa) {
                ret = -ENOMEM;
                goto out;
            }
        }
        for (uint32_t e = 0; e < nb; e++) {
            uint64_t addr = 0;
            uint32_t elen = 0;
            (void)rd(&r, &addr, 8);
            (void)rd32(&r, &elen);
            (void)rd32(&r, &e2);
            void *p = elen ? guest_mem_ptr(gpu->vdev.mem, addr, elen) : NULL;
            if (!p) {
                goto out;
            }
            if (out) {
                res->backing[e] = (struct iovec){p, elen};
                res->backing_gpa[e] = addr;
            }
            res->backing_len += elen;
        }
        res->nbacking = nb;
        if (!nb) {
            res->backing_len = 0;
        }
        size_t stride = (size_t)res->width * 4;
        if (out) {
            res->data = malloc(bytes);
            if (!res->data) {
                ret = -ENOMEM;
                goto out;
            }
            struct backing_cursor c = {.res = res};
            for (uint32_t y = 0; y < res->height; y++) {
                backing_row(res, &c, y, res->data + stride * y);
            }
        }
        int64_t last = -1;
        for (uint32_t k = 0; k < nrows; k++) {
            uint32_t y;
            if (!rd32(&r, &y) || (int64_t)y <= last || y >= res->height || r.left < stride) {
                goto out;
            }
            if (out) {
                memcpy(res->data + stride * y, r.p, stride);
            }
            r.p += stride;
            r.left -= stride;
            last = y;
        }
        struct virtio_gpu_rect so = {hdr[1], hdr[2], hdr[3], hdr[4]};
        if (res->id == hdr[0] && gpu_rect_inside(&so, res->width, res->height) &&
            so.width <= DISPLAY_MAX_WIDTH && so.height <= DISPLAY_MAX_HEIGHT) {
            scanout_ok = true;
        }
        cursor_ok |= res->id == hdr[5];
    }
    if (r.left == 0 && scanout_ok && cursor_ok) {
        ret = 0;
    }
out:
    if (!out) {
        free(tmp);
    }
    return ret;
}

static int gpu_tail_check(const void *opaque, const void *buf, size_t len)
{
    uint32_t hdr[7];
    return gpu_tail_parse(opaque, buf, len, NULL, hdr);
}

static int gpu_tail_load(void *opaque, const void *buf, size_t len)
{
    struct virtio_gpu *gpu = opaque;
    uint32_t hdr[7];
    struct virtio_gpu_res *fresh = calloc(VIRTIO_GPU_MAX_RESOURCES, sizeof(*fresh));
    if (!fresh) {
        return -ENOMEM;
    }
    int r = gpu_tail_parse(gpu, buf, len, fresh, hdr);
    if (r < 0) {
        for (unsigned i = 0; i < VIRTIO_GPU_MAX_RESOURCES; i++) {
            gpu_res_detach(&fresh[i]);
            free(fresh[i].data);
        }
        free(fresh);
        return r;
    }
    for (unsigned i = 0; i < VIRTIO_GPU_MAX_RESOURCES; i++) {
        if (gpu->res[i].id) {
            gpu_res_free(gpu, &gpu->res[i]);
        }
    }
    gpu->hostmem = 0;
    for (unsigned i = 0; i < hdr[6]; i++) {
        gpu->res[i] = fresh[i];
        gpu->hostmem += (uint64_t)fresh[i].width * fresh[i].height * 4;
    }
    free(fresh);
    gpu->cursor_res = hdr[5];
    gpu->cursor_updates++; /* the display machine shows the restored cursor */
    struct virtio_gpu_res *res = gpu_res_find(gpu, hdr[0]);
    if (!res) {
        gpu_scanout_disable(gpu);
        return 0;
    }
    gpu->scanout_res = hdr[0];
    gpu->scanout = (struct virtio_gpu_rect){hdr[1], hdr[2], hdr[3], hdr[4]};
    if (gpu->display && display_resize(gpu->display, hdr[3], hdr[4]) < 0) {
        return 0; /* out of memory for the surface: the state is in, the screen stays old */
    }
    gpu_scanout_render(gpu, res, &gpu->scanout);
    return 0;
}

static int gpu_post_load(void *opaque)
{
    const struct virtio_gpu *gpu = opaque;
    uint8_t visible; /* the saved byte, before anything reads it as a bool */
    memcpy(&visible, &gpu->cursor_visible, 1);
    return visible > 1 ? -EINVAL : 0;
}

static const struct vmstate_field gpu_fields[] = {
    VMSTATE_FIELD(struct virtio_gpu, events_read),
    VMSTATE_FIELD(struct virtio_gpu, cursor_hot_x),
    VMSTATE_FIELD(struct virtio_gpu, cursor_hot_y),
    VMSTATE_FIELD(struct virtio_gpu, cursor_x),
    VMSTATE_FIELD(struct virtio_gpu, cursor_y),
    VMSTATE_FIELD(struct virtio_gpu, cursor_visible),
    VMSTATE_ARRAY(struct virtio_gpu, cursor_image),
    VMSTATE_END,
};

const struct vmstate virtio_gpu_vmstate = {
    .name = "virtio-gpu.resources",
    .version = 1,
    .fields = gpu_fields,
    .post_load = gpu_post_load,
    .tail_save = gpu_tail_save,
    .tail_check = gpu_tail_check,
    .tail_load = gpu_tail_load,
};

unsigned virtio_gpu_state_sections(struct virtio_gpu *gpu, struct device *out, unsigned max)
{
    unsigned n = virtio_dev_state_sections(&gpu->vdev, out, max);
    if (n < max) {
        out[n] = (struct device){
            .name = "virtio-gpu.resources", .opaque = gpu, .state = &virtio_gpu_vmstate};
    }
    return n + 1;
}
