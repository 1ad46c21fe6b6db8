// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer harness for the display channel's message decoder (display/channel_proto.c): the
 * bytes as a stream of client messages (what the engine parses) and of engine messages (what
 * the GUI parses). Beyond the sanitizers it checks the contract: a decoded message encodes back
 * to the same bytes, and a decoder never takes more than it was given.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "display/channel_proto.h"

static void stream(const uint8_t *data, size_t size, bool from_client)
{
    size_t off = 0;
    while (off < size) {
        struct dc_msg m;
        int r = dc_decode(data + off, size - off, from_client, &m);
        if (r <= 0) {
            return;
        }
        if ((size_t)r > size - off) {
            abort();
        }
        uint8_t buf[DC_MAX_MSG];
        int n = dc_encode(&m, buf, sizeof(buf));
        if (n != r || memcmp(buf, data + off, (size_t)n) != 0) {
            abort();
        }
        off += (size_t)r;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    stream(data, size, true);
    stream(data, size, false);
    return 0;
}
