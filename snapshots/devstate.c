// SPDX-License-Identifier: GPL-2.0-or-later
/* Device state in checkpoints: capture, check and apply by vmstate table (devstate.h). */
#include "snapshots/devstate.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "snapshots/vmstate.h"

int snap_device_section_name(const struct device *devs, unsigned i, char *buf, size_t len)
{
    unsigned same = 0;
    for (unsigned j = 0; j < i; j++) {
        same += strcmp(devs[j].name, devs[i].name) == 0;
    }
    int n = same ? snprintf(buf, len, "%s#%u", devs[i].name, same)
                 : snprintf(buf, len, "%s", devs[i].name);
    return n < 0 || (size_t)n >= len ? -E2BIG : 0;
}

int snap_devices_capture(struct snap_state *st, const struct device *devs, unsigned n, char *err,
                         size_t errlen)
{
    st->ndevices = 0;
    if (n > SNAP_MAX_DEVICES) {
        snprintf(err, errlen, "%u devices, a checkpoint holds at most %u", n, SNAP_MAX_DEVICES);
        return -E2BIG;
    }
    for (unsigned i = 0; i < n; i++) {
        const struct device *d = &devs[i];
        if (!d->state) {
            snprintf(err, errlen,
                     "device '%s' has no state description: this VM cannot be snapshotted",
                     d->name);
            snap_devices_release(st);
            return -ENOTSUP;
        }
        size_t len = vmstate_saved_size(d->state, d->opaque);
        long tail = d->state->tail_save ? d->state->tail_save(d->opaque, NULL, 0) : 0;
        if (tail < 0) {
            snprintf(err, errlen, "device '%s' cannot be checkpointed now: %s", d->name,
                     tail == -EFBIG ? "it holds more state than a checkpoint keeps"
                                    : strerror((int)-tail));
            snap_devices_release(st);
            return (int)tail;
        }
        char name[SNAP_NAME_LEN];
        if (snap_device_section_name(devs, i, name, sizeof(name)) < 0 || len == 0 ||
            len > SNAP_MAX_DEVICE_STATE) {
            snprintf(err, errlen, "device '%s': name or state too long for a checkpoint", d->name);
            snap_devices_release(st);
            return -E2BIG;
        }
        uint8_t *buf = malloc(len);
        if (!buf) {
            snprintf(err, errlen, "out of memory");
            snap_devices_release(st);
            return -ENOMEM;
        }
        struct snap_device *sd = &st->devices[st->ndevices++];
        memset(sd->name, 0, sizeof(sd->name));
        memcpy(sd->name, name, strlen(name));
        sd->data = buf;
        long got = vmstate_save(d->state, d->opaque, buf, len);
        if (got < 0) {
            snprintf(err, errlen, "device '%s': cannot save its state", d->name);
            snap_devices_release(st);
            return (int)got;
        }
        sd->len = (uint32_t)got;
    }
    return 0;
}

void snap_devices_release(struct snap_state *st)
{
    for (unsigned i = 0; i < st->ndevices; i++) {
        free((void *)st->devices[i].data);
        st->devices[i].data = NULL;
    }
    st->ndevices = 0;
}

int snap_devices_check(const struct snap_state *st, const struct device *devs, unsigned n,
                       char *err, size_t errlen)
{
    if (st->ndevices != n) {
        snprintf(err, errlen, "snapshot device sections: %u devices, this VM has %u", st->ndevices,
                 n);
        return -EINVAL;
    }
    for (unsigned i = 0; i < n; i++) {
        const struct device *d = &devs[i];
        const struct snap_device *sd = &st->devices[i];
        char name[SNAP_NAME_LEN];
        if (snap_device_section_name(devs, i, name, sizeof(name)) < 0 ||
            strcmp(sd->name, name) != 0) {
            snprintf(err, errlen, "snapshot device section '%s': this VM has '%s' there", sd->name,
                     name);
            return -EINVAL;
        }
        if (!d->state) {
            snprintf(err, errlen, "device '%s' has no state description", d->name);
            return -ENOTSUP;
        }
        if (vmstate_check_state(d->state, d->opaque, sd->data, sd->len) < 0) {
            snprintf(err, errlen,
                     "snapshot device section '%s': state version, length or contents do not "
                     "fit this device",
                     sd->name);
            return -EINVAL;
        }
    }
    return 0;
}

int snap_devices_apply(const struct snap_state *st, const struct device *devs, unsigned n,
                       char *err, size_t errlen)
{
    for (unsigned i = 0; i < n && i < st->ndevices; i++) {
        const struct device *d = &devs[i];
        int r = vmstate_load(d->state, d->opaque, st->devices[i].data, st->devices[i].len);
        if (r < 0) {
            snprintf(err, errlen, "snapshot device section '%s': the device refuses the state (%s)",
                     d->name, strerror(-r));
            return r;
        }
    }
    return 0;
}
