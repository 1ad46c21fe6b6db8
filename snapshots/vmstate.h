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

/* Bytes vmstate_save() writes for this description. */
size_t vmstate_size(const struct vmstate *vms);
/*
 * Serialize: u32 version, u32 payload length, then every field in table order, little
 * endian as laid out in memory (the engine is x86-64 only). Returns bytes written or
 * -ENOSPC.
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

#endif
