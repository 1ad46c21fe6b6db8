/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * An interrupt line as a device sees it: a level it can raise and lower. The machine wires
 * it to KVM_IRQ_LINE on a GSI; unit tests wire it to a recorder.
 */
#ifndef DESKVM_VMM_IRQ_H
#define DESKVM_VMM_IRQ_H

#include <stdbool.h>

struct irq_line {
    void (*set_level)(void *opaque, unsigned gsi, bool level);
    void *opaque;
    unsigned gsi;
};

static inline void irq_set(const struct irq_line *line, bool level)
{
    if (line && line->set_level) {
        line->set_level(line->opaque, line->gsi, level);
    }
}

/* An edge: raise then lower, for edge-triggered ISA sources (PIT, RTC). */
static inline void irq_pulse(const struct irq_line *line)
{
    irq_set(line, true);
    irq_set(line, false);
}

#endif
