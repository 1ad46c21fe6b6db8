// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * Guest RAM: memfd allocation, mapping, KVM slot registration and checked gpa→hva lookup.
 */
#include "vmm/memory.h"

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <linux/kvm.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#ifndef MFD_HUGETLB
#define MFD_HUGETLB 0x0004U
#endif

static void add_region(struct guest_mem *m, uint64_t gpa, uint64_t size, uint64_t off)
{
    struct guest_region *r = &m->regions[m->nregions++];
    r->gpa = gpa;
    r->size = size;
    r->hva = m->base + off;
    r->fd_offset = off;
    r->slot = -1;
    r->no_slot = false;
}

static void layout(struct guest_mem *m)
{
    m->nregions = 0;
    uint64_t hole = m->hole ? m->hole : MEM_32BIT_HOLE_START;
    uint64_t low = m->size < hole ? m->size : hole;
    if (low > MEM_VGA_WINDOW_END) {
        /* The VGA window is MMIO, as on a PC: its bytes of the memfd stay unused. */
        add_region(m, 0, MEM_VGA_WINDOW_START, 0);
        if (m->shadow && low > MEM_SHADOW_END) {
            add_region(m, MEM_SHADOW_START, MEM_SHADOW_END - MEM_SHADOW_START, MEM_SHADOW_START);
            m->regions[m->nregions - 1].no_slot = true;
            add_region(m, MEM_SHADOW_END, low - MEM_SHADOW_END, MEM_SHADOW_END);
        } else {
            add_region(m, MEM_VGA_WINDOW_END, low - MEM_VGA_WINDOW_END, MEM_VGA_WINDOW_END);
        }
    } else {
        add_region(m, 0, low < MEM_VGA_WINDOW_START ? low : MEM_VGA_WINDOW_START, 0);
    }
    if (m->size > low) {
        add_region(m, MEM_4G, m->size - low, low);
    }
}

/*
 * A mapping of size bytes that starts on a 2 MiB boundary, so that mremap() moves its page
 * tables a whole page-middle-directory entry at a time (guest_mem_rebase()): from an
 * unaligned address, moving 2 GiB of touched RAM aside took 50-60 ms instead.
 */
