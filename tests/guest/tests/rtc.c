// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * rtc: the MC146818 CMOS clock must read within +-5 s of now=<unix seconds> (the host's time
 * when run-guest.sh launched the VM, so boot time is inside the margin), NVRAM bytes
 * 0x40-0x4f must keep what is written, and the periodic interrupt (IRQ 8, 64 Hz) must fire.
 */
#include "guest.h"

#define TOLERANCE_S 5

static void check_time(void)
{
    struct rtc_time t;
    uint64_t now = cmdline_u64("now", 0);

    rtc_read(&t);
    uint64_t rtc = rtc_to_unix(&t);
    printf("RTC %04u-%02u-%02u %02u:%02u:%02u (unix %lu), register B %#x, host now=%lu\n", t.year,
           t.month, t.day, t.hour, t.minute, t.second, rtc, cmos_read(0x0b), now);
    CHECK(now != 0, "no now=<unix seconds> on the command line");
    int64_t diff = (int64_t)(rtc - now);
    CHECK(diff >= -TOLERANCE_S && diff <= TOLERANCE_S, "RTC is %ld s off the host clock", diff);
}

static void check_nvram(void)
{
    uint8_t saved[16];

    for (uint8_t i = 0; i < 16; i++) {
        saved[i] = cmos_read(0x40 + i);
        cmos_write(0x40 + i, (uint8_t)(0xa5 ^ (i * 17)));
    }
    for (uint8_t i = 0; i < 16; i++) {
        uint8_t v = cmos_read(0x40 + i);
        CHECK(v == (uint8_t)(0xa5 ^ (i * 17)), "NVRAM %#x reads %#x after writing %#x", 0x40 + i, v,
              (uint8_t)(0xa5 ^ (i * 17)));
        cmos_write(0x40 + i, saved[i]);
    }
    printf("NVRAM 0x40-0x4f: write/read back ok\n");
}

static void check_periodic_irq(void)
{
    struct madt_info m;

    if (madt_parse(&m) != 0 || m.ioapic_addr == 0) {
        m.ioapic_addr = 0;
        m.irq_to_gsi[8] = 8;
    }
    lapic_enable();
    irq_disable();
    if (m.ioapic_addr != 0) {
        uint16_t fl = m.irq_flags[8];
        ioapic_route(m.irq_to_gsi[8] - m.ioapic_gsi_base, VEC_RTC, (uint8_t)lapic_id(),
                     ((fl >> 2) & 3) == 3, (fl & 3) == 3);
    } else {
        pic_unmask(8);
    }
    uint8_t a = cmos_read(0x0a), b = cmos_read(0x0b);
    cmos_write(0x0a, (uint8_t)((a & 0xf0) | 0x0a)); /* rate 10: 64 Hz */
    cmos_write(0x0b, b | 0x40);                     /* PIE */
    (void)cmos_read(0x0c);
    irq_enable();

    /* Register C is read from CPL3: reading it drops IRQ 8 so the next period is an edge. */
    uint64_t start = rdtsc();
    uint32_t n = 0;
    while (n < 8 && rdtsc() - start < 4000000000ull) {
        (void)cmos_read(0x0c);
        n = irq_stats.count[VEC_RTC];
    }
    uint64_t cycles = rdtsc() - start;
    irq_disable();
    cmos_write(0x0b, b);
    cmos_write(0x0a, a);
    (void)cmos_read(0x0c);
    printf("RTC periodic interrupt (IRQ 8 -> GSI %u): %u in %lu TSC cycles\n", m.irq_to_gsi[8], n,
           cycles);
    CHECK(n != 0, "RTC periodic interrupt (IRQ 8) never fired");
    CHECK(n >= 8, "RTC periodic interrupt fired only %u times", n);
}

void test_main(void)
{
    check_time();
    check_nvram();
    check_periodic_irq();
}
