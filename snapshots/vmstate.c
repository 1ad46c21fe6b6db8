// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Table-driven device state save/load (see vmstate.h). Loads go to a scratch copy first so
 * that a refused state leaves the device untouched.
 */
#include "snapshots/vmstate.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static size_t fields_size(const struct vmstate *vms, unsigned version)
{
    size_t n = 0;
    for (const struct vmstate_field *f = vms->fields; f->name; f++) {
        if (f->version_min <= version) {
            n += f->size * f->count;
        }
    }
    return n;
}

/* Bytes of the device struct the table covers (for the scratch copy). */
static size_t struct_extent(const struct vmstate *vms)
{
    size_t end = 0;
    for (const struct vmstate_field *f = vms->fields; f->name; f++) {
        size_t e = f->offset + f->size * f->count;
        if (e > end) {
            end = e;
        }
    }
    return end;
}

size_t vmstate_size(const struct vmstate *vms)
{
    return 8 + fields_size(vms, vms->version);
}

static void put_u32(uint8_t *p, uint32_t v)
{
    memcpy(p, &v, 4);
}

static uint32_t get_u32(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

size_t vmstate_saved_size(const struct vmstate *vms, const void *opaque)
{
    long tail = vms->tail_save ? vms->tail_save(opaque, NULL, 0) : 0;
    return tail < 0 ? 0 : vmstate_size(vms) + (size_t)tail;
}

long vmstate_save(const struct vmstate *vms, const void *opaque, void *buf, size_t len)
{
    size_t need = vmstate_size(vms);
    long tail = vms->tail_save ? vms->tail_save(opaque, NULL, 0) : 0;
    if (tail < 0) {
        return tail;
    }
    if (len < need || len - need < (size_t)tail || need - 8 + (size_t)tail > UINT32_MAX) {
        return -ENOSPC;
    }
    uint8_t *out = buf;
    put_u32(out, vms->version);
    put_u32(out + 4, (uint32_t)(need - 8 + (size_t)tail));
    size_t pos = 8;
    for (const struct vmstate_field *f = vms->fields; f->name; f++) {
        if (f->version_min > vms->version) {
            continue;
        }
        size_t n = f->size * f->count;
        memcpy(out + pos, (const uint8_t *)opaque + f->offset, n);
        pos += n;
    }
    if (vms->tail_save) {
        long got = vms->tail_save(opaque, out + pos, len - pos);
        if (got < 0) {
            return got;
        }
        pos += (size_t)got;
        put_u32(out + 4, (uint32_t)(pos - 8));
    }
    return (long)pos;
}

int vmstate_check(const struct vmstate *vms, const void *buf, size_t len)
{
    const uint8_t *in = buf;
    if (len < 8) {
        return -EINVAL;
    }
    uint32_t version = get_u32(in);
    uint32_t payload = get_u32(in + 4);
    size_t fixed = fields_size(vms, version);
    if (version == 0 || version > vms->version || payload != len - 8 ||
        (vms->tail_load ? payload < fixed : payload != fixed)) {
        return -EINVAL;
    }
    return 0;
}

int vmstate_check_state(const struct vmstate *vms, const void *opaque, const void *buf, size_t len)
{
    if (vmstate_check(vms, buf, len) < 0) {
        return -EINVAL;
    }
    if (!vms->tail_check) {
        return 0;
    }
    size_t at = 8 + fields_size(vms, get_u32(buf));
    return vms->tail_check(opaque, (const uint8_t *)buf + at, len - at) < 0 ? -EINVAL : 0;
}

int vmstate_load(const struct vmstate *vms, void *opaque, const void *buf, size_t len)
{
    const uint8_t *in = buf;
    if (vmstate_check(vms, buf, len) < 0) {
        return -EINVAL;
    }
    uint32_t version = get_u32(in);
    size_t extent = struct_extent(vms);
    uint8_t *saved = malloc(extent ? extent : 1);
    if (!saved) {
        return -ENOMEM;
    }
    memcpy(saved, opaque, extent);
    size_t pos = 8;
    for (const struct vmstate_field *f = vms->fields; f->name; f++) {
        if (f->version_min > version) {
            continue;
        }
        size_t n = f->size * f->count;
        memcpy((uint8_t *)opaque + f->offset, in + pos, n);
        pos += n;
    }
    int ret = vms->post_load ? vms->post_load(opaque) : 0;
    if (ret == 0 && vms->tail_load) {
        ret = vms->tail_load(opaque, in + pos, len - pos);
    }
    if (ret < 0) {
        memcpy(opaque, saved, extent);
    }
    free(saved);
    return ret < 0 ? ret : 0;
}
