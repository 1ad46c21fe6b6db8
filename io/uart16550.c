// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * 16550A UART model (PC16550D data sheet, sections 8.4-8.10: register set, FIFO control,
 * interrupt identification, line and modem status, loopback). See docs/devices-legacy.md.
 */
#include "io/uart16550.h"

#include <errno.h>
#include <string.h>

#include "vmm/chardev.h"
#include "vmm/clock.h"
#include "vmm/device.h"

/* Register offsets. */
enum {
    UART_RBR_THR = 0, /* DLL with DLAB */
    UART_IER = 1,     /* DLM with DLAB */
    UART_IIR_FCR = 2,
    UART_LCR = 3,
    UART_MCR = 4,
    UART_LSR = 5,
    UART_MSR = 6,
    UART_SCR = 7,
};

#define IER_ERBFI 0x01 /* received data available */
#define IER_ETBEI 0x02 /* transmitter holding register empty */
#define IER_ELSI 0x04  /* receiver line status */
#define IER_EDSSI 0x08 /* modem status */
#define IER_MASK 0x0f

#define IIR_NONE 0x01
#define IIR_MSR 0x00
#define IIR_THRE 0x02
#define IIR_RDA 0x04
#define IIR_RLS 0x06
#define IIR_TIMEOUT 0x0c
#define IIR_FIFO_ON 0xc0

#define FCR_ENABLE 0x01
#define FCR_RX_RESET 0x02
#define FCR_TX_RESET 0x04
#define FCR_TRIGGER 0xc0

#define LCR_DLAB 0x80

#define MCR_DTR 0x01
#define MCR_RTS 0x02
#define MCR_OUT1 0x04
#define MCR_OUT2 0x08
#define MCR_LOOP 0x10
#define MCR_MASK 0x1f

#define LSR_DR 0x01
#define LSR_OE 0x02
#define LSR_THRE 0x20
#define LSR_TEMT 0x40

#define MSR_DCTS 0x01
#define MSR_DDSR 0x02
#define MSR_TERI 0x04
#define MSR_DDCD 0x08
#define MSR_DELTAS 0x0f
#define MSR_CTS 0x10
#define MSR_DSR 0x20
#define MSR_RI 0x40
#define MSR_DCD 0x80
/* Outside loopback the host side looks like a connected, ready modem. */
#define MSR_HOST_LINES (MSR_DCD | MSR_DSR | MSR_CTS)

#define UART_CLOCK_HZ 1843200ull /* the PC's crystal: divisor 1 is 115200 baud */

static bool fifo_enabled(const struct uart16550 *u)
{
    return u->fcr & FCR_ENABLE;
}

static unsigned rx_capacity(const struct uart16550 *u)
{
    return fifo_enabled(u) ? UART_FIFO_SIZE : 1;
}

static unsigned rx_trigger(const struct uart16550 *u)
{
    static const uint8_t levels[4] = {1, 4, 8, 14};
    return levels[(u->fcr & FCR_TRIGGER) >> 6];
}

/* The highest-priority pending interrupt as IIR bits 3:0. */
static uint8_t pending_iir(const struct uart16550 *u)
{
    if ((u->ier & IER_ELSI) && (u->lsr_err & LSR_OE)) {
        return IIR_RLS;
    }
    if (u->ier & IER_ERBFI) {
        unsigned level = fifo_enabled(u) ? rx_trigger(u) : 1;
        if (u->rx_count >= level) {
            return IIR_RDA;
        }
        if (u->timeout_ipending && u->rx_count > 0) {
            return IIR_TIMEOUT;
        }
    }
    if ((u->ier & IER_ETBEI) && u->thr_ipending) {
        return IIR_THRE;
    }
    if ((u->ier & IER_EDSSI) && (u->msr & MSR_DELTAS)) {
        return IIR_MSR;
    }
    return IIR_NONE;
}

/*
 * On a PC the INTR pin reaches the interrupt controller through a buffer enabled by OUT2,
 * and loopback forces the OUT pins inactive, so either clears the line (data sheet 8.6).
 */
