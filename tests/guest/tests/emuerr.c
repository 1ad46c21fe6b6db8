// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * emuerr: executes cmpxchg16b at CPL0, an instruction the development host's CPL0 emulator
 * lacks and the VMM refuses to emulate (docs/emulation-failures.md): the VMM must stop the VM
 * with an internal error. A marker at 0x9100 (free low RAM, docs/memory-map.md) survives a
 * reset, so after system_reset the second boot skips the instruction, prints "recovered" and
 * PASSes. On a host that runs cmpxchg16b, the first boot prints "cmpxchg16b ran" and PASSes.
 * Driven by tests/integration/test-internal-error.py.
 */
#include "guest.h"

#define MARK_ADDR 0x9100ul
#define MARK_MAGIC 0x727265756d656b64ull /* "dkemuerr" */

static volatile uint64_t *const mark = (volatile uint64_t *)MARK_ADDR;
static uint64_t target[2] __attribute__((aligned(16))) = {1, 2};
static volatile bool ran;

void test_cpl0(void)
{
    if (*mark == MARK_MAGIC) {
        return;
    }
    *mark = MARK_MAGIC;
    /* lock cmpxchg16b [rdi]: equal, so target becomes rcx:rbx. */
    __asm__ volatile(".byte 0xf0, 0x48, 0x0f, 0xc7, 0x0f"
                     :
                     : "D"(target), "a"(1), "d"(2), "b"(3), "c"(4)
                     : "memory", "cc");
    ran = true;
}

void test_main(void)
{
    if (ran) {
        printf("cmpxchg16b ran: target %lu %lu\n", target[0], target[1]);
        CHECK(target[0] == 3 && target[1] == 4, "cmpxchg16b left %lu %lu, want 3 4", target[0],
              target[1]);
        return;
    }
    CHECK(*mark == MARK_MAGIC, "no marker and cmpxchg16b did not run");
    printf("recovered after reset\n");
}
