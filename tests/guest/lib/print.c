// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * print.c: polled 16550 output on COM1, a small printf (%d %i %u %x %X %o %p %s %c %%;
 * flags '-' '0' '#', width, precision for %s, l/ll/z/h lengths) and the few libc string
 * functions the kit needs.
 */
#include "guest.h"

#define UART_THR 0
#define UART_RBR 0
#define UART_IER 1
#define UART_LCR 3
#define UART_MCR 4
#define UART_LSR 5
#define UART_LSR_DR 0x01
#define UART_LSR_THRE 0x20

void uart_init(void)
{
    outb(GUEST_COM1 + UART_IER, 0x00);
    outb(GUEST_COM1 + UART_LCR, 0x80); /* DLAB */
    outb(GUEST_COM1 + 0, 1);           /* 115200 */
    outb(GUEST_COM1 + 1, 0);
    outb(GUEST_COM1 + UART_LCR, 0x03); /* 8N1 */
    /* FCR is left alone: changing the FIFO mode resets the FIFOs and drops typed bytes. */
    outb(GUEST_COM1 + UART_MCR, 0x03);
}

void uart_putc(char c)
{
    /* Bounded: a VMM without a UART answers 0xff, one that never drains must not hang us. */
    for (unsigned i = 0; i < 100000; i++) {
        if (inb(GUEST_COM1 + UART_LSR) & UART_LSR_THRE) {
            break;
        }
    }
    outb(GUEST_COM1 + UART_THR, (uint8_t)c);
}

bool uart_rx_ready(void)
{
    uint8_t lsr = inb(GUEST_COM1 + UART_LSR);

    return lsr != 0xff && (lsr & UART_LSR_DR);
}

uint8_t uart_getc(void)
{
    return inb(GUEST_COM1 + UART_RBR);
}

struct sink {
    char *buf;
    size_t size;
    size_t len;
};

static void sink_put(struct sink *s, char c)
{
    if (s->buf == NULL) {
        if (c == '\n') {
            uart_putc('\r');
        }
        uart_putc(c);
    } else if (s->len + 1 < s->size) {
        s->buf[s->len] = c;
    }
    s->len++;
}

static void put_padded(struct sink *s, const char *str, size_t len, int width, bool left, char pad)
{
    int fill = width > (int)len ? width - (int)len : 0;

    /* Zero padding goes after a sign or a 0x prefix. */
    if (!left && pad == '0' && len > 0 && str[0] == '-') {
        sink_put(s, '-');
        str++;
        len--;
    } else if (!left && pad == '0' && len > 2 && str[0] == '0' && str[1] == 'x') {
        sink_put(s, '0');
        sink_put(s, 'x');
        str += 2;
        len -= 2;
    }
    if (!left) {
        while (fill-- > 0) {
            sink_put(s, pad);
        }
    }
    for (size_t i = 0; i < len; i++) {
        sink_put(s, str[i]);
    }
    if (left) {
        while (fill-- > 0) {
            sink_put(s, ' ');
        }
    }
}

