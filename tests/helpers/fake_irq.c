// SPDX-License-Identifier: GPL-2.0-or-later
/* Recording interrupt line for device unit tests. */
#include "tests/helpers/fake_irq.h"

#include <string.h>

static void fake_set(void *opaque, unsigned gsi, bool level)
{
    struct fake_irq *fi = opaque;
    if (level && !fi->level) {
        fi->raises++;
    }
    fi->level = level;
}

void fake_irq_init(struct fake_irq *fi, unsigned gsi)
{
    memset(fi, 0, sizeof(*fi));
    fi->line.set_level = fake_set;
    fi->line.opaque = fi;
    fi->line.gsi = gsi;
}
