// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * CFI flash, Intel command set (io/pflash.h). Every command and address comes from the guest:
 * programs and erases are bounded by the device size, unknown commands set the status error
 * bits and return to read-array mode, as QEMU's pflash_cfi01 does (OVMF is written against
 * it). Programming stores the written bytes (QEMU does not AND them with the old contents;
 * OVMF only programs erased bytes).
 */
#include "io/pflash.h"

#include <errno.h>
#include <string.h>

static void set_mode(struct pflash *f, enum pflash_mode mode)
{
    bool was_array = f->mode == PFLASH_ARRAY;
    f->mode = (uint8_t)mode;
    if (was_array != (mode == PFLASH_ARRAY) && f->array_changed) {
        f->array_changed(f->opaque, mode == PFLASH_ARRAY);
    }
}

/* The CFI query structure (JESD68.01 tables 1-4) for one erase region of 4 KiB blocks. */
static void build_cfi(struct pflash *f)
{
    uint8_t *q = f->cfi;
    memset(q, 0, PFLASH_CFI_LEN);
    q[0x10] = 'Q';
    q[0x11] = 'R';
    q[0x12] = 'Y';
    q[0x13] = 0x01; /* primary command set: Intel/Sharp extended */
    q[0x15] = 0x31; /* primary extended table at 0x31 (not provided: reads 0) */
    q[0x1b] = 0x45; /* Vcc min 4.5 V */
    q[0x1c] = 0x55; /* Vcc max 5.5 V */
    q[0x1f] = 0x07; /* typical byte program 2^7 us */
    q[0x21] = 0x0a; /* typical block erase 2^10 ms */
    q[0x23] = 0x04;
    q[0x25] = 0x04;
    unsigned log2 = 0;
    while ((1ull << log2) < f->size) {
        log2++;
    }
    q[0x27] = (uint8_t)log2; /* device size 2^n bytes */
    q[0x28] = 0x00;          /* x8 interface */
    q[0x2c] = 0x01;          /* one erase block region */
    uint32_t blocks = (uint32_t)(f->size / PFLASH_BLOCK_SIZE) - 1;
    q[0x2d] = (uint8_t)blocks;
    q[0x2e] = (uint8_t)(blocks >> 8);
    q[0x2f] = (uint8_t)((PFLASH_BLOCK_SIZE / 256) & 0xff);
    q[0x30] = (uint8_t)((PFLASH_BLOCK_SIZE / 256) >> 8);
}

int pflash_init(struct pflash *f, uint8_t *data, size_t size, void (*array_changed)(void *, bool),
                void *opaque)
{
    if (!data || size == 0 || size % PFLASH_BLOCK_SIZE || size > (16u << 20)) {
        return -EINVAL;
    }
    memset(f, 0, sizeof(*f));
    f->data = data;
    f->size = size;
    f->array_changed = array_changed;
    f->opaque = opaque;
    f->mode = PFLASH_ARRAY;
    f->status = PFLASH_SR_READY;
    build_cfi(f);
    return 0;
}

bool pflash_array_mode(const struct pflash *f)
{
    return f->mode == PFLASH_ARRAY;
}

void pflash_reset(struct pflash *f)
{
    f->status = PFLASH_SR_READY;
    set_mode(f, PFLASH_ARRAY);
}

static uint64_t pflash_read(void *opaque, uint64_t off, unsigned size)
{
    struct pflash *f = opaque;
    uint64_t v = 0;
    switch ((enum pflash_mode)f->mode) {
    case PFLASH_ARRAY:
        /* guest-controlled: the bus keeps off + size inside the device */
        if (off + size <= f->size) {
            for (unsigned i = 0; i < size; i++) {
                v |= (uint64_t)f->data[off + i] << (8 * i);
            }
        }
        return v;
    case PFLASH_CFI:
        /* x8 device: the query address is the byte address */
        for (unsigned i = 0; i < size; i++) {
            uint64_t a = (off + i) & 0xff;
            v |= (uint64_t)(a < PFLASH_CFI_LEN ? f->cfi[a] : 0) << (8 * i);
        }
        return v;
    case PFLASH_STATUS:
    case PFLASH_PROGRAM:
    case PFLASH_ERASE:
        break;
    }
    return f->status;
}

