// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * The snapshot tree (vmm/snaptree.h, docs/snapshots.md). A snapshot is a checkpoint file plus,
 * per disk, the image that was active when it was taken: that image is frozen (never written
 * again, made read-only on disk) and a fresh qcow2 overlay with it as backing file becomes
 * the active image. Revert loads the checkpoint and starts a fresh overlay on the snapshot's
 * frozen images. Images the tree created and that no snapshot and no active disk needs any
 * more (not in any remaining chain) are deleted; deleting a snapshot streams its image into
 * the one image built on it, if only one is (docs/snapshots.md, "Delete").
 */
#include "vmm/snaptree.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "io/block.h"
#include "io/virtio_blk.h"
#include "vmm/display_machine.h"
#include "vmm/snapshot.h"
#include "vmm/virtio_io.h"
#include "vmm/vm.h"

static int save_index(struct snaptree *t, char *err, size_t errlen)
{
    char path[PATH_MAX + 32], tmp[PATH_MAX + 48];
    snprintf(path, sizeof(path), "%s/%s", t->dir, SNAPTREE_INDEX);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    if (json_dump_file(t->index, tmp, JSON_INDENT(2) | JSON_SORT_KEYS) < 0) {
        snprintf(err, errlen, "cannot write %s", tmp);
        return -EIO;
    }
    FILE *f = fopen(tmp, "r+");
    if (f) {
        (void)fsync(fileno(f));
        fclose(f);
    }
    if (rename(tmp, path) < 0) {
        snprintf(err, errlen, "cannot rename %s: %s", tmp, strerror(errno));
        unlink(tmp);
        return -errno;
    }
    return 0;
}

/* Remove a file of the tree directory by its name. */
static void unlink_in(struct snaptree *t, const char *name)
{
    char p[PATH_MAX + 260];
    snprintf(p, sizeof(p), "%s/%s", t->dir, name);
    unlink(p);
}

static json_t *find(struct snaptree *t, const char *id, size_t *at)
{
    json_t *snaps = json_object_get(t->index, "snapshots"), *s;
    size_t i;
    json_array_foreach(snaps, i, s)
    {
        if (!strcmp(json_string_value(json_object_get(s, "id")), id)) {
            if (at) {
                *at = i;
            }
            return s;
        }
    }
    return NULL;
}

/* Index shape check for a file read back (the user may have edited it). */
static bool index_valid(json_t *ix, unsigned ndisks)
{
    json_t *snaps = json_object_get(ix, "snapshots"), *s;
    size_t i;
    if (!json_is_integer(json_object_get(ix, "next-id")) ||
        !json_is_integer(json_object_get(ix, "next-image")) ||
        !json_is_object(json_object_get(ix, "images")) || !json_is_array(snaps)) {
        return false;
    }
    json_array_foreach(snaps, i, s)
    {
        json_t *disks = json_object_get(s, "disks");
        if (!json_is_string(json_object_get(s, "id")) ||
            !json_is_string(json_object_get(s, "checkpoint")) || !json_is_array(disks) ||
            json_array_size(disks) != ndisks) {
            return false;
        }
    }
    return true;
}

/*
 * A checkpoint or thumbnail of a deleted snapshot that a crash left after the index was
 * written (docs/snapshots.md, "Delete"): snap-ID.dvs / snap-ID.png whose ID the index no
 * longer lists and that is below next-id (so no take in progress wrote it).
 */
static void sweep_orphans(struct snaptree *t)
{
    DIR *d = opendir(t->dir);
    struct dirent *e;
    json_int_t next = json_integer_value(json_object_get(t->index, "next-id"));
    while (d && (e = readdir(d)) != NULL) {
        long long id;
        char ext[4], again[64];
        if (sscanf(e->d_name, "snap-%lld.%3s", &id, ext) != 2 || id <= 0 || id >= next ||
            (strcmp(ext, "dvs") != 0 && strcmp(ext, "png") != 0)) {
            continue;
        }
        snprintf(again, sizeof(again), "snap-%lld.%s", id, ext);
        char key[32];
        snprintf(key, sizeof(key), "%lld", id);
        if (strcmp(again, e->d_name) == 0 && !find(t, key, NULL)) { /* exactly our name */
            unlink_in(t, e->d_name);
        }
    }
    if (d) {
        closedir(d);
    }
}

