// SPDX-License-Identifier: GPL-2.0-or-later
/* 16550A UART: loopback, divisor latch, FIFOs and IIR, THRE, overrun, OUT2 gating, vmstate. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "io/uart16550.h"
#include "tests/helpers/fake_clock.h"
#include "tests/helpers/fake_irq.h"
#include "vmm/chardev.h"
#include "vmm/device.h"

struct sink {
    struct chardev chr; /* first */
    uint8_t buf[256];
    size_t len;
};

static ssize_t sink_write(struct chardev *chr, const void *buf, size_t len)
{
    struct sink *s = (struct sink *)chr;
    for (size_t i = 0; i < len && s->len < sizeof(s->buf); i++) {
        s->buf[s->len++] = ((const uint8_t *)buf)[i];
    }
    return (ssize_t)len;
}

struct fixture {
    struct fake_clock fc;
    struct fake_irq irq;
    struct sink sink;
    struct uart16550 u;
};

enum { RBR = 0, IER = 1, IIR = 2, FCR = 2, LCR = 3, MCR = 4, LSR = 5, MSR = 6, SCR = 7 };

static uint8_t rd(struct fixture *f, unsigned off)
{
    return (uint8_t)uart16550_ops.read(&f->u, off, 1);
}

static void wr(struct fixture *f, unsigned off, uint8_t v)
{
    uart16550_ops.write(&f->u, off, v, 1);
}

static int setup(void **state)
{
    static struct fixture f;
    memset(&f, 0, sizeof(f));
    fake_clock_init(&f.fc, 0);
    fake_irq_init(&f.irq, 4);
    f.sink.chr.write = sink_write;
    f.sink.chr.in_fd = f.sink.chr.out_fd = -1;
    assert_int_equal(uart16550_init(&f.u, &f.sink.chr, &f.fc.clock, &f.irq.line), 0);
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    uart16550_destroy(&f->u);
    uart16550_destroy(NULL);
    return 0;
}

static void test_reset_values(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(rd(f, IIR), 0x01);
    assert_int_equal(rd(f, LSR), 0x60);
    assert_int_equal(rd(f, MSR), 0xb0);
    assert_int_equal(rd(f, IER), 0);
    assert_false(f->irq.level);
}

static void test_transmit_to_chardev(void **state)
{
    struct fixture *f = *state;
    const char *msg = "hello";
    for (size_t i = 0; i < strlen(msg); i++) {
        wr(f, RBR, (uint8_t)msg[i]);
    }
    assert_int_equal(f->sink.len, 5);
    assert_memory_equal(f->sink.buf, msg, 5);
    assert_int_equal(rd(f, LSR) & 0x61, 0x60);
}

static void test_loopback_echo(void **state)
{
    struct fixture *f = *state;
    wr(f, FCR, 0x07);
    wr(f, MCR, 0x10 | 0x03);
    assert_int_equal(uart_rx_space(&f->u), 0);
    wr(f, RBR, 'A');
    wr(f, RBR, 'B');
    assert_int_equal(f->sink.len, 0); /* nothing leaves in loopback */
    assert_int_equal(rd(f, LSR) & 0x01, 0x01);
    assert_int_equal(rd(f, RBR), 'A');
    assert_int_equal(rd(f, RBR), 'B');
    assert_int_equal(rd(f, LSR) & 0x01, 0);
    /* Loopback MSR: DTR→DSR, RTS→CTS, with deltas from the host-side lines. */
    uint8_t msr = rd(f, MSR);
    assert_int_equal(msr & 0xf0, 0x30);
    assert_true(msr & 0x08);                /* DCD dropped */
    assert_int_equal(rd(f, MSR) & 0x0f, 0); /* deltas cleared by the read */
    wr(f, MCR, 0x10 | 0x04);                /* OUT1 → RI */
    assert_int_equal(rd(f, MSR) & 0xf0, 0x40);
    wr(f, MCR, 0x10);
    assert_true(rd(f, MSR) & 0x04); /* trailing edge of RI */
}

static void test_divisor_latch(void **state)
{
    struct fixture *f = *state;
    wr(f, IER, 0x05);
    wr(f, LCR, 0x83);
    assert_int_equal(rd(f, RBR), 12); /* reset divisor: 9600 baud */
    assert_int_equal(rd(f, IER), 0);
    wr(f, RBR, 0x01);
    wr(f, IER, 0x02);
    assert_int_equal(rd(f, RBR), 0x01);
    assert_int_equal(rd(f, IER), 0x02);
    assert_int_equal(f->sink.len, 0); /* DLL write is not a transmit */
    wr(f, LCR, 0x03);
    assert_int_equal(rd(f, IER), 0x05);
    assert_int_equal(rd(f, LCR), 0x03);
    wr(f, SCR, 0x5a);
    assert_int_equal(rd(f, SCR), 0x5a);
}

