// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Display channel messages: header {u16 type, u16 reserved = 0, u32 payload length}, then the
 * payload as little-endian u32 fields. docs/display-channel.md. Both directions are checked
 * here, so the engine never acts on a malformed client message and the GUI never on a
 * malformed engine message.
 */
#include "display/channel_proto.h"

#include <errno.h>
#include <string.h>

static uint32_t get32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}

/* The payload length each fixed-size type must have; 0 for damage (variable), -1 unknown. */
static int fixed_len(uint16_t type)
{
    switch (type) {
    case DC_S_HELLO:
    case DC_C_HELLO:
        return 8;
    case DC_S_SURFACE:
        return 20;
    case DC_S_DAMAGE:
        return 0;
    case DC_C_KEY:
        return 8;
    case DC_C_POINTER:
        return 12;
    case DC_C_ACK:
        return 4;
    default:
        return -1;
    }
}

static bool rect_ok(const struct dc_rect *r)
{
    return r->w > 0 && r->h > 0 && r->x < DC_MAX_DIM && r->y < DC_MAX_DIM &&
           r->w <= DC_MAX_DIM - r->x && r->h <= DC_MAX_DIM - r->y;
}

static bool surface_ok(uint32_t w, uint32_t h, uint32_t stride, uint32_t format)
{
    return format == DC_FORMAT_XRGB8888 && w > 0 && h > 0 && w <= DC_MAX_DIM && h <= DC_MAX_DIM &&
           stride % 4 == 0 && stride >= w * 4 && stride <= DC_MAX_DIM * 4;
}

int dc_decode(const uint8_t *buf, size_t len, bool from_client, struct dc_msg *msg)
{
    if (len < DC_HDR_SIZE) {
        return 0;
    }
    uint16_t type = (uint16_t)(buf[0] | buf[1] << 8);
    uint16_t reserved = (uint16_t)(buf[2] | buf[3] << 8);
    uint32_t plen = get32(buf + 4);
    if (plen > DC_MAX_PAYLOAD) {
        return -EMSGSIZE;
    }
    int want = fixed_len(type);
    if (reserved != 0 || want < 0 || (bool)(type & 0x80) != from_client ||
        (want > 0 && plen != (uint32_t)want)) {
        return -EPROTO;
    }
    if (len < DC_HDR_SIZE + plen) {
        return 0;
    }
    const uint8_t *p = buf + DC_HDR_SIZE;
    memset(msg, 0, sizeof(*msg));
    msg->type = type;
    switch (type) {
    case DC_S_HELLO:
    case DC_C_HELLO:
        msg->hello.magic = get32(p);
        msg->hello.version = get32(p + 4);
        if (msg->hello.magic != DC_MAGIC || msg->hello.version == 0) {
            return -EPROTO;
        }
        break;
    case DC_S_SURFACE:
        msg->surface.width = get32(p);
        msg->surface.height = get32(p + 4);
        msg->surface.stride = get32(p + 8);
        msg->surface.format = get32(p + 12);
        msg->surface.serial = get32(p + 16);
        if (!surface_ok(msg->surface.width, msg->surface.height, msg->surface.stride,
                        msg->surface.format)) {
            return -EPROTO;
        }
        break;
    case DC_S_DAMAGE: {
        if (plen < 8) {
            return -EPROTO;
        }
        msg->damage.serial = get32(p);
        msg->damage.count = get32(p + 4);
        if (msg->damage.count == 0 || msg->damage.count > DC_MAX_RECTS ||
            plen != 8 + 16 * msg->damage.count) {
            return -EPROTO;
        }
        for (uint32_t i = 0; i < msg->damage.count; i++) {
            struct dc_rect *r = &msg->damage.rects[i];
            const uint8_t *q = p + 8 + 16 * i;
            *r = (struct dc_rect){get32(q), get32(q + 4), get32(q + 8), get32(q + 12)};
            if (!rect_ok(r)) {
                return -EPROTO;
            }
        }
        break;
    }
    case DC_C_KEY: {
        uint32_t down = get32(p + 4);
        msg->key.keysym = get32(p);
        if (down > 1 || msg->key.keysym == 0 || msg->key.keysym > 0x1fffffff) {
            return -EPROTO;
        }
        msg->key.down = down;
        break;
    }
    case DC_C_POINTER:
        msg->pointer.x = get32(p);
        msg->pointer.y = get32(p + 4);
        msg->pointer.buttons = get32(p + 8);
        if (msg->pointer.x >= DC_MAX_DIM || msg->pointer.y >= DC_MAX_DIM ||
            (msg->pointer.buttons & ~DC_BUTTON_MASK)) {
            return -EPROTO;
        }
        break;
    case DC_C_ACK:
        msg->ack.serial = get32(p);
        break;
    }
    return (int)(DC_HDR_SIZE + plen);
}

int dc_encode(const struct dc_msg *msg, uint8_t *buf, size_t size)
{
    int want = fixed_len(msg->type);
    uint32_t plen;
    if (want < 0 || size < DC_MAX_MSG) {
        return -EINVAL;
    }
    if (msg->type == DC_S_DAMAGE) {
        if (msg->damage.count == 0 || msg->damage.count > DC_MAX_RECTS) {
            return -EINVAL;
        }
        plen = 8 + 16 * msg->damage.count;
    } else {
        plen = (uint32_t)want;
    }
    buf[0] = (uint8_t)msg->type;
    buf[1] = (uint8_t)(msg->type >> 8);
    buf[2] = buf[3] = 0;
    put32(buf + 4, plen);
    uint8_t *p = buf + DC_HDR_SIZE;
    switch (msg->type) {
    case DC_S_HELLO:
    case DC_C_HELLO:
        put32(p, msg->hello.magic);
        put32(p + 4, msg->hello.version);
        break;
    case DC_S_SURFACE:
        put32(p, msg->surface.width);
        put32(p + 4, msg->surface.height);
        put32(p + 8, msg->surface.stride);
        put32(p + 12, msg->surface.format);
        put32(p + 16, msg->surface.serial);
        break;
    case DC_S_DAMAGE:
        put32(p, msg->damage.serial);
        put32(p + 4, msg->damage.count);
        for (uint32_t i = 0; i < msg->damage.count; i++) {
            const struct dc_rect *r = &msg->damage.rects[i];
            put32(p + 8 + 16 * i, r->x);
            put32(p + 12 + 16 * i, r->y);
            put32(p + 16 + 16 * i, r->w);
            put32(p + 20 + 16 * i, r->h);
        }
        break;
    case DC_C_KEY:
        put32(p, msg->key.keysym);
        put32(p + 4, msg->key.down ? 1 : 0);
        break;
    case DC_C_POINTER:
        put32(p, msg->pointer.x);
        put32(p + 4, msg->pointer.y);
        put32(p + 8, msg->pointer.buttons);
        break;
    case DC_C_ACK:
        put32(p, msg->ack.serial);
        break;
    }
    return (int)(DC_HDR_SIZE + plen);
}