int snaptree_open(struct snaptree *t, const char *dir, struct vm *vm, struct virtio_io *io,
                  char *const *active, unsigned nactive, char *err, size_t errlen)
{
    memset(t, 0, sizeof(*t));
    t->vm = vm;
    t->io = io;
    if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
        snprintf(err, errlen, "snapshot directory %s: %s", dir, strerror(errno));
        return -errno;
    }
    if (!realpath(dir, t->dir)) {
        snprintf(err, errlen, "snapshot directory %s: %s", dir, strerror(errno));
        return -errno;
    }
    char path[PATH_MAX + 32];
    snprintf(path, sizeof(path), "%s/%s", t->dir, SNAPTREE_INDEX);
    if (access(path, F_OK) == 0) {
        json_error_t je;
        t->index = json_load_file(path, 0, &je);
        if (!t->index || !index_valid(t->index, nactive)) {
            snprintf(err, errlen, "%s: not a snapshot index for this VM (%s)", path,
                     t->index ? "wrong shape or disk count" : je.text);
            json_decref(t->index);
            t->index = NULL;
            return -EINVAL;
        }
    } else {
        t->index = json_pack("{s:i, s:i, s:n, s:{}, s:[]}", "next-id", 1, "next-image", 1,
                             "current", "images", "snapshots");
    }
    sweep_orphans(t);
    /* Merges a crash cut short before their rename: the children are intact. */
    const char *key;
    json_t *v;
    json_object_foreach(json_object_get(t->index, "images"), key, v)
    {
        char tmp[PATH_MAX + 16];
        snprintf(tmp, sizeof(tmp), "%s%s", key, SNAPTREE_MERGE_SUFFIX);
        unlink(tmp);
    }
    json_t *act = json_array();
    for (unsigned i = 0; i < nactive; i++) {
        char *abs = realpath(active[i], NULL);
        json_array_append_new(act, json_string(abs ? abs : active[i]));
        free(abs);
    }
    json_object_set_new(t->index, "active", act);
    return 0;
}

void snaptree_close(struct snaptree *t)
{
    json_decref(t->index);
    t->index = NULL;
}

/* A fresh overlay on backing for disk i: created, opened read-write. */
static int new_overlay(struct snaptree *t, unsigned i, const char *backing, char *path,
                       size_t pathlen, struct block_image **img, char *err, size_t errlen)
{
    json_int_t n = json_integer_value(json_object_get(t->index, "next-image"));
    json_object_set_new(t->index, "next-image", json_integer(n + 1));
    char berr[BLOCK_ERR_LEN];
    int len = snprintf(path, pathlen, "%s/disk%u-%lld.qcow2", t->dir, i, (long long)n);
    if (len < 0 || (size_t)len >= pathlen) {
        snprintf(err, errlen, "disk %u: the snapshot directory's path is too long", i);
        return -ENAMETOOLONG;
    }
    struct qcow2_create_opts o = {.backing_file = backing, .backing_format = "qcow2"};
    int r = qcow2_create(path, &o, berr, sizeof(berr));
    if (r == 0) {
        r = block_open(path, BLOCK_FORMAT_QCOW2, false, BLOCK_CACHE_WRITEBACK, img, berr,
                       sizeof(berr));
        if (r < 0) {
            unlink(path);
        }
    }
    if (r < 0) {
        snprintf(err, errlen, "disk %u: cannot start an overlay on %s: %s", i, backing, berr);
    }
    return r;
}

/*
 * Make the overlays in paths[]/imgs[] the active images (their backings: backing[]). The old
 * active images are closed; the caller decides their fate.
 */
