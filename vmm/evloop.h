/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The engine's event loop: epoll over fds (QMP sockets, serial input, ioeventfds, timers).
 * Every callback runs with the device lock held, so device models need no locks of their
 * own; vCPU threads take the same lock around bus dispatch.
 */
#ifndef DESKVM_VMM_EVLOOP_H
#define DESKVM_VMM_EVLOOP_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "vmm/clock.h"

struct evloop;

typedef void (*evloop_fn)(void *opaque, uint32_t events);

struct evloop *evloop_new(pthread_mutex_t *device_lock);
void evloop_free(struct evloop *loop);

/* events: EPOLLIN/EPOLLOUT/... Returns 0 or -errno. */
__attribute__((warn_unused_result)) int evloop_add_fd(struct evloop *loop, int fd, uint32_t events,
                                                      evloop_fn fn, void *opaque);
int evloop_mod_fd(struct evloop *loop, int fd, uint32_t events);
/* Safe to call from inside a callback, for any fd including the one being dispatched. */
int evloop_del_fd(struct evloop *loop, int fd);

/* Run until evloop_stop(); returns the value given to evloop_stop(). It may be run again. */
int evloop_run(struct evloop *loop);
/* Thread-safe; may be called from vCPU threads and signal context is NOT supported. */
void evloop_stop(struct evloop *loop, int status);
/* Thread-safe: run fn(opaque) on the loop thread, under the device lock, soon. */
int evloop_call(struct evloop *loop, void (*fn)(void *opaque), void *opaque);

/* The loop's clock (CLOCK_MONOTONIC, timerfd-backed timers) for device models. */
struct vclock *evloop_clock(struct evloop *loop);

#endif