static void test_fifo_trigger_levels(void **state)
{
    struct fixture *f = *state;
    static const struct {
        uint8_t fcr;
        unsigned level;
    } cases[] = {{0x01, 1}, {0x41, 4}, {0x81, 8}, {0xc1, 14}};
    uint8_t data[16];
    for (int i = 0; i < 16; i++) {
        data[i] = (uint8_t)(0x30 + i);
    }
    wr(f, MCR, 0x08);
    wr(f, IER, 0x01);
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        wr(f, FCR, cases[c].fcr | 0x02);
        if (cases[c].level > 1) {
            assert_int_equal(uart_receive(&f->u, data, cases[c].level - 1), cases[c].level - 1);
            assert_int_equal(rd(f, IIR), 0xc1); /* below trigger: nothing yet */
            assert_false(f->irq.level);
        }
        assert_int_equal(uart_receive(&f->u, data + cases[c].level - 1, 1), 1);
        assert_int_equal(rd(f, IIR), 0xc4);
        assert_true(f->irq.level);
        assert_int_equal(rd(f, RBR), 0x30);
    }
    /* FIFO reset empties it and drops the interrupt. */
    wr(f, FCR, 0xc3);
    assert_int_equal(rd(f, LSR) & 0x01, 0);
    assert_int_equal(rd(f, IIR), 0xc1);
    assert_false(f->irq.level);
    assert_int_equal(uart_rx_space(&f->u), 16);
}

static void test_character_timeout(void **state)
{
    struct fixture *f = *state;
    wr(f, MCR, 0x08);
    wr(f, IER, 0x01);
    wr(f, FCR, 0xc1); /* trigger 14 */
    wr(f, LCR, 0x83);
    wr(f, RBR, 1); /* 115200 baud, 8N1: 86.8 µs a character */
    wr(f, IER, 0);
    wr(f, LCR, 0x03);
    uint8_t b[3] = {1, 2, 3};
    assert_int_equal(uart_receive(&f->u, b, 3), 3);
    fake_clock_advance(&f->fc, 4 * 86805 - 1000);
    assert_int_equal(rd(f, IIR), 0xc1);
    fake_clock_advance(&f->fc, 2000);
    assert_int_equal(rd(f, IIR), 0xcc);
    assert_true(f->irq.level);
    assert_int_equal(rd(f, RBR), 1); /* a read clears the timeout and restarts the timer */
    assert_int_equal(rd(f, IIR), 0xc1);
    assert_false(f->irq.level);
    fake_clock_advance(&f->fc, 400000);
    assert_int_equal(rd(f, IIR), 0xcc);
    assert_int_equal(rd(f, RBR), 2);
    assert_int_equal(rd(f, RBR), 3);
    fake_clock_advance(&f->fc, 10000000);
    assert_int_equal(rd(f, IIR), 0xc1); /* empty FIFO: no timeout */
}

static void test_thre_interrupt(void **state)
{
    struct fixture *f = *state;
    wr(f, MCR, 0x08);
    wr(f, IER, 0x02);
    assert_true(f->irq.level); /* enabling ETBEI with THR empty raises it */
    assert_int_equal(rd(f, IIR), 0x02);
    assert_false(f->irq.level); /* reading IIR acknowledged it */
    assert_int_equal(rd(f, IIR), 0x01);
    wr(f, RBR, 'x');
    assert_true(f->irq.level); /* sent at once: THR empty again */
    assert_int_equal(f->irq.raises, 2);
    wr(f, IER, 0x00);
    assert_false(f->irq.level);
    assert_int_equal(rd(f, IIR), 0x01);
    wr(f, IER, 0x02);
    assert_true(f->irq.level);
    /* A higher-priority source hides THRE; the IIR read then does not acknowledge it. */
    wr(f, IER, 0x03);
    uint8_t c = 'z';
    assert_int_equal(uart_receive(&f->u, &c, 1), 1);
    assert_int_equal(rd(f, IIR), 0x04);
    assert_int_equal(rd(f, RBR), 'z');
    assert_int_equal(rd(f, IIR), 0x02);
    assert_int_equal(rd(f, IIR), 0x01);
}

static void test_overrun(void **state)
{
    struct fixture *f = *state;
    wr(f, MCR, 0x08);
    wr(f, IER, 0x05);
    wr(f, FCR, 0x01);
    uint8_t data[20];
    for (int i = 0; i < 20; i++) {
        data[i] = (uint8_t)i;
    }
    /* Host input is flow-controlled: a full FIFO takes nothing and loses nothing. */
    assert_int_equal(uart_receive(&f->u, data, 20), 16);
    assert_int_equal(uart_rx_space(&f->u), 0);
    assert_int_equal(uart_receive(&f->u, data, 1), 0);
    assert_int_equal(rd(f, IIR), 0xc4);
    /* Loopback feeds the receiver with no flow control: the 17th byte overruns. */
    wr(f, MCR, 0x18);
    wr(f, RBR, 0xee);
    wr(f, MCR, 0x08);
    assert_int_equal(rd(f, IIR), 0xc6); /* line status outranks data */
    assert_true(f->irq.level);
    uint8_t lsr = rd(f, LSR);
    assert_int_equal(lsr & 0x03, 0x03);
    assert_int_equal(rd(f, LSR) & 0x02, 0); /* OE clears on read */
    for (int i = 0; i < 16; i++) {
        assert_int_equal(rd(f, RBR), i); /* FIFO content kept, overrunning byte lost */
    }
    assert_int_equal(rd(f, LSR) & 0x01, 0);

    /* 16450 mode: one holding register, the new byte overwrites the unread one. */
    wr(f, FCR, 0x00);
    wr(f, MCR, 0x18);
    wr(f, RBR, 0x11);
    wr(f, RBR, 0x22);
    assert_int_equal(rd(f, LSR) & 0x03, 0x03);
    assert_int_equal(rd(f, RBR), 0x22);
}

