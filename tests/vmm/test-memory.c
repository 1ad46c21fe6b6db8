// SPDX-License-Identifier: GPL-2.0-or-later
/* Guest memory layout around the 32-bit hole, checked gpa→hva lookups, and the e820 map. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vmm/e820.h"
#include "vmm/memory.h"

static void test_small_layout_and_ranges(void **state)
{
    struct guest_mem m;
    assert_int_equal(guest_mem_init(&m, 64 << 20, false), 0);
    assert_int_equal(m.nregions, 2); /* around the VGA window */
    assert_int_equal(guest_mem_low_top(&m), 64 << 20);
    assert_int_equal(guest_mem_high_size(&m), 0);
    assert_non_null(guest_mem_ptr(&m, 0, MEM_VGA_WINDOW_START));
    assert_non_null(guest_mem_ptr(&m, MEM_VGA_WINDOW_END, (64 << 20) - MEM_VGA_WINDOW_END));
    /* The VGA window is not RAM: a range through it is refused. */
    assert_null(guest_mem_ptr(&m, 0, 64 << 20));
    assert_null(guest_mem_ptr(&m, 0xb8000, 2));
    assert_non_null(guest_mem_ptr(&m, (64 << 20) - 1, 1));
    /* The whole range is checked, not just its start. */
    assert_null(guest_mem_ptr(&m, (64 << 20) - 1, 2));
    assert_null(guest_mem_ptr(&m, 64 << 20, 1));
    assert_null(guest_mem_ptr(&m, 4096, UINT64_MAX));
    assert_null(guest_mem_ptr(&m, UINT64_MAX, 1));
    uint8_t buf[8] = {1, 2, 3, 4, 5, 6, 7, 8}, back[8];
    assert_int_equal(guest_mem_write(&m, 0x1000, buf, 8), 0);
    assert_int_equal(guest_mem_read(&m, 0x1000, back, 8), 0);
    assert_memory_equal(buf, back, 8);
    assert_int_equal(guest_mem_write(&m, (64 << 20) - 4, buf, 8), -EFAULT);
    guest_mem_destroy(&m);
    guest_mem_destroy(NULL);
}

static void test_hole_layout(void **state)
{
    /* 4 GiB of RAM: 3 GiB below the hole, 1 GiB from 4 GiB up (lazily allocated memfd). */
    struct guest_mem m;
    assert_int_equal(guest_mem_init(&m, 4ull << 30, false), 0);
    assert_int_equal(m.nregions, 3);
    assert_int_equal(guest_mem_low_top(&m), MEM_32BIT_HOLE_START);
    assert_int_equal(guest_mem_high_size(&m), 1ull << 30);
    assert_null(guest_mem_ptr(&m, MEM_32BIT_HOLE_START, 1));
    assert_null(guest_mem_ptr(&m, 0xfee00000, 4));
    uint8_t *hi = guest_mem_ptr(&m, MEM_4G, 8);
    assert_non_null(hi);
    /* A copy may span regions only through RAM: the hole in between refuses it. */
    uint8_t buf[16] = {0};
    assert_int_equal(guest_mem_read(&m, MEM_32BIT_HOLE_START - 8, buf, 16), -EFAULT);
    /* Both regions are views of one memfd, back to back. */
    assert_ptr_equal(hi, m.base + MEM_32BIT_HOLE_START);

    struct e820_map map;
    e820_build(&map, &m);
    assert_int_equal(e820_ram_bytes(&map), (4ull << 30) - HIGH_RAM_START + EBDA_START);
    for (unsigned i = 1; i < map.n; i++) {
        assert_true(map.e[i - 1].addr + map.e[i - 1].size <= map.e[i].addr); /* sorted, disjoint */
    }
    assert_int_equal(map.e[map.n - 1].addr, MEM_4G);
    assert_int_equal(map.e[map.n - 1].type, E820_RAM);
    guest_mem_destroy(&m);
}

