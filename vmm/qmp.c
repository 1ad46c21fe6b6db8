// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * QMP control server: the session protocol of QEMU's "QEMU Machine Protocol Specification"
 * (greeting, capabilities negotiation, commands, events; docs/interop/qmp-spec) and a unix
 * socket server on the engine's event loop. docs/qmp.md describes the protocol as built here.
 */
#include "vmm/qmp.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "config.h"
#include "vmm/evloop.h"
#include "vmm/unix_socket.h"

/* A request larger than this without completing is refused and dropped. */
#define QMP_MAX_MSG (1u << 20)
/* Brackets deeper than this are refused; QMP arguments nest a handful of levels. */
#define QMP_MAX_DEPTH 128
/* Output a client has not read yet: past this it is disconnected (it stopped reading). */
#define QMP_MAX_OUT (1u << 20)
/* Stop reading a client's requests while this much of its output is pending. */
#define QMP_OUT_HIGH (256u << 10)
#define QMP_MAX_CLIENTS 64
#define QMP_READ_CHUNK 4096

struct qmp_session {
    const struct qmp_command *cmds;
    size_t ncmds;
    void *opaque;
    void (*out)(void *out_opaque, const char *buf, size_t len);
    void *out_opaque;
    bool negotiated;

    /*
     * Framer: splits the byte stream into top-level JSON values without parsing them, so
     * a value may arrive in any number of pieces and is scanned once. buf holds the bytes of
     * the value being framed.
     */
    char *buf;
    size_t len, cap;
    unsigned depth;
    uint8_t open_is_array[QMP_MAX_DEPTH / 8]; /* per level: '[' (1) or '{' (0) */
    char quote;                               /* inside a string: its quote character */
    bool escape;                              /* previous byte in the string was '\' */
    bool word;                                /* inside a top-level bare word */
    bool skip;                                /* resynchronising: drop input up to '\n' */
};

void qmp_error_set(struct qmp_error *err, const char *cls, const char *fmt, ...)
{
    va_list ap;
    err->cls = cls;
    va_start(ap, fmt);
    vsnprintf(err->desc, sizeof(err->desc), fmt, ap);
    va_end(ap);
}

/* ---- output ---- */

static void send_json(struct qmp_session *s, json_t *msg)
{
    /* The spec promises ASCII output; member order kept so replies read like QEMU's. */
    char *text = json_dumps(msg, JSON_ENSURE_ASCII | JSON_PRESERVE_ORDER);
    if (!text) {
        return;
    }
    size_t n = strlen(text);
    char *line = realloc(text, n + 3);
    if (!line) {
        free(text);
        return;
    }
    memcpy(line + n, "\r\n", 3);
    s->out(s->out_opaque, line, n + 2);
    free(line);
}

static void send_error(struct qmp_session *s, json_t *id, const char *cls, const char *desc)
{
    json_t *msg = json_object();
    json_object_set_new(msg, "error", json_pack("{s:s, s:s}", "class", cls, "desc", desc));
    if (id) {
        json_object_set(msg, "id", id);
    }
    send_json(s, msg);
    json_decref(msg);
}

static json_t *version_object(void)
{
    unsigned major = 0, minor = 0, micro = 0;
    if (sscanf(DESKVM_VERSION, "%u.%u.%u", &major, &minor, &micro) < 1) {
        major = minor = micro = 0;
    }
    return json_pack("{s:{s:i, s:i, s:i}, s:s}", "qemu", "micro", (json_int_t)micro, "minor",
                     (json_int_t)minor, "major", (json_int_t)major, "package",
                     "deskvm " DESKVM_VERSION);
}

/* ---- session ---- */

struct qmp_session *qmp_session_new(const struct qmp_command *cmds, size_t ncmds, void *opaque,
                                    void (*out)(void *out_opaque, const char *buf, size_t len),
                                    void *out_opaque)
{
    struct qmp_session *s = calloc(1, sizeof(*s));
    if (!s) {
        return NULL;
    }
    s->cmds = cmds;
    s->ncmds = ncmds;
    s->opaque = opaque;
    s->out = out;
    s->out_opaque = out_opaque;
    return s;
}

void qmp_session_free(struct qmp_session *s)
{
    if (!s) {
        return;
    }
    free(s->buf);
    free(s);
}