static void switch_disks(struct snaptree *t, char (*paths)[PATH_MAX], struct block_image **imgs,
                         const char *const *backing)
{
    json_t *act = json_object_get(t->index, "active");
    json_t *images = json_object_get(t->index, "images");
    for (unsigned i = 0; i < t->io->nblk; i++) {
        if (!imgs[i]) {
            continue;
        }
        char ignored[256];
        struct block_image *old =
            virtio_blk_replace_image(t->io->blk[i], imgs[i], ignored, sizeof(ignored));
        block_close(old); /* sizes match: the overlay's size is its backing's */
        json_object_set_new(images, paths[i], json_string(backing[i]));
        json_array_set_new(act, i, json_string(paths[i]));
    }
}

static void drop_overlays(char (*paths)[PATH_MAX], struct block_image **imgs, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        if (imgs[i]) {
            block_close(imgs[i]);
            unlink(paths[i]);
            imgs[i] = NULL;
        }
    }
}

/* Every image the tree created that no remaining chain needs: delete it. */
static void collect_garbage(struct snaptree *t)
{
    json_t *images = json_object_get(t->index, "images");
    json_t *live = json_object();
    json_t *roots = json_array(), *s, *v;
    size_t i, j;
    json_array_extend(roots, json_object_get(t->index, "active"));
    json_array_foreach(json_object_get(t->index, "snapshots"), i, s)
    {
        json_array_extend(roots, json_object_get(s, "disks"));
    }
    json_array_foreach(roots, j, v)
    {
        const char *p = json_string_value(v);
        /* Walk down the chain through the images the tree knows; bounded by their count. */
        for (size_t depth = 0; p && depth <= json_object_size(images); depth++) {
            json_object_set_new(live, p, json_true());
            p = json_string_value(json_object_get(images, p));
        }
    }
    const char *key;
    void *tmp;
    json_object_foreach_safe(images, tmp, key, v)
    {
        if (!json_object_get(live, key)) {
            unlink(key);
            json_object_del(images, key);
        }
    }
    json_decref(roots);
    json_decref(live);
}

int snaptree_take(struct snaptree *t, const char *name, const char *description,
                  const char **id_out, char *err, size_t errlen)
{
    struct virtio_io *io = t->io;
    json_t *act = json_object_get(t->index, "active");
    for (unsigned i = 0; i < io->nblk; i++) {
        struct block_image *img = io->blk[i]->img;
        if (!block_readonly(img) && strcmp(block_format_name(img), "qcow2") != 0) {
            snprintf(err, errlen,
                     "disk %u (%s) is %s: snapshots keep disk state in qcow2 overlays; convert "
                     "it (qemu-img convert -O qcow2) or attach it read-only",
                     i, json_string_value(json_array_get(act, i)), block_format_name(img));
            return -ENOTSUP;
        }
    }
    json_int_t n = json_integer_value(json_object_get(t->index, "next-id"));
    char id[32], ckpt[PATH_MAX + 64];
    snprintf(id, sizeof(id), "%lld", (long long)n);
    snprintf(ckpt, sizeof(ckpt), "%s/snap-%s.dvs", t->dir, id);

    bool was_running = t->vm->state == VM_RUNNING;
    vm_pause(t->vm);
    static char paths[CLI_MAX_DISKS][PATH_MAX], fbuf[CLI_MAX_DISKS][PATH_MAX];
    struct block_image *imgs[CLI_MAX_DISKS] = {0};
    const char *frozen[CLI_MAX_DISKS] = {0};
    int r = vm_snapshot_save(t->vm, ckpt, 0, err, errlen); /* drains the disks */
    char thumb[64] = "";
    if (r == 0 && t->display) {
        /* Optional: without libpng (or on a write error) the snapshot has no picture. */
        snprintf(thumb, sizeof(thumb), "snap-%s.png", id);
        char tpath[PATH_MAX + 64];
        snprintf(tpath, sizeof(tpath), "%s/%s", t->dir, thumb);
        if (display_machine_thumbnail(t->display, tpath, SNAPTREE_THUMB_W, SNAPTREE_THUMB_H) < 0) {
            thumb[0] = '\0';
        }
    }
    /* Flushed before an overlay opens them read-only as its backing: metadata on disk. */
    for (unsigned i = 0; i < io->nblk && r == 0; i++) {
        snprintf(fbuf[i], sizeof(fbuf[i]), "%s", json_string_value(json_array_get(act, i)));
        frozen[i] = fbuf[i];
        if (!block_readonly(io->blk[i]->img)) {
            if (block_flush(io->blk[i]->img) < 0) {
                snprintf(err, errlen, "disk %u: cannot flush %s", i, frozen[i]);
                r = -EIO;
            } else {
                r = new_overlay(t, i, frozen[i], paths[i], sizeof(paths[i]), &imgs[i], err, errlen);
            }
        }
    }
    if (r < 0) {
        drop_overlays(paths, imgs, io->nblk);
        unlink(ckpt);
        if (thumb[0]) {
            unlink_in(t, thumb);
        }
    } else {
        json_t *disks = json_array();
        for (unsigned i = 0; i < io->nblk; i++) {
            json_array_append_new(disks, json_string(frozen[i]));
        }
        json_t *cur = json_object_get(t->index, "current");
        json_t *snap =
            json_pack("{s:s, s:O, s:s, s:s, s:I, s:s, s:o}", "id", id, "parent", cur, "name", name,
                      "description", description ? description : "", "created",
                      (json_int_t)time(NULL), "checkpoint", ckpt, "disks", disks);
        json_object_set_new(snap, "thumbnail", thumb[0] ? json_string(thumb) : json_null());
        json_array_append_new(json_object_get(t->index, "snapshots"), snap);
        switch_disks(t, paths, imgs, frozen);
        for (unsigned i = 0; i < io->nblk; i++) {
            if (imgs[i]) {
                (void)chmod(frozen[i], 0444); /* frozen: never written again */
            }
        }
        json_object_set_new(t->index, "current", json_string(id));
        json_object_set_new(t->index, "next-id", json_integer(n + 1));
        r = save_index(t, err, errlen);
        *id_out = json_string_value(json_object_get(snap, "id"));
    }
    if (was_running) {
        vm_resume(t->vm);
    }
    return r;
}

