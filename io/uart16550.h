/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A 16550A UART (National/TI PC16550D data sheet): the eight registers at offsets 0-7 with
 * the divisor latch, 16-byte receive FIFO, interrupt identification and loopback. Transmit
 * is instantaneous: bytes written to THR go straight to the character back-end.
 */
#ifndef DESKVM_IO_UART16550_H
#define DESKVM_IO_UART16550_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "snapshots/vmstate.h"
#include "vmm/bus.h"
#include "vmm/irq.h"

struct chardev;
struct device;
struct vclock;
struct vtimer;

#define UART_FIFO_SIZE 16
#define UART_REG_COUNT 8 /* the bus range the glue registers (0x3F8 len 8 on a PC) */

struct uart16550 {
    /* Wiring, set at init, not part of the saved state. */
    struct chardev *chr;
    struct vclock *clock;
    struct vtimer *timeout_timer;
    struct irq_line irq;
    bool irq_level; /* last level driven, to avoid redundant irq_set calls */

    /* Guest-visible state (uart16550_vmstate). */
    uint8_t dll, dlm; /* divisor latch */
    uint8_t ier;
    uint8_t fcr; /* FIFO enable (bit 0) and trigger level (bits 7:6) as last programmed */
    uint8_t lcr;
    uint8_t mcr;
    uint8_t lsr_err; /* sticky LSR error bits (OE), cleared by an LSR read */
    uint8_t msr;
    uint8_t scr;
    uint8_t rx_fifo[UART_FIFO_SIZE];
    uint8_t rx_head;  /* index of the oldest byte */
    uint8_t rx_count; /* bytes held; at most 1 while the FIFO is disabled */
    uint8_t thr_ipending;
    uint8_t timeout_ipending;
};

/* Returns 0 or -ENOMEM (no timer). chr and irq may be NULL (output dropped, no IRQ). */
int uart16550_init(struct uart16550 *u, struct chardev *chr, struct vclock *clock,
                   const struct irq_line *irq);
void uart16550_destroy(struct uart16550 *u);
/* Power-on state: registers as after a master reset, FIFOs empty, divisor 12 (9600 baud). */
void uart16550_reset(struct uart16550 *u);
void uart16550_device(struct uart16550 *u, struct device *out);

/* Push host input into the receive FIFO; takes at most uart_rx_space() bytes, never overruns. */
size_t uart_receive(struct uart16550 *u, const uint8_t *buf, size_t len);
/* Bytes the receive FIFO can take now (0 in loopback mode: the line is disconnected). */
size_t uart_rx_space(const struct uart16550 *u);
/* Current level of the IRQ output (after OUT2 gating). */
bool uart16550_irq_level(const struct uart16550 *u);

extern const struct bus_ops uart16550_ops;
extern const struct vmstate uart16550_vmstate;

#endif
