/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * The snapshot tree of a VM (docs/snapshots.md): checkpoints in a snapshot directory, an
 * index (snapshots.json: id, parent, name, description, creation time, the frozen disk
 * images) and the disks kept as qcow2 external overlays, so that a snapshot's memory and
 * disks always match. All calls on the loop thread with the device lock held.
 */
#ifndef DESKVM_VMM_SNAPTREE_H
#define DESKVM_VMM_SNAPTREE_H

#include <jansson.h>
#include <limits.h>
#include <stddef.h>

struct display_machine;
struct virtio_io;
struct vm;

#define SNAPTREE_INDEX "snapshots.json"
/* The largest thumbnail snapshot-take writes (snap-ID.png, the screen scaled down). */
#define SNAPTREE_THUMB_W 160
#define SNAPTREE_THUMB_H 120
/* A merge writes CHILD.merge and renames it over CHILD (docs/snapshots.md, "Delete"). */
#define SNAPTREE_MERGE_SUFFIX ".merge"

struct snaptree {
    char dir[PATH_MAX];
    json_t *index; /* {"next-id", "next-image", "current", "active": [..], "images": {..},
                      "snapshots": [..]} */
    struct vm *vm;
    struct virtio_io *io;
    struct display_machine *display; /* NULL: no display, no thumbnails */
};

/*
 * Open (or start) the tree in dir; active: the disks' current image paths, in --disk order.
 * 0 or -errno with one line in err.
 */
int snaptree_open(struct snaptree *t, const char *dir, struct vm *vm, struct virtio_io *io,
                  char *const *active, unsigned nactive, char *err, size_t errlen);
void snaptree_close(struct snaptree *t);

/* Take a snapshot; *id_out: its id (borrowed from the index). */
int snaptree_take(struct snaptree *t, const char *name, const char *description,
                  const char **id_out, char *err, size_t errlen);
/* The snapshots as a JSON array (new reference). */
json_t *snaptree_list(struct snaptree *t);
int snaptree_revert(struct snaptree *t, const char *id, char *err, size_t errlen);
int snaptree_delete(struct snaptree *t, const char *id, char *err, size_t errlen);

#endif
