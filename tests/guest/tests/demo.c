// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * demo: the deskvm demo guest. Prints a banner, then the CMOS RTC time on the serial port
 * once a second (as a "\rHH:MM:SS" line it rewrites), echoes every byte received on COM1
 * (polled at CPL3), powers the machine off through ACPI (S5, as an OS shuts down: the engine
 * exits with status 0) when it reads 'q', and exits with PASS after seconds=N seconds.
 */
#include "guest.h"

static void show_time(const struct rtc_time *t)
{
    printf("\r%02u:%02u:%02u", t->hour, t->minute, t->second);
}

void test_main(void)
{
    uint64_t limit = cmdline_u64("seconds", 0);
    uint64_t elapsed = 0;
    struct rtc_time t;

    printf("deskvm demo guest\n");
    printf("type to echo, 'q' to quit");
    if (limit != 0) {
        printf(" (exits after %lu s)", limit);
    }
    printf("\n");

    rtc_read(&t);
    show_time(&t);
    uint8_t last_sec = cmos_read(0x00);
    for (;;) {
        if (uart_rx_ready()) {
            uint8_t c = uart_getc();
            if (c == 'q') {
                printf("\nq: powering off\n");
                guest_fail("%s", acpi_poweroff()); /* returns only on failure */
            }
            uart_putc(c == '\r' ? '\n' : (char)c);
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
