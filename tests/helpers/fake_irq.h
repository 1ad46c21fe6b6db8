/* SPDX-License-Identifier: GPL-2.0-or-later */
/* An interrupt line that records its level and counts rising edges. */
#ifndef DESKVM_TESTS_FAKE_IRQ_H
#define DESKVM_TESTS_FAKE_IRQ_H

#include <stdbool.h>

#include "vmm/irq.h"

struct fake_irq {
    struct irq_line line;
    bool level;
    unsigned raises; /* low → high transitions */
};

void fake_irq_init(struct fake_irq *fi, unsigned gsi);

#endif
