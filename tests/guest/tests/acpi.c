// SPDX-License-Identifier: GPL-2.0-or-later
/* acpi: placeholder. */
#include "guest.h"

void test_main(void)
{
    guest_skip("not written yet");
}