static void *map_aligned(uint64_t size, int prot, int flags, int fd)
{
    const uint64_t align = 2ull << 20;
    uint8_t *r =
        mmap(NULL, size + align, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (r == MAP_FAILED) {
        return MAP_FAILED;
    }
    uint8_t *p = (uint8_t *)(((uintptr_t)r + align - 1) & ~(uintptr_t)(align - 1));
    if (p > r) {
        munmap(r, (size_t)(p - r));
    }
    munmap(p + size, (size_t)(r + align - p));
    void *m = mmap(p, size, prot, flags | MAP_FIXED, fd, 0);
    if (m == MAP_FAILED) {
        int e = errno;
        munmap(p, size);
        errno = e;
    }
    return m;
}

int guest_mem_init(struct guest_mem *m, uint64_t size, bool hugepages)
{
    memset(m, 0, sizeof(*m));
    m->memfd = -1;
    if (size < (1ull << 20) || (size & 0xfff)) {
        return -EINVAL;
    }
    int fd = memfd_create("deskvm-ram", MFD_CLOEXEC | (hugepages ? MFD_HUGETLB : 0));
    if (fd < 0) {
        return -errno;
    }
    if (ftruncate(fd, (off_t)size) < 0) {
        int err = -errno;
        close(fd);
        return err;
    }
    /* MAP_NORESERVE: RAM is touched lazily; overcommit decides, as for any process. */
    void *p = map_aligned(size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd);
    if (p == MAP_FAILED) {
        int err = -errno;
        close(fd);
        return err;
    }
    madvise(p, size, MADV_MERGEABLE);
    m->memfd = fd;
    m->base = p;
    m->owns_map = true;
    m->size = size;
    layout(m);
    return 0;
}

void guest_mem_init_host(struct guest_mem *m, void *buf, uint64_t size)
{
    memset(m, 0, sizeof(*m));
    m->memfd = -1;
    m->base = buf;
    m->size = size;
    layout(m);
}

void guest_mem_set_firmware_split(struct guest_mem *m)
{
    if (m->size >= MEM_FIRMWARE_ECAM) {
        m->hole = MEM_FIRMWARE_LOW_SPLIT;
        layout(m);
    }
}

void guest_mem_set_shadow(struct guest_mem *m)
{
    m->shadow = true;
    layout(m);
}

void guest_mem_destroy(struct guest_mem *m)
{
    if (!m) {
        return;
    }
    struct guest_mem_backing b = {m->base, m->size, m->memfd, m->owns_map};
    guest_mem_backing_release(&b);
    free(m->sw_dirty);
    memset(m, 0, sizeof(*m));
    m->memfd = -1;
}

int guest_mem_register(struct guest_mem *m, int vm_fd)
{
    for (unsigned i = 0; i < m->nregions; i++) {
        struct guest_region *r = &m->regions[i];
        if (r->no_slot) {
            continue;
        }
        struct kvm_userspace_memory_region kr = {
            .slot = i,
            .guest_phys_addr = r->gpa,
            .memory_size = r->size,
            .userspace_addr = (uintptr_t)r->hva,
        };
        if (ioctl(vm_fd, KVM_SET_USER_MEMORY_REGION, &kr) < 0) {
            return -errno;
        }
        r->slot = (int)i;
    }
    return 0;
}

static int set_slot(int vm_fd, const struct guest_region *r, uint8_t *hva, uint64_t size)
{
    struct kvm_userspace_memory_region kr = {
        .slot = (uint32_t)r->slot,
        .guest_phys_addr = r->gpa,
        .memory_size = size,
        .userspace_addr = (uintptr_t)hva,
    };
    return ioctl(vm_fd, KVM_SET_USER_MEMORY_REGION, &kr) < 0 ? -errno : 0;
}

void guest_mem_backing_release(struct guest_mem_backing *b)
{
    if (!b) {
        return;
    }
    if (b->owned) {
        munmap(b->base, b->size);
    }
    if (b->memfd >= 0) {
        close(b->memfd);
    }
    b->owned = false;
    b->memfd = -1;
}

/*
 * Put the new mapping where the RAM is, so that the KVM slots need not change: the current
 * mapping is moved aside with mremap() (its page tables move, its pages stay), which makes
 * KVM drop its mappings of that range through the MMU notifier, and the new one is moved
 * into the vacated range. Deleting and re-adding the slots instead costs, per slot, an SRCU
 * grace period, a zap of every shadow page of the VM (KVM_X86_QUIRK_SLOT_ZAP_ALL) and KVM's
 * per-page tables of the slot freed and allocated again: 26 ms for 2 GiB of touched RAM.
 * A range of several mappings (a lazily restored RAM: one per extent) moves in one mremap()
 * from Linux 6.17 on; where the kernel refuses (nothing has changed then), the slots move
 * instead. -EIO: the new mapping could not be moved in nor the old one back.
 */
static int rebase_in_place(struct guest_mem *m, uint8_t *base, int memfd,
                           struct guest_mem_backing *old)
{
    if (!m->owns_map) {
        return -ENOTSUP;
    }
    void *aside =
        mmap(NULL, m->size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (aside == MAP_FAILED) {
        return -errno;
    }
    if (mremap(m->base, m->size, m->size, MREMAP_MAYMOVE | MREMAP_FIXED, aside) == MAP_FAILED) {
        int err = -errno;
        munmap(aside, m->size);
        return err;
    }
    if (mremap(base, m->size, m->size, MREMAP_MAYMOVE | MREMAP_FIXED, m->base) == MAP_FAILED) {
        int err = -errno;
        /* Back where it was: the reverse of the move that just succeeded. */
        if (mremap(aside, m->size, m->size, MREMAP_MAYMOVE | MREMAP_FIXED, m->base) == MAP_FAILED) {
            return -EIO; /* the RAM range is empty now: not expected to happen */
        }
        return err;
    }
    *old = (struct guest_mem_backing){aside, m->size, m->memfd, true};
    m->memfd = memfd;
    return 0;
}

int guest_mem_rebase(struct guest_mem *m, int vm_fd, uint8_t *base, int memfd,
                     struct guest_mem_backing *old)
{
    int r = rebase_in_place(m, base, memfd, old);
    if (r == 0 || r == -EIO) {
        return r;
    }
    /* KVM cannot move a slot's host address: delete it and add it back. */
    unsigned i;
    r = 0;
    for (i = 0; i < m->nregions; i++) {
        struct guest_region *g = &m->regions[i];
        if (g->slot < 0) {
            continue;
        }
        r = set_slot(vm_fd, g, NULL, 0);
        if (r == 0) {
            r = set_slot(vm_fd, g, base + g->fd_offset, g->size);
        }
        if (r < 0) {
            break;
        }
    }
    if (r < 0) {
        for (unsigned j = 0; j <= i && j < m->nregions; j++) {
            struct guest_region *g = &m->regions[j];
            if (g->slot >= 0 && set_slot(vm_fd, g, NULL, 0) == 0) {
                (void)set_slot(vm_fd, g, g->hva, g->size);
            }
        }
        return r;
    }
    *old = (struct guest_mem_backing){m->base, m->size, m->memfd, m->owns_map};
    m->base = base;
    m->memfd = memfd;
    m->owns_map = true;
    for (i = 0; i < m->nregions; i++) {
        m->regions[i].hva = base + m->regions[i].fd_offset;
    }
    return 0;
}

static int set_log_flag(int vm_fd, const struct guest_region *r, bool on)
{
    struct kvm_userspace_memory_region kr = {
        .slot = (uint32_t)r->slot,
        .flags = on ? KVM_MEM_LOG_DIRTY_PAGES : 0,
        .guest_phys_addr = r->gpa,
        .memory_size = r->size,
        .userspace_addr = (uintptr_t)r->hva,
    };
    return ioctl(vm_fd, KVM_SET_USER_MEMORY_REGION, &kr) < 0 ? -errno : 0;
}

int guest_mem_dirty_log(struct guest_mem *m, int vm_fd, bool on)
{
    uint64_t *bm = NULL;
    if (on && !(bm = calloc((m->size / 4096 + 63) / 64, sizeof(uint64_t)))) {
        return -ENOMEM;
    }
    int r = 0;
    for (unsigned i = 0; i < m->nregions && r == 0; i++) {
        if (m->regions[i].slot >= 0) {
            r = set_log_flag(vm_fd, &m->regions[i], on);
        }
    }
    if (r < 0 && on) {
        for (unsigned i = 0; i < m->nregions; i++) {
            if (m->regions[i].slot >= 0) {
                (void)set_log_flag(vm_fd, &m->regions[i], false);
            }
        }
        free(bm);
        return r;
    }
    uint64_t *old = __atomic_exchange_n(&m->sw_dirty, on ? bm : NULL, __ATOMIC_ACQ_REL);
    if (old != bm) {
        free(old);
    }
    return r;
}

void guest_mem_dirty_sw_stop(struct guest_mem *m)
{
    free(__atomic_exchange_n(&m->sw_dirty, NULL, __ATOMIC_ACQ_REL));
}

static void set_bits(uint64_t *bm, uint64_t first, uint64_t n)
{
    for (uint64_t pg = first; pg < first + n; pg++) {
        bm[pg / 64] |= 1ull << (pg % 64);
    }
}

int guest_mem_dirty_fetch(struct guest_mem *m, int vm_fd, uint64_t *bitmap, bool with_sw)
{
    for (unsigned i = 0; i < m->nregions; i++) {
        const struct guest_region *r = &m->regions[i];
        uint64_t first = r->fd_offset / 4096, n = r->size / 4096;
        if (r->slot < 0) {
            set_bits(bitmap, first, n); /* the firmware's shadow RAM: not logged here */
            continue;
        }
        uint64_t words = (n + 63) / 64;
        uint64_t *log = calloc(words, sizeof(uint64_t));
        if (!log) {
            return -ENOMEM;
        }
        struct kvm_dirty_log dl = {.slot = (uint32_t)r->slot, .dirty_bitmap = log};
        if (ioctl(vm_fd, KVM_GET_DIRTY_LOG, &dl) < 0) {
            int e = -errno;
            free(log);
            return e;
        }
        for (uint64_t w = 0; w < words; w++) {
            for (uint64_t bits = log[w]; bits; bits &= bits - 1) {
                uint64_t pg = first + w * 64 + (uint64_t)__builtin_ctzll(bits);
                bitmap[pg / 64] |= 1ull << (pg % 64);
            }
        }
        free(log);
    }
    uint64_t *sw = m->sw_dirty;
    if (with_sw && sw) {
        for (uint64_t w = 0; w < (m->size / 4096 + 63) / 64; w++) {
            bitmap[w] |= __atomic_exchange_n(&sw[w], 0, __ATOMIC_RELAXED);
        }
    }
    return 0;
}

static const struct guest_region *find(const struct guest_mem *m, uint64_t gpa)
{
    for (unsigned i = 0; i < m->nregions; i++) {
        const struct guest_region *r = &m->regions[i];
        if (gpa >= r->gpa && gpa - r->gpa < r->size) {
            return r;
        }
    }
    return NULL;
}

void guest_mem_mark_dirty(const struct guest_mem *m, const void *hva, uint64_t len)
{
    uint64_t *bm = __atomic_load_n(&m->sw_dirty, __ATOMIC_ACQUIRE);
    const uint8_t *p = hva;
    if (!bm || !len || p < m->base || p - m->base >= (ptrdiff_t)m->size) {
        return;
    }
    uint64_t first = (uint64_t)(p - m->base) / 4096;
    uint64_t last = ((uint64_t)(p - m->base) + len - 1) / 4096;
    uint64_t npages = m->size / 4096;
    for (uint64_t pg = first; pg <= last && pg < npages; pg++) {
        __atomic_fetch_or(&bm[pg / 64], 1ull << (pg % 64), __ATOMIC_RELAXED);
    }
}

/*
 * Every pointer handed out may be written through (a virtqueue buffer, an AHCI PRD): during
 * a live checkpoint it counts as dirty from the moment it is handed out.
 */
void *guest_mem_ptr(const struct guest_mem *m, uint64_t gpa, uint64_t len)
{
    const struct guest_region *r = find(m, gpa);
    if (!r) {
        return NULL;
    }
    uint64_t off = gpa - r->gpa;
    if (len > r->size - off) {
        return NULL;
    }
    if (__builtin_expect(m->sw_dirty != NULL, 0)) {
        guest_mem_mark_dirty(m, r->hva + off, len);
    }
    return r->hva + off;
}

static int copy(const struct guest_mem *m, uint64_t gpa, void *buf, uint64_t len, bool write)
{
    uint8_t *p = buf;
    while (len) {
        const struct guest_region *r = find(m, gpa);
        if (!r) {
            return -EFAULT;
        }
        uint64_t off = gpa - r->gpa;
        uint64_t n = r->size - off < len ? r->size - off : len;
        if (write) {
            memcpy(r->hva + off, p, n);
            guest_mem_mark_dirty(m, r->hva + off, n);
        } else {
            memcpy(p, r->hva + off, n);
        }
        p += n;
        gpa += n;
        len -= n;
    }
    return 0;
}

int guest_mem_read(const struct guest_mem *m, uint64_t gpa, void *buf, uint64_t len)
{
    return copy(m, gpa, buf, len, false);
}

int guest_mem_write(const struct guest_mem *m, uint64_t gpa, const void *buf, uint64_t len)
{
    return copy(m, gpa, (void *)buf, len, true);
}

uint64_t guest_mem_low_top(const struct guest_mem *m)
{
    uint64_t top = 0;
    for (unsigned i = 0; i < m->nregions; i++) {
        const struct guest_region *r = &m->regions[i];
        if (r->gpa < MEM_4G && r->gpa + r->size > top) {
            top = r->gpa + r->size;
        }
    }
    return top;
}

uint64_t guest_mem_high_size(const struct guest_mem *m)
{
    for (unsigned i = 0; i < m->nregions; i++) {
        if (m->regions[i].gpa == MEM_4G) {
            return m->regions[i].size;
        }
    }
    return 0;
}
