// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * QMP session and server: greeting, negotiation gate, QEMU's error texts, framing of split,
 * merged, malformed and oversized input, commands, events, and the unix socket server.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "config.h"
#include "vmm/evloop.h"
#include "vmm/qmp.h"

/* ---- session harness: collects output, hands it back one message at a time ---- */

struct capture {
    char *buf;
    size_t len, pos;
    unsigned echo_calls;
};

static void capture_out(void *opaque, const char *buf, size_t len)
{
    struct capture *c = opaque;
    c->buf = realloc(c->buf, c->len + len + 1);
    assert_non_null(c->buf);
    memcpy(c->buf + c->len, buf, len);
    c->len += len;
    c->buf[c->len] = '\0';
}

/* The next message, parsed; NULL when no complete message is pending. */
static json_t *next_msg(struct capture *c)
{
    char *start = c->buf + c->pos;
    char *end = c->pos < c->len ? strstr(start, "\r\n") : NULL;
    if (!end) {
        return NULL;
    }
    for (char *p = start; p < end; p++) {
        assert_true((unsigned char)*p < 0x80); /* the spec: the server sends ASCII */
        assert_true(*p != '\n' && *p != '\r');
    }
    json_error_t jerr;
    json_t *msg = json_loadb(start, (size_t)(end - start), 0, &jerr);
    assert_non_null(msg);
    c->pos = (size_t)(end - c->buf) + 2;
    return msg;
}

static int cmd_echo(void *opaque, json_t *args, json_t **ret, struct qmp_error *err)
{
    struct capture *c = opaque;
    c->echo_calls++;
    *ret = json_deep_copy(args);
    return 0;
}

static int cmd_nothing(void *opaque, json_t *args, json_t **ret, struct qmp_error *err)
{
    return 0; /* *ret left NULL: the reply is {"return": {}} */
}

static int cmd_fail(void *opaque, json_t *args, json_t **ret, struct qmp_error *err)
{
    const char *dev = "?";
    if (qmp_arg_string(args, "device", &dev, true, err) < 0) {
        return -1;
    }
    qmp_error_set(err, "DeviceNotFound", "Device '%s' not found", dev);
    return -1;
}

static int cmd_fail_bare(void *opaque, json_t *args, json_t **ret, struct qmp_error *err)
{
    return -1; /* neither class nor desc: the session must still send a valid error */
}

static const struct qmp_command test_cmds[] = {
    {"echo", cmd_echo},
    {"nothing", cmd_nothing},
    {"fail", cmd_fail},
    {"fail-bare", cmd_fail_bare},
};
#define NCMDS (sizeof(test_cmds) / sizeof(test_cmds[0]))

struct fixture {
    struct capture cap;
    struct qmp_session *s;
};

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    f->s = qmp_session_new(test_cmds, NCMDS, &f->cap, capture_out, &f->cap);
    assert_non_null(f->s);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    qmp_session_free(f->s);
    free(f->cap.buf);
    free(f);
    return 0;
}

static void feed(struct fixture *f, const char *text)
{
    qmp_session_feed(f->s, text, strlen(text));
}

/* Feed text and return the single reply it must produce. */
static json_t *request(struct fixture *f, const char *text)
{
    feed(f, text);
    json_t *msg = next_msg(&f->cap);
    assert_non_null(msg);
    json_t *extra = next_msg(&f->cap);
    assert_null(extra);
    return msg;
}

static void negotiate(struct fixture *f)
{
    json_t *r = request(f, "{\"execute\": \"qmp_capabilities\"}\n");
    assert_true(json_is_object(json_object_get(r, "return")));
    json_decref(r);
}

static void assert_error(json_t *msg, const char *cls, const char *desc_part)
{
    json_t *e = json_object_get(msg, "error");
    assert_non_null(e);
    assert_null(json_object_get(msg, "return"));
    assert_string_equal(json_string_value(json_object_get(e, "class")), cls);
    const char *desc = json_string_value(json_object_get(e, "desc"));
    assert_non_null(desc);
    if (desc_part && !strstr(desc, desc_part)) {
        fail_msg("desc '%s' lacks '%s'", desc, desc_part);
    }
}

static void expect_error(struct fixture *f, const char *text, const char *cls, const char *part)
{
    json_t *r = request(f, text);
    assert_error(r, cls, part);
    json_decref(r);
}

/* ---- session tests ---- */

