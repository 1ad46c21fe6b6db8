/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The local display channel's wire format (docs/display-channel.md): length-prefixed binary
 * messages on a unix stream socket, little-endian, version 1. The engine sends the surface
 * (its memfd rides along as SCM_RIGHTS) and damage; the client sends keys, pointer and acks.
 * Pure C with no I/O, shared by the engine, the GUI, the tests and the fuzzer: every decoder
 * checks lengths and values before the caller sees a field.
 */
#ifndef DESKVM_DISPLAY_CHANNEL_PROTO_H
#define DESKVM_DISPLAY_CHANNEL_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define DC_MAGIC 0x43445644u /* "DVDC" */
#define DC_VERSION 1u
#define DC_HDR_SIZE 8u
/* No message is longer: the largest is a damage message with DC_MAX_RECTS rectangles. */
#define DC_MAX_RECTS 64u
#define DC_MAX_PAYLOAD (8u + 16u * DC_MAX_RECTS)
#define DC_MAX_MSG (DC_HDR_SIZE + DC_MAX_PAYLOAD)
/* Surface limits a client accepts (the engine's are display/surface.h's, the same). */
#define DC_MAX_DIM 4096u

/* Message types: the engine's below 0x80, the client's from 0x80. */
enum dc_type {
    DC_S_HELLO = 0x01,   /* magic, version */
    DC_S_SURFACE = 0x02, /* width, height, stride, format, serial + memfd (SCM_RIGHTS) */
    DC_S_DAMAGE = 0x03,  /* serial, count, count x {x, y, w, h} */
    DC_C_HELLO = 0x81,   /* magic, version */
    DC_C_KEY = 0x82,     /* keysym, down */
    DC_C_POINTER = 0x83, /* x, y, buttons */
    DC_C_ACK = 0x84,     /* serial of the last damage or surface message drawn */
};

/* Pixel formats (one so far): 32 bits, blue in the low byte, top byte unused = CAIRO_FORMAT_RGB24.
 */
#define DC_FORMAT_XRGB8888 1u

/* Pointer buttons (the VNC bits): left, middle, right, wheel up, wheel down. */
#define DC_BUTTON_MASK 0x1fu

struct dc_rect {
    uint32_t x, y, w, h;
};

struct dc_msg {
    uint16_t type;
    union {
        struct {
            uint32_t magic, version;
        } hello;
        struct {
            uint32_t width, height, stride, format, serial;
        } surface;
        struct {
            uint32_t serial, count;
            struct dc_rect rects[DC_MAX_RECTS];
        } damage;
        struct {
            uint32_t keysym;
            bool down;
        } key;
        struct {
            uint32_t x, y, buttons;
        } pointer;
        struct {
            uint32_t serial;
        } ack;
    };
};

/*
 * Decode one message from buf[0..len). Returns the bytes it took (> 0), 0 when buf holds less
 * than a whole message (read more), -EPROTO for a malformed one (bad length for its type,
 * unknown type, a reserved field set, an out-of-range value), -EMSGSIZE for a length beyond
 * DC_MAX_PAYLOAD. from_client picks which side's messages are accepted: a client message on
 * the client's side is refused and the other way round.
 */
int dc_decode(const uint8_t *buf, size_t len, bool from_client, struct dc_msg *msg);

/* Encode msg into buf (at least DC_MAX_MSG bytes); returns the length. -EINVAL for bad fields. */
int dc_encode(const struct dc_msg *msg, uint8_t *buf, size_t size);

#endif
