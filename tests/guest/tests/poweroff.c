// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * poweroff: enters ACPI S5 the way an OS does (ACPI 6.x, 7.4.2 and 16.1.7): SLP_TYPa from the
 * DSDT's \_S5 package written with SLP_EN to PM1a_CNT, or to the FADT's sleep control register
 * on hardware-reduced ACPI (QEMU microvm). The VMM must power off with status 0; coming back
 * from the write is a FAIL. Run it with expect_exit=0 (run-guest.sh).
 */
#include "guest.h"

void test_main(void)
{
    struct acpi_pm_info pm;

    CHECK(acpi_pm_info(&pm) == 0, "no FADT");
    printf("FADT flags %#x (%s), PM1a_CNT %#lx, SLEEP_CONTROL %#lx, \\_S5 SLP_TYPa %d\n", pm.flags,
           pm.hw_reduced ? "hardware-reduced" : "fixed hardware", pm.pm1a_cnt.address,
           pm.sleep_control.address, acpi_sleep_type(5));
    guest_fail("%s", acpi_poweroff());
}
