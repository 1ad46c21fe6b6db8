// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * powerbutton: waits for the ACPI fixed-feature power button (ACPI 6.x, 4.8.2.2.1) and powers
 * off: sets PWRBTN_EN in PM1_EN, routes the SCI through the IOAPIC as the MADT says (IRQ 9,
 * level, active high under its override), and when the SCI arrives checks PWRBTN_STS, clears
 * it (write 1) and enters S5. Something outside must press the button: the integration test
 * tests/integration/test-qmp-powerdown.py sends QMP system_powerdown. timeout=N (seconds,
 * default 60) bounds the wait.
 */
#include "guest.h"

#define VEC_SCI 0x50

struct interrupt_frame {
    uint64_t ip, cs, flags, sp, ss;
};

static volatile uint32_t sci_count;

/*
 * The SCI is level-triggered and stays high until PWRBTN_STS is cleared at CPL3: block all
 * vectors through the TPR before the EOI, so the line does not re-interrupt at once.
 */
__attribute__((interrupt)) static void sci_handler(struct interrupt_frame *f)
{
    (void)f;
    sci_count++;
    mmio_write32(LAPIC_BASE + LAPIC_TPR, 0xf0);
    mmio_write32(LAPIC_BASE + LAPIC_EOI, 0);
}

void test_cpl0(void)
{
    struct __attribute__((packed)) {
        uint16_t limit;
        uint64_t base;
    } idtr;

    __asm__ volatile("sidt %0" : "=m"(idtr));
    uint64_t a = (uint64_t)sci_handler;
    uint32_t *g = (uint32_t *)(uintptr_t)(idtr.base + 16 * VEC_SCI);
    g[0] = (uint32_t)(0x08 << 16) | (uint16_t)a;
    g[1] = (uint32_t)(a & 0xffff0000u) | 0x8e00u;
    g[2] = (uint32_t)(a >> 32);
    g[3] = 0;
}

void test_main(void)
{
    struct acpi_pm_info pm;
    struct madt_info madt;
    uint64_t timeout_s = cmdline_u64("timeout", 60);

    CHECK(acpi_pm_info(&pm) == 0, "no FADT");
    if (pm.hw_reduced) {
        guest_skip("hardware-reduced ACPI: the power button is a GED event, not PM1");
    }
    if (pm.flags & (1u << 4)) {
        guest_skip("FADT PWR_BUTTON set: no fixed-feature power button");
    }
    CHECK(pm.pm1a_evt.address != 0 && pm.pm1_evt_len >= 4 && pm.pm1a_evt.space <= 1,
          "no usable PM1a_EVT_BLK (address %#lx, length %u)", pm.pm1a_evt.address, pm.pm1_evt_len);
    CHECK(madt_parse(&madt) == 0 && madt.ioapic_addr != 0, "no IOAPIC in the MADT");
    CHECK(pm.sci_irq < 16, "SCI_INT %u is not an ISA IRQ", pm.sci_irq);

    unsigned en = pm.pm1_evt_len / 2;
    /* A machine in legacy mode (SCI_EN clear) is switched to ACPI mode through SMI_CMD. */
    if (!(acpi_gas_read(&pm.pm1a_cnt, 0, 2) & ACPI_PM1_SCI_EN) && pm.smi_cmd != 0) {
        outb((uint16_t)pm.smi_cmd, pm.acpi_enable);
        for (unsigned i = 0; i < 1000 && !(acpi_gas_read(&pm.pm1a_cnt, 0, 2) & ACPI_PM1_SCI_EN);
             i++) {
            udelay(1000);
        }
    }
    CHECK(acpi_gas_read(&pm.pm1a_cnt, 0, 2) & ACPI_PM1_SCI_EN, "SCI_EN stays clear");

    /* MPS INTI flags: polarity bits 1:0 (3 = low), trigger 3:2 (1 = edge); SCI default level/low.
     */
    unsigned gsi = madt.irq_to_gsi[pm.sci_irq];
    uint16_t fl = madt.irq_flags[pm.sci_irq];
    bool level = ((fl >> 2) & 3) != 1;
    bool low = (fl & 3) != 1;
    printf("SCI: IRQ %u -> GSI %u, %s, active %s; PM1_STS at %#lx, PM1_EN at +%u\n", pm.sci_irq,
           gsi, level ? "level" : "edge", low ? "low" : "high", pm.pm1a_evt.address, en);

    acpi_gas_write(&pm.pm1a_evt, 0, 2, ACPI_PM1_PWRBTN); /* clear a stale press */
    acpi_gas_write(&pm.pm1a_evt, en, 2, ACPI_PM1_PWRBTN);
    ioapic_route(gsi - madt.ioapic_gsi_base, VEC_SCI, (uint8_t)lapic_id(), level, low);
    printf("waiting for the power button (%lu s)\n", timeout_s);
    irq_enable();

    uint64_t start = rdtsc();
    uint64_t limit = timeout_s * 4000000000ull; /* assumes <= 4 GHz: never too short */
    while (sci_count == 0) {
        CHECK(rdtsc() - start < limit, "no SCI within %lu s", timeout_s);
        cpu_relax();
    }
    irq_disable();

    uint32_t sts = acpi_gas_read(&pm.pm1a_evt, 0, 2);
    printf("SCI %u: PM1_STS %#x\n", sci_count, sts);
    CHECK(sts & ACPI_PM1_PWRBTN, "SCI without PWRBTN_STS (PM1_STS %#x)", sts);
    acpi_gas_write(&pm.pm1a_evt, 0, 2, ACPI_PM1_PWRBTN);
    sts = acpi_gas_read(&pm.pm1a_evt, 0, 2);
    CHECK(!(sts & ACPI_PM1_PWRBTN), "PWRBTN_STS not cleared by writing 1 (PM1_STS %#x)", sts);
    printf("power button pressed: powering off\n");
    guest_fail("%s", acpi_poweroff());
}