static void test_greeting(void **state)
{
    struct fixture *f = *state;
    qmp_session_start(f->s);
    assert_true(f->cap.len > 2);
    assert_memory_equal(f->cap.buf + f->cap.len - 2, "\r\n", 2);
    json_t *g = next_msg(&f->cap);
    assert_non_null(g);
    json_t *qmp = json_object_get(g, "QMP");
    assert_true(json_is_object(qmp));
    json_t *caps = json_object_get(qmp, "capabilities");
    assert_true(json_is_array(caps));
    assert_int_equal(json_array_size(caps), 0);
    json_t *ver = json_object_get(qmp, "version");
    assert_string_equal(json_string_value(json_object_get(ver, "package")),
                        "deskvm " DESKVM_VERSION);
    json_t *q = json_object_get(ver, "qemu");
    unsigned major, minor, micro;
    assert_int_equal(sscanf(DESKVM_VERSION, "%u.%u.%u", &major, &minor, &micro), 3);
    assert_true(json_is_integer(json_object_get(q, "major")));
    assert_int_equal(json_integer_value(json_object_get(q, "major")), major);
    assert_int_equal(json_integer_value(json_object_get(q, "minor")), minor);
    assert_int_equal(json_integer_value(json_object_get(q, "micro")), micro);
    json_decref(g);
}

static void test_negotiation_gate(void **state)
{
    struct fixture *f = *state;
    expect_error(f, "{\"execute\": \"query-version\"}", "CommandNotFound",
                 "Expecting capabilities negotiation with 'qmp_capabilities'");
    expect_error(f, "{\"execute\": \"echo\"}", "CommandNotFound", "Expecting capabilities");
    assert_int_equal(f->cap.echo_calls, 0);
    /* a failed negotiation leaves the gate closed */
    expect_error(f, "{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": [\"oob\"]}}",
                 "GenericError", "oob");
    expect_error(f, "{\"execute\": \"echo\"}", "CommandNotFound", "Expecting capabilities");
    expect_error(f, "{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": \"oob\"}}",
                 "GenericError", "'enable'");
    expect_error(f, "{\"execute\": \"qmp_capabilities\", \"arguments\": {\"bogus\": 1}}",
                 "GenericError", "Parameter 'bogus' is unexpected");
    json_t *r = request(f, "{\"execute\": \"qmp_capabilities\", \"arguments\": {\"enable\": []}}");
    assert_non_null(json_object_get(r, "return"));
    json_decref(r);
    r = request(f, "{\"execute\": \"echo\", \"arguments\": {\"x\": 1}}");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(r, "return"), "x")), 1);
    json_decref(r);
    expect_error(f, "{\"execute\": \"qmp_capabilities\"}", "CommandNotFound", "already complete");
}

static void test_request_errors(void **state)
{
    struct fixture *f = *state;
    negotiate(f);
    static const struct {
        const char *in, *cls, *desc;
    } cases[] = {
        {"[1, 2]", "GenericError", "QMP input must be a JSON object"},
        {"null ", "GenericError", "QMP input must be a JSON object"},
        {"42\n", "GenericError", "QMP input must be a JSON object"},
        {"\"str\"", "GenericError", "QMP input must be a JSON object"},
        {"{}", "GenericError", "QMP input lacks member 'execute'"},
        {"{\"arguments\": {}}", "GenericError", "QMP input lacks member 'execute'"},
        {"{\"execute\": \"echo\", \"bogus\": 1}", "GenericError",
         "QMP input member 'bogus' is unexpected"},
        {"{\"execute\": 5}", "GenericError", "QMP input member 'execute' must be a string"},
        {"{\"execute\": \"echo\", \"arguments\": []}", "GenericError",
         "QMP input member 'arguments' must be an object"},
        {"{\"execute\": \"echo\", \"arguments\": 1}", "GenericError",
         "QMP input member 'arguments' must be an object"},
        {"{\"exec-oob\": \"echo\"}", "GenericError", "QMP input member 'exec-oob' is unexpected"},
        {"{\"execute\": \"no-such\"}", "CommandNotFound", "The command no-such has not been found"},
        {"{\"execute\": \"echo\", \"execute\": \"echo\"}", "GenericError", "JSON parse error"},
        {"{\"execute\" \"echo\"}", "GenericError", "JSON parse error"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        expect_error(f, cases[i].in, cases[i].cls, cases[i].desc);
    }
    assert_int_equal(f->cap.echo_calls, 0);
}

static void test_id_echo(void **state)
{
    struct fixture *f = *state;
    static const char *const ids[] = {"7",    "-1.5", "\"abc\"", "{\"a\": [1, {\"b\": null}]}",
                                      "null", "[]"};
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        json_t *want = json_loads(ids[i], JSON_DECODE_ANY, NULL);
        assert_non_null(want);
        char req[256];
        /* before negotiation: the error reply carries the id */
        snprintf(req, sizeof(req), "{\"execute\": \"echo\", \"id\": %s}", ids[i]);
        json_t *r = request(f, req);
        assert_error(r, "CommandNotFound", NULL);
        assert_true(json_equal(json_object_get(r, "id"), want));
        json_decref(r);
        /* a validation error too */
        snprintf(req, sizeof(req), "{\"id\": %s, \"execute\": 1}", ids[i]);
        r = request(f, req);
        assert_true(json_equal(json_object_get(r, "id"), want));
        json_decref(r);
        json_decref(want);
    }
    negotiate(f);
    json_t *r = request(f, "{\"execute\": \"nothing\", \"id\": {\"tag\": \"x\"}}");
    assert_true(json_is_object(json_object_get(r, "return")));
    assert_string_equal(json_string_value(json_object_get(json_object_get(r, "id"), "tag")), "x");
    json_decref(r);
    /* no id in, no id out */
    r = request(f, "{\"execute\": \"nothing\"}");
    assert_null(json_object_get(r, "id"));
    json_decref(r);
}

