// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * demo: the deskvm demo guest. Prints a banner, then the CMOS RTC time on the serial port
 * once a second (as a "\rHH:MM:SS" line it rewrites), echoes every byte received on COM1
 * (polled at CPL3), powers the machine off through ACPI (S5, as an OS shuts down: the engine
 * exits with status 0) when it reads 'q', and exits with PASS after seconds=N seconds.
 * With a VGA (1234:1111 on bus 0) it also writes the banner, the clock and the echoed text
 * to the text screen at 0xB8000, so the GUI's Screen page and VNC show a live screen;
 * without one it touches no display memory. Keys pressed on the PS/2 keyboard (set 1, as the
 * i8042 translates by default: what the Screen page and VNC send) are handled like COM1 bytes.
 */
#include "guest.h"

#define TEXT_COLS 80
#define TEXT_ROWS 25

static volatile uint16_t *text; /* NULL without a VGA */
static unsigned echo_row = 6, echo_col;

static bool have_vga(void)
{
    for (unsigned d = 0; d < 32; d++) {
        outl(0xcf8, 0x80000000u | d << 11);
        if (inl(0xcfc) == 0x11111234u) {
            return true;
        }
    }
    return false;
}

static void text_at(unsigned row, unsigned col, const char *s, uint8_t attr)
{
    for (unsigned i = 0; text && s[i] && col + i < TEXT_COLS; i++) {
        text[row * TEXT_COLS + col + i] = (uint16_t)((uint8_t)s[i] | attr << 8);
    }
}

static void text_echo(char c)
{
    if (!text) {
        return;
    }
    if (c == '\n' || echo_col == TEXT_COLS) {
        echo_col = 0;
        echo_row = echo_row + 1 < TEXT_ROWS ? echo_row + 1 : 6;
        for (unsigned i = 0; i < TEXT_COLS; i++) {
            text[echo_row * TEXT_COLS + i] = 0x0720;
        }
        if (c == '\n') {
            return;
        }
    }
    text[echo_row * TEXT_COLS + echo_col++] = (uint16_t)((uint8_t)c | 0x0a << 8);
}

/* Set 1 make codes 0x02..0x39 to ASCII (unshifted US layout); 0 for keys with no character. */
static const char set1_ascii[] = "\0\0"
                                 "1234567890-=\b\t"
                                 "qwertyuiop[]\r\0"
                                 "asdfghjkl;'`\0\\"
                                 "zxcvbnm,./\0*\0 ";

/* Turn on the controller's set 2 -> set 1 translation (command byte bit 6), which firmware
 * usually leaves on and the engine's reset state leaves off. */
static void kbd_init(void)
{
    if (inb(0x64) == 0xff) {
        return; /* no i8042 */
    }
    outb(0x64, 0x20); /* read the command byte */
    for (int i = 0; i < 1000 && !(inb(0x64) & 0x01); i++) {
    }
    uint8_t cmd = inb(0x60);
    outb(0x64, 0x60); /* write it back with translation on */
    outb(0x60, cmd | 0x40);
}

/* A character typed on the PS/2 keyboard, or 0. Mouse bytes (status bit 5) are dropped. */
static uint8_t kbd_getc(void)
{
    uint8_t st = inb(0x64);
    if (st == 0xff || !(st & 0x01)) {
        return 0; /* no controller, or nothing to read */
    }
    uint8_t code = inb(0x60);
    if ((st & 0x20) || code >= sizeof(set1_ascii) - 1) {
        return 0; /* mouse data, a release (bit 7) or a key without a character */
    }
    return (uint8_t)set1_ascii[code];
}

static void show_time(const struct rtc_time *t)
{
    char buf[16];
    printf("\r%02u:%02u:%02u", t->hour, t->minute, t->second);
    snprintf(buf, sizeof(buf), "%02u:%02u:%02u", t->hour, t->minute, t->second);
    text_at(3, 2, buf, 0x0e);
}

void test_main(void)
{
    uint64_t limit = cmdline_u64("seconds", 0);
    uint64_t elapsed = 0;
    struct rtc_time t;

    if (have_vga()) {
        text = (volatile uint16_t *)0xb8000;
        for (unsigned i = 0; i < TEXT_COLS * TEXT_ROWS; i++) {
            text[i] = 0x0720;
        }
        text_at(0, 0,
                "                         deskvm demo guest                             "
                "         ",
                0x1f);
        text_at(1, 2, "type to echo, 'q' to quit", 0x07);
    }
    printf("deskvm demo guest\n");
    printf("type to echo, 'q' to quit");
    if (limit != 0) {
        printf(" (exits after %lu s)", limit);
    }
    printf("\n");

    kbd_init();
    rtc_read(&t);
    show_time(&t);
    uint8_t last_sec = cmos_read(0x00);
    for (;;) {
        uint8_t c = uart_rx_ready() ? uart_getc() : kbd_getc();
        if (c != 0) {
            if (c == 'q') {
                printf("\nq: powering off\n");
                guest_fail("%s", acpi_poweroff()); /* returns only on failure */
            }
            uart_putc(c == '\r' ? '\n' : (char)c);
            text_echo(c == '\r' ? '\n' : (char)c);
        }
        uint8_t sec = cmos_read(0x00);
        if (sec != last_sec) {
            last_sec = sec;
            rtc_read(&t);
            show_time(&t);
            elapsed++;
            if (limit != 0 && elapsed >= limit) {
                printf("\n%lu s elapsed\n", elapsed);
                return;
            }
        }
    }
}