/*
 * Firmware boot: from 0xB000_0000 of RAM up, low RAM ends at 2 GiB (below SeaBIOS's ECAM at
 * 0xB000_0000) and the rest is above 4 GiB; smaller guests keep everything low.
 */
static void test_firmware_split(void **state)
{
    struct guest_mem m;
    assert_int_equal(guest_mem_init(&m, 4ull << 30, false), 0);
    guest_mem_set_firmware_split(&m);
    guest_mem_set_shadow(&m);
    assert_int_equal(guest_mem_low_top(&m), MEM_FIRMWARE_LOW_SPLIT);
    assert_int_equal(guest_mem_high_size(&m), 2ull << 30);
    assert_null(guest_mem_ptr(&m, MEM_FIRMWARE_LOW_SPLIT, 1));
    assert_null(guest_mem_ptr(&m, MEM_FIRMWARE_ECAM, 4));
    assert_ptr_equal(guest_mem_ptr(&m, MEM_4G, 8), m.base + MEM_FIRMWARE_LOW_SPLIT);
    assert_ptr_equal(guest_mem_ptr(&m, MEM_FIRMWARE_LOW_SPLIT - 8, 8),
                     m.base + MEM_FIRMWARE_LOW_SPLIT - 8);
    assert_int_equal(guest_mem_read(&m, MEM_FIRMWARE_LOW_SPLIT - 8, (uint8_t[16]){0}, 16), -EFAULT);
    struct e820_map map;
    e820_build(&map, &m);
    assert_int_equal(map.e[map.n - 1].addr, MEM_4G);
    assert_int_equal(map.e[map.n - 1].size, 2ull << 30);
    guest_mem_destroy(&m);

    /* just below the ECAM base: no split */
    assert_int_equal(guest_mem_init(&m, MEM_FIRMWARE_ECAM - (64ull << 20), false), 0);
    guest_mem_set_firmware_split(&m);
    assert_int_equal(guest_mem_low_top(&m), MEM_FIRMWARE_ECAM - (64ull << 20));
    assert_int_equal(guest_mem_high_size(&m), 0);
    guest_mem_destroy(&m);
    /* at it: split */
    assert_int_equal(guest_mem_init(&m, MEM_FIRMWARE_ECAM, false), 0);
    guest_mem_set_firmware_split(&m);
    assert_int_equal(guest_mem_low_top(&m), MEM_FIRMWARE_LOW_SPLIT);
    assert_int_equal(guest_mem_high_size(&m), MEM_FIRMWARE_ECAM - MEM_FIRMWARE_LOW_SPLIT);
    guest_mem_destroy(&m);
}

static void test_bad_sizes(void **state)
{
    struct guest_mem m;
    assert_int_equal(guest_mem_init(&m, 4096, false), -EINVAL);
    assert_int_equal(guest_mem_init(&m, (16 << 20) + 1, false), -EINVAL);
}

static void test_e820_small_and_full(void **state)
{
    size_t sz = 32 << 20;
    void *buf = calloc(1, sz);
    struct guest_mem m;
    guest_mem_init_host(&m, buf, sz);
    struct e820_map map;
    e820_build(&map, &m);
    assert_int_equal(map.e[0].addr, 0);
    assert_int_equal(map.e[0].size, EBDA_START);
    assert_int_equal(e820_ram_bytes(&map), EBDA_START + sz - HIGH_RAM_START);
    /* The ACPI/BIOS area and the APIC windows are reserved, never RAM. */
    int found_acpi = 0;
    for (unsigned i = 0; i < map.n; i++) {
        if (map.e[i].addr == ACPI_TABLES_ADDR) {
            found_acpi = map.e[i].type == E820_RESERVED;
        }
        assert_false(map.e[i].type == E820_RAM && map.e[i].addr <= LAPIC_BASE &&
                     map.e[i].addr + map.e[i].size > LAPIC_BASE);
    }
    assert_true(found_acpi);
    while (map.n < E820_MAX) {
        assert_int_equal(e820_add(&map, 0x200000000ull + map.n * 0x1000, 0x1000, E820_RESERVED), 0);
    }
    assert_int_equal(e820_add(&map, 0x300000000ull, 0x1000, E820_RAM), -ENOSPC);
    free(buf);
}