static void test_two_in_one_write(void **state)
{
    struct fixture *f = *state;
    negotiate(f);
    feed(f, "{\"execute\": \"echo\", \"id\": 1}{\"execute\": \"echo\", \"id\": 2}\r\n"
            "  {\"execute\":\"echo\",\"id\":3}");
    for (int i = 1; i <= 3; i++) {
        json_t *r = next_msg(&f->cap);
        assert_non_null(r);
        assert_int_equal(json_integer_value(json_object_get(r, "id")), i);
        json_decref(r);
    }
    assert_null(next_msg(&f->cap));
    assert_int_equal(f->cap.echo_calls, 3);
}

static void test_one_byte_feeds(void **state)
{
    struct fixture *f = *state;
    negotiate(f);
    const char *req = "{\"execute\": \"echo\", \"arguments\": {\"s\": \"a}]\\\"{[\", \"n\": [1, "
                      "{\"x\": -2e3}]}, \"id\": \"q\"}";
    for (size_t i = 0; req[i]; i++) {
        qmp_session_feed(f->s, &req[i], 1);
        if (req[i + 1]) {
            assert_int_equal(f->cap.pos, f->cap.len); /* nothing answered early */
        }
    }
    json_t *r = next_msg(&f->cap);
    assert_non_null(r);
    json_t *ret = json_object_get(r, "return");
    assert_string_equal(json_string_value(json_object_get(ret, "s")), "a}]\"{[");
    assert_true(json_is_array(json_object_get(ret, "n")));
    assert_string_equal(json_string_value(json_object_get(r, "id")), "q");
    json_decref(r);
}

/* Garbage gives errors, and the command on the next line still runs. */
static void test_recovery(void **state)
{
    struct fixture *f = *state;
    negotiate(f);
    static const char *const garbage[] = {
        "{]\n",                     /* mismatched bracket */
        "}} more junk {\n",         /* closer at top level: rest of the line dropped */
        "{\"a\": \"unterminated\n", /* raw newline inside a string */
        "{\"a\": 1,}\n",            /* framed, rejected by the parser */
        "\xff\xfe\n",               /* invalid bytes */
        ": , \n",
    };
    for (size_t i = 0; i < sizeof(garbage) / sizeof(garbage[0]); i++) {
        unsigned before = f->cap.echo_calls;
        feed(f, garbage[i]);
        json_t *r = next_msg(&f->cap);
        assert_non_null(r);
        assert_error(r, "GenericError", "JSON parse error");
        json_decref(r);
        while ((r = next_msg(&f->cap))) { /* some garbage is worth more than one error */
            assert_error(r, "GenericError", NULL);
            json_decref(r);
        }
        r = request(f, "{\"execute\": \"echo\", \"id\": 9}\n");
        assert_int_equal(json_integer_value(json_object_get(r, "id")), 9);
        assert_non_null(json_object_get(r, "return"));
        json_decref(r);
        assert_int_equal(f->cap.echo_calls, before + 1);
    }
    /* a bare word ends at the next '{', so no newline is needed there */
    feed(f, "garbage{\"execute\": \"echo\"}");
    json_t *r = next_msg(&f->cap);
    assert_error(r, "GenericError", "JSON parse error");
    json_decref(r);
    r = next_msg(&f->cap);
    assert_non_null(json_object_get(r, "return"));
    json_decref(r);
}