void qmp_session_start(struct qmp_session *s)
{
    json_t *greeting =
        json_pack("{s:{s:o, s:[]}}", "QMP", "version", version_object(), "capabilities");
    if (greeting) {
        send_json(s, greeting);
        json_decref(greeting);
    }
}

void qmp_session_event(struct qmp_session *s, const char *name, json_t *data)
{
    /* The spec: no events until the client has negotiated capabilities. */
    if (!s->negotiated) {
        return;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    json_t *msg = json_object();
    json_object_set_new(msg, "event", json_string(name));
    if (data) {
        json_object_set(msg, "data", data);
    }
    json_object_set_new(msg, "timestamp",
                        json_pack("{s:I, s:I}", "seconds", (json_int_t)ts.tv_sec, "microseconds",
                                  (json_int_t)(ts.tv_nsec / 1000)));
    send_json(s, msg);
    json_decref(msg);
}

/* ---- built-in commands ---- */

static int cmd_capabilities(struct qmp_session *s, json_t *args, json_t **ret,
                            struct qmp_error *err)
{
    static const char *const known[] = {"enable", NULL};
    if (qmp_arg_check_known(args, known, err) < 0) {
        return -1;
    }
    json_t *enable = json_object_get(args, "enable");
    if (enable) {
        if (!json_is_array(enable)) {
            qmp_error_set(err, "GenericError",
                          "Invalid parameter type for 'enable', expected: array");
            return -1;
        }
        size_t i;
        json_t *cap;
        json_array_foreach(enable, i, cap)
        {
            if (!json_is_string(cap)) {
                qmp_error_set(err, "GenericError",
                              "Invalid parameter type for 'enable[%zu]', expected: string", i);
                return -1;
            }
            /* We announce no capability, so whatever is asked for is unavailable. */
            if (strcmp(json_string_value(cap), "oob") == 0) {
                qmp_error_set(err, "GenericError", "Capability 'oob' not available");
            } else {
                qmp_error_set(err, "GenericError", "Parameter 'enable' does not accept value '%s'",
                              json_string_value(cap));
            }
            return -1;
        }
    }
    s->negotiated = true;
    *ret = NULL;
    return 0;
}

static const char *const builtin_names[] = {"qmp_capabilities", "query-commands", "query-version"};

static int cmd_query_commands(struct qmp_session *s, json_t **ret)
{
    json_t *list = json_array();
    for (size_t i = 0; i < sizeof(builtin_names) / sizeof(builtin_names[0]); i++) {
        json_array_append_new(list, json_pack("{s:s}", "name", builtin_names[i]));
    }
    for (size_t i = 0; i < s->ncmds; i++) {
        json_array_append_new(list, json_pack("{s:s}", "name", s->cmds[i].name));
    }
    *ret = list;
    return 0;
}

static int run_command(struct qmp_session *s, const char *name, json_t *args, json_t **ret,
                       struct qmp_error *err)
{
    if (!s->negotiated) {
        if (strcmp(name, "qmp_capabilities") == 0) {
            return cmd_capabilities(s, args, ret, err);
        }
        qmp_error_set(err, "CommandNotFound",
                      "Expecting capabilities negotiation with 'qmp_capabilities'");
        return -1;
    }
    if (strcmp(name, "qmp_capabilities") == 0) {
        qmp_error_set(err, "CommandNotFound",
                      "Capabilities negotiation is already complete, command ignored");
        return -1;
    }
    if (strcmp(name, "query-commands") == 0) {
        return cmd_query_commands(s, ret);
    }
    if (strcmp(name, "query-version") == 0) {
        *ret = version_object();
        return 0;
    }
    for (size_t i = 0; i < s->ncmds; i++) {
        if (strcmp(name, s->cmds[i].name) == 0) {
            return s->cmds[i].fn(s->opaque, args, ret, err) == 0 ? 0 : -1;
        }
    }
    qmp_error_set(err, "CommandNotFound", "The command %s has not been found", name);
    return -1;
}

/* ---- request validation and dispatch ---- */

static void dispatch(struct qmp_session *s, json_t *req)
{
    if (!json_is_object(req)) {
        send_error(s, NULL, "GenericError", "QMP input must be a JSON object");
        return;
    }
    json_t *id = json_object_get(req, "id");
    const char *key;
    json_t *val;
    char desc[sizeof(((struct qmp_error *)0)->desc)];
    json_object_foreach(req, key, val)
    {
        if (strcmp(key, "execute") == 0) {
            if (!json_is_string(val)) {
                send_error(s, id, "GenericError", "QMP input member 'execute' must be a string");
                return;
            }
        } else if (strcmp(key, "arguments") == 0) {
            if (!json_is_object(val)) {
                send_error(s, id, "GenericError", "QMP input member 'arguments' must be an object");
                return;
            }
        } else if (strcmp(key, "id") != 0) {
            /* "exec-oob" lands here too: it is only valid once the client enabled "oob". */
            snprintf(desc, sizeof(desc), "QMP input member '%s' is unexpected", key);
            send_error(s, id, "GenericError", desc);
            return;
        }
    }
    json_t *exec = json_object_get(req, "execute");
    if (!exec) {
        send_error(s, id, "GenericError", "QMP input lacks member 'execute'");
        return;
    }
    json_t *args = json_object_get(req, "arguments");
    json_t *empty = NULL;
    if (!args) {
        args = empty = json_object();
    }
    json_t *ret = NULL;
    struct qmp_error err = {0};
    if (run_command(s, json_string_value(exec), args, &ret, &err) < 0) {
        json_decref(ret);
        if (!err.cls) {
            err.cls = "GenericError";
        }
        send_error(s, id, err.cls, err.desc[0] ? err.desc : "Command failed");
    } else {
        json_t *msg = json_object();
        json_object_set_new(msg, "return", ret ? ret : json_object());
        if (id) {
            json_object_set(msg, "id", id);
        }
        send_json(s, msg);
        json_decref(msg);
    }
    json_decref(empty);
}

/*
 * QEMU accepts 'single-quoted' strings and the escape \' as an extension to JSON; jansson
 * does not, so rewrite them as standard JSON strings before parsing. Returns the length of
 * the rewritten text in out (at most 2 * len bytes).
 */
static size_t normalise_quotes(const char *in, size_t len, char *out)
{
    size_t o = 0;
    char quote = 0;
    for (size_t i = 0; i < len; i++) {
        char c = in[i];
        if (!quote) {
            if (c == '"' || c == '\'') {
                quote = c;
                c = '"';
            }
            out[o++] = c;
        } else if (c == '\\' && i + 1 < len) {
            char e = in[++i];
            if (e != '\'') {
                out[o++] = '\\';
            }
            out[o++] = e;
        } else if (c == quote) {
            quote = 0;
            out[o++] = '"';
        } else if (c == '"') { /* a bare '"' inside a single-quoted string */
            out[o++] = '\\';
            out[o++] = '"';
        } else {
            out[o++] = c;
        }
    }
    return o;
}

/* Give a huge request's memory back once it is done with, so idle clients stay small. */
static void shrink_buffer(struct qmp_session *s)
{
    if (s->cap > 65536) {
        free(s->buf);
        s->buf = NULL;
        s->cap = 0;
    }
}

static void complete_value(struct qmp_session *s)
{
    size_t len = s->len;
    s->len = 0;
    s->word = false;
    char *text = malloc(2 * len + 1);
    if (!text) {
        send_error(s, NULL, "GenericError", "Out of memory");
        return;
    }
    size_t n = normalise_quotes(s->buf, len, text);
    shrink_buffer(s);
    json_error_t jerr;
    json_t *req = json_loadb(text, n, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
    free(text);
    if (!req) {
        char desc[sizeof(((struct qmp_error *)0)->desc)];
        snprintf(desc, sizeof(desc), "JSON parse error, %s", jerr.text);
        send_error(s, NULL, "GenericError", desc);
        return;
    }
    dispatch(s, req);
    json_decref(req);
}

/*
 * The stream cannot be framed (unbalanced bracket, raw control byte in a string, too deep,
 * too long): report once, forget the partial value, and drop input up to the next newline.
 * QMP clients end each request with a newline, so that is where the next one starts; a
 * newline as the offending byte is itself that boundary.
 */
static void framing_error(struct qmp_session *s, char c, const char *why)
{
    char desc[sizeof(((struct qmp_error *)0)->desc)];
    snprintf(desc, sizeof(desc), "JSON parse error, %s", why);
    send_error(s, NULL, "GenericError", desc);
    s->len = 0;
    s->depth = 0;
    s->quote = 0;
    s->escape = false;
    s->word = false;
    s->skip = c != '\n';
    shrink_buffer(s);
}

static bool append(struct qmp_session *s, char c)
{
    if (s->len == s->cap) {
        if (s->cap >= QMP_MAX_MSG) {
            framing_error(s, c, "request exceeds 1 MiB");
            return false;
        }
        size_t cap = s->cap ? s->cap * 2 : 4096;
        char *buf = realloc(s->buf, cap);
        if (!buf) {
            framing_error(s, c, "out of memory");
            return false;
        }
        s->buf = buf;
        s->cap = cap;
    }
    s->buf[s->len++] = c;
    return true;
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static bool ends_word(char c)
{
    return is_space(c) || (c != '\0' && strchr("{}[]\"',:", c) != NULL);
}

static void feed_byte(struct qmp_session *s, char c)
{
    if (s->skip) {
        s->skip = c != '\n';
        return;
    }
    if (s->quote) {
        if ((unsigned char)c < 0x20) {
            framing_error(s, c, "control character in string");
            return;
        }
        if (!append(s, c)) {
            return;
        }
        if (s->escape) {
            s->escape = false;
        } else if (c == '\\') {
            s->escape = true;
        } else if (c == s->quote) {
            s->quote = 0;
            if (s->depth == 0) {
                complete_value(s);
            }
        }
        return;
    }
    if (s->word) {
        if (!ends_word(c)) {
            append(s, c);
            return;
        }
        complete_value(s); /* and c starts whatever follows */
    }
    switch (c) {
    case '"':
    case '\'':
        if (append(s, c)) {
            s->quote = c;
        }
        return;
    case '{':
    case '[':
        if (s->depth == QMP_MAX_DEPTH) {
            framing_error(s, c, "nesting too deep");
            return;
        }
        if (!append(s, c)) {
            return;
        }
        if (c == '[') {
            s->open_is_array[s->depth / 8] |= (uint8_t)(1u << (s->depth % 8));
        } else {
            s->open_is_array[s->depth / 8] &= (uint8_t) ~(1u << (s->depth % 8));
        }
        s->depth++;
        return;
    case '}':
    case ']':
        if (s->depth == 0) {
            framing_error(s, c, "unbalanced closing bracket");
            return;
        }
        unsigned top = s->depth - 1;
        if (((s->open_is_array[top / 8] >> (top % 8)) & 1) != (c == ']')) {
            framing_error(s, c, "mismatched brackets");
            return;
        }
        if (!append(s, c)) {
            return;
        }
        if (--s->depth == 0) {
            complete_value(s);
        }
        return;
    default:
        break;
    }
    if (s->depth > 0) {
        append(s, c);
    } else if (c == ',' || c == ':') {
        framing_error(s, c, "unexpected character outside a value");
    } else if (!is_space(c)) {
        /* a bare top-level number or literal, or garbage: ends at the next delimiter */
        if (append(s, c)) {
            s->word = true;
        }
    }
}

void qmp_session_feed(struct qmp_session *s, const char *buf, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        feed_byte(s, buf[i]);
    }
}

/* ---- argument helpers ---- */

static json_t *arg_get(json_t *args, const char *key, bool required, struct qmp_error *err, int *rc)
{
    json_t *v = json_object_get(args, key);
    *rc = 0;
    if (!v && required) {
        qmp_error_set(err, "GenericError", "Parameter '%s' is missing", key);
        *rc = -EINVAL;
    }
    return v;
}

int qmp_arg_bool(json_t *args, const char *key, bool *out, bool required, struct qmp_error *err)
{
    int rc;
    json_t *v = arg_get(args, key, required, err, &rc);
    if (!v) {
        return rc;
    }
    if (!json_is_boolean(v)) {
        qmp_error_set(err, "GenericError", "Invalid parameter type for '%s', expected: boolean",
                      key);
        return -EINVAL;
    }
    *out = json_is_true(v);
    return 0;
}

int qmp_arg_int(json_t *args, const char *key, int64_t *out, bool required, struct qmp_error *err)
{
    int rc;
    json_t *v = arg_get(args, key, required, err, &rc);
    if (!v) {
        return rc;
    }
    if (!json_is_integer(v)) {
        qmp_error_set(err, "GenericError", "Invalid parameter type for '%s', expected: integer",
                      key);
        return -EINVAL;
    }
    *out = (int64_t)json_integer_value(v);
    return 0;
}

int qmp_arg_string(json_t *args, const char *key, const char **out, bool required,
                   struct qmp_error *err)
{
    int rc;
    json_t *v = arg_get(args, key, required, err, &rc);
    if (!v) {
        return rc;
    }
    if (!json_is_string(v)) {
        qmp_error_set(err, "GenericError", "Invalid parameter type for '%s', expected: string",
                      key);
        return -EINVAL;
    }
    *out = json_string_value(v);
    return 0;
}

int qmp_arg_check_known(json_t *args, const char *const *known, struct qmp_error *err)
{
    const char *key;
    json_t *val;
    json_object_foreach(args, key, val)
    {
        bool ok = false;
        for (size_t i = 0; known[i]; i++) {
            if (strcmp(key, known[i]) == 0) {
                ok = true;
                break;
            }
        }
        if (!ok) {
            qmp_error_set(err, "GenericError", "Parameter '%s' is unexpected", key);
            return -EINVAL;
        }
    }
    return 0;
}

/* ---- unix socket server ---- */

struct qmp_client {
    struct qmp_server *srv;
    int fd;
    struct qmp_session *session;
    char *out; /* bytes the socket would not take yet */
    size_t out_len, out_cap;
    uint32_t events; /* the epoll mask currently registered */
    bool eof;        /* peer shut its side: close once our output is flushed */
    bool dead;       /* error or overflow: close at the next safe point */
    bool busy;       /* its own callback is on the stack: do not free it yet */
    struct qmp_client *next;
};

struct qmp_server {
    struct evloop *loop;
    struct unix_listener sock;
    const struct qmp_command *cmds;
    size_t ncmds;
    void *opaque;
    struct qmp_client *clients;
    unsigned nclients;
};

static void client_close(struct qmp_client *c)
{
    struct qmp_server *srv = c->srv;
    for (struct qmp_client **pp = &srv->clients; *pp; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    }
    srv->nclients--;
    evloop_del_fd(srv->loop, c->fd);
    close(c->fd);
    qmp_session_free(c->session);
    free(c->out);
    free(c);
}

/* Write as much pending output as the socket takes; false on a write error. */
static bool client_flush(struct qmp_client *c)
{
    if (c->out_len == 0) {
        return true; /* c->out may still be NULL: memmove() must not see it */
    }
    size_t done = 0;
    while (done < c->out_len) {
        ssize_t n = send(c->fd, c->out + done, c->out_len - done, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                break;
            }
            return false;
        }
        done += (size_t)n;
    }
    memmove(c->out, c->out + done, c->out_len - done);
    c->out_len -= done;
    return true;
}

/* Register what the client waits for: input unless backed up or at EOF, output if pending. */
static void client_update_events(struct qmp_client *c)
{
    uint32_t events = 0;
    if (!c->eof && c->out_len < QMP_OUT_HIGH) {
        events |= EPOLLIN;
    }
    if (c->out_len) {
        events |= EPOLLOUT;
    }
    if (events != c->events && evloop_mod_fd(c->srv->loop, c->fd, events) == 0) {
        c->events = events;
    }
}

static void client_out(void *opaque, const char *buf, size_t len)
{
    struct qmp_client *c = opaque;
    if (c->dead) {
        return;
    }
    if (c->out_len == 0) {
        while (len) {
            ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL | MSG_DONTWAIT);
            if (n < 0) {
                if (errno == EINTR) {
                    continue;
                }
                if (errno == EAGAIN || errno == EWOULDBLOCK) {
                    break;
                }
                c->dead = true;
                return;
            }
            buf += n;
            len -= (size_t)n;
        }
    }
    if (len == 0) {
        return;
    }
    /* A client that stops reading its events must not grow our memory without bound. */
    if (len > QMP_MAX_OUT - c->out_len) {
        c->dead = true;
        return;
    }
    if (c->out_len + len > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap : 4096;
        while (cap < c->out_len + len) {
            cap *= 2;
        }
        char *out = realloc(c->out, cap);
        if (!out) {
            c->dead = true;
            return;
        }
        c->out = out;
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, buf, len);
    c->out_len += len;
}

