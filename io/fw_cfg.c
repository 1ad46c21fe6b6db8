// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * fw_cfg (QEMU docs/specs/fw_cfg.rst): the items firmware reads at boot (memory map, CPU
 * count, boot order, ACPI tables, kernel), through the selector/data ports or DMA. The guest
 * chooses keys, offsets, descriptor addresses and lengths: all are checked here, and a DMA
 * request that reaches outside RAM ends with the error bit, never a host access.
 */
#include "io/fw_cfg.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "vmm/device.h"
#include "vmm/memory.h"

static void put_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put_be32(uint8_t *p, uint32_t v)
{
    put_be16(p, (uint16_t)(v >> 16));
    put_be16(p + 2, (uint16_t)v);
}

static uint32_t get_be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint32_t bswap32(uint32_t v)
{
    return __builtin_bswap32(v);
}

static int set_item(struct fw_cfg *f, uint16_t key, const void *data, uint32_t len)
{
    if (key >= FW_CFG_KEYS || len > FW_CFG_MAX_ITEM) {
        return -EINVAL;
    }
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy) {
        return -ENOMEM;
    }
    if (len) {
        memcpy(copy, data, len);
    }
    free(f->items[key].data);
    f->items[key] = (struct fw_cfg_item){.data = copy, .len = len};
    return 0;
}

/* The directory: be32 count, then { be32 size, be16 select, be16 reserved, name[56] }. */
static int rebuild_dir(struct fw_cfg *f)
{
    uint8_t dir[4 + FW_CFG_MAX_FILES * 64];
    memset(dir, 0, sizeof(dir));
    put_be32(dir, f->nfiles);
    for (unsigned i = 0; i < f->nfiles; i++) {
        uint8_t *e = dir + 4 + i * 64;
        put_be32(e, f->items[FW_CFG_FILE_FIRST + i].len);
        put_be16(e + 4, (uint16_t)(FW_CFG_FILE_FIRST + i));
        memcpy(e + 8, f->names[i], FW_CFG_NAME_LEN);
    }
    return set_item(f, FW_CFG_FILE_DIR, dir, 4 + f->nfiles * 64);
}

int fw_cfg_init(struct fw_cfg *f, const struct guest_mem *mem)
{
    memset(f, 0, sizeof(*f));
    f->mem = mem;
    int r = set_item(f, FW_CFG_SIGNATURE, "QEMU", 4);
    if (r == 0) {
        r = fw_cfg_add_i32(f, FW_CFG_ID, FW_CFG_VERSION | FW_CFG_VERSION_DMA);
    }
    if (r == 0) {
        r = rebuild_dir(f);
    }
    if (r < 0) {
        fw_cfg_destroy(f);
    }
    return r;
}

void fw_cfg_destroy(struct fw_cfg *f)
{
    if (!f) {
        return;
    }
    for (unsigned i = 0; i < FW_CFG_KEYS; i++) {
        free(f->items[i].data);
        f->items[i] = (struct fw_cfg_item){0};
    }
    f->nfiles = 0;
}

int fw_cfg_add_bytes(struct fw_cfg *f, uint16_t key, const void *data, uint32_t len)
{
    /* Files and the directory are managed by fw_cfg_add_file(). */
    if (key == FW_CFG_FILE_DIR || key >= FW_CFG_FILE_FIRST) {
        return -EINVAL;
    }
    return set_item(f, key, data, len);
}

int fw_cfg_add_i16(struct fw_cfg *f, uint16_t key, uint16_t v)
{
    uint8_t b[2] = {(uint8_t)v, (uint8_t)(v >> 8)};
    return fw_cfg_add_bytes(f, key, b, sizeof(b));
}

int fw_cfg_add_i32(struct fw_cfg *f, uint16_t key, uint32_t v)
{
    uint8_t b[4];
    for (unsigned i = 0; i < 4; i++) {
        b[i] = (uint8_t)(v >> (8 * i));
    }
    return fw_cfg_add_bytes(f, key, b, sizeof(b));
}

int fw_cfg_add_i64(struct fw_cfg *f, uint16_t key, uint64_t v)
{
    uint8_t b[8];
    for (unsigned i = 0; i < 8; i++) {
        b[i] = (uint8_t)(v >> (8 * i));
    }
    return fw_cfg_add_bytes(f, key, b, sizeof(b));
}