static void test_deep_nesting(void **state)
{
    struct fixture *f = *state;
    negotiate(f);
    /* moderately deep arguments are fine */
    char req[1024];
    size_t n =
        (size_t)snprintf(req, sizeof(req), "{\"execute\": \"echo\", \"arguments\": {\"a\": ");
    for (int i = 0; i < 50; i++) {
        req[n++] = '[';
    }
    for (int i = 0; i < 50; i++) {
        req[n++] = ']';
    }
    memcpy(req + n, "}}", 3);
    json_t *r = request(f, req);
    assert_non_null(json_object_get(r, "return"));
    json_decref(r);

    /* a million open brackets: one error, bounded memory, and the next line works */
    size_t deep = 1000000;
    char *junk = malloc(deep + 1);
    memset(junk, '[', deep);
    junk[deep] = '\n';
    qmp_session_feed(f->s, junk, deep + 1);
    free(junk);
    r = next_msg(&f->cap);
    assert_error(r, "GenericError", "too deep");
    json_decref(r);
    assert_null(next_msg(&f->cap));
    r = request(f, "{\"execute\": \"echo\"}\n");
    assert_non_null(json_object_get(r, "return"));
    json_decref(r);
}

static void test_huge_input(void **state)
{
    struct fixture *f = *state;
    negotiate(f);
    /* a 3 MiB string inside a request, fed in pieces: exactly one error */
    feed(f, "{\"execute\": \"echo\", \"arguments\": {\"s\": \"");
    size_t chunk_len = 65536;
    char *chunk = malloc(chunk_len);
    memset(chunk, 'x', chunk_len);
    for (int i = 0; i < 48; i++) {
        qmp_session_feed(f->s, chunk, chunk_len);
    }
    free(chunk);
    feed(f, "\"}}\n");
    json_t *r = next_msg(&f->cap);
    assert_error(r, "GenericError", "1 MiB");
    json_decref(r);
    assert_null(next_msg(&f->cap));
    assert_int_equal(f->cap.echo_calls, 0);
    r = request(f, "{\"execute\": \"echo\", \"id\": 1}");
    assert_non_null(json_object_get(r, "return"));
    json_decref(r);

    /* just under the limit is accepted */
    size_t big = (1u << 20) - 64;
    char *req = malloc(big + 1);
    int head = snprintf(req, big, "{\"execute\": \"echo\", \"arguments\": {\"s\": \"");
    memset(req + head, 'y', big - (size_t)head - 4);
    memcpy(req + big - 4, "\"}}\n", 4);
    qmp_session_feed(f->s, req, big);
    free(req);
    r = next_msg(&f->cap);
    assert_int_equal(strlen(json_string_value(json_object_get(json_object_get(r, "return"), "s"))),
                     big - (size_t)head - 4);
    json_decref(r);
}

static void test_registered_commands(void **state)
{
    struct fixture *f = *state;
    negotiate(f);
    json_t *r = request(f, "{\"execute\": \"nothing\", \"arguments\": {\"ignored\": true}}");
    json_t *ret = json_object_get(r, "return");
    assert_true(json_is_object(ret));
    assert_int_equal(json_object_size(ret), 0);
    json_decref(r);

    r = request(f, "{\"execute\": \"echo\"}");
    ret = json_object_get(r, "return");
    assert_true(json_is_object(ret)); /* absent arguments reach the command as {} */
    assert_int_equal(json_object_size(ret), 0);
    json_decref(r);

    r = request(f, "{\"execute\": \"fail\", \"arguments\": {\"device\": \"disk0\"}, \"id\": 3}");
    assert_error(r, "DeviceNotFound", "Device 'disk0' not found");
    assert_int_equal(json_integer_value(json_object_get(r, "id")), 3);
    json_decref(r);
    expect_error(f, "{\"execute\": \"fail\"}", "GenericError", "Parameter 'device' is missing");
    expect_error(f, "{\"execute\": \"fail\", \"arguments\": {\"device\": 1}}", "GenericError",
                 "Invalid parameter type for 'device', expected: string");
    expect_error(f, "{\"execute\": \"fail-bare\"}", "GenericError", NULL);
}

static void test_single_quotes(void **state)
{
    struct fixture *f = *state;
    negotiate(f);
    json_t *r = request(f, "{'execute': 'echo', 'arguments': {'s': 'a\"b\\'c', "
                           "'t': \"d\\'e\"}, 'id': 'x'}");
    json_t *ret = json_object_get(r, "return");
    assert_string_equal(json_string_value(json_object_get(ret, "s")), "a\"b'c");
    assert_string_equal(json_string_value(json_object_get(ret, "t")), "d'e");
    assert_string_equal(json_string_value(json_object_get(r, "id")), "x");
    json_decref(r);
}

