/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The device part of a checkpoint: every device's vmstate, by name and in registration
 * order (docs/snapshot-format.md, "device"). A device without a state description makes a
 * capture fail, naming it, rather than produce a checkpoint that silently loses its state.
 */
#ifndef DESKVM_SNAPSHOTS_DEVSTATE_H
#define DESKVM_SNAPSHOTS_DEVSTATE_H

#include <stddef.h>

#include "snapshots/snapfile.h"
#include "vmm/device.h"

/*
 * The section name of devs[i]: its name, or "NAME#K" for the K-th later device with the same
 * name (two disks: "virtio-blk.q0", then "virtio-blk.q0#1"). -E2BIG when it does not fit.
 */
int snap_device_section_name(const struct device *devs, unsigned i, char *buf, size_t len);

/* Save each device's state into st->devices (buffers owned by st: snap_devices_release()). */
int snap_devices_capture(struct snap_state *st, const struct device *devs, unsigned n, char *err,
                         size_t errlen);
void snap_devices_release(struct snap_state *st);

/*
 * Everything that can be checked without touching a device: the same count, names and
 * order, a state description on each, and vmstate_check() of each payload. 0 or -EINVAL /
 * -ENOTSUP with err naming the device section.
 */
int snap_devices_check(const struct snap_state *st, const struct device *devs, unsigned n,
                       char *err, size_t errlen);

/*
 * Load each device's state (after snap_devices_check()). Stops at the first device whose
 * post_load refuses; that device is left as it was, earlier ones are changed (the caller
 * puts back a state it captured before).
 */
int snap_devices_apply(const struct snap_state *st, const struct device *devs, unsigned n,
                       char *err, size_t errlen);

#endif