json_t *snaptree_list(struct snaptree *t)
{
    json_t *out = json_array(), *s;
    size_t i;
    const char *cur = json_string_value(json_object_get(t->index, "current"));
    json_array_foreach(json_object_get(t->index, "snapshots"), i, s)
    {
        json_t *o = json_deep_copy(s);
        const char *thumb = json_string_value(json_object_get(s, "thumbnail"));
        if (thumb) {
            char p[PATH_MAX + 64];
            snprintf(p, sizeof(p), "%s/%s", t->dir, thumb);
            json_object_set_new(o, "thumbnail", json_string(p));
        } else {
            json_object_set_new(o, "thumbnail", json_null());
        }
        json_object_set_new(
            o, "current",
            json_boolean(cur && !strcmp(cur, json_string_value(json_object_get(s, "id")))));
        json_array_append_new(out, o);
    }
    return out;
}

int snaptree_revert(struct snaptree *t, const char *id, char *err, size_t errlen)
{
    json_t *s = find(t, id, NULL);
    if (!s) {
        snprintf(err, errlen, "no snapshot with id '%s'", id);
        return -ENOENT;
    }
    struct virtio_io *io = t->io;
    json_t *disks = json_object_get(s, "disks");
    bool was_running = t->vm->state == VM_RUNNING;
    vm_pause(t->vm);
    static char paths[CLI_MAX_DISKS][PATH_MAX], fbuf[CLI_MAX_DISKS][PATH_MAX];
    struct block_image *imgs[CLI_MAX_DISKS] = {0};
    const char *frozen[CLI_MAX_DISKS] = {0};
    int r = 0;
    for (unsigned i = 0; i < io->nblk && r == 0; i++) {
        snprintf(fbuf[i], sizeof(fbuf[i]), "%s", json_string_value(json_array_get(disks, i)));
        frozen[i] = fbuf[i];
        if (!block_readonly(io->blk[i]->img)) {
            r = new_overlay(t, i, frozen[i], paths[i], sizeof(paths[i]), &imgs[i], err, errlen);
        }
    }
    if (r == 0) {
        /* Drains the disks first: no old request lands on the new overlays. */
        r = vm_snapshot_load(t->vm, json_string_value(json_object_get(s, "checkpoint")), 0, err,
                             errlen);
    }
    if (r < 0) {
        drop_overlays(paths, imgs, io->nblk);
    } else {
        switch_disks(t, paths, imgs, frozen);
        json_object_set_new(t->index, "current", json_string(id));
        collect_garbage(t); /* the overlay left behind */
        r = save_index(t, err, errlen);
    }
    if (was_running) {
        vm_resume(t->vm);
    }
    return r;
}

