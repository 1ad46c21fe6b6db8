// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * snapshot: a guest whose whole state is worth checkpointing. It fills mib=N MiB (default
 * 64) of RAM above its image with a pattern, in slices each seeded by a number it keeps in
 * its own memory, then counts PIT interrupts (100 Hz, through the IOAPIC as in timers.c).
 * Every 10 ticks it checks every slice against its seed, rewrites one slice with a new seed
 * (so memory keeps changing after a checkpoint is taken) and prints "count N". A restored
 * checkpoint must give back memory and seeds that agree, seeds that agree with the counter
 * (a register: RAM and vCPU state from different moments fail), and a PIT that ticks; any
 * mismatch prints "MISMATCH" and fails. Exits with PASS after count=N counts (0: never; the
 * integration test, tests/integration/test-snapshot.py, quits it over QMP).
 */
#include "guest.h"

#define MIB ((uint64_t)1 << 20)
#define RATE_HZ 100
#define TICKS_PER_COUNT 10
#define NSLICES 16

extern char __image_end[];

static uint64_t seeds[NSLICES];

static uint64_t pattern(uint64_t seed, uint64_t addr)
{
    uint64_t x = (addr ^ seed) * 0x9e3779b97f4a7c15ull;
    return x ^ (x >> 29);
}

/*
 * The seed slice s must hold after `count` counts: the last count that rewrote it, or its
 * initial seed. Ties the seeds (RAM) to the counter (a register): RAM from one moment with
 * registers from another shows up here.
 */
static uint64_t expected_seed(unsigned s, uint64_t count)
{
    if (count < s) {
        return 0x5eed0000u + s;
    }
    uint64_t c = count - (count - s) % NSLICES;
    return c == 0 ? 0x5eed0000u + s : c;
}

static void fill(uint64_t *p, uint64_t words, uint64_t seed)
{
    for (uint64_t i = 0; i < words; i++) {
        p[i] = pattern(seed, (uint64_t)(uintptr_t)&p[i]);
    }
}

static bool check(const uint64_t *p, uint64_t words, uint64_t seed, uint64_t *bad_at)
{
    for (uint64_t i = 0; i < words; i++) {
        if (p[i] != pattern(seed, (uint64_t)(uintptr_t)&p[i])) {
            *bad_at = (uint64_t)(uintptr_t)&p[i];
            return false;
        }
    }
    return true;
}

void test_main(void)
{
    uint64_t mib = cmdline_u64("mib", 64);
    uint64_t limit = cmdline_u64("count", 0);
    uint64_t mem = cmdline_u64("mem", 256);
    if (mem < MIB) {
        mem *= MIB;
    }
    uint64_t base = ((uint64_t)(uintptr_t)__image_end + 2 * MIB - 1) & ~(2 * MIB - 1);
    CHECK(mib >= 1 && base + mib * MIB + MIB <= mem && base + mib * MIB <= 0xc0000000ull,
          "mib=%lu does not fit in %lu MiB of RAM above the image", mib, mem / MIB);
    uint64_t slice_words = mib * MIB / NSLICES / 8;
    uint64_t *region = (uint64_t *)(uintptr_t)base;

    printf("snapshot: %lu MiB at %#lx in %u slices, PIT at %u Hz\n", mib, base, NSLICES, RATE_HZ);
    for (unsigned s = 0; s < NSLICES; s++) {
        seeds[s] = 0x5eed0000u + s;
        fill(region + s * slice_words, slice_words, seeds[s]);
    }

    struct madt_info m;
    if (madt_parse(&m) != 0) {
        m.ioapic_addr = IOAPIC_BASE;
        m.irq_to_gsi[0] = 2;
        m.irq_flags[0] = 0;
        m.ioapic_gsi_base = 0;
    }
    lapic_enable();
    irq_disable();
    uint8_t vec = VEC_PIT;
    if (m.ioapic_addr != 0) {
        ioapic_route(m.irq_to_gsi[0] - m.ioapic_gsi_base, vec, (uint8_t)lapic_id(), false, false);
        if (m.irq_to_gsi[0] == 0) {
            /* QEMU microvm: no IRQ0 override although the PIT is on GSI 2 (see timers.c). */
            ioapic_route(2, vec, (uint8_t)lapic_id(), false, false);
        }
    } else {
        vec = VEC_PIC_BASE;
        pic_unmask(0);
    }
    pit_rate_generator(RATE_HZ);
    irq_enable();
    printf("filled; counting\n");

    uint64_t count = 0;
    uint32_t last = irq_stats.count[vec];
    for (;;) {
        uint64_t t0 = rdtsc(), spins = 0;
        while (irq_stats.count[vec] - last < TICKS_PER_COUNT) {
            cpu_relax();
            /* 10 ticks take 0.1 s; 20 s of TSC (at any plausible rate) is a dead PIT, but
             * only if the guest ran meanwhile: the TSC goes on while the VM is paused (QMP
             * 'stop', a save on a loaded host), so also ask for 300 M spins (1-12 s of
             * running, whatever PAUSE costs). */
            spins++;
            CHECK(rdtsc() - t0 < 80000000000ull || spins < 300000000ull,
                  "the PIT stopped ticking after count %lu", count);
        }
        last += TICKS_PER_COUNT;
        for (unsigned s = 0; s < NSLICES; s++) {
            if (seeds[s] != expected_seed(s, count)) {
                printf("MISMATCH\n");
                guest_fail("slice %u has seed %#lx after count %lu, expected %#lx", s, seeds[s],
                           count, expected_seed(s, count));
            }
        }
        for (unsigned s = 0; s < NSLICES; s++) {
            uint64_t bad = 0;
            if (!check(region + s * slice_words, slice_words, seeds[s], &bad)) {
                printf("MISMATCH\n");
                guest_fail("slice %u (seed %#lx): wrong word at %#lx after count %lu", s, seeds[s],
                           bad, count);
            }
        }
        count++;
        unsigned s = (unsigned)(count % NSLICES);
        seeds[s] = count;
        fill(region + s * slice_words, slice_words, seeds[s]);
        printf("count %lu\n", count);
        if (limit != 0 && count >= limit) {
            printf("%lu counts, memory verified each time\n", count);
            return;
        }
    }
}
