// SPDX-License-Identifier: GPL-2.0-or-later
/* exits: placeholder. */
#include "guest.h"

void test_main(void)
{
    guest_skip("not written yet");
}
