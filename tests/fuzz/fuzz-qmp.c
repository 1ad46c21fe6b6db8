// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer harness for the QMP session: arbitrary bytes, fed in arbitrary pieces, against a
 * session with a few dummy commands. Beyond the sanitizers it checks the wire contract: every
 * output message is one line of ASCII JSON object terminated by CRLF.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/qmp.h"

static int cmd_echo(void *opaque, json_t *args, json_t **ret, struct qmp_error *err)
{
    *ret = json_deep_copy(args);
    return 0;
}

static int cmd_typed(void *opaque, json_t *args, json_t **ret, struct qmp_error *err)
{
    static const char *const known[] = {"b", "i", "s", NULL};
    bool b = false;
    int64_t i = 0;
    const char *s = "";
    if (qmp_arg_check_known(args, known, err) < 0 || qmp_arg_bool(args, "b", &b, true, err) < 0 ||
        qmp_arg_int(args, "i", &i, false, err) < 0 ||
        qmp_arg_string(args, "s", &s, false, err) < 0) {
        return -1;
    }
    *ret = json_pack("{s:b, s:I, s:s}", "b", b, "i", (json_int_t)i, "s", s);
    return 0;
}

static int cmd_fail(void *opaque, json_t *args, json_t **ret, struct qmp_error *err)
{
    qmp_error_set(err, "DeviceNotFound", "no such device");
    return -1;
}

static const struct qmp_command cmds[] = {
    {"echo", cmd_echo},
    {"typed", cmd_typed},
    {"fail", cmd_fail},
};

/* Reassemble output into lines and check each one. */
struct sink {
    char line[1 << 23]; /* a 1 MiB request escaped as \uXXXX fits */
    size_t len;
};

static void check_line(const char *line, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char)line[i] >= 0x80 || line[i] == '\n' || line[i] == '\r') {
            abort();
        }
    }
    json_t *msg = json_loadb(line, len, 0, NULL);
    if (!json_is_object(msg)) {
        abort();
    }
    json_decref(msg);
}

static void sink_out(void *opaque, const char *buf, size_t len)
{
    struct sink *k = opaque;
    for (size_t i = 0; i < len; i++) {
        if (k->len == sizeof(k->line)) {
            abort(); /* an unterminated message this long is a bug */
        }
        k->line[k->len++] = buf[i];
        if (k->len >= 2 && k->line[k->len - 2] == '\r' && k->line[k->len - 1] == '\n') {
            check_line(k->line, k->len - 2);
            k->len = 0;
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct sink sink; /* too big for the stack */
    sink.len = 0;
    struct qmp_session *s =
        qmp_session_new(cmds, sizeof(cmds) / sizeof(cmds[0]), NULL, sink_out, &sink);
    if (!s) {
        return 0;
    }
    qmp_session_start(s);
    /* The first byte picks the piece size, so splits at every position get explored. */
    size_t piece = size ? (size_t)data[0] % 17 + 1 : 1;
    for (size_t off = size ? 1 : 0; off < size; off += piece) {
        size_t n = size - off < piece ? size - off : piece;
        qmp_session_feed(s, (const char *)data + off, n);
        if (off % 64 == 1) {
            qmp_session_event(s, "TICK", NULL);
        }
    }
    if (sink.len != 0) {
        abort(); /* every message the session started must be complete */
    }
    qmp_session_free(s);
    return 0;
}