static void test_events(void **state)
{
    struct fixture *f = *state;
    json_t *data = json_pack("{s:b, s:s}", "guest", 0, "reason", "host-qmp-quit");
    qmp_session_event(f->s, "SHUTDOWN", data);
    assert_int_equal(f->cap.len, 0); /* nothing before negotiation */
    negotiate(f);

    struct timespec before, after;
    clock_gettime(CLOCK_REALTIME, &before);
    qmp_session_event(f->s, "SHUTDOWN", data);
    clock_gettime(CLOCK_REALTIME, &after);
    json_t *e = next_msg(&f->cap);
    assert_non_null(e);
    assert_string_equal(json_string_value(json_object_get(e, "event")), "SHUTDOWN");
    assert_true(json_equal(json_object_get(e, "data"), data));
    json_t *ts = json_object_get(e, "timestamp");
    json_int_t sec = json_integer_value(json_object_get(ts, "seconds"));
    json_int_t usec = json_integer_value(json_object_get(ts, "microseconds"));
    assert_true(json_is_integer(json_object_get(ts, "microseconds")));
    assert_in_range(usec, 0, 999999);
    int64_t t = (int64_t)sec * 1000000 + usec;
    assert_in_range(t, (int64_t)before.tv_sec * 1000000 + before.tv_nsec / 1000,
                    (int64_t)after.tv_sec * 1000000 + after.tv_nsec / 1000);
    json_decref(e);
    json_decref(data);

    qmp_session_event(f->s, "STOP", NULL);
    e = next_msg(&f->cap);
    assert_string_equal(json_string_value(json_object_get(e, "event")), "STOP");
    assert_null(json_object_get(e, "data"));
    json_decref(e);
}

static void test_query_commands_and_version(void **state)
{
    struct fixture *f = *state;
    negotiate(f);
    json_t *r = request(f, "{\"execute\": \"query-commands\"}");
    json_t *list = json_object_get(r, "return");
    assert_true(json_is_array(list));
    const char *want[] = {"qmp_capabilities", "query-commands", "query-version", "echo",
                          "nothing",          "fail",           "fail-bare"};
    assert_int_equal(json_array_size(list), sizeof(want) / sizeof(want[0]));
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        bool found = false;
        size_t j;
        json_t *item;
        json_array_foreach(list, j, item)
        {
            found |= strcmp(json_string_value(json_object_get(item, "name")), want[i]) == 0;
        }
        if (!found) {
            fail_msg("query-commands lacks %s", want[i]);
        }
    }
    json_decref(r);

    qmp_session_start(f->s); /* compare with the greeting's version object */
    json_t *g = next_msg(&f->cap);
    r = request(f, "{\"execute\": \"query-version\"}");
    assert_true(json_equal(json_object_get(r, "return"),
                           json_object_get(json_object_get(g, "QMP"), "version")));
    json_decref(r);
    json_decref(g);
}

static void test_ascii_output(void **state)
{
    struct fixture *f = *state;
    negotiate(f);
    /* next_msg() asserts every byte is ASCII; the name comes back escaped */
    json_t *r = request(f, "{\"execute\": \"caf\xc3\xa9\"}");
    assert_error(r, "CommandNotFound", "caf\xc3\xa9");
    json_decref(r);
}

static void test_arg_helpers(void **state)
{
    json_t *args =
        json_pack("{s:b, s:I, s:s, s:f}", "b", 1, "i", (json_int_t)-5, "s", "str", "f", 1.5);
    struct qmp_error err = {0};
    bool b = false;
    int64_t i = 0;
    const char *s = NULL;
    assert_int_equal(qmp_arg_bool(args, "b", &b, true, &err), 0);
    assert_true(b);
    assert_int_equal(qmp_arg_int(args, "i", &i, true, &err), 0);
    assert_int_equal(i, -5);
    assert_int_equal(qmp_arg_string(args, "s", &s, true, &err), 0);
    assert_string_equal(s, "str");

    /* absent and optional: success, out untouched */
    b = false;
    assert_int_equal(qmp_arg_bool(args, "nope", &b, false, &err), 0);
    assert_false(b);
    assert_int_equal(qmp_arg_int(args, "nope", &i, true, &err), -EINVAL);
    assert_string_equal(err.cls, "GenericError");
    assert_string_equal(err.desc, "Parameter 'nope' is missing");

    assert_int_equal(qmp_arg_bool(args, "s", &b, true, &err), -EINVAL);
    assert_string_equal(err.desc, "Invalid parameter type for 's', expected: boolean");
    assert_int_equal(qmp_arg_int(args, "f", &i, false, &err), -EINVAL);
    assert_string_equal(err.desc, "Invalid parameter type for 'f', expected: integer");
    assert_int_equal(qmp_arg_string(args, "i", &s, false, &err), -EINVAL);
    assert_string_equal(err.desc, "Invalid parameter type for 'i', expected: string");

    static const char *const known[] = {"b", "i", "s", "f", NULL};
    static const char *const fewer[] = {"b", "i", "s", NULL};
    assert_int_equal(qmp_arg_check_known(args, known, &err), 0);
    assert_int_equal(qmp_arg_check_known(args, fewer, &err), -EINVAL);
    assert_string_equal(err.desc, "Parameter 'f' is unexpected");
    json_decref(args);
}