int fw_cfg_file_key(const struct fw_cfg *f, const char *name)
{
    for (unsigned i = 0; i < f->nfiles; i++) {
        if (strncmp(f->names[i], name, FW_CFG_NAME_LEN) == 0) {
            return (int)(FW_CFG_FILE_FIRST + i);
        }
    }
    return -ENOENT;
}

int fw_cfg_add_file(struct fw_cfg *f, const char *name, const void *data, uint32_t len)
{
    size_t n = strlen(name);
    if (n == 0 || n >= FW_CFG_NAME_LEN) {
        return -EINVAL;
    }
    if (fw_cfg_file_key(f, name) >= 0) {
        return -EEXIST;
    }
    if (f->nfiles >= FW_CFG_MAX_FILES) {
        return -ENOSPC;
    }
    int r = set_item(f, (uint16_t)(FW_CFG_FILE_FIRST + f->nfiles), data, len);
    if (r < 0) {
        return r;
    }
    memset(f->names[f->nfiles], 0, FW_CFG_NAME_LEN);
    memcpy(f->names[f->nfiles], name, n);
    f->nfiles++;
    return rebuild_dir(f);
}

static const struct fw_cfg_item *current(const struct fw_cfg *f)
{
    /* guest-controlled: the selector may name any 16-bit key; bit 14 (write) and 15 (arch) */
    uint16_t key = f->selector & 0x3fff;
    if (f->selector & 0x8000 || key >= FW_CFG_KEYS) {
        return NULL;
    }
    return f->items[key].data ? &f->items[key] : NULL;
}

static void select_key(struct fw_cfg *f, uint16_t key)
{
    f->selector = key;
    f->offset = 0;
    const struct fw_cfg_item *it = current(f);
    if (it && it->on_select) {
        it->on_select(it->opaque, it->data, it->len);
    }
}

int fw_cfg_set_select_hook(struct fw_cfg *f, const char *name,
                           void (*fn)(void *opaque, uint8_t *data, uint32_t len), void *opaque)
{
    int key = fw_cfg_file_key(f, name);
    if (key < 0) {
        return key;
    }
    f->items[key].on_select = fn;
    f->items[key].opaque = opaque;
    return 0;
}

static uint8_t read_byte(struct fw_cfg *f)
{
    const struct fw_cfg_item *it = current(f);
    if (!it || f->offset >= it->len) {
        return 0; /* past the end (or no item) reads 0, as on QEMU */
    }
    return it->data[f->offset++];
}

/* Copy len bytes of the current item (zeros past its end) to guest gpa. */
static int dma_read(struct fw_cfg *f, uint64_t gpa, uint32_t len)
{
    static const uint8_t zeros[4096];
    const struct fw_cfg_item *it = current(f);
    /* guest-controlled: the whole destination must be RAM before anything is written. */
    if (len && (gpa + len < gpa || !guest_mem_ptr(f->mem, gpa, 1) ||
                guest_mem_read(f->mem, gpa + len - 1, (uint8_t[1]){0}, 1) < 0)) {
        return -EFAULT;
    }
    while (len) {
        uint32_t avail = it && f->offset < it->len ? it->len - f->offset : 0;
        const uint8_t *src = avail ? it->data + f->offset : zeros;
        uint32_t n = avail ? avail : (uint32_t)sizeof(zeros);
        if (n > len) {
            n = len;
        }
        if (guest_mem_write(f->mem, gpa, src, n) < 0) {
            return -EFAULT; /* a hole inside the range */
        }
        if (avail) {
            f->offset += n;
        }
        gpa += n;
        len -= n;
    }
    return 0;
}

static void dma_skip(struct fw_cfg *f, uint32_t len)
{
    const struct fw_cfg_item *it = current(f);
    uint32_t left = it && f->offset < it->len ? it->len - f->offset : 0;
    f->offset += len < left ? len : left;
}

