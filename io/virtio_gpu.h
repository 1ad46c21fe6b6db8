/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * virtio-gpu, 2D only (virtio 1.x 5.7, device id 16): host-side resources filled from guest
 * backing pages by TRANSFER_TO_HOST_2D, one scanout shown on a display surface
 * (display/surface.h) when the guest flushes, EDID and display info with a preferred mode
 * the host can change (a display event), and the cursor queue. docs/display.md.
 */
#ifndef DESKVM_IO_VIRTIO_GPU_H
#define DESKVM_IO_VIRTIO_GPU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "io/virtio.h"

struct device;
struct display;
struct guest_mem;

#define VIRTIO_ID_GPU 16
#define VIRTIO_GPU_F_EDID 1

/* Queues. */
#define VIRTIO_GPU_CTRLQ 0
#define VIRTIO_GPU_CURSORQ 1
#define VIRTIO_GPU_QUEUE_SIZE 256

/* Commands and responses (5.7.6.7). */
#define VIRTIO_GPU_CMD_GET_DISPLAY_INFO 0x0100
#define VIRTIO_GPU_CMD_RESOURCE_CREATE_2D 0x0101
#define VIRTIO_GPU_CMD_RESOURCE_UNREF 0x0102
#define VIRTIO_GPU_CMD_SET_SCANOUT 0x0103
#define VIRTIO_GPU_CMD_RESOURCE_FLUSH 0x0104
#define VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D 0x0105
#define VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING 0x0106
#define VIRTIO_GPU_CMD_RESOURCE_DETACH_BACKING 0x0107
#define VIRTIO_GPU_CMD_GET_CAPSET_INFO 0x0108
#define VIRTIO_GPU_CMD_GET_CAPSET 0x0109
#define VIRTIO_GPU_CMD_GET_EDID 0x010a
#define VIRTIO_GPU_CMD_UPDATE_CURSOR 0x0300
#define VIRTIO_GPU_CMD_MOVE_CURSOR 0x0301
#define VIRTIO_GPU_RESP_OK_NODATA 0x1100
#define VIRTIO_GPU_RESP_OK_DISPLAY_INFO 0x1101
#define VIRTIO_GPU_RESP_OK_EDID 0x1104
#define VIRTIO_GPU_RESP_ERR_UNSPEC 0x1200
#define VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY 0x1201
#define VIRTIO_GPU_RESP_ERR_INVALID_SCANOUT_ID 0x1202
#define VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID 0x1203
#define VIRTIO_GPU_RESP_ERR_INVALID_CONTEXT_ID 0x1204
#define VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER 0x1205
#define VIRTIO_GPU_FLAG_FENCE 1
#define VIRTIO_GPU_EVENT_DISPLAY 1

/* Formats (5.7.6.8), the byte order of one pixel in memory in the name. */
#define VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM 1
#define VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM 2
#define VIRTIO_GPU_FORMAT_A8R8G8B8_UNORM 3
#define VIRTIO_GPU_FORMAT_X8R8G8B8_UNORM 4
#define VIRTIO_GPU_FORMAT_R8G8B8A8_UNORM 67
#define VIRTIO_GPU_FORMAT_X8B8G8R8_UNORM 68
#define VIRTIO_GPU_FORMAT_A8B8G8R8_UNORM 121
#define VIRTIO_GPU_FORMAT_R8G8B8X8_UNORM 134

#define VIRTIO_GPU_MAX_SCANOUTS 16 /* entries in the display info response */
#define VIRTIO_GPU_HDR_SIZE 24
#define VIRTIO_GPU_CONFIG_SIZE 16
#define VIRTIO_GPU_EDID_SIZE 1024 /* the response's EDID area; the block fills 128 bytes */
#define VIRTIO_GPU_CURSOR_SIZE 64

/* Limits a guest cannot pass. */
#define VIRTIO_GPU_MAX_RESOURCES 256
#define VIRTIO_GPU_MAX_HOSTMEM (256u << 20) /* bytes of all resources together */
#define VIRTIO_GPU_MAX_BACKING_ENTRIES 16384
#define VIRTIO_GPU_MAX_IOV 16

struct virtio_gpu_res {
    uint32_t id; /* 0: free slot */
    uint32_t format;
    uint32_t width, height;
    uint8_t rgb[3];        /* byte offsets of red, green and blue inside a pixel */
    uint8_t *data;         /* width * height * 4 bytes, stride width * 4 */
    struct iovec *backing; /* host views of the guest pages, each checked against RAM */
    uint64_t *backing_gpa; /* where each backing entry is in the guest (checkpoints) */
    uint32_t nbacking;
    uint64_t backing_len;
};

struct virtio_gpu_rect {
    uint32_t x, y, width, height;
};

struct virtio_gpu {
    struct virtio_dev vdev;
    struct display *display; /* scanout 0's surface */

    /* Config space. */
    uint32_t events_read;

    /* The mode the host would like (display info, EDID); changes raise a display event. */
    uint32_t pref_width, pref_height;

    /* Scanout 0. */
    uint32_t scanout_res; /* 0: disabled */
    struct virtio_gpu_rect scanout;

    /* The cursor: a copy of its image (x8r8g8b8 with alpha at 24), hot spot and position. */
    uint32_t cursor_res;
    uint32_t cursor_hot_x, cursor_hot_y;
    uint32_t cursor_x, cursor_y;
    bool cursor_visible;
    uint32_t cursor_image[VIRTIO_GPU_CURSOR_SIZE * VIRTIO_GPU_CURSOR_SIZE];
    uint64_t cursor_updates;

    struct virtio_gpu_res res[VIRTIO_GPU_MAX_RESOURCES];
    uint64_t hostmem; /* bytes held by resources */

    /* Diagnostics. */
    uint64_t commands, errors; /* errors: requests answered with RESP_ERR_* */
    uint32_t last_error;

    struct iovec rd_iov[VIRTIO_GPU_MAX_IOV];
    struct iovec wr_iov[VIRTIO_GPU_MAX_IOV];
};

/*
 * display: the surface scanout 0 is shown on (resized as the guest sets scanouts). The
 * preferred mode starts at width x height. Returns 0 or -errno.
 */
__attribute__((warn_unused_result)) int virtio_gpu_init(struct virtio_gpu *gpu,
                                                        const struct guest_mem *mem,
                                                        struct display *display, unsigned width,
                                                        unsigned height);
/* Frees the resources. Accepts a zeroed struct. */
void virtio_gpu_destroy(struct virtio_gpu *gpu);
/*
 * The host's preferred mode changed (a client resized its window): display info and EDID
 * report it and the driver gets a display event. -EINVAL for 0 or beyond 4095 (EDID limit)
 * or DISPLAY_MAX_*.
 */
int virtio_gpu_set_preferred_size(struct virtio_gpu *gpu, unsigned width, unsigned height);
/* The 128-byte EDID block for a width x height preferred mode (what GET_EDID returns). */
void virtio_gpu_edid(uint8_t edid[128], unsigned width, unsigned height);
/*
 * Snapshot sections: the common ones, then "virtio-gpu.resources" (virtio_gpu_vmstate): the
 * cursor, scanout 0 and every resource with its backing page list, validated on load.
 */
unsigned virtio_gpu_state_sections(struct virtio_gpu *gpu, struct device *out, unsigned max);
extern const struct vmstate virtio_gpu_vmstate;

#endif