static bool compute_irq(const struct uart16550 *u)
{
    return pending_iir(u) != IIR_NONE && (u->mcr & MCR_OUT2) && !(u->mcr & MCR_LOOP);
}

static void update_irq(struct uart16550 *u, bool force)
{
    bool level = compute_irq(u);
    if (force || level != u->irq_level) {
        u->irq_level = level;
        irq_set(&u->irq, level);
    }
}

/* Start (or restart) the four-character timeout measured from the last receive or read. */
static uint64_t char_time_ns(const struct uart16550 *u)
{
    unsigned divisor = (unsigned)u->dll | ((unsigned)u->dlm << 8);
    if (divisor == 0) {
        divisor = 1; /* guest-controlled: 0 is undefined on the chip; run at top speed */
    }
    unsigned bits = 1 + 5 + (u->lcr & 0x03) + ((u->lcr & 0x08) ? 1 : 0) + ((u->lcr & 0x04) ? 2 : 1);
    return (uint64_t)bits * 16 * divisor * 1000000000ull / UART_CLOCK_HZ;
}

static void rearm_timeout(struct uart16550 *u)
{
    if (!u->timeout_timer) {
        return;
    }
    if (fifo_enabled(u) && u->rx_count > 0 && !u->timeout_ipending) {
        vtimer_mod(u->timeout_timer, vclock_now(u->clock) + 4 * char_time_ns(u));
    } else {
        vtimer_del(u->timeout_timer);
    }
}

static void timeout_fire(void *opaque)
{
    struct uart16550 *u = opaque;
    if (fifo_enabled(u) && u->rx_count > 0) {
        u->timeout_ipending = 1;
        update_irq(u, false);
    }
}

static void rx_clear(struct uart16550 *u)
{
    u->rx_head = 0;
    u->rx_count = 0;
    u->timeout_ipending = 0;
}

/* One character arriving at the receiver shift register. */
static void rx_push(struct uart16550 *u, uint8_t byte)
{
    if (u->rx_count >= rx_capacity(u)) {
        u->lsr_err |= LSR_OE;
        if (!fifo_enabled(u)) {
            /* 16450 mode: the new character overwrites the unread one. */
            u->rx_fifo[u->rx_head] = byte;
        }
        /* FIFO mode: the character in the shift register is lost, the FIFO is kept. */
        return;
    }
    u->rx_fifo[(u->rx_head + u->rx_count) % UART_FIFO_SIZE] = byte;
    u->rx_count++;
}

static uint8_t rx_pop(struct uart16550 *u)
{
    if (u->rx_count == 0) {
        return 0;
    }
    uint8_t byte = u->rx_fifo[u->rx_head];
    u->rx_head = (uint8_t)((u->rx_head + 1) % UART_FIFO_SIZE);
    u->rx_count--;
    return byte;
}

/* Loopback routes the MCR outputs to the MSR inputs (DTR→DSR, RTS→CTS, OUT1→RI, OUT2→DCD). */
static uint8_t msr_lines(const struct uart16550 *u)
{
    if (!(u->mcr & MCR_LOOP)) {
        return MSR_HOST_LINES;
    }
    uint8_t lines = 0;
    lines |= (u->mcr & MCR_DTR) ? MSR_DSR : 0;
    lines |= (u->mcr & MCR_RTS) ? MSR_CTS : 0;
    lines |= (u->mcr & MCR_OUT1) ? MSR_RI : 0;
    lines |= (u->mcr & MCR_OUT2) ? MSR_DCD : 0;
    return lines;
}

static void update_msr(struct uart16550 *u)
{
    uint8_t old = u->msr & 0xf0;
    uint8_t now = msr_lines(u);
    uint8_t changed = old ^ now;
    uint8_t delta = u->msr & MSR_DELTAS;
    delta |= (changed & MSR_CTS) ? MSR_DCTS : 0;
    delta |= (changed & MSR_DSR) ? MSR_DDSR : 0;
    delta |= (changed & MSR_DCD) ? MSR_DDCD : 0;
    delta |= ((old & MSR_RI) && !(now & MSR_RI)) ? MSR_TERI : 0; /* trailing edge only */
    u->msr = now | delta;
}