static void client_read(struct qmp_client *c)
{
    char buf[QMP_READ_CHUNK];
    /* A bounded number of chunks per wake-up keeps one chatty client from starving others. */
    for (int i = 0; i < 16 && !c->dead && !c->eof && c->out_len < QMP_OUT_HIGH; i++) {
        ssize_t n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno != EAGAIN && errno != EWOULDBLOCK) {
                c->dead = true;
            }
            return;
        }
        if (n == 0) {
            c->eof = true;
            return;
        }
        qmp_session_feed(c->session, buf, (size_t)n);
    }
}

static void client_ready(void *opaque, uint32_t events)
{
    struct qmp_client *c = opaque;
    c->busy = true;
    if ((events & EPOLLOUT) && !client_flush(c)) {
        c->dead = true;
    }
    if (events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
        client_read(c);
        if ((events & (EPOLLHUP | EPOLLERR)) && !(events & EPOLLIN)) {
            c->eof = true; /* nothing left to read and nobody to read what we write */
        }
    }
    c->busy = false;
    /* Replies to everything received before EOF are still delivered, as QEMU does. */
    if (c->eof && !c->dead && c->out_len && !client_flush(c)) {
        c->dead = true;
    }
    if (c->dead || (c->eof && c->out_len == 0)) {
        client_close(c);
        return;
    }
    client_update_events(c);
}

