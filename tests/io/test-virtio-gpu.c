// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * virtio-gpu 2D: display info and EDID (decoded back), the preferred-mode display event,
 * resources drawn through backing pages, transfers and flushes onto the surface in every
 * format, partial transfers at an offset, every refused id, size, rectangle and backing
 * entry (answered with RESP_ERR_*, device still live), malformed requests (NEEDS_RESET),
 * the cursor queue, the host-memory bound and reset.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "display/surface.h"
#include "io/virtio_gpu.h"
#include "snapshots/vmstate.h"
#include "tests/helpers/virtq_driver.h"
#include "vmm/device.h"
#include "vmm/memory.h"

#define RAM_SIZE (4u << 20)
#define QSIZE 16
#define HEAP 0x100000u
#define FB 0x200000u /* guest framebuffer pages */
#define FEATURES (VIRTIO_F_BIT(VIRTIO_F_VERSION_1) | VIRTIO_F_BIT(VIRTIO_GPU_F_EDID))

struct fixture {
    uint8_t *ram;
    struct guest_mem mem;
    struct display d;
    struct virtio_gpu gpu;
    struct vdrv ctrl, cursor;
    unsigned config_irqs;
};

static void fake_interrupt(void *transport, unsigned kind, unsigned q)
{
    struct fixture *f = transport;
    (void)q;
    if (kind == VIRTIO_IRQ_CONFIG) {
        f->config_irqs++;
    }
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    f->ram = calloc(1, RAM_SIZE);
    assert_non_null(f->ram);
    guest_mem_init_host(&f->mem, f->ram, RAM_SIZE);
    assert_int_equal(display_init(&f->d, 640, 480), 0);
    assert_int_equal(virtio_gpu_init(&f->gpu, &f->mem, &f->d, 1024, 768), 0);
    virtio_dev_set_interrupt(&f->gpu.vdev, fake_interrupt, f);
    assert_int_equal(vdrv_negotiate(&f->gpu.vdev, FEATURES), 0);
    assert_int_equal(vdrv_setup(&f->ctrl, &f->gpu.vdev, VIRTIO_GPU_CTRLQ, f->ram, 0x1000, QSIZE,
                                HEAP, HEAP + 0x40000),
                     0);
    assert_int_equal(vdrv_setup(&f->cursor, &f->gpu.vdev, VIRTIO_GPU_CURSORQ, f->ram, 0x8000, QSIZE,
                                HEAP + 0x40000, HEAP + 0x80000),
                     0);
    assert_int_equal(vdrv_driver_ok(&f->gpu.vdev), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    virtio_gpu_destroy(&f->gpu);
    display_destroy(&f->d);
    free(f->ram);
    free(f);
    return 0;
}

/* Send a request of len bytes (a header first), read resp_len bytes back; returns resp type. */
static uint32_t cmd(struct fixture *f, const void *req, uint32_t len, void *resp, uint32_t resp_len)
{
    uint32_t lens[2] = {len, resp_len};
    uint64_t a[2];
    f->ctrl.heap = HEAP; /* one request at a time: reuse the buffers */
    uint16_t head = vdrv_chain(&f->ctrl, lens, 1, 1, a);
    memcpy(f->ram + a[0], req, len);
    memset(f->ram + a[1], 0xee, resp_len);
    vdrv_post(&f->ctrl, head);
    virtio_dev_queue_notify(&f->gpu.vdev, VIRTIO_GPU_CTRLQ);
    uint32_t id, used;
    assert_true(vdrv_get_used(&f->ctrl, &id, &used));
    assert_int_equal(id, head);
    memcpy(resp, f->ram + a[1], resp_len);
    uint32_t type;
    memcpy(&type, f->ram + a[1], 4);
    return used ? type : 0;
}

/* A command of n 32-bit words after a header of type t. */
static uint32_t cmdv(struct fixture *f, uint32_t t, unsigned n, ...)
{
    uint32_t w[6 + 16] = {t};
    va_list ap;
    va_start(ap, n);
    for (unsigned i = 0; i < n; i++) {
        w[6 + i] = va_arg(ap, uint32_t);
    }
    va_end(ap);
    uint8_t resp[VIRTIO_GPU_HDR_SIZE];
    return cmd(f, w, VIRTIO_GPU_HDR_SIZE + 4 * n, resp, sizeof(resp));
}

static uint32_t create(struct fixture *f, uint32_t id, uint32_t fmt, uint32_t w, uint32_t h)
{
    return cmdv(f, VIRTIO_GPU_CMD_RESOURCE_CREATE_2D, 4, id, fmt, w, h);
}

/* Attach n entries (addr, len pairs). */
static uint32_t attach(struct fixture *f, uint32_t id, unsigned n, const uint64_t *addr,
                       const uint32_t *len)
{
    uint8_t req[VIRTIO_GPU_HDR_SIZE + 8 + 16 * 8] = {0};
    uint32_t t = VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING;
    memcpy(req, &t, 4);
    memcpy(req + 24, &id, 4);
    memcpy(req + 28, &n, 4);
    for (unsigned i = 0; i < n; i++) {
        memcpy(req + 32 + 16 * i, &addr[i], 8);
        memcpy(req + 40 + 16 * i, &len[i], 4);
    }
    uint8_t resp[VIRTIO_GPU_HDR_SIZE];
    return cmd(f, req, 32 + 16 * n, resp, sizeof(resp));
}

static uint32_t transfer(struct fixture *f, uint32_t id, uint32_t x, uint32_t y, uint32_t w,
                         uint32_t h, uint64_t off)
{
    return cmdv(f, VIRTIO_GPU_CMD_TRANSFER_TO_HOST_2D, 8, x, y, w, h, (uint32_t)off,
                (uint32_t)(off >> 32), id, 0);
}

static uint32_t flush(struct fixture *f, uint32_t id, uint32_t x, uint32_t y, uint32_t w,
                      uint32_t h)
{
    return cmdv(f, VIRTIO_GPU_CMD_RESOURCE_FLUSH, 6, x, y, w, h, id, 0);
}

static uint32_t scanout(struct fixture *f, uint32_t sid, uint32_t id, uint32_t x, uint32_t y,
                        uint32_t w, uint32_t h)
{
    return cmdv(f, VIRTIO_GPU_CMD_SET_SCANOUT, 6, x, y, w, h, sid, id);
}

static bool live(struct fixture *f)
{
    return !(f->gpu.vdev.status & VIRTIO_STATUS_NEEDS_RESET);
}

/* The pattern pixel (x, y) as r, g, b. */
static void pattern(unsigned x, unsigned y, unsigned seed, uint8_t rgb[3])
{
    rgb[0] = (uint8_t)(x * 4 + seed);
    rgb[1] = (uint8_t)(y * 8 + seed);
    rgb[2] = (uint8_t)(x ^ y ^ seed);
}

/* Write a w x h pattern at FB in the byte order of offsets rgb (alpha byte 0x80). */
static void draw(struct fixture *f, unsigned w, unsigned h, const uint8_t off[3], unsigned seed)
{
    for (unsigned y = 0; y < h; y++) {
        for (unsigned x = 0; x < w; x++) {
            uint8_t *p = f->ram + FB + (y * w + x) * 4, c[3];
            pattern(x, y, seed, c);
            p[0] = p[1] = p[2] = p[3] = 0x80;
            p[off[0]] = c[0];
            p[off[1]] = c[1];
            p[off[2]] = c[2];
        }
    }
}

static void check_screen(struct fixture *f, unsigned x0, unsigned y0, unsigned w, unsigned h,
                         unsigned seed)
{
    for (unsigned y = y0; y < y0 + h; y++) {
        for (unsigned x = x0; x < x0 + w; x++) {
            uint8_t c[3];
            pattern(x, y, seed, c);
            uint32_t want = (uint32_t)c[0] << 16 | (uint32_t)c[1] << 8 | c[2];
            assert_int_equal(display_pixel(&f->d, x, y) & 0xffffff, want);
        }
    }
}

static void test_display_info(void **state)
{
    struct fixture *f = *state;
    uint32_t req[6] = {VIRTIO_GPU_CMD_GET_DISPLAY_INFO};
    uint32_t resp[6 + 16 * 6];
    assert_int_equal(cmd(f, req, sizeof(req), resp, sizeof(resp)), VIRTIO_GPU_RESP_OK_DISPLAY_INFO);
    assert_int_equal(resp[6 + 2], 1024);
    assert_int_equal(resp[6 + 3], 768);
    assert_int_equal(resp[6 + 4], 1);
    for (unsigned i = 1; i < 16; i++) {
        assert_int_equal(resp[6 + 6 * i + 4], 0); /* only scanout 0 */
    }
    assert_int_equal(virtio_dev_config_read(&f->gpu.vdev, 8, 4), 1);  /* num_scanouts */
    assert_int_equal(virtio_dev_config_read(&f->gpu.vdev, 12, 4), 0); /* num_capsets */
}

/* Decode the preferred mode of an EDID's first detailed timing. */
static void edid_check(const uint8_t *e, unsigned w, unsigned h)
{
    static const uint8_t header[8] = {0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0};
    assert_memory_equal(e, header, 8);
    uint8_t sum = 0;
    for (unsigned i = 0; i < 128; i++) {
        sum = (uint8_t)(sum + e[i]);
    }
    assert_int_equal(sum, 0);
    const uint8_t *t = e + 54;
    assert_true(t[0] | t[1]); /* a pixel clock: a timing, not a text descriptor */
    assert_int_equal(t[2] | (t[4] >> 4) << 8, w);
    assert_int_equal(t[5] | (t[7] >> 4) << 8, h);
    assert_int_equal(e[24] & 0x02, 0x02); /* preferred timing is native */
}

static void test_edid_and_resize_event(void **state)
{
    struct fixture *f = *state;
    uint32_t req[8] = {VIRTIO_GPU_CMD_GET_EDID, 0, 0, 0, 0, 0, 0 /* scanout */, 0};
    uint8_t resp[24 + 8 + 1024];
    assert_int_equal(cmd(f, req, sizeof(req), resp, sizeof(resp)), VIRTIO_GPU_RESP_OK_EDID);
    assert_int_equal(resp[24], 128);
    edid_check(resp + 32, 1024, 768);

    unsigned irqs = f->config_irqs;
    assert_int_equal(virtio_gpu_set_preferred_size(&f->gpu, 1280, 800), 0);
    assert_int_equal(f->config_irqs, irqs + 1);
    assert_int_equal(virtio_dev_config_read(&f->gpu.vdev, 0, 4), VIRTIO_GPU_EVENT_DISPLAY);
    assert_int_equal(cmd(f, req, sizeof(req), resp, sizeof(resp)), VIRTIO_GPU_RESP_OK_EDID);
    edid_check(resp + 32, 1280, 800);
    virtio_dev_config_write(&f->gpu.vdev, 4, VIRTIO_GPU_EVENT_DISPLAY, 4); /* events_clear */
    assert_int_equal(virtio_dev_config_read(&f->gpu.vdev, 0, 4), 0);
    assert_int_equal(virtio_gpu_set_preferred_size(&f->gpu, 4096, 800), -EINVAL);
    assert_int_equal(virtio_gpu_set_preferred_size(&f->gpu, 0, 800), -EINVAL);

    req[6] = 1; /* scanout 1 does not exist */
    assert_int_equal(cmd(f, req, sizeof(req), resp, sizeof(resp)),
                     VIRTIO_GPU_RESP_ERR_INVALID_SCANOUT_ID);
    assert_true(live(f));
}

static void test_draw_formats(void **state)
{
    struct fixture *f = *state;
    static const struct {
        uint32_t format;
        uint8_t off[3];
    } formats[] = {
        {VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, {2, 1, 0}},
        {VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM, {2, 1, 0}},
        {VIRTIO_GPU_FORMAT_X8R8G8B8_UNORM, {1, 2, 3}},
        {VIRTIO_GPU_FORMAT_A8R8G8B8_UNORM, {1, 2, 3}},
        {VIRTIO_GPU_FORMAT_R8G8B8A8_UNORM, {0, 1, 2}},
        {VIRTIO_GPU_FORMAT_R8G8B8X8_UNORM, {0, 1, 2}},
        {VIRTIO_GPU_FORMAT_A8B8G8R8_UNORM, {3, 2, 1}},
        {VIRTIO_GPU_FORMAT_X8B8G8R8_UNORM, {3, 2, 1}},
    };
    const unsigned w = 64, h = 32;
    for (unsigned i = 0; i < sizeof(formats) / sizeof(formats[0]); i++) {
        uint32_t id = 10 + i;
        assert_int_equal(create(f, id, formats[i].format, w, h), VIRTIO_GPU_RESP_OK_NODATA);
        /* Three entries split at odd places, so rows straddle them. */
        uint64_t addr[3] = {FB, FB + 1001, FB + 5000};
        uint32_t len[3] = {1001, 3999, w * h * 4 - 5000};
        assert_int_equal(attach(f, id, 3, addr, len), VIRTIO_GPU_RESP_OK_NODATA);
        draw(f, w, h, formats[i].off, i);
        assert_int_equal(scanout(f, 0, id, 0, 0, w, h), VIRTIO_GPU_RESP_OK_NODATA);
        assert_int_equal(f->d.width, w);
        assert_int_equal(f->d.height, h);
        assert_int_equal(transfer(f, id, 0, 0, w, h, 0), VIRTIO_GPU_RESP_OK_NODATA);
        assert_int_equal(flush(f, id, 0, 0, w, h), VIRTIO_GPU_RESP_OK_NODATA);
        check_screen(f, 0, 0, w, h, i);
    }
    /* A partial transfer at an offset changes only its rectangle, after a flush. */
    uint32_t id = 10;
    draw(f, w, h, formats[0].off, 99);
    uint64_t off = 4 * (w * 4) + 8 * 4;
    assert_int_equal(scanout(f, 0, id, 0, 0, w, h), VIRTIO_GPU_RESP_OK_NODATA);
    check_screen(f, 0, 0, w, h, 0);
    assert_int_equal(transfer(f, id, 8, 4, 16, 5, off), VIRTIO_GPU_RESP_OK_NODATA);
    check_screen(f, 0, 0, w, h, 0); /* nothing shows before the flush */
    assert_int_equal(flush(f, id, 0, 0, w, h), VIRTIO_GPU_RESP_OK_NODATA);
    check_screen(f, 8, 4, 16, 5, 99);
    check_screen(f, 0, 0, w, 4, 0);
    check_screen(f, 24, 4, w - 24, 5, 0);
    check_screen(f, 0, 9, w, h - 9, 0);
    /* A scanout on part of a resource shows that part at the surface origin. */
    assert_int_equal(scanout(f, 0, 11, 16, 8, 32, 16), VIRTIO_GPU_RESP_OK_NODATA);
    assert_int_equal(f->d.width, 32);
    uint8_t c[3];
    pattern(16, 8, 1, c);
    assert_int_equal(display_pixel(&f->d, 0, 0) & 0xffffff,
                     (uint32_t)c[0] << 16 | (uint32_t)c[1] << 8 | c[2]);
    /* Flushing another resource leaves the screen alone. */
    uint32_t before = display_pixel(&f->d, 0, 0);
    assert_int_equal(flush(f, 12, 0, 0, w, h), VIRTIO_GPU_RESP_OK_NODATA);
    assert_int_equal(display_pixel(&f->d, 0, 0), before);
    /* Unref of the scanout resource blanks it. */
    assert_int_equal(cmdv(f, VIRTIO_GPU_CMD_RESOURCE_UNREF, 2, 11, 0), VIRTIO_GPU_RESP_OK_NODATA);
    assert_int_equal(f->gpu.scanout_res, 0);
    assert_int_equal(display_pixel(&f->d, 0, 0), 0);
    assert_int_equal(f->gpu.errors, 0);
    assert_true(live(f));
}

static void test_refused(void **state)
{
    struct fixture *f = *state;
    const uint32_t X = VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM;
    assert_int_equal(create(f, 0, X, 8, 8), VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);
    assert_int_equal(create(f, 1, X, 8, 8), VIRTIO_GPU_RESP_OK_NODATA);
    assert_int_equal(create(f, 1, X, 8, 8), VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);
    assert_int_equal(create(f, 2, 5, 8, 8), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
    assert_int_equal(create(f, 2, X, 0, 8), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
    assert_int_equal(create(f, 2, X, 8, 0), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
    assert_int_equal(create(f, 2, X, 16385, 1), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
    assert_int_equal(create(f, 2, X, 0xffffffff, 0xffffffff),
                     VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
    assert_int_equal(create(f, 2, X, 16384, 16384), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);

    /* Backing: unknown resource, no entries, too many, outside RAM, empty, wrapping. */
    uint64_t addr[2] = {FB, RAM_SIZE - 16};
    uint32_t len[2] = {256, 32};
    assert_int_equal(attach(f, 9, 1, addr, len), VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);
    assert_int_equal(attach(f, 1, 0, addr, len), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
    assert_int_equal(attach(f, 1, 2, addr, len), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
    uint64_t wrap[1] = {~0ull - 8};
    assert_int_equal(attach(f, 1, 1, wrap, len), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
    uint32_t zero[1] = {0};
    assert_int_equal(attach(f, 1, 1, addr, zero), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
    assert_null(f->gpu.res[0].backing);

    /* Transfer: no backing yet, then rectangles and offsets that do not fit. */
    assert_int_equal(transfer(f, 1, 0, 0, 8, 8, 0), VIRTIO_GPU_RESP_ERR_UNSPEC);
    assert_int_equal(attach(f, 1, 1, addr, len), VIRTIO_GPU_RESP_OK_NODATA);
    assert_int_equal(attach(f, 1, 1, addr, len), VIRTIO_GPU_RESP_ERR_UNSPEC); /* already */
    assert_int_equal(transfer(f, 1, 0, 0, 8, 8, 0), VIRTIO_GPU_RESP_OK_NODATA);
    assert_int_equal(transfer(f, 7, 0, 0, 8, 8, 0), VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);
    assert_int_equal(transfer(f, 1, 1, 0, 8, 8, 0), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
    assert_int_equal(transfer(f, 1, 0, 0, 8, 9, 0), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
    assert_int_equal(transfer(f, 1, 0xffffffff, 0, 2, 1, 0), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
    assert_int_equal(transfer(f, 1, 0, 0, 0, 8, 0), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
    assert_int_equal(transfer(f, 1, 0, 0, 8, 8, 4), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
    assert_int_equal(transfer(f, 1, 0, 0, 1, 1, ~0ull - 2), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
    assert_int_equal(transfer(f, 1, 0, 7, 8, 1, 7 * 32), VIRTIO_GPU_RESP_OK_NODATA);

    /* Scanouts and flushes. */
    assert_int_equal(scanout(f, 1, 1, 0, 0, 8, 8), VIRTIO_GPU_RESP_ERR_INVALID_SCANOUT_ID);
    assert_int_equal(scanout(f, 0, 5, 0, 0, 8, 8), VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);
    assert_int_equal(scanout(f, 0, 1, 0, 0, 9, 8), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
    assert_int_equal(scanout(f, 0, 1, 4, 4, 0xfffffffe, 8), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
    assert_int_equal(scanout(f, 0, 1, 0, 0, 0, 0), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
    assert_int_equal(flush(f, 5, 0, 0, 8, 8), VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);
    assert_int_equal(flush(f, 1, 0, 0, 8, 0x7fffffff), VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
    assert_int_equal(cmdv(f, VIRTIO_GPU_CMD_RESOURCE_UNREF, 2, 5, 0),
                     VIRTIO_GPU_RESP_ERR_INVALID_RESOURCE_ID);
    assert_int_equal(cmdv(f, VIRTIO_GPU_CMD_RESOURCE_DETACH_BACKING, 2, 1, 0),
                     VIRTIO_GPU_RESP_OK_NODATA);
    assert_int_equal(cmdv(f, VIRTIO_GPU_CMD_RESOURCE_DETACH_BACKING, 2, 1, 0),
                     VIRTIO_GPU_RESP_ERR_UNSPEC);
    assert_int_equal(cmdv(f, VIRTIO_GPU_CMD_GET_CAPSET_INFO, 2, 0, 0),
                     VIRTIO_GPU_RESP_ERR_INVALID_PARAMETER);
    assert_int_equal(cmdv(f, 0x0200 /* CTX_CREATE: 3D */, 2, 1, 0), VIRTIO_GPU_RESP_ERR_UNSPEC);

    /* A fenced request gets its fence back. */
    uint32_t req[8] = {
        VIRTIO_GPU_CMD_RESOURCE_UNREF, VIRTIO_GPU_FLAG_FENCE, 0x1234, 0x5678, 0, 0, 1, 0};
    uint32_t resp[6];
    assert_int_equal(cmd(f, req, sizeof(req), resp, sizeof(resp)), VIRTIO_GPU_RESP_OK_NODATA);
    assert_int_equal(resp[1], VIRTIO_GPU_FLAG_FENCE);
    assert_int_equal(resp[2] | (uint64_t)resp[3] << 32, 0x567800001234ull);
    assert_int_equal(f->gpu.hostmem, 0);
    assert_true(f->gpu.errors > 20);
    assert_true(live(f));
}

static void test_hostmem_bound(void **state)
{
    struct fixture *f = *state;
    const uint32_t X = VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM;
    unsigned n = VIRTIO_GPU_MAX_HOSTMEM / (4096u * 4096 * 4);
    for (unsigned i = 0; i < n; i++) {
        assert_int_equal(create(f, 100 + i, X, 4096, 4096), VIRTIO_GPU_RESP_OK_NODATA);
    }
    assert_int_equal(create(f, 200, X, 16, 16), VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY);
    assert_int_equal(cmdv(f, VIRTIO_GPU_CMD_RESOURCE_UNREF, 2, 100, 0), VIRTIO_GPU_RESP_OK_NODATA);
    assert_int_equal(create(f, 200, X, 16, 16), VIRTIO_GPU_RESP_OK_NODATA);
    /* The resource table is bounded too. */
    for (unsigned i = 0; i < VIRTIO_GPU_MAX_RESOURCES; i++) {
        create(f, 1000 + i, X, 1, 1);
    }
    assert_int_equal(create(f, 5000, X, 1, 1), VIRTIO_GPU_RESP_ERR_OUT_OF_MEMORY);
    /* Reset frees everything. */
    virtio_dev_reset(&f->gpu.vdev);
    assert_int_equal(f->gpu.hostmem, 0);
    for (unsigned i = 0; i < VIRTIO_GPU_MAX_RESOURCES; i++) {
        assert_int_equal(f->gpu.res[i].id, 0);
    }
}

static void test_malformed(void **state)
{
    struct fixture *f = *state;
    /* A create command cut short: the driver is broken, the device needs a reset. */
    uint32_t req[10] = {VIRTIO_GPU_CMD_RESOURCE_CREATE_2D, 0, 0, 0, 0, 0, 1, 2, 8, 8};
    uint32_t resp[6];
    cmd(f, req, 24 + 8, resp, sizeof(resp));
    assert_false(live(f));
    assert_int_equal(f->gpu.hostmem, 0);
}

static void test_short_response(void **state)
{
    struct fixture *f = *state;
    uint32_t req[6] = {VIRTIO_GPU_CMD_GET_DISPLAY_INFO};
    uint32_t resp[6];
    cmd(f, req, sizeof(req), resp, sizeof(resp)); /* display info needs 408 bytes */
    assert_false(live(f));
}

static void test_entries_short(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(create(f, 1, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, 8, 8),
                     VIRTIO_GPU_RESP_OK_NODATA);
    uint32_t req[8] = {VIRTIO_GPU_CMD_RESOURCE_ATTACH_BACKING, 0, 0, 0, 0, 0, 1, 1000};
    uint32_t resp[6];
    cmd(f, req, sizeof(req), resp, sizeof(resp)); /* 1000 entries announced, none sent */
    assert_false(live(f));
    assert_null(f->gpu.res[0].backing);
}

static void cursor_cmd(struct fixture *f, uint32_t type, uint32_t x, uint32_t y, uint32_t id,
                       uint32_t hx, uint32_t hy)
{
    uint32_t w[14] = {type, 0, 0, 0, 0, 0, 0, x, y, 0, id, hx, hy, 0};
    uint32_t len = sizeof(w);
    uint64_t a;
    f->cursor.heap = HEAP + 0x40000;
    uint16_t head = vdrv_chain(&f->cursor, &len, 1, 0, &a);
    memcpy(f->ram + a, w, sizeof(w));
    vdrv_post(&f->cursor, head);
    virtio_dev_queue_notify(&f->gpu.vdev, VIRTIO_GPU_CURSORQ);
    uint32_t id2, used;
    assert_true(vdrv_get_used(&f->cursor, &id2, &used));
}

static void test_cursor(void **state)
{
    struct fixture *f = *state;
    const uint8_t bgra[3] = {2, 1, 0};
    assert_int_equal(create(f, 3, VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM, 64, 64),
                     VIRTIO_GPU_RESP_OK_NODATA);
    uint64_t addr[1] = {FB};
    uint32_t len[1] = {64 * 64 * 4};
    assert_int_equal(attach(f, 3, 1, addr, len), VIRTIO_GPU_RESP_OK_NODATA);
    draw(f, 64, 64, bgra, 5);
    assert_int_equal(transfer(f, 3, 0, 0, 64, 64, 0), VIRTIO_GPU_RESP_OK_NODATA);
    cursor_cmd(f, VIRTIO_GPU_CMD_UPDATE_CURSOR, 100, 50, 3, 2, 3);
    assert_true(f->gpu.cursor_visible);
    assert_int_equal(f->gpu.cursor_hot_x, 2);
    assert_int_equal(f->gpu.cursor_hot_y, 3);
    uint8_t c[3];
    pattern(7, 9, 5, c);
    assert_int_equal(f->gpu.cursor_image[9 * 64 + 7],
                     0x80000000u | (uint32_t)c[0] << 16 | (uint32_t)c[1] << 8 | c[2]);
    cursor_cmd(f, VIRTIO_GPU_CMD_MOVE_CURSOR, 300, 200, 0, 0, 0);
    assert_int_equal(f->gpu.cursor_x, 300);
    assert_int_equal(f->gpu.cursor_y, 200);
    assert_true(f->gpu.cursor_visible);
    /* Bad hot spot, unknown resource, too big: counted, the cursor stays. */
    uint64_t errs = f->gpu.errors;
    cursor_cmd(f, VIRTIO_GPU_CMD_UPDATE_CURSOR, 0, 0, 3, 64, 0);
    cursor_cmd(f, VIRTIO_GPU_CMD_UPDATE_CURSOR, 0, 0, 77, 0, 0);
    assert_int_equal(create(f, 4, VIRTIO_GPU_FORMAT_B8G8R8A8_UNORM, 65, 1),
                     VIRTIO_GPU_RESP_OK_NODATA);
    cursor_cmd(f, VIRTIO_GPU_CMD_UPDATE_CURSOR, 0, 0, 4, 0, 0);
    assert_int_equal(f->gpu.errors, errs + 3);
    assert_int_equal(f->gpu.cursor_res, 3);
    cursor_cmd(f, VIRTIO_GPU_CMD_UPDATE_CURSOR, 0, 0, 0, 0, 0);
    assert_false(f->gpu.cursor_visible);
    assert_true(live(f));
}

static void test_state_sections(void **state)
{
    struct fixture *f = *state;
    struct device dev[8];
    unsigned n = virtio_gpu_state_sections(&f->gpu, dev, 8);
    assert_int_equal(n, 4); /* common, two queues, the resources */
    assert_ptr_equal(dev[3].state, &virtio_gpu_vmstate);
    assert_string_equal(dev[3].name, "virtio-gpu.resources");
}

/* Where the tail starts in a saved virtio-gpu.resources section (after the cursor fields). */
#define TAIL (8 + 4 + 16 + 1 + VIRTIO_GPU_CURSOR_SIZE * VIRTIO_GPU_CURSOR_SIZE * 4)

static void same_gpu(struct fixture *f, struct virtio_gpu *g, struct display *d)
{
    assert_int_equal(g->scanout_res, f->gpu.scanout_res);
    assert_memory_equal(&g->scanout, &f->gpu.scanout, sizeof(g->scanout));
    assert_int_equal(g->cursor_res, f->gpu.cursor_res);
    assert_int_equal(g->hostmem, f->gpu.hostmem);
    for (unsigned i = 0; i < VIRTIO_GPU_MAX_RESOURCES; i++) {
        const struct virtio_gpu_res *a = &f->gpu.res[i], *b = &g->res[i];
        assert_int_equal(a->id, b->id);
        if (a->id) {
            assert_true(a->width == b->width && a->height == b->height && a->format == b->format &&
                        a->nbacking == b->nbacking && a->backing_len == b->backing_len);
            assert_memory_equal(a->data, b->data, (size_t)a->width * a->height * 4);
        }
    }
    assert_true(d->width == f->d.width && d->height == f->d.height);
    for (unsigned y = 0; y < d->height; y++) {
        for (unsigned x = 0; x < d->width; x++) {
            assert_int_equal(display_pixel(d, x, y), display_pixel(&f->d, x, y));
        }
    }
}

/*
 * Resources, scanout and cursor survive save -> load into a fresh device on the same RAM, the
 * host copy's rows that differ from the backing included; a second save gives the same bytes;
 * hostile ids, sizes, addresses and scanouts are refused and leave the device as it was.
 */
static void test_state_roundtrip(void **state)
{
    struct fixture *f = *state;
    const unsigned w = 64, h = 32;
    static const uint8_t bgrx[3] = {2, 1, 0};
    assert_int_equal(create(f, 10, VIRTIO_GPU_FORMAT_B8G8R8X8_UNORM, w, h),
                     VIRTIO_GPU_RESP_OK_NODATA);
    uint64_t addr[3] = {FB, FB + 1001, FB + 5000};
    uint32_t len[3] = {1001, 3999, w * h * 4 - 5000};
    assert_int_equal(attach(f, 10, 3, addr, len), VIRTIO_GPU_RESP_OK_NODATA);
    draw(f, w, h, bgrx, 3);
    assert_int_equal(scanout(f, 0, 10, 8, 4, 40, 20), VIRTIO_GPU_RESP_OK_NODATA);
    assert_int_equal(transfer(f, 10, 0, 0, w, h, 0), VIRTIO_GPU_RESP_OK_NODATA);
    /* Rows 10..12 change in RAM after the transfer: the host copy keeps the old rows. */
    memset(f->ram + FB + 10 * w * 4, 0x5a, 3 * w * 4);
    assert_int_equal(flush(f, 10, 0, 0, w, h), VIRTIO_GPU_RESP_OK_NODATA);
    assert_int_equal(create(f, 20, VIRTIO_GPU_FORMAT_R8G8B8A8_UNORM, 7, 5),
                     VIRTIO_GPU_RESP_OK_NODATA); /* no backing */
    f->gpu.cursor_res = 20;
    f->gpu.cursor_x = 33;
    f->gpu.cursor_visible = true;

    size_t n = vmstate_saved_size(&virtio_gpu_vmstate, &f->gpu);
    /* fields, header, two resources, three entries, three changed rows of 256 bytes */
    assert_int_equal(n, TAIL + 28 + 2 * 24 + 3 * 16 + 3 * (4 + w * 4));
    uint8_t *buf = malloc(n), *again = malloc(n);
    assert_int_equal(vmstate_save(&virtio_gpu_vmstate, &f->gpu, buf, n), (long)n);

    struct display d2;
    struct virtio_gpu *g = calloc(1, sizeof(*g));
    assert_int_equal(display_init(&d2, 640, 480), 0);
    assert_int_equal(virtio_gpu_init(g, &f->mem, &d2, 1024, 768), 0);
    assert_int_equal(vmstate_check_state(&virtio_gpu_vmstate, g, buf, n), 0);
    assert_int_equal(vmstate_load(&virtio_gpu_vmstate, g, buf, n), 0);
    same_gpu(f, g, &d2);
    assert_int_equal(g->cursor_x, 33);
    assert_true(g->cursor_visible);
    assert_int_equal(vmstate_save(&virtio_gpu_vmstate, g, again, n), (long)n);
    assert_memory_equal(buf, again, n);

    /* Hostile states: check and load refuse, g stays what it was. */
    static const struct {
        size_t off;
        uint32_t val;
    } bad[] = {
        {TAIL + 0, 99},                 /* scanout on a resource that is not there */
        {TAIL + 12, 60},                /* scanout rectangle past the resource */
        {TAIL + 20, 77},                /* cursor resource that is not there */
        {TAIL + 24, 257},               /* more resources than the device has */
        {TAIL + 28 + 0, 0},             /* resource id 0 */
        {TAIL + 28 + 4, 12345},         /* unknown format */
        {TAIL + 28 + 8, 1u << 20},      /* width beyond the limit */
        {TAIL + 28 + 16, 4},            /* more entries than saved */
        {TAIL + 28 + 20, 33},           /* more rows than the height */
        {TAIL + 28 + 24 + 4, 0x7fffff}, /* backing address past RAM (high half) */
        {TAIL + 28 + 24 + 8, 0},        /* empty backing entry */
        {TAIL + 28 + 72, 12},           /* changed rows out of order */
        {TAIL + 28 + 72, 40},           /* changed row past the height */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        memcpy(again, buf, n);
        memcpy(again + bad[i].off, &bad[i].val, 4);
        assert_int_equal(vmstate_check_state(&virtio_gpu_vmstate, g, again, n), -EINVAL);
        assert_int_equal(vmstate_load(&virtio_gpu_vmstate, g, again, n), -EINVAL);
        same_gpu(f, g, &d2);
    }
    /* Second resource's id equal to the first. */
    size_t second = TAIL + 28 + 24 + 3 * 16 + 3 * (4 + w * 4);
    memcpy(again, buf, n);
    memcpy(again + second, "\x0a\0\0\0", 4);
    assert_int_equal(vmstate_load(&virtio_gpu_vmstate, g, again, n), -EINVAL);
    /* Trailing bytes and a cut-short tail. */
    uint8_t *longer = calloc(1, n + 4);
    memcpy(longer, buf, n);
    uint32_t payload = (uint32_t)(n + 4 - 8);
    memcpy(longer + 4, &payload, 4);
    assert_int_equal(vmstate_load(&virtio_gpu_vmstate, g, longer, n + 4), -EINVAL);
    payload = (uint32_t)(n - 8 - 10);
    memcpy(longer, buf, n);
    memcpy(longer + 4, &payload, 4);
    assert_int_equal(vmstate_load(&virtio_gpu_vmstate, g, longer, n - 10), -EINVAL);
    same_gpu(f, g, &d2);
    free(longer);
    free(buf);
    free(again);
    virtio_gpu_destroy(g);
    free(g);
    display_destroy(&d2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_display_info, setup, teardown),
        cmocka_unit_test_setup_teardown(test_edid_and_resize_event, setup, teardown),
        cmocka_unit_test_setup_teardown(test_draw_formats, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hostmem_bound, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_short_response, setup, teardown),
        cmocka_unit_test_setup_teardown(test_entries_short, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cursor, setup, teardown),
        cmocka_unit_test_setup_teardown(test_state_sections, setup, teardown),
        cmocka_unit_test_setup_teardown(test_state_roundtrip, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
