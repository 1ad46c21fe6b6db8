// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * virtio-gpu 2D (virtio 1.x 5.7). Resources live in host memory in their own format; the
 * guest's backing pages are only read by TRANSFER_TO_HOST_2D, so a flush converts host
 * memory into the display surface and the guest can rewrite its pages meanwhile. Requests
 * whose ids, sizes or rectangles do not fit get a RESP_ERR_* answer and the device goes on
 * (the spec's error path, which drivers handle); a request too short for its command or with
 * no room for the answer is a broken driver: the device enters NEEDS_RESET.
 */
#include "io/virtio_gpu.h"
#include "io/virtio_gpu_internal.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "display/surface.h"
#include "vmm/device.h"
#include "vmm/memory.h"

struct gpu_hdr {
    uint32_t type, flags;
    uint64_t fence_id;
    uint32_t ctx_id;
    uint8_t ring_idx, padding[3];
};

struct gpu_mem_entry {
    uint64_t addr;
    uint32_t length, padding;
};

struct gpu_cursor_cmd {
    struct gpu_hdr hdr;
    uint32_t scanout_id, x, y, padding;
    uint32_t resource_id, hot_x, hot_y, padding2;
};

_Static_assert(sizeof(struct gpu_hdr) == VIRTIO_GPU_HDR_SIZE, "header layout");
_Static_assert(sizeof(struct gpu_cursor_cmd) == 56, "cursor command layout");

/* ---- Resources --------------------------------------------------------------------------- */

bool gpu_format_offsets(uint32_t format, uint8_t rgb[3])
{
    static const struct {
        uint32_t format;
        uint8_t r, g, b;
    } table[] = {
        {VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM, 2, 1, 0}, {VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 2, 1, 0},
        {VIRTIO_GPU_FORMAT_A8R8G8B8_UNORM, 1, 2, 3}, {VIRTIO_GPU_FORMAT_X8R8G8B8_UNORM, 1, 2, 3},
        {VIRTIO_GPU_FORMAT_R8G8B8A8_UNORM, 0, 1, 2}, {VIRTIO_GPU_FORMAT_R8G8B8X8_UNORM, 0, 1, 2},
        {VIRTIO_GPU_FORMAT_A8B8G8R8_UNORM, 3, 2, 1}, {VIRTIO_GPU_FORMAT_X8B8G8R8_UNORM, 3, 2, 1},
    };
    for (size_t i = 0; i < sizeof(table) / sizeof(table[0]); i++) {
        if (table[i].format == format) {
            rgb[0] = table[i].r;
            rgb[1] = table[i].g;
            rgb[2] = table[i].b;
            return true;
        }
    }
    return false;
}

struct virtio_gpu_res *gpu_res_find(struct virtio_gpu *gpu, uint32_t id)
{
    if (id == 0) {
        return NULL;
    }
    for (unsigned i = 0; i < VIRTIO_GPU_MAX_RESOURCES; i++) {
        if (gpu->res[i].id == id) {
            return &gpu->res[i];
        }
    }
    return NULL;
}

void gpu_res_detach(struct virtio_gpu_res *res)
{
    free(res->backing);
    free(res->backing_gpa);
    res->backing = NULL;
    res->backing_gpa = NULL;
    res->nbacking = 0;
    res->backing_len = 0;
}

void gpu_res_free(struct virtio_gpu *gpu, struct virtio_gpu_res *res)
{
    gpu_res_detach(res);
    free(res->data);
    gpu->hostmem -= (uint64_t)res->width * res->height * 4;
    memset(res, 0, sizeof(*res));
}

/* Whether rect r lies inside a w x h area and is not empty. */
bool gpu_rect_inside(const struct virtio_gpu_rect *r, uint32_t w, uint32_t h)
{
    /* guest-controlled: 64-bit sums, no wrap */
    return r->width && r->height && (uint64_t)r->x + r->width <= w &&
           (uint64_t)r->y + r->height <= h;
}

/* ---- Scanout ------------------------------------------------------------------------------ */

void gpu_scanout_disable(struct virtio_gpu *gpu)
{
    gpu->scanout_res = 0;
    memset(&gpu->scanout, 0, sizeof(gpu->scanout));
    if (gpu->display) {
        display_fill(gpu->display, 0, 0, gpu->display->width, gpu->display->height, 0);
    }
}

/* Convert resource rectangle r (already inside the resource) where it overlaps the scanout. */
void gpu_scanout_render(struct virtio_gpu *gpu, const struct virtio_gpu_res *res,
                        const struct virtio_gpu_rect *r)
{
    struct display *d = gpu->display;
    const struct virtio_gpu_rect *s = &gpu->scanout;
    uint32_t x0 = r->x > s->x ? r->x : s->x;
    uint32_t y0 = r->y > s->y ? r->y : s->y;
    uint64_t x1 = (uint64_t)r->x + r->width, y1 = (uint64_t)r->y + r->height;
    if (x1 > (uint64_t)s->x + s->width) {
        x1 = (uint64_t)s->x + s->width;
    }
    if (y1 > (uint64_t)s->y + s->height) {
        y1 = (uint64_t)s->y + s->height;
    }
    if (!d || x0 >= x1 || y0 >= y1 || s->width != d->width || s->height != d->height) {
        return;
    }
    for (uint32_t y = y0; y < y1; y++) {
        const uint8_t *src = res->data + ((size_t)y * res->width + x0) * 4;
        uint32_t *dst = d->data + (size_t)(y - s->y) * (d->stride / 4) + (x0 - s->x);
        for (uint32_t x = x0; x < x1; x++, src += 4) {
            *dst++ = (uint32_t)src[res->rgb[0]] << 16 | (uint32_t)src[res->rgb[1]] << 8 |
                     src[res->rgb[2]];
        }
    }
    display_damage(d, x0 - s->x, y0 - s->y, (unsigned)(x1 - x0), (unsigned)(y1 - y0));
}

/* ---- EDID ---------------------------------------------------------------------------------- */

void virtio_gpu_edid(uint8_t e[128], unsigned width, unsigned height)
{
    static const uint8_t header[8] = {0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00};
    memset(e, 0, 128);
    memcpy(e, header, sizeof(header));
    /* Manufacturer "DVM" (5-bit letters, A = 1), product 0x1234, serial 1, week 1 of 2024. */
    uint16_t mfg = (uint16_t)(('D' - '@') << 10 | ('V' - '@') << 5 | ('M' - '@'));
    e[8] = (uint8_t)(mfg >> 8);
    e[9] = (uint8_t)mfg;
    e[10] = 0x34;
    e[11] = 0x12;
    e[12] = 1;
    e[16] = 1;
    e[17] = 2024 - 1990;
    e[18] = 1; /* EDID 1.4 */
    e[19] = 4;
    e[20] = 0xa5; /* digital, 8 bits per colour, DisplayPort */
    /* Physical size at 96 dots per inch, in cm. */
    e[21] = (uint8_t)((width * 254 + 4800) / 9600 ? (width * 254 + 4800) / 9600 : 1);
    e[22] = (uint8_t)((height * 254 + 4800) / 9600 ? (height * 254 + 4800) / 9600 : 1);
    e[23] = 120;  /* gamma 2.2 */
    e[24] = 0x06; /* RGB 4:4:4, sRGB default, preferred timing is the native mode */
    /* sRGB chromaticity (red, green, blue, white points, 10 bits each). */
    static const uint8_t chroma[10] = {0xee, 0x91, 0xa3, 0x54, 0x4c, 0x99, 0x26, 0x0f, 0x50, 0x54};
    memcpy(e + 25, chroma, sizeof(chroma));
    e[35] = 0x21; /* established timings: 640x480@60, 800x600@60 */
    e[36] = 0x08; /* 1024x768@60 */
    for (unsigned i = 38; i < 54; i++) {
        e[i] = 1; /* standard timings unused */
    }
    /* Descriptor 1: the preferred mode, CVT reduced-blanking-like porches. */
    uint8_t *t = e + 54;
    unsigned hblank = 160, hfront = 48, hsync = 32, vblank = 30, vfront = 3, vsync = 6;
    uint64_t total = (uint64_t)(width + hblank) * (height + vblank);
    uint64_t clock = total * 60 / 10000; /* 10 kHz units at 60 Hz */
    if (clock > 0xffff) {
        clock = 0xffff; /* a lower refresh rate for the largest modes */
    }
    unsigned hmm = (width * 254 + 480) / 960, vmm = (height * 254 + 480) / 960;
    t[0] = (uint8_t)clock;
    t[1] = (uint8_t)(clock >> 8);
    t[2] = (uint8_t)width;
    t[3] = (uint8_t)hblank;
    t[4] = (uint8_t)((width >> 8) << 4 | hblank >> 8);
    t[5] = (uint8_t)height;
    t[6] = (uint8_t)vblank;
    t[7] = (uint8_t)((height >> 8) << 4 | vblank >> 8);
    t[8] = (uint8_t)hfront;
    t[9] = (uint8_t)hsync;
    t[10] = (uint8_t)(vfront << 4 | vsync);
    t[11] = (uint8_t)((hfront >> 8) << 6 | (hsync >> 8) << 4 | (vfront >> 4) << 2 | vsync >> 4);
    t[12] = (uint8_t)hmm;
    t[13] = (uint8_t)vmm;
    t[14] = (uint8_t)((hmm >> 8) << 4 | (vmm >> 8 & 0xf));
    t[17] = 0x1e; /* digital separate sync, both polarities positive */
    /* Descriptor 2: range limits, so any mode up to the preferred clock is allowed. */
    t = e + 72;
    t[3] = 0xfd;
    t[5] = 1;    /* min vertical Hz */
    t[6] = 120;  /* max vertical Hz */
    t[7] = 1;    /* min horizontal kHz */
    t[8] = 255;  /* max horizontal kHz */
    t[9] = 0xff; /* max pixel clock / 10 MHz */
    t[10] = 0x01;
    t[11] = 0x0a;
    memset(t + 12, 0x20, 6);
    /* Descriptor 3: the monitor name. */
    t = e + 90;
    t[3] = 0xfc;
    memcpy(t + 5, "deskvm\n     ", 13);
    /* Descriptor 4: serial number string. */
    t = e + 108;
    t[3] = 0xff;
    memcpy(t + 5, "0001\n        ", 13);
    uint8_t sum = 0;
    for (unsigned i = 0; i < 127; i++) {
        sum = (uint8_t)(sum + e[i]);
    }
    e[127] = (uint8_t)(0x100 - sum);
}

/* ---- Control commands ---------------------------------------------------------------------- */

/* One request: its readable and writable sides, and the response header being built. */
struct req {
    struct virtio_gpu *gpu;
    const struct virtq_elem *elem;
    struct gpu_hdr hdr;
};

/* Read the command struct (header included) of size len; false (device broken) when short. */
static bool cmd_read(struct req *r, void *cmd, size_t len)
{
    /* guest-controlled: the readable side must hold the whole command */
    if (virtq_elem_read(r->elem, 0, cmd, len) != len) {
        virtio_dev_set_error(&r->gpu->vdev, "virtio-gpu: command 0x%x needs %zu bytes, got %llu",
                             r->hdr.type, len, (unsigned long long)r->elem->rd_len);
        return false;
    }
    return true;
}

static uint32_t create_2d(struct virtio_gpu *gpu, const uint32_t *a)
{
    uint32_t id = a[0], format = a[1], w = a[2], h = a[3];
    uint8_t rgb[3];
    /* guest-controlled: id, format and size */
    if (id == 0 || gpu_res_find(gpu, id)) {
        return VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
    }
    if (!gpu_format_offsets(format, rgb) || w == 0 || h == 0 || w > RES_MAX_DIM ||
        h > RES_MAX_DIM || (uint64_t)w * h * 4 > RES_MAX_BYTES) {
        return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
    }
    uint64_t bytes = (uint64_t)w * h * 4;
    struct virtio_gpu_res *res = NULL;
    for (unsigned i = 0; i < VIRTIO_GPU_MAX_RESOURCES && !res; i++) {
        res = gpu->res[i].id == 0 ? &gpu->res[i] : NULL;
    }
    if (!res || gpu->hostmem + bytes > VIRTIO_GPU_MAX_HOSTMEM) {
        return VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
    }
    res->data = calloc(1, bytes);
    if (!res->data) {
        return VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
    }
    res->id = id;
    res->format = format;
    res->width = w;
    res->height = h;
    memcpy(res->rgb, rgb, sizeof(rgb));
    gpu->hostmem += bytes;
    return VIRTIO_GPU_RESP_OK_NODATA;
}

static uint32_t unref(struct virtio_gpu *gpu, uint32_t id)
{
    struct virtio_gpu_res *res = gpu_res_find(gpu, id); /* guest-controlled */
    if (!res) {
        return VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
    }
    if (gpu->scanout_res == id) {
        gpu_scanout_disable(gpu);
    }
    if (gpu->cursor_res == id) {
        gpu->cursor_res = 0; /* the image was copied; the cursor stays */
    }
    gpu_res_free(gpu, res);
    return VIRTIO_GPU_RESP_OK_NODATA;
}

static uint32_t set_scanout(struct virtio_gpu *gpu, const struct virtio_gpu_rect *rect,
                            uint32_t scanout_id, uint32_t id)
{
    if (scanout_id != 0) { /* guest-controlled */
        return VIRTIO_GPU_RESP_ERR_INVALID_SCANOUT_ID;
    }
    if (id == 0) {
        gpu_scanout_disable(gpu);
        return VIRTIO_GPU_RESP_OK_NODATA;
    }
    struct virtio_gpu_res *res = gpu_res_find(gpu, id);
    if (!res) {
        return VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
    }
    /* guest-controlled: the scanout is a part of the resource that fits a surface */
    if (!gpu_rect_inside(rect, res->width, res->height) || rect->width > DISPLAY_MAX_WIDTH ||
        rect->height > DISPLAY_MAX_HEIGHT) {
        return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
    }
    if (gpu->display && display_resize(gpu->display, rect->width, rect->height) < 0) {
        return VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY; /* the old surface stays */
    }
    gpu->scanout_res = id;
    gpu->scanout = *rect;
    gpu_scanout_render(gpu, res, rect);
    return VIRTIO_GPU_RESP_OK_NODATA;
}

static uint32_t flush(struct virtio_gpu *gpu, const struct virtio_gpu_rect *rect, uint32_t id)
{
    struct virtio_gpu_res *res = gpu_res_find(gpu, id); /* guest-controlled */
    if (!res) {
        return VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
    }
    if (!gpu_rect_inside(rect, res->width, res->height)) {
        return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
    }
    if (gpu->scanout_res == id) {
        gpu_scanout_render(gpu, res, rect);
    }
    return VIRTIO_GPU_RESP_OK_NODATA;
}

/* Copy len bytes at backing offset off (>= the last call's); the caller checked the range. */
void gpu_backing_copy(struct backing_cursor *c, uint64_t off, uint8_t *dst, size_t len)
{
    const struct virtio_gpu_res *res = c->res;
    while (len) {
        while (off >= c->start + res->backing[c->i].iov_len) {
            c->start += res->backing[c->i].iov_len;
            c->i++;
        }
        uint64_t in = off - c->start;
        size_t n = res->backing[c->i].iov_len - in;
        n = n < len ? n : len;
        memcpy(dst, (const uint8_t *)res->backing[c->i].iov_base + in, n);
        dst += n;
        off += n;
        len -= n;
    }
}

static uint32_t transfer_to_host(struct virtio_gpu *gpu, const struct virtio_gpu_rect *rect,
                                 uint64_t offset, uint32_t id)
{
    struct virtio_gpu_res *res = gpu_res_find(gpu, id); /* guest-controlled */
    if (!res) {
        return VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
    }
    if (!res->backing) {
        return VIRTIO_GPU_RESP_ERR_UNSPEC;
    }
    if (!gpu_rect_inside(rect, res->width, res->height)) {
        return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
    }
    /* guest-controlled: the rows at offset + stride * row must lie in the backing */
    uint64_t stride = (uint64_t)res->width * 4, row = (uint64_t)rect->width * 4;
    if (offset > res->backing_len ||
        stride * (rect->height - 1) + row > res->backing_len - offset) {
        return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
    }
    struct backing_cursor c = {.res = res};
    for (uint32_t h = 0; h < rect->height; h++) {
        uint8_t *dst = res->data + (rect->y + h) * stride + (uint64_t)rect->x * 4;
        gpu_backing_copy(&c, offset + stride * h, dst, row);
    }
    return VIRTIO_GPU_RESP_OK_NODATA;
}

static uint32_t attach_backing(struct req *r, uint32_t id, uint32_t n, bool *broken)
{
    struct virtio_gpu *gpu = r->gpu;
    struct virtio_gpu_res *res = gpu_res_find(gpu, id); /* guest-controlled */
    if (!res) {
        return VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID;
    }
    if (res->backing) {
        return VIRTIO_GPU_RESP_ERR_UNSPEC;
    }
    if (n == 0 || n > VIRTIO_GPU_MAX_BACKING_ENTRIES) {
        return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
    }
    size_t base = VIRTIO_GPU_HDR_SIZE + 8;
    /* guest-controlled: the entries must follow the command in full */
    if (r->elem->rd_len < base + (uint64_t)n * sizeof(struct gpu_mem_entry)) {
        virtio_dev_set_error(&gpu->vdev, "virtio-gpu: %u backing entries do not fit %llu bytes", n,
                             (unsigned long long)r->elem->rd_len);
        *broken = true;
        return VIRTIO_GPU_RESP_ERR_UNSPEC;
    }
    struct iovec *iov = calloc(n, sizeof(*iov));
    uint64_t *gpa = calloc(n, sizeof(*gpa));
    if (!iov || !gpa) {
        free(iov);
        free(gpa);
        return VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY;
    }
    uint64_t total = 0;
    for (uint32_t i = 0; i < n; i++) {
        struct gpu_mem_entry e;
        virtq_elem_read(r->elem, base + i * sizeof(e), &e, sizeof(e));
        /* guest-controlled: every entry non-empty and wholly in RAM */
        void *p = e.length ? guest_mem_ptr(gpu->vdev.mem, e.addr, e.length) : NULL;
        if (!p) {
            free(iov);
            free(gpa);
            return VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER;
        }
        iov[i] = (struct iovec){p, e.length};
        gpa[i] = e.addr;
        total += e.length;
    }
    res->backing = iov;
    res->backing_gpa = gpa;
    res->nbacking = n;
    res->backing_len = total;
    return VIRTIO_GPU_RESP_OK_NODATA;
}

static void display_info(struct virtio_gpu *gpu, uint8_t *out)
{
    /* hdr, then 16 x {rect, enabled, flags}: only scanout 0 is enabled */
    uint32_t mode[6] = {0, 0, gpu->pref_width, gpu->pref_height, 1, 0};
    memset(out + VIRTIO_GPU_HDR_SIZE, 0, VIRTIO_GPU_MAX_SCANOUTS * sizeof(mode));
    memcpy(out + VIRTIO_GPU_HDR_SIZE, mode, sizeof(mode));
}

/* Handle one control request; returns the bytes of the response written, or -1 (broken). */
static long ctrl_request(struct virtio_gpu *gpu, const struct virtq_elem *elem)
{
    struct req r = {.gpu = gpu, .elem = elem};
    uint8_t resp[VIRTIO_GPU_HDR_SIZE + 8 + VIRTIO_GPU_EDID_SIZE];
    size_t resp_len = VIRTIO_GPU_HDR_SIZE;
    uint32_t cmd[16];
    uint32_t type;
    bool broken = false;
    /* guest-controlled: every request starts with a whole header */
    if (virtq_elem_read(elem, 0, &r.hdr, sizeof(r.hdr)) != sizeof(r.hdr)) {
        virtio_dev_set_error(&gpu->vdev, "virtio-gpu: request of %llu bytes has no header",
                             (unsigned long long)elem->rd_len);
        return -1;
    }
    gpu->commands++;
    const uint32_t *a = cmd + VIRTIO_GPU_HDR_SIZE / 4; /* the command's fields */
    switch (r.hdr.type) {
    case VIRTIO_GPU_CMD_GET_DISPLAY_INFO:
        display_info(gpu, resp);
        resp_len += VIRTIO_GPU_MAX_SCANOUTS * 24;
        type = VIRTIO_GPU_RESP_OK_DISPLAY_INFO;
        break;
    case VIRTIO_GPU_CMD_GET_EDID:
        if (!cmd_read(&r, cmd, VIRTIO_GPU_HDR_SIZE + 8)) {
            return -1;
        }
        if (a[0] != 0) { /* guest-controlled */
            type = VIRTIO_GPU_RESP_ERR_INVALID_SCANOUT_ID;
            break;
        }
        memset(resp + VIRTIO_GPU_HDR_SIZE, 0, 8 + VIRTIO_GPU_EDID_SIZE);
        resp[VIRTIO_GPU_HDR_SIZE] = 128;
        virtio_gpu_edid(resp + VIRTIO_GPU_HDR_SIZE + 8, gpu->pref_width, gpu->pref_height);
        resp_len += 8 + VIRTIO_GPU_EDID_SIZE;
        type = VIRTIO_GPU_RESP_OK_EDID;
        break;
    case VIRTIO_GPU_CMD_RESOURCE_CREATE_2D:
        if (!cmd_read(&r, cmd, VIRTIO_GPU_HDR_SIZE + 16)) {
            return -1;
        }
        type = create_2d(gpu, a);
        break;
    case VIRTIO_GPU_CMD_RESOURCE_UNREF:
        if (!cmd_read(&r, cmd, VIRTIO_GPU_HDR_SIZE + 8)) {
            return -1;
        }
        type = unref(gpu, a[0]);
        break;
    case VIRTIO_GPU_CMD_SET_SCANOUT:
        if (!cmd_read(&r, cmd, VIRTIO_GPU_HDR_SIZE + 24)) {
            return -1;
        }
        type = set_scanout(gpu, &(struct virtio_gpu_rect){a[0], a[1], a[2], a[3]}, a[4], a[5]);
        break;
    case VIRTIO_GPU_CMD_RESOURCE_FLUSH:
        if (!cmd_read(&r, cmd, VIRTIO_GPU_HDR_SIZE + 24)) {
            return -1;
        }
        type = flush(gpu, &(struct virtio_gpu_rect){a[0], a[1], a[2], a[3]}, a[4]);
        break;
    case VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D:
        if (!cmd_read(&r, cmd, VIRTIO_GPU_HDR_SIZE + 32)) {
            return -1;
        }
        type = transfer_to_host(gpu, &(struct virtio_gpu_rect){a[0], a[1], a[2], a[3]},
                                (uint64_t)a[4] | (uint64_t)a[5] << 32, a[6]);
        break;
    case VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING:
        if (!cmd_read(&r, cmd, VIRTIO_GPU_HDR_SIZE + 8)) {
            return -1;
        }
        type = attach_backing(&r, a[0], a[1], &broken);
        if (broken) {
            return -1;
        }
        break;
    case VIRTIO_GPU_CMD_RESOURCE_DETACH_BACKING: {
        if (!cmd_read(&r, cmd, VIRTIO_GPU_HDR_SIZE + 8)) {
            return -1;
        }
        struct virtio_gpu_res *res = gpu_res_find(gpu, a[0]); /* guest-controlled */
        type = !res            ? VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID
               : !res->backing ? VIRTIO_GPU_RESP_ERR_UNSPEC
                               : VIRTIO_GPU_RESP_OK_NODATA;
        if (type == VIRTIO_GPU_RESP_OK_NODATA) {
            gpu_res_detach(res);
        }
        break;
    }
    case VIRTIO_GPU_CMD_GET_CAPSET_INFO:
    case VIRTIO_GPU_CMD_GET_CAPSET:
        type = VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER; /* num_capsets is 0: no 3D */
        break;
    default:
        type = VIRTIO_GPU_RESP_ERR_UNSPEC;
        break;
    }
    if (type >= VIRTIO_GPU_RESP_ERR_UNSPEC) {
        gpu->errors++;
        gpu->last_error = r.hdr.type;
        resp_len = VIRTIO_GPU_HDR_SIZE;
    }
    /* guest-controlled: the writable side must take the whole response */
    if (elem->wr_len < resp_len) {
        virtio_dev_set_error(&gpu->vdev, "virtio-gpu: %zu-byte response to 0x%x does not fit %llu",
                             resp_len, r.hdr.type, (unsigned long long)elem->wr_len);
        return -1;
    }
    struct gpu_hdr out = {.type = type};
    if (r.hdr.flags & VIRTIO_GPU_FLAG_FENCE) {
        out.flags = VIRTIO_GPU_FLAG_FENCE;
        out.fence_id = r.hdr.fence_id;
        out.ctx_id = r.hdr.ctx_id;
    }
    memcpy(resp, &out, sizeof(out));
    return (long)virtq_elem_write(elem, 0, resp, resp_len);
}

/* ---- Cursor queue ------------------------------------------------------------------------- */

static void cursor_request(struct virtio_gpu *gpu, const struct virtq_elem *elem)
{
    struct gpu_cursor_cmd c;
    /* guest-controlled: the whole command is there */
    if (virtq_elem_read(elem, 0, &c, sizeof(c)) != sizeof(c)) {
        virtio_dev_set_error(&gpu->vdev, "virtio-gpu: cursor command of %llu bytes",
                             (unsigned long long)elem->rd_len);
        return;
    }
    gpu->commands++;
    if (c.scanout_id != 0 ||
        (c.hdr.type != VIRTIO_GPU_CMD_UPDATE_CURSOR && c.hdr.type != VIRTIO_GPU_CMD_MOVE_CURSOR)) {
        gpu->errors++; /* the cursor queue has no responses: counted only */
        gpu->last_error = c.hdr.type;
        return;
    }
    gpu->cursor_x = c.x;
    gpu->cursor_y = c.y;
    if (c.hdr.type == VIRTIO_GPU_CMD_MOVE_CURSOR) {
        gpu->cursor_updates++;
        return;
    }
    if (c.resource_id == 0) {
        gpu->cursor_visible = false;
        gpu->cursor_res = 0;
        gpu->cursor_updates++;
        return;
    }
    struct virtio_gpu_res *res = gpu_res_find(gpu, c.resource_id);
    /* guest-controlled: at most 64 x 64, hot spot inside */
    if (!res || res->width > VIRTIO_GPU_CURSOR_SIZE || res->height > VIRTIO_GPU_CURSOR_SIZE ||
        c.hot_x >= res->width || c.hot_y >= res->height) {
        gpu->errors++;
        gpu->last_error = c.hdr.type;
        return;
    }
    memset(gpu->cursor_image, 0, sizeof(gpu->cursor_image));
    for (uint32_t y = 0; y < res->height; y++) {
        for (uint32_t x = 0; x < res->width; x++) {
            const uint8_t *p = res->data + ((size_t)y * res->width + x) * 4;
            /* alpha is the byte no colour uses: 0+1+2+3 minus the three */
            unsigned ai = 6u - res->rgb[0] - res->rgb[1] - res->rgb[2];
            gpu->cursor_image[y * VIRTIO_GPU_CURSOR_SIZE + x] =
                (uint32_t)p[ai] << 24 | (uint32_t)p[res->rgb[0]] << 16 |
                (uint32_t)p[res->rgb[1]] << 8 | p[res->rgb[2]];
        }
    }
    gpu->cursor_res = c.resource_id;
    gpu->cursor_hot_x = c.hot_x;
    gpu->cursor_hot_y = c.hot_y;
    gpu->cursor_visible = true;
    gpu->cursor_updates++;
}

/* ---- virtio ops ---------------------------------------------------------------------------- */

static void gpu_queue_notify(void *opaque, unsigned q)
{
    struct virtio_gpu *gpu = opaque;
    struct virtqueue *vq = &gpu->vdev.vqs[q];
    struct virtq_elem elem = {
        .rd = gpu->rd_iov,
        .rd_max = VIRTIO_GPU_MAX_IOV,
        .wr = gpu->wr_iov,
        .wr_max = VIRTIO_GPU_MAX_IOV,
    };
    bool pushed = false;
    if (q != VIRTIO_GPU_CTRLQ && q != VIRTIO_GPU_CURSORQ) {
        return;
    }
    while (virtqueue_pop(vq, &elem) > 0) {
        long n = 0;
        if (q == VIRTIO_GPU_CTRLQ) {
            n = ctrl_request(gpu, &elem);
        } else {
            cursor_request(gpu, &elem);
        }
        virtqueue_push(vq, &elem, n < 0 ? 0 : (uint32_t)n);
        pushed = true;
        if (n < 0) {
            break; /* NEEDS_RESET: the queue stops here */
        }
    }
    if (pushed) {
        virtio_dev_notify_queue(&gpu->vdev, q);
    }
}

static uint64_t gpu_config_read(void *opaque, uint32_t off, unsigned size)
{
    struct virtio_gpu *gpu = opaque;
    uint32_t cfg[4] = {gpu->events_read, 0, 1,
                       0}; /* events_read, events_clear, scanouts, capsets */
    uint64_t v = 0;
    memcpy(&v, (const uint8_t *)cfg + off, size);
    return v;
}

static void gpu_config_write(void *opaque, uint32_t off, uint64_t val, unsigned size)
{
    struct virtio_gpu *gpu = opaque;
    if (off == 4 && size == 4) { /* events_clear: write 1 to clear */
        gpu->events_read &= ~(uint32_t)val;
    }
}

static void gpu_reset(void *opaque)
{
    struct virtio_gpu *gpu = opaque;
    for (unsigned i = 0; i < VIRTIO_GPU_MAX_RESOURCES; i++) {
        if (gpu->res[i].id) {
            gpu_res_free(gpu, &gpu->res[i]);
        }
    }
    gpu_scanout_disable(gpu);
    gpu->events_read = 0;
    gpu->cursor_res = 0;
    gpu->cursor_visible = false;
}

static const struct virtio_ops gpu_ops = {
    .name = "virtio-gpu",
    .device_id = VIRTIO_ID_GPU,
    .config_size = VIRTIO_GPU_CONFIG_SIZE,
    .config_read = gpu_config_read,
    .config_write = gpu_config_write,
    .queue_notify = gpu_queue_notify,
    .reset = gpu_reset,
};

int virtio_gpu_init(struct virtio_gpu *gpu, const struct guest_mem *mem, struct display *display,
                    unsigned width, unsigned height)
{
    memset(gpu, 0, sizeof(*gpu));
    gpu->display = display;
    gpu->pref_width = 1024;
    gpu->pref_height = 768;
    if (virtio_gpu_set_preferred_size(gpu, width, height) < 0) {
        return -EINVAL;
    }
    gpu->events_read = 0;
    return virtio_dev_init(&gpu->vdev, &gpu_ops, gpu, mem, VIRTIO_F_BIT(VIRTIO_GPU_F_EDID), 2,
                           VIRTIO_GPU_QUEUE_SIZE);
}

void virtio_gpu_destroy(struct virtio_gpu *gpu)
{
    for (unsigned i = 0; i < VIRTIO_GPU_MAX_RESOURCES; i++) {
        if (gpu->res[i].id) {
            gpu_res_free(gpu, &gpu->res[i]);
        }
    }
}

int virtio_gpu_set_preferred_size(struct virtio_gpu *gpu, unsigned width, unsigned height)
{
    if (width == 0 || height == 0 || width > 4095 || height > 4095 || width > DISPLAY_MAX_WIDTH ||
        height > DISPLAY_MAX_HEIGHT) {
        return -EINVAL;
    }
    if (width == gpu->pref_width && height == gpu->pref_height) {
        return 0;
    }
    gpu->pref_width = width;
    gpu->pref_height = height;
    gpu->events_read |= VIRTIO_GPU_EVENT_DISPLAY;
    if (gpu->vdev.ops) {
        virtio_dev_config_changed(&gpu->vdev);
    }
    return 0;
}