static void program(struct pflash *f, uint64_t off, uint64_t val, unsigned size)
{
    /* guest-controlled: the whole access must be inside the device */
    if (off >= f->size || size > f->size - off) {
        f->bad_access++;
        f->status |= PFLASH_SR_PROG_ERR;
        return;
    }
    for (unsigned i = 0; i < size; i++) {
        f->data[off + i] = (uint8_t)(val >> (8 * i));
    }
    f->writes += size;
}

static void erase(struct pflash *f, uint64_t off)
{
    /* guest-controlled: any address inside a block erases that block */
    if (off >= f->size) {
        f->bad_access++;
        f->status |= PFLASH_SR_ERASE_ERR;
        return;
    }
    memset(f->data + (off & ~(uint64_t)(PFLASH_BLOCK_SIZE - 1)), 0xff, PFLASH_BLOCK_SIZE);
    f->writes++;
}

static void pflash_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    struct pflash *f = opaque;
    uint8_t cmd = (uint8_t)val;
    switch ((enum pflash_mode)f->mode) {
    case PFLASH_PROGRAM:
        program(f, off, val, size);
        f->status |= PFLASH_SR_READY;
        set_mode(f, PFLASH_STATUS);
        return;
    case PFLASH_ERASE:
        if (cmd == PFLASH_CMD_CONFIRM) {
            erase(f, off);
        } else {
            /* A broken erase sequence: both error bits, as the datasheets specify. */
            f->bad_cmd++;
            f->status |= PFLASH_SR_ERASE_ERR | PFLASH_SR_PROG_ERR;
        }
        f->status |= PFLASH_SR_READY;
        set_mode(f, PFLASH_STATUS);
        return;
    case PFLASH_ARRAY:
    case PFLASH_STATUS:
    case PFLASH_CFI:
        break;
    }
    switch (cmd) {
    case PFLASH_CMD_READ_ARRAY:
    case PFLASH_CMD_READ_ARRAY0:
        set_mode(f, PFLASH_ARRAY);
        break;
    case PFLASH_CMD_PROGRAM:
    case PFLASH_CMD_PROGRAM_ALT:
        set_mode(f, PFLASH_PROGRAM);
        break;
    case PFLASH_CMD_ERASE:
        set_mode(f, PFLASH_ERASE);
        break;
    case PFLASH_CMD_CLEAR_STATUS:
        /* QEMU's pflash_cfi01 returns to read array here; OVMF's flash probe relies on it. */
        f->status = 0;
        set_mode(f, PFLASH_ARRAY);
        break;
    case PFLASH_CMD_READ_STATUS:
        set_mode(f, PFLASH_STATUS);
        break;
    case PFLASH_CMD_CFI_QUERY:
        set_mode(f, PFLASH_CFI);
        break;
    default:
        f->bad_cmd++;
        f->status |= PFLASH_SR_ERASE_ERR | PFLASH_SR_PROG_ERR;
        set_mode(f, PFLASH_ARRAY);
        break;
    }
}

const struct bus_ops pflash_ops = {
    .read = pflash_read,
    .write = pflash_write,
    .min_size = 1,
    .max_size = 4,
};

static int pflash_post_load(void *opaque)
{
    struct pflash *f = opaque;
    if (f->mode > PFLASH_ERASE) {
        return -EINVAL;
    }
    /* Tell the machine which way reads go now (it may already be that way). */
    if (f->array_changed) {
        f->array_changed(f->opaque, f->mode == PFLASH_ARRAY);
    }
    return 0;
}

static const struct vmstate_field pflash_fields[] = {
    VMSTATE_FIELD(struct pflash, mode),
    VMSTATE_FIELD(struct pflash, status),
    VMSTATE_END,
};

const struct vmstate pflash_vmstate = {
    .name = "pflash",
    .version = 1,
    .fields = pflash_fields,
    .post_load = pflash_post_load,
};

static void pflash_reset_cb(void *opaque)
{
    pflash_reset(opaque);
}

struct device pflash_device(struct pflash *f)
{
    return (struct device){
        .name = "pflash",
        .opaque = f,
        .reset = pflash_reset_cb,
        .state = &pflash_vmstate,
    };
}
