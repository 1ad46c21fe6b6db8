/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The state description every device exports: a versioned table of its fields. Save,
 * restore and migration are generated from the table; adding a field to a device means
 * adding one line to it. post_load validates what was loaded and touches no other device.
 */
#ifndef DESKVM_SNAPSHOTS_VMSTATE_H
#define DESKVM_SNAPSHOTS_VMSTATE_H

#include <stddef.h>
#include <stdint.h>

struct vmstate_field {
    const char *name;
    size_t offset;        /* in the device struct */
    size_t size;          /* of one element */
    unsigned count;       /* elements (arrays), >= 1 */
    unsigned version_min; /* first state version that has this field */
};

struct vmstate {
    const char *name;
    unsigned version;
    const struct vmstate_field *fields; /* terminated by an entry with name == NULL */
    /* Check invariants after load (-EINVAL refuses the state) and recompute derived state. */
    int (*post_load)(void *opaque);
    /*
     * Optional: state that is no fixed table (a list of resources with their page lists),
     * saved after the fields as a variable-length tail. All three or none.
     * tail_save: with buf NULL the bytes it would write; else writes them (-ENOSPC if len is
     * short) and returns the count. tail_check: validates a tail against what the device can
     * take (limits, guest RAM) without changing it: 0 or -EINVAL. tail_load: runs after the
     * fields are in place and post_load accepted them; validates again and replaces the tail
     * state, or refuses (-EINVAL) leaving it as it was (vmstate_load then restores the fields).
     */
    long (*tail_save)(const void *opaque, void *buf, size_t len);
    int (*tail_check)(const void *opaque, const void *buf, size_t len);
    int (*tail_load)(void *opaque, const void *buf, size_t len);
};

#define VMSTATE_FIELD(type, field)                                                                 \
    {                                                                                              \
#field, offsetof(type, field), sizeof(((type *)0)->field), 1, 1                            \
    }
#define VMSTATE_ARRAY(type, field)                                                                 \
    {                                                                                              \
#field, offsetof(type, field), sizeof(((type *)0)->field[0]),                              \
            sizeof(((type *)0)->field) / sizeof(((type *)0)->field[0]), 1                          \
    }
#define VMSTATE_FIELD_V(type, field, v)                                                            \
    {                                                                                              \
#field, offsetof(type, field), sizeof(((type *)0)->field), 1, (v)                          \
    }
#define VMSTATE_END                                                                                \
    {                                                                                              \
        NULL, 0, 0, 0, 0                                                                           \
    }

/* Bytes vmstate_save() writes for this description (without a tail). */
size_t vmstate_size(const struct vmstate *vms);
/* Bytes vmstate_save() writes for this device now, its tail included; 0 if the tail fails. */
size_t vmstate_saved_size(const struct vmstate *vms, const void *opaque);
/*
 * Serialize: u32 version, u32 payload length, then every field in table order, little
 * endian as laid out in memory (the engine is x86-64 only), then the tail if the description
 * has one. Returns bytes written or -ENOSPC.
 */
long vmstate_save(const struct vmstate *vms, const void *opaque, void *buf, size_t len);
/*
 * Load into opaque. A state of an older version fills only the fields it has; a newer
 * version, a wrong length or a post_load refusal returns -EINVAL and leaves opaque as it
 * was.
 */
int vmstate_load(const struct vmstate *vms, void *opaque, const void *buf, size_t len);
/*
 * What vmstate_load() checks before touching the device (header, version, length): 0 or
 * -EINVAL. Lets a whole checkpoint be validated before any device is changed.
 */
int vmstate_check(const struct vmstate *vms, const void *buf, size_t len);
/* vmstate_check() and, for a description with a tail, tail_check() against this device. */
int vmstate_check_state(const struct vmstate *vms, const void *opaque, const void *buf, size_t len);

#endif
