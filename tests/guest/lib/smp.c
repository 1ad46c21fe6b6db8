// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * smp.c: AP start-up with INIT-SIPI-SIPI (SDM vol. 3 section 9.4.4) sent from CPL3 through the
 * user-mapped LAPIC. Each AP runs the trampoline in entry.S into long mode on the BSP's page
 * tables, records its ids here and parks at CPL0 with interrupts off.
 */
#include "guest.h"

#define AP_TRAMPOLINE_ADDR 0x8000

extern char ap_trampoline_start[], ap_trampoline_end[];
extern volatile uint32_t ap_next_slot;
void idt_load(void);
void ap_main(uint32_t slot);

volatile uint32_t ap_count;
struct ap_info ap_infos[GUEST_MAX_CPUS];

/* CPL0, interpreted on the development host: a handful of instructions, then park. */
void ap_main(uint32_t slot)
{
    idt_load();
    if (slot < GUEST_MAX_CPUS) {
        struct ap_info *ai = &ap_infos[slot];
        struct cpuid_regs r = cpuid(1, 0);

        ai->lapic_id = lapic_read(LAPIC_ID) >> 24;
        ai->cpuid1_id = r.ebx >> 24;
        ai->x2apic_id = ~0u;
        if (cpuid(0, 0).eax >= 0xb && cpuid(0xb, 0).ebx != 0) {
            ai->x2apic_id = cpuid(0xb, 0).edx;
        }
        ai->started = 1;
    }
    __atomic_fetch_add(&ap_count, 1, __ATOMIC_SEQ_CST);
}

int smp_start_aps(const uint32_t *ids, unsigned n, unsigned timeout_ms)
{
    uint32_t bsp = lapic_id();
    unsigned want = 0;

    memcpy((void *)AP_TRAMPOLINE_ADDR, ap_trampoline_start,
           (size_t)(ap_trampoline_end - ap_trampoline_start));
    lapic_enable();
    for (unsigned i = 0; i < n; i++) {
        if (ids[i] == bsp) {
            continue;
        }
        want++;
        /*
         * INIT, then STARTUP with vector 0x08 (page 0x8000); the second STARTUP of the SDM's
         * sequence goes only to an AP that has not checked in, so no AP runs twice.
         */
        if (lapic_send_ipi(ids[i], 0x4500) != 0) {
            return -1;
        }
        udelay(10000);
        for (int k = 0; k < 2 && ap_count < want; k++) {
            if (lapic_send_ipi(ids[i], 0x4600 | (AP_TRAMPOLINE_ADDR >> 12)) != 0) {
                return -1;
            }
            for (unsigned us = 0; us < 2000 && ap_count < want; us += 20) {
                udelay(20);
            }
        }
    }
    for (unsigned ms = 0; ms < timeout_ms && ap_count < want; ms++) {
        udelay(1000);
    }
    return (int)ap_count;
}