static int format(struct sink *s, const char *fmt, va_list ap)
{
    for (const char *p = fmt; *p != '\0'; p++) {
        if (*p != '%') {
            sink_put(s, *p);
            continue;
        }
        p++;
        bool left = false, alt = false;
        char pad = ' ';
        int width = 0, lng = 0;

        for (;; p++) {
            if (*p == '-') {
                left = true;
            } else if (*p == '0') {
                pad = '0';
            } else if (*p == '#') {
                alt = true;
            } else {
                break;
            }
        }
        if (*p == '*') {
            width = va_arg(ap, int);
            p++;
        }
        while (*p >= '0' && *p <= '9') {
            width = width * 10 + (*p++ - '0');
        }
        int prec = -1;
        if (*p == '.') {
            p++;
            prec = 0;
            if (*p == '*') {
                prec = va_arg(ap, int);
                p++;
            }
            while (*p >= '0' && *p <= '9') {
                prec = prec * 10 + (*p++ - '0');
            }
        }
        while (*p == 'l' || *p == 'z' || *p == 'h') {
            if (*p != 'h') {
                lng++;
            }
            p++;
        }

        char tmp[24];
        char *end = tmp + sizeof(tmp), *q = end;
        uint64_t u;
        bool neg = false;
        unsigned base = 10;
        const char *digits = "0123456789abcdef";

        switch (*p) {
        case 'd':
        case 'i': {
            int64_t v = lng ? va_arg(ap, int64_t) : va_arg(ap, int);
            neg = v < 0;
            u = neg ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
            break;
        }
        case 'u':
            u = lng ? va_arg(ap, uint64_t) : va_arg(ap, unsigned);
            break;
        case 'X':
            digits = "0123456789ABCDEF";
            /* fall through */
        case 'x':
            u = lng ? va_arg(ap, uint64_t) : va_arg(ap, unsigned);
            base = 16;
            break;
        case 'o':
            u = lng ? va_arg(ap, uint64_t) : va_arg(ap, unsigned);
            base = 8;
            break;
        case 'p':
            u = (uint64_t)(uintptr_t)va_arg(ap, void *);
            base = 16;
            alt = true;
            break;
        case 'c':
            tmp[0] = (char)va_arg(ap, int);
            put_padded(s, tmp, 1, width, left, ' ');
            continue;
        case 's': {
            const char *str = va_arg(ap, const char *);
            if (str == NULL) {
                str = "(null)";
            }
            size_t len = 0;
            while ((prec < 0 || len < (size_t)prec) && str[len] != '\0') {
                len++;
            }
            put_padded(s, str, len, width, left, ' ');
            continue;
        }
        case '%':
            sink_put(s, '%');
            continue;
        case '\0':
            return (int)s->len;
        default:
            sink_put(s, '%');
            sink_put(s, *p);
            continue;
        }
        do {
            *--q = digits[u % base];
            u /= base;
        } while (u != 0);
        if (alt && base == 16) {
            *--q = 'x';
            *--q = '0';
        }
        if (neg) {
            *--q = '-';
        }
        put_padded(s, q, (size_t)(end - q), width, left, pad);
    }
    return (int)s->len;
}

int vprintf(const char *fmt, va_list ap)
{
    struct sink s = {NULL, 0, 0};

    return format(&s, fmt, ap);
}

int printf(const char *fmt, ...)
{
    va_list ap;
    int n;

    va_start(ap, fmt);
    n = vprintf(fmt, ap);
    va_end(ap);
    return n;
}

int vsnprintf(char *buf, size_t n, const char *fmt, va_list ap)
{
    struct sink s = {buf, n, 0};
    int len = format(&s, fmt, ap);

    if (n > 0) {
        buf[s.len < n ? s.len : n - 1] = '\0';
    }
    return len;
}

int snprintf(char *buf, size_t n, const char *fmt, ...)
{
    va_list ap;
    int len;

    va_start(ap, fmt);
    len = vsnprintf(buf, n, fmt, ap);
    va_end(ap);
    return len;
}

void *memcpy(void *dst, const void *src, size_t n)
{
    uint8_t *d = dst;
    const uint8_t *s = src;

    while (n-- > 0) {
        *d++ = *s++;
    }
    return dst;
}

void *memset(void *dst, int c, size_t n)
{
    uint8_t *d = dst;

    while (n-- > 0) {
        *d++ = (uint8_t)c;
    }
    return dst;
}

int memcmp(const void *a, const void *b, size_t n)
{
    const uint8_t *x = a, *y = b;

    for (size_t i = 0; i < n; i++) {
        if (x[i] != y[i]) {
            return x[i] < y[i] ? -1 : 1;
        }
    }
    return 0;
}

size_t strlen(const char *s)
{
    size_t n = 0;

    while (s[n] != '\0') {
        n++;
    }
    return n;
}

int strncmp(const char *a, const char *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (a[i] != b[i] || a[i] == '\0') {
            return (unsigned char)a[i] - (unsigned char)b[i];
        }
    }
    return 0;
}