/* Close clients marked dead while something else was on the stack, except busy ones. */
static void reap_clients(struct qmp_server *srv)
{
    struct qmp_client *c = srv->clients;
    while (c) {
        struct qmp_client *next = c->next;
        if (c->dead && !c->busy) {
            client_close(c);
        } else if (!c->busy) {
            client_update_events(c);
        }
        c = next;
    }
}

static void server_accept(void *opaque, uint32_t events)
{
    struct qmp_server *srv = opaque;
    for (;;) {
        int fd = accept4(srv->sock.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            return; /* EAGAIN, or a client gone before accept: nothing to do either way */
        }
        if (srv->nclients >= QMP_MAX_CLIENTS) {
            close(fd);
            continue;
        }
        struct qmp_client *c = calloc(1, sizeof(*c));
        if (c) {
            c->srv = srv;
            c->fd = fd;
            c->session = qmp_session_new(srv->cmds, srv->ncmds, srv->opaque, client_out, c);
        }
        if (!c || !c->session || evloop_add_fd(srv->loop, fd, EPOLLIN, client_ready, c) < 0) {
            if (c) {
                qmp_session_free(c->session);
            }
            free(c);
            close(fd);
            continue;
        }
        c->events = EPOLLIN;
        c->next = srv->clients;
        srv->clients = c;
        srv->nclients++;
        qmp_session_start(c->session);
        if (c->dead) {
            client_close(c);
        } else {
            client_update_events(c);
        }
    }
}