static void transmit(struct uart16550 *u, uint8_t byte)
{
    if (u->mcr & MCR_LOOP) {
        rx_push(u, byte);
        rearm_timeout(u);
    } else {
        chardev_write(u->chr, &byte, 1);
    }
    /* Sent at once: THR and the shift register are empty again. */
    u->thr_ipending = 1;
}

static uint64_t uart_read(void *opaque, uint64_t off, unsigned size)
{
    struct uart16550 *u = opaque;
    uint8_t val = 0xff;

    switch (off) { /* guest-controlled: unknown offsets read as all ones */
    case UART_RBR_THR:
        if (u->lcr & LCR_DLAB) {
            val = u->dll;
            break;
        }
        val = rx_pop(u);
        u->timeout_ipending = 0;
        rearm_timeout(u);
        break;
    case UART_IER:
        val = (u->lcr & LCR_DLAB) ? u->dlm : u->ier;
        break;
    case UART_IIR_FCR:
        val = pending_iir(u);
        if (val == IIR_THRE) {
            u->thr_ipending = 0; /* reading IIR acknowledges THRE when it is the source */
        }
        if (fifo_enabled(u)) {
            val |= IIR_FIFO_ON;
        }
        break;
    case UART_LCR:
        val = u->lcr;
        break;
    case UART_MCR:
        val = u->mcr;
        break;
    case UART_LSR:
        val = LSR_THRE | LSR_TEMT | u->lsr_err | (u->rx_count ? LSR_DR : 0);
        u->lsr_err = 0;
        break;
    case UART_MSR:
        val = u->msr;
        u->msr &= (uint8_t)~MSR_DELTAS;
        break;
    case UART_SCR:
        val = u->scr;
        break;
    default:
        break;
    }
    update_irq(u, false);
    return val;
}

static void write_fcr(struct uart16550 *u, uint8_t val)
{
    bool was_on = fifo_enabled(u);
    bool on = val & FCR_ENABLE;
    if (on != was_on) {
        /* Switching modes clears both FIFOs (data sheet 8.5). */
        rx_clear(u);
    }
    if (!on) {
        /* FCR0 must be set for the other bits to be written. */
        u->fcr = 0;
        rearm_timeout(u);
        return;
    }
    if (val & FCR_RX_RESET) {
        rx_clear(u);
    }
    /* FCR_TX_RESET: the transmit FIFO is always empty here, nothing to clear. */
    u->fcr = val & (FCR_ENABLE | FCR_TRIGGER);
    rearm_timeout(u);
}

static void uart_write(void *opaque, uint64_t off, uint64_t val64, unsigned size)
{
    struct uart16550 *u = opaque;
    uint8_t val = (uint8_t)val64;

    switch (off) { /* guest-controlled: unknown offsets are ignored */
    case UART_RBR_THR:
        if (u->lcr & LCR_DLAB) {
            u->dll = val;
        } else {
            u->thr_ipending = 0;
            transmit(u, val);
        }
        break;
    case UART_IER:
        if (u->lcr & LCR_DLAB) {
            u->dlm = val;
        } else {
            uint8_t old = u->ier;
            u->ier = val & IER_MASK; /* guest-controlled: reserved bits read as zero */
            /* Enabling ETBEI while THR is empty raises THRE (always empty here). */
            if ((u->ier & IER_ETBEI) && !(old & IER_ETBEI)) {
                u->thr_ipending = 1;
            }
        }
        break;
    case UART_IIR_FCR:
        write_fcr(u, val);
        break;
    case UART_LCR:
        u->lcr = val;
        break;
    case UART_MCR:
        u->mcr = val & MCR_MASK; /* guest-controlled: bits 7:5 are reserved */
        update_msr(u);
        break;
    case UART_LSR:
    case UART_MSR:
        /* Factory test registers on the real part; writes are ignored. */
        break;
    case UART_SCR:
        u->scr = val;
        break;
    default:
        break;
    }
    update_irq(u, false);
}

const struct bus_ops uart16550_ops = {
    .read = uart_read,
    .write = uart_write,
    .min_size = 1,
    .max_size = 1,
};

