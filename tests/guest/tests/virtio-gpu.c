// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * virtio-gpu: finds the virtio-gpu function (1af4:1050), reads the display info and the EDID
 * (header and checksum), creates a 320x200 B8G8R8X8 resource, attaches a framebuffer in guest
 * RAM as its backing, sets it as scanout 0, draws a known pattern, transfers and flushes it,
 * then redraws one rectangle with a transfer at an offset. Refused requests (a duplicate
 * resource id, a rectangle outside the resource, scanout 1) must get RESP_ERR_* without
 * breaking the device. The same ELF runs on QEMU with -device virtio-gpu-pci;
 * tests/integration/test-virtio-gpu-display.py checks the picture pixel by pixel.
 *
 * interactive=1: after drawing, read evdev events from the virtio keyboard and tablet
 * (deskvm's --display virtio-gpu adds them) and print them until a key is released and a
 * pointer report arrives, for at most input_s=N seconds (60).
 */
#include "guest.h"
#include "virtio_guest.h"

#define VIRTIO_ID_GPU 16
#define VIRTIO_ID_INPUT 18
#define W 320
#define H 200
#define RES_ID 7

#define CMD_GET_DISPLAY_INFO 0x0100
#define CMD_RESOURCE_CREATE_2D 0x0101
#define CMD_SET_SCANOUT 0x0103
#define CMD_RESOURCE_FLUSH 0x0104
#define CMD_TRANSFER_TO_HOST_2D 0x0105
#define CMD_RESOURCE_ATTACH_BACKING 0x0106
#define CMD_GET_EDID 0x010a
#define RESP_OK_NODATA 0x1100
#define RESP_OK_DISPLAY_INFO 0x1101
#define RESP_OK_EDID 0x1104
#define RESP_ERR_INVALID_SCANOUT_ID 0x1202
#define RESP_ERR_INVALID_RESOURCE_ID 0x1203
#define RESP_ERR_INVALID_PARAMETER 0x1205
#define FORMAT_B8G8R8X8 2
#define FORMAT_B8G8R8A8 1
#define CMD_UPDATE_CURSOR 0x0300
#define CMD_MOVE_CURSOR 0x0301
#define CUR_ID 8
#define CUR_W 32 /* the cursor resource: CUR_W x CUR_W, hot spot (3, 5) */

static struct vq_mem ring __attribute__((aligned(4096)));
static struct vq_mem kbd_ring __attribute__((aligned(4096)));
static struct vq_mem tab_ring __attribute__((aligned(4096)));
static struct vq_mem cursor_ring __attribute__((aligned(4096)));
static uint32_t fb[W * H] __attribute__((aligned(4096)));
static uint32_t cursor_img[CUR_W * CUR_W] __attribute__((aligned(4096)));
static uint32_t creq[14] __attribute__((aligned(64)));
static uint32_t req[64] __attribute__((aligned(64)));
static uint32_t resp[(24 + 8 + 1024) / 4] __attribute__((aligned(64)));
static uint8_t kbd_ev[16][8] __attribute__((aligned(64)));
static uint8_t tab_ev[16][8] __attribute__((aligned(64)));

/* The pattern the integration test recomputes: x8r8g8b8. */
static uint32_t pattern(unsigned x, unsigned y, unsigned pass)
{
    if (pass && x >= 40 && x < 120 && y >= 30 && y < 80) {
        return 0x00ff8000; /* the rectangle redrawn by the second transfer */
    }
    if (x >= 200 && x < 260 && y >= 100 && y < 150) {
        return 0x00ffffff;
    }
    return (x * 255 / (W - 1)) << 16 | (y * 255 / (H - 1)) << 8 | ((x ^ y) & 0xff);
}

/* Send req (len bytes), wait for the answer (resp_len bytes); returns the response type. */
static uint32_t gpu_cmd(struct vq *vq, uint32_t len, uint32_t resp_len)
{
    struct vq_buf b[2] = {{req, len, false}, {resp, resp_len, true}};
    uint16_t head = vq_post_chain(vq, vq->next_desc, b, 2);
    vq->next_desc = (uint16_t)((vq->next_desc + 2) % vq->size);
    vq_kick(vq);
    uint32_t id, used;
    CHECK(vq_poll(vq, &id, &used, 5000), "command %#x not answered", req[0]);
    CHECK(id == head && used >= 24, "used id %u len %u", id, used);
    return resp[0];
}

static void hdr(uint32_t type)
{
    memset(req, 0, sizeof(req));
    memset(resp, 0, sizeof(resp));
    req[0] = type;
}

static uint32_t cmd_rect(struct vq *vq, uint32_t type, uint32_t x, uint32_t y, uint32_t w,
                         uint32_t h, uint32_t a, uint32_t b, uint32_t c)
{
    hdr(type);
    req[6] = x;
    req[7] = y;
    req[8] = w;
    req[9] = h;
    req[10] = a;
    req[11] = b;
    req[12] = c;
    return gpu_cmd(vq, type == CMD_TRANSFER_TO_HOST_2D ? 56 : 48, 24);
}

/* The cursor queue has no responses: wait for the buffer to come back. */
static void cursor_cmd(struct vq *cq, uint32_t type, uint32_t x, uint32_t y, uint32_t res,
                       uint32_t hot_x, uint32_t hot_y)
{
    memset(creq, 0, sizeof(creq));
    creq[0] = type;
    creq[7] = x;
    creq[8] = y;
    creq[10] = res;
    creq[11] = hot_x;
    creq[12] = hot_y;
    struct vq_buf b[1] = {{creq, sizeof(creq), false}};
    uint16_t head = vq_post_chain(cq, cq->next_desc, b, 1);
    cq->next_desc = (uint16_t)((cq->next_desc + 1) % cq->size);
    vq_kick(cq);
    uint32_t id, used;
    CHECK(vq_poll(cq, &id, &used, 5000) && id == head, "cursor command %#x not returned", type);
}

/* A triangle below the diagonal, red rising with x and green with y; transparent above. */
static uint32_t cursor_pixel(unsigned x, unsigned y)
{
    return x < y ? 0xff000040u | (x * 8) << 16 | (y * 8) << 8 : 0;
}

static void draw_all(unsigned pass)
{
    for (unsigned y = 0; y < H; y++) {
        for (unsigned x = 0; x < W; x++) {
            fb[y * W + x] = pattern(x, y, pass);
        }
    }
}

static void input_setup(unsigned nth, struct vpci *d, struct vq *vq, struct vq_mem *mem,
                        uint8_t (*ev)[8])
{
    CHECK(vpci_find(VIRTIO_ID_INPUT, nth, d) == 0, "no virtio-input device %u", nth);
    CHECK(vpci_reset(d) == 0 && vpci_negotiate(d, 0) == 0, "virtio-input negotiation");
    CHECK(vq_setup(d, vq, 0, mem, 16) == 0, "eventq setup");
    for (unsigned i = 0; i < 16; i++) {
        vq_post(vq, ev[i], 8, true);
    }
    vpci_driver_ok(d);
    vq_kick(vq);
}

/* Print events until a key release (keyboard) and a SYN after ABS (tablet) have arrived. */
static void read_input(uint64_t seconds)
{
    struct vpci kd, td;
    struct vq kq, tq;
    input_setup(0, &kd, &kq, &kbd_ring, kbd_ev);
    input_setup(1, &td, &tq, &tab_ring, tab_ev);
    printf("input ready\n");
    bool key_done = false, ptr_done = false, saw_abs = false;
    /* Up to ~1/3-1 times `seconds` of TSC (the host test sends its events with waits of its
     * own between them); a spin count ran out in 0.3 s on a quiet host. */
    uint64_t start = rdtsc();
    while ((!key_done || !ptr_done) && rdtsc() - start < seconds * 1000000000ull) {
        uint32_t id, len;
        if (vq_used_next(&kq, &id, &len)) {
            uint16_t type = (uint16_t)(kbd_ev[id][0] | kbd_ev[id][1] << 8);
            uint16_t code = (uint16_t)(kbd_ev[id][2] | kbd_ev[id][3] << 8);
            uint32_t value = (uint32_t)kbd_ev[id][4] | (uint32_t)kbd_ev[id][5] << 8 |
                             (uint32_t)kbd_ev[id][6] << 16 | (uint32_t)kbd_ev[id][7] << 24;
            printf("evdev kbd %u %u %u\n", type, code, value);
            key_done |= type == 1 && value == 0;
            vq_post(&kq, kbd_ev[id], 8, true);
            vq_kick(&kq);
        }
        if (vq_used_next(&tq, &id, &len)) {
            uint16_t type = (uint16_t)(tab_ev[id][0] | tab_ev[id][1] << 8);
            uint16_t code = (uint16_t)(tab_ev[id][2] | tab_ev[id][3] << 8);
            uint32_t value = (uint32_t)tab_ev[id][4] | (uint32_t)tab_ev[id][5] << 8 |
                             (uint32_t)tab_ev[id][6] << 16 | (uint32_t)tab_ev[id][7] << 24;
            printf("evdev tablet %u %u %u\n", type, code, value);
            saw_abs |= type == 3;
            ptr_done |= saw_abs && type == 0;
            vq_post(&tq, tab_ev[id], 8, true);
            vq_kick(&tq);
        }
    }
    CHECK(key_done && ptr_done, "input incomplete (key %d pointer %d)", key_done, ptr_done);
}

void test_main(void)
{
    bool interactive = cmdline_u64("interactive", 0) != 0;
    struct vpci d;
    CHECK(vpci_find(VIRTIO_ID_GPU, 0, &d) == 0, "no usable virtio-gpu device");
    CHECK(vpci_reset(&d) == 0, "reset failed");
    CHECK(vpci_num_queues(&d) == 2, "num_queues %u, want 2", vpci_num_queues(&d));
    CHECK(vpci_negotiate(&d, 1ull << 1 /* EDID */) == 0, "feature negotiation failed");
    CHECK(d.features & 2, "no VIRTIO_GPU_F_EDID offered");
    CHECK(mmio_read8(d.device + 8) >= 1, "num_scanouts %u", mmio_read8(d.device + 8));
    struct vq vq;
    CHECK(vq_setup(&d, &vq, 0, &ring, 16) == 0, "queue setup failed");
    struct vq cq;
    CHECK(vq_setup(&d, &cq, 1, &cursor_ring, 16) == 0, "cursor queue setup failed");
    vpci_driver_ok(&d);

    hdr(CMD_GET_DISPLAY_INFO);
    CHECK(gpu_cmd(&vq, 24, 24 + 16 * 24) == RESP_OK_DISPLAY_INFO, "display info %#x", resp[0]);
    printf("display info: %ux%u enabled %u\n", resp[8], resp[9], resp[10]);
    CHECK(resp[10] == 1 && resp[8] >= 640 && resp[9] >= 480, "scanout 0 mode %ux%u", resp[8],
          resp[9]);

    hdr(CMD_GET_EDID);
    CHECK(gpu_cmd(&vq, 32, sizeof(resp)) == RESP_OK_EDID, "edid %#x", resp[0]);
    const uint8_t *edid = (const uint8_t *)&resp[8];
    uint8_t sum = 0;
    for (unsigned i = 0; i < 128; i++) {
        sum = (uint8_t)(sum + edid[i]);
    }
    CHECK(resp[6] >= 128 && edid[0] == 0 && edid[1] == 0xff && edid[7] == 0 && sum == 0,
          "EDID size %u header %02x %02x checksum %02x", resp[6], edid[0], edid[1], sum);
    printf("edid: %u bytes, preferred %ux%u\n", resp[6], edid[56] | (edid[58] >> 4) << 8,
           edid[59] | (edid[61] >> 4) << 8);

    hdr(CMD_RESOURCE_CREATE_2D);
    req[6] = RES_ID;
    req[7] = FORMAT_B8G8R8X8;
    req[8] = W;
    req[9] = H;
    CHECK(gpu_cmd(&vq, 40, 24) == RESP_OK_NODATA, "create %#x", resp[0]);
    CHECK(gpu_cmd(&vq, 40, 24) == RESP_ERR_INVALID_RESOURCE_ID, "duplicate create %#x", resp[0]);

    hdr(CMD_RESOURCE_ATTACH_BACKING);
    req[6] = RES_ID;
    req[7] = 2; /* two entries: the frame buffer in halves */
    uint64_t addr = (uintptr_t)fb, half = sizeof(fb) / 2;
    memcpy(&req[8], &addr, 8);
    req[10] = (uint32_t)half;
    addr += half;
    memcpy(&req[12], &addr, 8);
    req[14] = (uint32_t)half;
    CHECK(gpu_cmd(&vq, 32 + 32, 24) == RESP_OK_NODATA, "attach %#x", resp[0]);

    draw_all(0);
    CHECK(cmd_rect(&vq, CMD_SET_SCANOUT, 0, 0, W, H, 0, RES_ID, 0) == RESP_OK_NODATA,
          "set scanout %#x", resp[0]);
    CHECK(cmd_rect(&vq, CMD_TRANSFER_TO_HOST_2D, 0, 0, W, H, 0, 0, RES_ID) == RESP_OK_NODATA,
          "transfer %#x", resp[0]);
    CHECK(cmd_rect(&vq, CMD_RESOURCE_FLUSH, 0, 0, W, H, RES_ID, 0, 0) == RESP_OK_NODATA,
          "flush %#x", resp[0]);
    /* Redraw one rectangle and send only it, at its offset in the backing. */
    draw_all(1);
    CHECK(cmd_rect(&vq, CMD_TRANSFER_TO_HOST_2D, 40, 30, 80, 50, (30 * W + 40) * 4, 0, RES_ID) ==
              RESP_OK_NODATA,
          "partial transfer %#x", resp[0]);
    CHECK(cmd_rect(&vq, CMD_RESOURCE_FLUSH, 40, 30, 80, 50, RES_ID, 0, 0) == RESP_OK_NODATA,
          "partial flush %#x", resp[0]);

    /* Refused, and the device goes on. */
    CHECK(cmd_rect(&vq, CMD_TRANSFER_TO_HOST_2D, 300, 0, 40, 10, 0, 0, RES_ID) ==
              RESP_ERR_INVALID_PARAMETER,
          "transfer outside the resource: %#x", resp[0]);
    CHECK(cmd_rect(&vq, CMD_SET_SCANOUT, 0, 0, W, H, 5, RES_ID, 0) == RESP_ERR_INVALID_SCANOUT_ID,
          "scanout 5: %#x", resp[0]);
    /* The cursor: its own resource, then a move. */
    hdr(CMD_RESOURCE_CREATE_2D);
    req[6] = CUR_ID;
    req[7] = FORMAT_B8G8R8A8;
    req[8] = CUR_W;
    req[9] = CUR_W;
    CHECK(gpu_cmd(&vq, 40, 24) == RESP_OK_NODATA, "cursor create %#x", resp[0]);
    hdr(CMD_RESOURCE_ATTACH_BACKING);
    req[6] = CUR_ID;
    req[7] = 1;
    uint64_t caddr = (uintptr_t)cursor_img;
    memcpy(&req[8], &caddr, 8);
    req[10] = sizeof(cursor_img);
    CHECK(gpu_cmd(&vq, 32 + 16, 24) == RESP_OK_NODATA, "cursor attach %#x", resp[0]);
    for (unsigned y = 0; y < CUR_W; y++) {
        for (unsigned x = 0; x < CUR_W; x++) {
            cursor_img[y * CUR_W + x] = cursor_pixel(x, y);
        }
    }
    CHECK(cmd_rect(&vq, CMD_TRANSFER_TO_HOST_2D, 0, 0, CUR_W, CUR_W, 0, 0, CUR_ID) ==
              RESP_OK_NODATA,
          "cursor transfer %#x", resp[0]);
    cursor_cmd(&cq, CMD_UPDATE_CURSOR, 10, 20, CUR_ID, 3, 5);
    cursor_cmd(&cq, CMD_MOVE_CURSOR, 100, 60, 0, 0, 0);

    CHECK(!(vpci_status(&d) & VIRTIO_STATUS_NEEDS_RESET), "device needs reset");
    printf("virtio-gpu: pattern drawn %ux%u, cursor set\n", W, H);

    if (interactive) {
        read_input(cmdline_u64("input_s", 60));
    }
}