/* An image a remaining snapshot or an active disk names directly. */
static bool image_named(struct snaptree *t, const char *path)
{
    json_t *s, *v;
    size_t i, j;
    json_array_foreach(json_object_get(t->index, "active"), j, v)
    {
        if (!strcmp(json_string_value(v), path)) {
            return true;
        }
    }
    json_array_foreach(json_object_get(t->index, "snapshots"), i, s)
    {
        json_array_foreach(json_object_get(s, "disks"), j, v)
        {
            if (!strcmp(json_string_value(v), path)) {
                return true;
            }
        }
    }
    return false;
}

static void sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

/*
 * Flush disk i's active image and serve it from a fresh open of the same file: its backing
 * chain is read again from the files (after a merge renamed a new image over one of them).
 * VM paused.
 */
static int reopen_active(struct snaptree *t, unsigned i, char *err, size_t errlen)
{
    struct virtio_blk *blk = t->io->blk[i];
    const char *path = json_string_value(json_array_get(json_object_get(t->index, "active"), i));
    struct block_image *img;
    char berr[BLOCK_ERR_LEN];
    virtio_blk_drain(blk);
    int r = block_flush(blk->img);
    if (r == 0) {
        r = block_open(path, BLOCK_FORMAT_QCOW2, false, BLOCK_CACHE_WRITEBACK, &img, berr,
                       sizeof(berr));
    }
    if (r < 0) {
        snprintf(err, errlen, "disk %u: cannot reopen %s after the merge: %s", i, path,
                 r == -EIO ? "flush failed" : berr);
        return r;
    }
    struct block_image *old = virtio_blk_replace_image(blk, img, berr, sizeof(berr));
    if (!old) {
        block_close(img);
        snprintf(err, errlen, "disk %u: %s", i, berr);
        return -EINVAL;
    }
    block_close(old);
    return 0;
}

