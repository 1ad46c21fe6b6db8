/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * QMP control server: QEMU's Machine Protocol wire format on a unix socket (greeting,
 * capabilities negotiation, {"execute": ...} commands, asynchronous events), so existing
 * QMP clients drive deskvm. The protocol core (struct qmp_session) is socket-free so that
 * unit tests and the fuzzer feed it bytes directly.
 */
#ifndef DESKVM_VMM_QMP_H
#define DESKVM_VMM_QMP_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct evloop;

struct qmp_error {
    const char *cls; /* "GenericError", "CommandNotFound", "DeviceNotFound", ... */
    char desc[256];
};

struct qmp_command {
    const char *name;
    /*
     * Run the command. args is the "arguments" object ({} when absent), borrowed.
     * Return 0 and optionally set *ret to a new reference (NULL means {}), or return -1
     * and fill err (cls and desc).
     */
    int (*fn)(void *opaque, json_t *args, json_t **ret, struct qmp_error *err);
};

/* One client connection's protocol state. out() sends bytes to the peer. */
struct qmp_session;
struct qmp_session *qmp_session_new(const struct qmp_command *cmds, size_t ncmds, void *opaque,
                                    void (*out)(void *out_opaque, const char *buf, size_t len),
                                    void *out_opaque);
void qmp_session_free(struct qmp_session *s);
/* Send the greeting. */
void qmp_session_start(struct qmp_session *s);
/* Feed received bytes; complete JSON objects are executed and answered in order. */
void qmp_session_feed(struct qmp_session *s, const char *buf, size_t len);
/* Queue an event if the session has left capabilities-negotiation mode. data is borrowed. */
void qmp_session_event(struct qmp_session *s, const char *name, json_t *data);

/*
 * The server: listens on a unix socket path, any number of clients. Every call, and every
 * command callback, runs on the event-loop thread; other threads reach the server through
 * evloop_call(). qmp_server_free() must not be called from inside a command callback.
 */
struct qmp_server;
struct qmp_server *qmp_server_new(struct evloop *loop, const char *path,
                                  const struct qmp_command *cmds, size_t ncmds, void *opaque,
                                  char *err, size_t errlen);
void qmp_server_free(struct qmp_server *srv);
/* Broadcast an event to every client (data borrowed, may be NULL). */
void qmp_server_event(struct qmp_server *srv, const char *name, json_t *data);

/*
 * Helpers for command implementations, producing QEMU's error texts (class GenericError).
 * Each returns 0 when the argument was stored, or was absent and !required (out untouched,
 * so the caller pre-sets the default), and -EINVAL with err filled otherwise.
 * The string from qmp_arg_string() is borrowed from args.
 */
__attribute__((format(printf, 3, 4))) void qmp_error_set(struct qmp_error *err, const char *cls,
                                                         const char *fmt, ...);
int qmp_arg_bool(json_t *args, const char *key, bool *out, bool required, struct qmp_error *err);
int qmp_arg_int(json_t *args, const char *key, int64_t *out, bool required, struct qmp_error *err);
int qmp_arg_string(json_t *args, const char *key, const char **out, bool required,
                   struct qmp_error *err);
/* Refuse members of args not in the NULL-terminated list known ("Parameter 'X' is unexpected"). */
int qmp_arg_check_known(json_t *args, const char *const *known, struct qmp_error *err);

#endif