/* ---- server over a real unix socket, event loop on its own thread ---- */

struct srv_fixture {
    pthread_mutex_t lock;
    struct evloop *loop;
    struct qmp_server *srv;
    pthread_t thread;
    char dir[64];
    char path[128];
    unsigned events_to_send;
    int flood_done[2]; /* pipe: the loop thread writes a byte when the flood is over */
};

static int srv_cmd_emit(void *opaque, json_t *args, json_t **ret, struct qmp_error *err)
{
    struct srv_fixture *f = opaque;
    qmp_server_event(f->srv, "FROM_COMMAND", NULL); /* broadcast from inside a command */
    return 0;
}

static const struct qmp_command srv_cmds[] = {{"emit", srv_cmd_emit}};

static void *loop_thread(void *opaque)
{
    struct srv_fixture *f = opaque;
    evloop_run(f->loop);
    return NULL;
}

static int srv_setup(void **state)
{
    struct srv_fixture *f = calloc(1, sizeof(*f));
    pthread_mutex_init(&f->lock, NULL);
    f->loop = evloop_new(&f->lock);
    assert_non_null(f->loop);
    snprintf(f->dir, sizeof(f->dir), "/tmp/deskvm-qmp-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    snprintf(f->path, sizeof(f->path), "%s/qmp.sock", f->dir);
    *state = f;
    return 0;
}

static void srv_start(struct srv_fixture *f)
{
    char err[256] = "";
    f->srv = qmp_server_new(f->loop, f->path, srv_cmds, 1, f, err, sizeof(err));
    if (!f->srv) {
        fail_msg("qmp_server_new: %s", err);
    }
    assert_int_equal(pthread_create(&f->thread, NULL, loop_thread, f), 0);
}

static void srv_stop(struct srv_fixture *f)
{
    evloop_stop(f->loop, 0);
    pthread_join(f->thread, NULL);
    qmp_server_free(f->srv);
    f->srv = NULL;
}

static int srv_teardown(void **state)
{
    struct srv_fixture *f = *state;
    unlink(f->path);
    rmdir(f->dir);
    evloop_free(f->loop);
    pthread_mutex_destroy(&f->lock);
    free(f);
    return 0;
}

static int client_connect(const char *path)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_true(fd >= 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", path);
    assert_int_equal(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    struct timeval tv = {.tv_sec = 10};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

static void client_send(int fd, const char *text)
{
    size_t len = strlen(text);
    while (len) {
        ssize_t n = send(fd, text, len, MSG_NOSIGNAL);
        assert_true(n > 0);
        text += n;
        len -= (size_t)n;
    }
}

/* Read one CRLF-terminated message byte by byte (slow but simple); NULL at EOF. */
static json_t *client_recv(int fd)
{
    static char line[65536];
    size_t n = 0;
    while (n + 1 < sizeof(line)) {
        ssize_t r = recv(fd, &line[n], 1, 0);
        if (r == 0) {
            return NULL;
        }
        assert_int_equal(r, 1);
        n++;
        if (n >= 2 && line[n - 2] == '\r' && line[n - 1] == '\n') {
            json_t *msg = json_loadb(line, n - 2, 0, NULL);
            assert_non_null(msg);
            return msg;
        }
    }
    fail_msg("message too long");
    return NULL;
}

static void client_handshake(int fd)
{
    json_t *g = client_recv(fd);
    assert_non_null(json_object_get(g, "QMP"));
    json_decref(g);
    client_send(fd, "{\"execute\": \"qmp_capabilities\"}\r\n");
    json_t *r = client_recv(fd);
    assert_non_null(json_object_get(r, "return"));
    json_decref(r);
}

static void broadcast_resume(void *opaque)
{
    struct srv_fixture *f = opaque;
    json_t *data = json_pack("{s:s}", "why", "test");
    qmp_server_event(f->srv, "RESUME", data);
    json_decref(data);
}

static void test_server_session(void **state)
{
    struct srv_fixture *f = *state;
    srv_start(f);
    struct stat st;
    assert_int_equal(stat(f->path, &st), 0);
    assert_true(S_ISSOCK(st.st_mode));
    assert_int_equal(st.st_mode & 0077, 0); /* owner only */

    int a = client_connect(f->path);
    int b = client_connect(f->path);
    client_handshake(a);
    json_t *g = client_recv(b); /* b stays in negotiation mode: gets no events */
    json_decref(g);

    client_send(a, "{\"execute\": \"query-version\", \"id\": \"v\"}\n");
    json_t *r = client_recv(a);
    assert_string_equal(json_string_value(json_object_get(r, "id")), "v");
    assert_non_null(json_object_get(json_object_get(r, "return"), "qemu"));
    json_decref(r);

    assert_int_equal(evloop_call(f->loop, broadcast_resume, f), 0);
    json_t *e = client_recv(a);
    assert_string_equal(json_string_value(json_object_get(e, "event")), "RESUME");
    assert_string_equal(json_string_value(json_object_get(json_object_get(e, "data"), "why")),
                        "test");
    assert_non_null(json_object_get(json_object_get(e, "timestamp"), "seconds"));
    json_decref(e);

    /* an event broadcast by a command arrives before that command's reply */
    client_send(a, "{\"execute\": \"emit\"}\n");
    e = client_recv(a);
    assert_string_equal(json_string_value(json_object_get(e, "event")), "FROM_COMMAND");
    json_decref(e);
    r = client_recv(a);
    assert_non_null(json_object_get(r, "return"));
    json_decref(r);

    /* b never negotiated: its next message is the reply to its own request, not an event */
    client_send(b, "{\"execute\": \"query-version\"}\n");
    r = client_recv(b);
    assert_non_null(json_object_get(r, "error"));
    json_decref(r);

    close(a);
    /* half-close: requests sent before EOF still get their replies */
    client_send(b, "{\"execute\": \"qmp_capabilities\"}\n{\"execute\": \"query-version\"}\n");
    shutdown(b, SHUT_WR);
    r = client_recv(b);
    assert_non_null(json_object_get(r, "return"));
    json_decref(r);
    r = client_recv(b);
    assert_non_null(json_object_get(json_object_get(r, "return"), "package"));
    json_decref(r);
    assert_null(client_recv(b)); /* then the server closes */
    close(b);

    srv_stop(f);
    assert_int_equal(lstat(f->path, &st), -1);
    assert_int_equal(errno, ENOENT);
}

/* Freeing the server with a client attached that has nothing pending closes it cleanly. */
static void test_server_free_with_idle_client(void **state)
{
    struct srv_fixture *f = *state;
    srv_start(f);
    int a = client_connect(f->path);
    client_handshake(a);
    srv_stop(f);
    assert_null(client_recv(a)); /* EOF, not a reset or a stray message */
    close(a);
}

static void test_server_path_conflicts(void **state)
{
    struct srv_fixture *f = *state;
    char err[256] = "";

    /* a regular file at the path is refused and left alone */
    FILE *fp = fopen(f->path, "w");
    fputs("precious", fp);
    fclose(fp);
    assert_null(qmp_server_new(f->loop, f->path, srv_cmds, 1, f, err, sizeof(err)));
    assert_non_null(strstr(err, "not a socket"));
    assert_null(strchr(err, '\n'));
    struct stat st;
    assert_int_equal(stat(f->path, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_size, 8);
    unlink(f->path);

    /* a stale socket (bound, nobody listening) is replaced */
    int stale = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    assert_true(strlen(f->path) < sizeof(addr.sun_path));
    memcpy(addr.sun_path, f->path, strlen(f->path) + 1);
    assert_int_equal(bind(stale, (struct sockaddr *)&addr, sizeof(addr)), 0);
    close(stale);
    srv_start(f);

    /* a second server on the live path fails and leaves the first one working */
    err[0] = '\0';
    assert_null(qmp_server_new(f->loop, f->path, srv_cmds, 1, f, err, sizeof(err)));
    assert_non_null(strstr(err, "in use"));
    int c = client_connect(f->path);
    client_handshake(c);
    close(c);

    /* a path too long for sockaddr_un */
    char longpath[300];
    memset(longpath, 'a', sizeof(longpath) - 1);
    longpath[sizeof(longpath) - 1] = '\0';
    assert_null(qmp_server_new(f->loop, longpath, srv_cmds, 1, f, err, sizeof(err)));
    assert_non_null(strstr(err, "too long"));
    srv_stop(f);
}

/* No cmocka asserts off the main thread: a failed send just ends the flood early. */
static void *flood_writer(void *opaque)
{
    int fd = *(int *)opaque;
    static const char req[] = "{\"execute\": \"query-version\"}\n";
    for (int i = 0; i < 20000; i++) {
        if (send(fd, req, sizeof(req) - 1, MSG_NOSIGNAL) != (ssize_t)sizeof(req) - 1) {
            break;
        }
    }
    shutdown(fd, SHUT_WR); /* replies still pending must be delivered after this */
    return NULL;
}

/*
 * A client that pipelines requests without reading is slowed down, not dropped, and its
 * replies survive its EOF.
 */
static void test_server_backpressure(void **state)
{
    struct srv_fixture *f = *state;
    srv_start(f);
    int c = client_connect(f->path);
    client_handshake(c);
    pthread_t writer;
    assert_int_equal(pthread_create(&writer, NULL, flood_writer, &c), 0);
    usleep(200 * 1000); /* let the replies pile up */
    for (int i = 0; i < 20000; i++) {
        json_t *r = client_recv(c);
        assert_non_null(r);
        assert_non_null(json_object_get(r, "return"));
        json_decref(r);
    }
    assert_null(client_recv(c));
    pthread_join(writer, NULL);
    close(c);
    srv_stop(f);
}

static void flood_events(void *opaque)
{
    struct srv_fixture *f = opaque;
    json_t *data = json_pack("{s:s}", "pad", "................................................");
    for (unsigned i = 0; i < f->events_to_send; i++) {
        qmp_server_event(f->srv, "FLOOD", data);
    }
    json_decref(data);
    char done = 1;
    if (write(f->flood_done[1], &done, 1) != 1) {
        abort(); /* no cmocka asserts off the main thread */
    }
}

/* A client that stops reading its events is disconnected once 1 MiB is pending. */
static void test_server_slow_reader(void **state)
{
    struct srv_fixture *f = *state;
    srv_start(f);
    int slow = client_connect(f->path);
    client_handshake(slow);
    f->events_to_send = 40000; /* about 5 MiB */
    assert_int_equal(pipe(f->flood_done), 0);
    assert_int_equal(evloop_call(f->loop, flood_events, f), 0);
    char done;
    assert_int_equal(read(f->flood_done[0], &done, 1), 1); /* not a byte read before that */
    close(f->flood_done[0]);
    close(f->flood_done[1]);
    size_t total = 0;
    char buf[8192];
    ssize_t n;
    while ((n = recv(slow, buf, sizeof(buf), 0)) > 0) {
        total += (size_t)n;
    }
    assert_int_equal(n, 0); /* EOF, not the receive timeout */
    assert_true(total < 4u << 20);
    close(slow);

    /* the server is still fine for others */
    int c = client_connect(f->path);
    client_handshake(c);
    close(c);
    srv_stop(f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_greeting, setup, teardown),
        cmocka_unit_test_setup_teardown(test_negotiation_gate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_request_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_id_echo, setup, teardown),
        cmocka_unit_test_setup_teardown(test_two_in_one_write, setup, teardown),
        cmocka_unit_test_setup_teardown(test_one_byte_feeds, setup, teardown),
        cmocka_unit_test_setup_teardown(test_recovery, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deep_nesting, setup, teardown),
        cmocka_unit_test_setup_teardown(test_huge_input, setup, teardown),
        cmocka_unit_test_setup_teardown(test_registered_commands, setup, teardown),
        cmocka_unit_test_setup_teardown(test_single_quotes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_events, setup, teardown),
        cmocka_unit_test_setup_teardown(test_query_commands_and_version, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ascii_output, setup, teardown),
        cmocka_unit_test(test_arg_helpers),
        cmocka_unit_test_setup_teardown(test_server_session, srv_setup, srv_teardown),
        cmocka_unit_test_setup_teardown(test_server_free_with_idle_client, srv_setup, srv_teardown),
        cmocka_unit_test_setup_teardown(test_server_path_conflicts, srv_setup, srv_teardown),
        cmocka_unit_test_setup_teardown(test_server_backpressure, srv_setup, srv_teardown),
        cmocka_unit_test_setup_teardown(test_server_slow_reader, srv_setup, srv_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