/*
 * Moving RAM to another mapping (a restored checkpoint). RAM the engine mapped itself: the
 * new mapping is moved into the RAM's range, so addresses and KVM slots stay, and the old
 * one is handed back from where it was moved aside.
 */
/* A KVM VM with size bytes of RAM registered; skips the test without /dev/kvm. */
static int vm_with_ram(struct guest_mem *m, uint64_t size, int *kvm)
{
    *kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (*kvm < 0) {
        skip();
    }
    int vm = ioctl(*kvm, KVM_CREATE_VM, 0);
    assert_true(vm >= 0);
    assert_int_equal(guest_mem_init(m, size, false), 0);
    assert_int_equal(guest_mem_register(m, vm), 0);
    return vm;
}

static void test_rebase(void **state)
{
    int kvm;
    struct guest_mem m;
    int vm = vm_with_ram(&m, 8 << 20, &kvm);
    memset(m.base, 0x11, 8 << 20);
    uint8_t *ram = m.base;
    int old_fd = m.memfd;

    /* Two mappings in the new range, as a lazy restore makes (one per extent). */
    uint8_t *nb = mmap(NULL, 8 << 20, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(nb != MAP_FAILED);
    memset(nb, 0x22, 8 << 20);
    assert_true(mmap(nb + (4 << 20), 4 << 20, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) != MAP_FAILED);
    struct guest_mem_backing old = {0};
    assert_int_equal(guest_mem_rebase(&m, vm, nb, -1, &old), 0);
    assert_ptr_equal(m.regions[0].hva, m.base);
    assert_int_equal(m.memfd, -1);
    uint8_t b = 0;
    assert_int_equal(guest_mem_read(&m, 0x1234, &b, 1), 0);
    assert_int_equal(b, 0x22);
    assert_int_equal(guest_mem_read(&m, (4 << 20) + 0x1234, &b, 1), 0);
    assert_int_equal(b, 0);
    /* The old backing is handed over intact, to be released later. */
    assert_int_equal(old.memfd, old_fd);
    assert_true(old.owned);
    assert_int_equal(old.size, 8 << 20);
    assert_int_equal(old.base[0x1234], 0x11);
    if (m.base == ram) {
        /* Moved in place: KVM's slot still points at the RAM's range. */
        struct kvm_userspace_memory_region kr = {.slot = (uint32_t)m.regions[0].slot,
                                                 .memory_size = m.regions[0].size,
                                                 .userspace_addr = (uintptr_t)ram + 1};
        assert_true(ioctl(vm, KVM_SET_USER_MEMORY_REGION, &kr) < 0); /* no moving it */
        assert_ptr_not_equal(old.base, ram);
    } else {
        print_message("kernel cannot mremap several mappings: slots moved instead\n");
        assert_ptr_equal(m.base, nb);
        assert_ptr_equal(old.base, ram);
    }
    guest_mem_backing_release(&old);
    assert_int_equal(fcntl(old_fd, F_GETFD), -1); /* closed */
    guest_mem_backing_release(NULL);
    guest_mem_destroy(&m); /* unmaps the new RAM: owned now */
    close(vm);
    close(kvm);
}

/*
 * Dirty tracking for a live checkpoint: the slots take the log flag and give a log back
 * (nothing ran, so nothing the vCPUs wrote), and every range handed to a device or written
 * by the engine is marked in the device-write bitmap, which the fetch takes and clears.
 */
static void test_dirty_tracking(void **state)
{
    int kvm;
    struct guest_mem m;
    const uint64_t size = 8 << 20, words = size / 4096 / 64;
    int vm = vm_with_ram(&m, size, &kvm);
    uint64_t *bm = calloc(words, sizeof(*bm));
    assert_non_null(guest_mem_ptr(&m, 0x5000, 16)); /* not tracking yet: no bitmap */
    assert_null(m.sw_dirty);
    assert_int_equal(guest_mem_dirty_log(&m, vm, true), 0);
    assert_non_null(m.sw_dirty);
    assert_int_equal(guest_mem_dirty_fetch(&m, vm, bm, true), 0);
    for (uint64_t w = 0; w < words; w++) {
        assert_int_equal(bm[w], 0);
    }
    assert_non_null(guest_mem_ptr(&m, 0x5000, 16)); /* page 5 */
    uint8_t buf[8192] = {0};
    assert_int_equal(guest_mem_write(&m, 0x10ff0, buf, 0x20), 0); /* pages 0x10, 0x11 */
    guest_mem_mark_dirty(&m, m.base + size - 1, 1);               /* the last page */
    guest_mem_mark_dirty(&m, buf, sizeof(buf));                   /* not RAM: ignored */
    assert_int_equal(guest_mem_dirty_fetch(&m, vm, bm, false), 0);
    assert_int_equal(bm[0], 0); /* the device bitmap is left for the paused pass */
    assert_int_equal(guest_mem_dirty_fetch(&m, vm, bm, true), 0);
    assert_int_equal(bm[0], (1ull << 5) | (1ull << 0x10) | (1ull << 0x11));
    assert_int_equal(bm[words - 1], 1ull << 63);
    memset(bm, 0, words * sizeof(*bm));
    assert_int_equal(guest_mem_dirty_fetch(&m, vm, bm, true), 0); /* taken: cleared */
    assert_int_equal(bm[0], 0);
    assert_int_equal(guest_mem_dirty_log(&m, vm, false), 0);
    assert_null(m.sw_dirty);
    struct kvm_dirty_log dl = {.slot = (uint32_t)m.regions[0].slot, .dirty_bitmap = bm};
    assert_true(ioctl(vm, KVM_GET_DIRTY_LOG, &dl) < 0); /* the flag is off again */
    free(bm);
    guest_mem_destroy(&m);
    close(vm);
    close(kvm);
}

/* RAM the engine does not own (a host buffer): the KVM slots move instead. */
static void test_rebase_slots(void **state)
{
    int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (kvm < 0) {
        skip();
    }
    int vm = ioctl(kvm, KVM_CREATE_VM, 0);
    assert_true(vm >= 0);
    size_t size = 8 << 20;
    uint8_t *buf = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    uint8_t *nb = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(buf != MAP_FAILED && nb != MAP_FAILED);
    memset(buf, 0x11, size);
    memset(nb, 0x22, size);
    struct guest_mem m;
    guest_mem_init_host(&m, buf, size);
    assert_int_equal(guest_mem_register(&m, vm), 0);
    /* A bad VM fd: refused, nothing moved, the caller keeps its mapping. */
    struct guest_mem_backing old = {0};
    assert_true(guest_mem_rebase(&m, -1, nb, -1, &old) < 0);
    assert_ptr_equal(m.base, buf);
    assert_ptr_equal(m.regions[0].hva, buf);

    assert_int_equal(guest_mem_rebase(&m, vm, nb, -1, &old), 0);
    assert_ptr_equal(m.base, nb);
    assert_ptr_equal(m.regions[0].hva, nb);
    uint8_t b = 0;
    assert_int_equal(guest_mem_read(&m, 0x1234, &b, 1), 0);
    assert_int_equal(b, 0x22);
    assert_ptr_equal(old.base, buf);
    assert_false(old.owned);
    assert_int_equal(buf[0x1234], 0x11);
    guest_mem_destroy(&m); /* unmaps nb: owned now */
    munmap(buf, size);
    close(vm);
    close(kvm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_small_layout_and_ranges),
        cmocka_unit_test(test_hole_layout),
        cmocka_unit_test(test_firmware_split),
        cmocka_unit_test(test_bad_sizes),
        cmocka_unit_test(test_e820_small_and_full),
        cmocka_unit_test(test_rebase),
        cmocka_unit_test(test_rebase_slots),
        cmocka_unit_test(test_dirty_tracking),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
