// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * exits: VM-exit round-trip benchmark for bench/. Writes count=N (default 1000000) times to
 * the UART scratch register (port 0x3ff) from CPL3, each write one port-I/O exit, and prints
 * "exits: N cycles: C" with C the TSC cycles for all of them.
 */
#include "guest.h"

void test_main(void)
{
    uint64_t n = cmdline_u64("count", 1000000);

    outb(GUEST_COM1 + 7, 0x5a);
    CHECK(inb(GUEST_COM1 + 7) == 0x5a, "UART scratch register does not hold a value");
    uint64_t t0 = rdtsc();
    for (uint64_t i = 0; i < n; i++) {
        outb(GUEST_COM1 + 7, (uint8_t)i);
    }
    uint64_t cycles = rdtsc() - t0;
    printf("exits: %lu cycles: %lu\n", n, cycles);
    if (n != 0) {
        printf("per exit: %lu cycles\n", cycles / n);
    }
}