size_t uart_rx_space(const struct uart16550 *u)
{
    if (u->mcr & MCR_LOOP) {
        return 0; /* the serial input is disconnected in loopback */
    }
    return rx_capacity(u) - u->rx_count;
}

size_t uart_receive(struct uart16550 *u, const uint8_t *buf, size_t len)
{
    size_t space = uart_rx_space(u);
    size_t n = len < space ? len : space;
    for (size_t i = 0; i < n; i++) {
        rx_push(u, buf[i]);
    }
    if (n > 0) {
        rearm_timeout(u);
        update_irq(u, false);
    }
    return n;
}

bool uart16550_irq_level(const struct uart16550 *u)
{
    return compute_irq(u);
}

void uart16550_reset(struct uart16550 *u)
{
    u->dll = 12;
    u->dlm = 0;
    u->ier = 0;
    u->fcr = 0;
    u->lcr = 0;
    u->mcr = 0;
    u->lsr_err = 0;
    u->msr = MSR_HOST_LINES;
    u->scr = 0;
    memset(u->rx_fifo, 0, sizeof(u->rx_fifo));
    rx_clear(u);
    u->thr_ipending = 0;
    if (u->timeout_timer) {
        vtimer_del(u->timeout_timer);
    }
    update_irq(u, true);
}

static void uart_reset_cb(void *opaque)
{
    uart16550_reset(opaque);
}

int uart16550_init(struct uart16550 *u, struct chardev *chr, struct vclock *clock,
                   const struct irq_line *irq)
{
    memset(u, 0, sizeof(*u));
    u->chr = chr;
    u->clock = clock;
    if (irq) {
        u->irq = *irq;
    }
    if (clock) {
        u->timeout_timer = vtimer_new(clock, timeout_fire, u);
        if (!u->timeout_timer) {
            return -ENOMEM;
        }
    }
    uart16550_reset(u);
    return 0;
}

void uart16550_destroy(struct uart16550 *u)
{
    if (!u) {
        return;
    }
    vtimer_free(u->timeout_timer);
    u->timeout_timer = NULL;
}

static int uart_post_load(void *opaque)
{
    struct uart16550 *u = opaque;
    /* Saved state is hostile input: every index and count must be in range. */
    if (u->rx_head >= UART_FIFO_SIZE || u->rx_count > rx_capacity(u) || (u->ier & ~IER_MASK) ||
        (u->mcr & ~MCR_MASK) || (u->fcr & ~(FCR_ENABLE | FCR_TRIGGER)) || (u->lsr_err & ~LSR_OE) ||
        u->thr_ipending > 1 || u->timeout_ipending > 1) {
        return -EINVAL;
    }
    rearm_timeout(u);
    update_irq(u, true);
    return 0;
}

static const struct vmstate_field uart_fields[] = {
    VMSTATE_FIELD(struct uart16550, dll),
    VMSTATE_FIELD(struct uart16550, dlm),
    VMSTATE_FIELD(struct uart16550, ier),
    VMSTATE_FIELD(struct uart16550, fcr),
    VMSTATE_FIELD(struct uart16550, lcr),
    VMSTATE_FIELD(struct uart16550, mcr),
    VMSTATE_FIELD(struct uart16550, lsr_err),
    VMSTATE_FIELD(struct uart16550, msr),
    VMSTATE_FIELD(struct uart16550, scr),
    VMSTATE_ARRAY(struct uart16550, rx_fifo),
    VMSTATE_FIELD(struct uart16550, rx_head),
    VMSTATE_FIELD(struct uart16550, rx_count),
    VMSTATE_FIELD(struct uart16550, thr_ipending),
    VMSTATE_FIELD(struct uart16550, timeout_ipending),
    VMSTATE_END,
};

const struct vmstate uart16550_vmstate = {
    .name = "uart16550",
    .version = 1,
    .fields = uart_fields,
    .post_load = uart_post_load,
};

void uart16550_device(struct uart16550 *u, struct device *out)
{
    *out = (struct device){
        .name = "uart16550",
        .opaque = u,
        .reset = uart_reset_cb,
        .state = &uart16550_vmstate,
    };
}