struct qmp_server *qmp_server_new(struct evloop *loop, const char *path,
                                  const struct qmp_command *cmds, size_t ncmds, void *opaque,
                                  char *err, size_t errlen)
{
    struct qmp_server *srv = calloc(1, sizeof(*srv));
    if (!srv) {
        snprintf(err, errlen, "qmp: out of memory");
        return NULL;
    }
    srv->loop = loop;
    srv->cmds = cmds;
    srv->ncmds = ncmds;
    srv->opaque = opaque;
    /* The socket controls the VM: owner only (unix_listener_open). */
    char why[512];
    int r = unix_listener_open(&srv->sock, path, 16, why, sizeof(why));
    if (r < 0) {
        snprintf(err, errlen, "qmp: %s%s%s", why, r == -ENAMETOOLONG ? ": " : "",
                 r == -ENAMETOOLONG ? path : "");
        free(srv);
        return NULL;
    }
    int rc = evloop_add_fd(loop, srv->sock.fd, EPOLLIN, server_accept, srv);
    if (rc < 0) {
        snprintf(err, errlen, "qmp: event loop: %s", strerror(-rc));
        unix_listener_close(&srv->sock);
        free(srv);
        return NULL;
    }
    return srv;
}

void qmp_server_free(struct qmp_server *srv)
{
    if (!srv) {
        return;
    }
    while (srv->clients) {
        /* Best effort, never blocking: the reply to "quit" and a final SHUTDOWN event. */
        if (!srv->clients->dead) {
            client_flush(srv->clients);
        }
        client_close(srv->clients);
    }
    evloop_del_fd(srv->loop, srv->sock.fd);
    /* Unlinks only the file we created: another server may have taken the path since. */
    unix_listener_close(&srv->sock);
    free(srv);
}

void qmp_server_event(struct qmp_server *srv, const char *name, json_t *data)
{
    for (struct qmp_client *c = srv->clients; c; c = c->next) {
        if (!c->dead) {
            qmp_session_event(c->session, name, data);
        }
    }
    reap_clients(srv);
}