static bool same_file(const char *a, const char *b)
{
    struct stat sa, sb;
    return stat(a, &sa) == 0 && stat(b, &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

/* The path of path's backing file into buf (or a one-line error). */
static int backing_of(const char *path, char *buf, size_t len)
{
    struct block_image *img;
    int r = block_open(path, BLOCK_FORMAT_QCOW2, true, BLOCK_CACHE_WRITEBACK, &img, buf, len);
    if (r == 0) {
        struct block_image *b = block_backing(img);
        snprintf(buf, len, "%s", b ? block_path(b) : "");
        block_close(img);
    }
    return r;
}

/*
 * Disk i's image `gone` is named by no snapshot and no active disk any more. When exactly one
 * image the tree made has it as backing file, stream it into that child (a new file renamed
 * over the child, so a crash leaves the old or the new child, both reading the same) and
 * rebase the child onto gone's backing file; collect_garbage() then deletes gone. Images
 * the user passed are never merged (see docs/snapshots.md). VM paused.
 */
static int merge_into_child(struct snaptree *t, unsigned i, const char *gone, char *err,
                            size_t errlen)
{
    json_t *images = json_object_get(t->index, "images"), *v;
    json_t *gone_backing = json_object_get(images, gone);
    const char *key, *child = NULL;
    unsigned nchild = 0;
    if (!gone_backing || image_named(t, gone)) {
        return 0;
    }
    json_object_foreach(images, key, v)
    {
        const char *b = json_string_value(v);
        if (b && !strcmp(b, gone)) {
            child = key;
            nchild++;
        }
    }
    if (nchild != 1) {
        return 0; /* a branch point stays; no child: collect_garbage() deletes it */
    }
    const char *active = json_string_value(json_array_get(json_object_get(t->index, "active"), i));
    char tmp[PATH_MAX + 16];
    snprintf(tmp, sizeof(tmp), "%s%s", child, SNAPTREE_MERGE_SUFFIX);
    unlink(tmp); /* a merge a crash cut short */
    if (!strcmp(child, active)) {
        /* The running VM writes the child: everything it wrote must be in the file. */
        virtio_blk_drain(t->io->blk[i]);
        if (block_flush(t->io->blk[i]->img) < 0) {
            snprintf(err, errlen, "disk %u: cannot flush %s before the merge", i, child);
            return -EIO;
        }
    }
    char merr[BLOCK_ERR_LEN];
    int r = backing_of(child, merr, sizeof(merr));
    if (r < 0) {
        snprintf(err, errlen, "disk %u: %s", i, merr);
        return r;
    }
    if (!same_file(merr, gone)) {
        /* A merge whose index update a crash cut short: the file already has its new
         * backing. */
        json_object_set(images, child, gone_backing);
        return 0;
    }
    r = block_stream_backing(child, tmp, merr, sizeof(merr));
    if (r < 0) {
        snprintf(err, errlen, "disk %u: %s", i, merr);
        return r;
    }
    struct stat st;
    if (stat(child, &st) == 0) {
        (void)chmod(tmp, st.st_mode & 07777);
    }
    if (rename(tmp, child) < 0) {
        r = -errno;
        snprintf(err, errlen, "disk %u: cannot rename %s: %s", i, tmp, strerror(errno));
        unlink(tmp);
        return r;
    }
    sync_dir(t->dir);
    json_object_set(images, child, gone_backing);
    return reopen_active(t, i, err, errlen);
}

int snaptree_delete(struct snaptree *t, const char *id, char *err, size_t errlen)
{
    size_t at;
    json_t *s = find(t, id, &at);
    if (!s) {
        snprintf(err, errlen, "no snapshot with id '%s'", id);
        return -ENOENT;
    }
    json_t *saved = json_deep_copy(t->index);
    json_t *parent = json_incref(json_object_get(s, "parent"));
    json_t *disks = json_incref(json_object_get(s, "disks"));
    char ckpt[PATH_MAX], thumb[64] = "";
    snprintf(ckpt, sizeof(ckpt), "%s", json_string_value(json_object_get(s, "checkpoint")));
    const char *th = json_string_value(json_object_get(s, "thumbnail"));
    if (th && strlen(th) < sizeof(thumb) && !strchr(th, '/')) {
        snprintf(thumb, sizeof(thumb), "%s", th);
    }
    json_t *c;
    size_t i;
    json_array_foreach(json_object_get(t->index, "snapshots"), i, c)
    {
        const char *p = json_string_value(json_object_get(c, "parent"));
        if (p && !strcmp(p, id)) {
            json_object_set(c, "parent", parent);
        }
    }
    const char *cur = json_string_value(json_object_get(t->index, "current"));
    if (cur && !strcmp(cur, id)) {
        json_object_set(t->index, "current", parent);
    }
    json_decref(parent);
    json_array_remove(json_object_get(t->index, "snapshots"), at);
    bool was_running = t->vm->state == VM_RUNNING;
    vm_pause(t->vm);
    int r = 0;
    for (unsigned d = 0; d < t->io->nblk && r == 0; d++) {
        if (!block_readonly(t->io->blk[d]->img)) {
            r = merge_into_child(t, d, json_string_value(json_array_get(disks, d)), err, errlen);
        }
    }
    json_decref(disks);
    if (r < 0) {
        /* The merge failed before its rename, or could not reopen the disk: the snapshot
         * stays (both states read the same) and the error says why. */
        json_decref(t->index);
        t->index = saved;
        saved = NULL;
    }
    json_decref(saved);
    if (r == 0) {
        /* The index first: a crash before it is written leaves the snapshot, whole. */
        r = save_index(t, err, errlen);
    }
    if (r == 0) {
        unlink(ckpt);
        if (thumb[0]) {
            unlink_in(t, thumb);
        }
        collect_garbage(t);
        r = save_index(t, err, errlen);
    }
    if (was_running) {
        vm_resume(t->vm);
    }
    return r;
}