static void test_read_empty_rbr(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(rd(f, RBR), 0);
    assert_int_equal(rd(f, LSR) & 0x03, 0);
    assert_int_equal(uart16550_ops.read(&f->u, 9, 1), 0xff); /* outside the range */
    uart16550_ops.write(&f->u, 100, 0x12, 1);
}

static void test_out2_gating(void **state)
{
    struct fixture *f = *state;
    wr(f, IER, 0x01);
    uint8_t c = 'q';
    uart_receive(&f->u, &c, 1);
    assert_int_equal(rd(f, IIR), 0x04); /* pending ... */
    assert_false(f->irq.level);         /* ... but OUT2 is clear */
    wr(f, MCR, 0x08);
    assert_true(f->irq.level);
    assert_true(uart16550_irq_level(&f->u));
    wr(f, MCR, 0x18); /* loopback forces OUT2 inactive */
    assert_false(f->irq.level);
    wr(f, MCR, 0x08);
    assert_true(f->irq.level);
    rd(f, RBR);
    assert_false(f->irq.level);
}

static void test_reset_and_device(void **state)
{
    struct fixture *f = *state;
    struct device dev;
    uart16550_device(&f->u, &dev);
    assert_string_equal(dev.name, "uart16550");
    assert_ptr_equal(dev.state, &uart16550_vmstate);
    wr(f, MCR, 0x08);
    wr(f, IER, 0x02);
    assert_true(f->irq.level);
    dev.reset(dev.opaque);
    assert_false(f->irq.level);
    assert_int_equal(rd(f, MCR), 0);
}

static void test_vmstate_round_trip(void **state)
{
    struct fixture *f = *state;
    wr(f, FCR, 0x81);
    wr(f, MCR, 0x0b);
    wr(f, IER, 0x0f);
    wr(f, SCR, 0x77);
    uint8_t data[5] = {'s', 'n', 'a', 'p', '!'};
    uart_receive(&f->u, data, 5);
    rd(f, RBR); /* move the ring head off zero */
    uint8_t buf1[128], buf2[128];
    long n1 = vmstate_save(&uart16550_vmstate, &f->u, buf1, sizeof(buf1));
    assert_true(n1 > 0);

    struct fake_irq irq2;
    fake_irq_init(&irq2, 4);
    struct uart16550 u2;
    assert_int_equal(uart16550_init(&u2, NULL, &f->fc.clock, &irq2.line), 0);
    for (int cycle = 0; cycle < 3; cycle++) {
        assert_int_equal(vmstate_load(&uart16550_vmstate, &u2, buf1, (size_t)n1), 0);
        long n2 = vmstate_save(&uart16550_vmstate, &u2, buf2, sizeof(buf2));
        assert_int_equal(n2, n1);
        assert_memory_equal(buf1, buf2, (size_t)n1);
    }
    assert_true(irq2.level); /* post_load drove the line */
    assert_int_equal(uart16550_ops.read(&u2, SCR, 1), 0x77);
    for (int i = 1; i < 5; i++) {
        assert_int_equal(uart16550_ops.read(&u2, RBR, 1), data[i]);
    }

    /* Hostile state: a ring index out of range is refused and changes nothing. */
    long off = 8 + 9 + 16; /* version/length header, nine registers, the FIFO */
    buf1[off] = 16;
    assert_int_equal(vmstate_load(&uart16550_vmstate, &u2, buf1, (size_t)n1), -EINVAL);
    buf1[off] = 0;
    buf1[off + 1] = 17;
    assert_int_equal(vmstate_load(&uart16550_vmstate, &u2, buf1, (size_t)n1), -EINVAL);
    assert_int_equal(uart16550_ops.read(&u2, LSR, 1) & 0x01, 0);
    uart16550_destroy(&u2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_reset_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_transmit_to_chardev, setup, teardown),
        cmocka_unit_test_setup_teardown(test_loopback_echo, setup, teardown),
        cmocka_unit_test_setup_teardown(test_divisor_latch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_fifo_trigger_levels, setup, teardown),
        cmocka_unit_test_setup_teardown(test_character_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_thre_interrupt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_overrun, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_empty_rbr, setup, teardown),
        cmocka_unit_test_setup_teardown(test_out2_gating, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reset_and_device, setup, teardown),
        cmocka_unit_test_setup_teardown(test_vmstate_round_trip, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