void fw_cfg_dma(struct fw_cfg *f, uint64_t gpa)
{
    uint8_t desc[16];
    /* guest-controlled: the descriptor is copied out before use. */
    if (guest_mem_read(f->mem, gpa, desc, sizeof(desc)) < 0) {
        f->dma_errors++; /* nowhere to report the error */
        return;
    }
    uint32_t control = get_be32(desc);
    uint32_t len = get_be32(desc + 4);
    uint64_t addr = (uint64_t)get_be32(desc + 8) << 32 | get_be32(desc + 12);
    if (control & FW_CFG_DMA_SELECT) {
        select_key(f, (uint16_t)(control >> 16));
    }
    int r = 0;
    if (control & FW_CFG_DMA_WRITE) {
        r = -EPERM; /* no item is writable */
    } else if (control & FW_CFG_DMA_READ) {
        r = dma_read(f, addr, len);
    } else if (control & FW_CFG_DMA_SKIP) {
        dma_skip(f, len);
    }
    uint8_t status[4];
    put_be32(status, r < 0 ? FW_CFG_DMA_ERROR : 0);
    if (r < 0) {
        f->dma_errors++;
    }
    if (guest_mem_write(f->mem, gpa, status, sizeof(status)) < 0) {
        f->dma_errors++;
    }
}

static uint64_t fw_cfg_read(void *opaque, uint64_t off, unsigned size)
{
    struct fw_cfg *f = opaque;
    if (off == FW_CFG_OFF_DATA && size == 1) {
        return read_byte(f);
    }
    if (off == FW_CFG_OFF_SELECTOR && size == 2) {
        return f->selector;
    }
    if ((off == FW_CFG_OFF_DMA_HI || off == FW_CFG_OFF_DMA_LO) && size == 4) {
        /* The DMA address register reads as "QEMU CFG" in guest byte order. */
        uint32_t half = (uint32_t)(FW_CFG_DMA_SIGNATURE >> (off == FW_CFG_OFF_DMA_HI ? 32 : 0));
        return bswap32(half);
    }
    f->bad_access++;
    return size >= 4 ? 0xffffffffu : (1u << (size * 8)) - 1;
}

static void fw_cfg_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    struct fw_cfg *f = opaque;
    if (off == FW_CFG_OFF_SELECTOR && size == 2) {
        select_key(f, (uint16_t)val);
    } else if (off == FW_CFG_OFF_DATA && size == 1) {
        /* Writes through the data port were removed from QEMU (2.4); ignored. */
    } else if (off == FW_CFG_OFF_DMA_HI && size == 4) {
        f->dma_hi = bswap32((uint32_t)val);
    } else if (off == FW_CFG_OFF_DMA_LO && size == 4) {
        uint64_t gpa = (uint64_t)f->dma_hi << 32 | bswap32((uint32_t)val);
        f->dma_hi = 0;
        fw_cfg_dma(f, gpa);
    } else {
        f->bad_access++;
    }
}

const struct bus_ops fw_cfg_ops = {
    .read = fw_cfg_read,
    .write = fw_cfg_write,
    .min_size = 1,
    .max_size = 4,
};

void fw_cfg_reset(struct fw_cfg *f)
{
    f->selector = 0;
    f->offset = 0;
    f->dma_hi = 0;
}

static void fw_cfg_reset_cb(void *opaque)
{
    fw_cfg_reset(opaque);
}

static int fw_cfg_post_load(void *opaque)
{
    /* Any selector and offset are harmless: reads past an item's end return zeros. */
    (void)opaque;
    return 0;
}

static const struct vmstate_field fw_cfg_fields[] = {
    VMSTATE_FIELD(struct fw_cfg, selector),
    VMSTATE_FIELD(struct fw_cfg, offset),
    VMSTATE_FIELD(struct fw_cfg, dma_hi),
    VMSTATE_END,
};

const struct vmstate fw_cfg_vmstate = {
    .name = "fw-cfg",
    .version = 1,
    .fields = fw_cfg_fields,
    .post_load = fw_cfg_post_load,
};

void fw_cfg_device(struct fw_cfg *f, struct device *out)
{
    *out = (struct device){
        .name = "fw-cfg",
        .opaque = f,
        .reset = fw_cfg_reset_cb,
        .state = &fw_cfg_vmstate,
    };
}
