// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * hw.c: the PC platform devices the tests program from CPL3: local APIC (xAPIC MMIO, SDM
 * vol. 3 ch. 11), IOAPIC (82093AA), 8259 PIC, 8254 PIT, MC146818 RTC/CMOS, and TSC
 * calibration against the RTC seconds tick.
 */
#include "guest.h"

/* ---- Local APIC ---- */

void lapic_enable(void)
{
    lapic_write(LAPIC_SVR, 0x100 | VEC_SPURIOUS);
    lapic_write(LAPIC_TPR, 0);
}

uint32_t lapic_id(void)
{
    return lapic_read(LAPIC_ID) >> 24;
}

void lapic_eoi(void)
{
    lapic_write(LAPIC_EOI, 0);
}

void lapic_set_tpr(uint8_t tpr)
{
    lapic_write(LAPIC_TPR, tpr);
}

void lapic_timer_start(uint8_t vector, uint32_t count, unsigned divide, bool periodic)
{
    static const uint8_t div_code[8] = {0xb, 0x0, 0x1, 0x2, 0x3, 0x8, 0x9, 0xa};
    unsigned log2 = 0;

    while ((1u << log2) < divide && log2 < 7) {
        log2++;
    }
    lapic_write(LAPIC_TIMER_DIV, div_code[log2]);
    lapic_write(LAPIC_LVT_TIMER, (vector == 0 ? (1u << 16) : vector) | (periodic ? (1u << 17) : 0));
    lapic_write(LAPIC_TIMER_INIT, count);
}

void lapic_timer_stop(void)
{
    lapic_write(LAPIC_LVT_TIMER, 1u << 16);
    lapic_write(LAPIC_TIMER_INIT, 0);
}

int lapic_send_ipi(uint32_t apic_id, uint32_t icr_lo)
{
    lapic_write(LAPIC_ICR_HI, apic_id << 24);
    lapic_write(LAPIC_ICR_LO, icr_lo);
    for (unsigned i = 0; i < 100000; i++) {
        if (!(lapic_read(LAPIC_ICR_LO) & (1u << 12))) {
            return 0;
        }
        cpu_relax();
    }
    return -1;
}

/* ---- IOAPIC ---- */

static uintptr_t ioapic_base = IOAPIC_BASE;

uint32_t ioapic_read(uint32_t reg)
{
    mmio_write32(ioapic_base, reg);
    return mmio_read32(ioapic_base + 0x10);
}

void ioapic_write(uint32_t reg, uint32_t v)
{
    mmio_write32(ioapic_base, reg);
    mmio_write32(ioapic_base + 0x10, v);
}

unsigned ioapic_max_redir(void)
{
    return (ioapic_read(1) >> 16) & 0xff;
}

void ioapic_route(unsigned gsi, uint8_t vector, uint8_t dest_apic_id, bool level, bool low)
{
    ioapic_write(0x11 + 2 * gsi, (uint32_t)dest_apic_id << 24);
    ioapic_write(0x10 + 2 * gsi, vector | (low ? (1u << 13) : 0) | (level ? (1u << 15) : 0));
}

void ioapic_mask(unsigned gsi)
{
    ioapic_write(0x10 + 2 * gsi, 1u << 16);
}

/* ---- 8259 ---- */

void pic_remap_and_mask(void)
{
    outb(0x20, 0x11);
    outb(0xa0, 0x11);
    outb(0x21, VEC_PIC_BASE);
    outb(0xa1, VEC_PIC_BASE + 8);
    outb(0x21, 0x04);
    outb(0xa1, 0x02);
    outb(0x21, 0x01);
    outb(0xa1, 0x01);
    outb(0x21, 0xff);
    outb(0xa1, 0xff);
}

void pic_unmask(unsigned irq)
{
    if (irq < 8) {
        outb(0x21, inb(0x21) & (uint8_t) ~(1u << irq));
    } else {
        outb(0xa1, inb(0xa1) & (uint8_t) ~(1u << (irq - 8)));
        outb(0x21, inb(0x21) & (uint8_t) ~(1u << 2));
    }
}

/* ---- 8254 PIT ---- */

void pit_rate_generator(unsigned hz)
{
    unsigned div = (PIT_HZ + hz / 2) / hz;

    outb(0x43, 0x34); /* channel 0, lo/hi, mode 2 */
    outb(0x40, (uint8_t)div);
    outb(0x40, (uint8_t)(div >> 8));
}

void pit_stop(void)
{
    outb(0x43, 0x30); /* mode 0 without a count: the counter waits, output stays low */
}

uint16_t pit_read_counter0(void)
{
    outb(0x43, 0x00);
    uint8_t lo = inb(0x40);
    uint8_t hi = inb(0x40);
    return (uint16_t)(lo | (hi << 8));
}

/* ---- RTC / CMOS ---- */

uint8_t cmos_read(uint8_t reg)
{
    outb(0x70, reg);
    return inb(0x71);
}

void cmos_write(uint8_t reg, uint8_t v)
{
    outb(0x70, reg);
    outb(0x71, v);
}

static unsigned bcd(uint8_t v, bool binary)
{
    return binary ? v : (unsigned)((v >> 4) * 10 + (v & 0xf));
}

static void rtc_read_raw(uint8_t r[7])
{
    for (unsigned i = 0; i < 100000 && (cmos_read(0x0a) & 0x80); i++) {
        cpu_relax();
    }
    r[0] = cmos_read(0x00);
    r[1] = cmos_read(0x02);
    r[2] = cmos_read(0x04);
    r[3] = cmos_read(0x07);
    r[4] = cmos_read(0x08);
    r[5] = cmos_read(0x09);
    r[6] = cmos_read(0x32);
}

void rtc_read(struct rtc_time *t)
{
    uint8_t a[7], b[7];

    /* Read until two snapshots agree so an update between reads cannot tear the value. */
    rtc_read_raw(a);
    for (unsigned tries = 0; tries < 10; tries++) {
        rtc_read_raw(b);
        if (memcmp(a, b, sizeof(a)) == 0) {
            break;
        }
        memcpy(a, b, sizeof(a));
    }
    uint8_t regb = cmos_read(0x0b);
    bool binary = regb & 0x04;
    bool h24 = regb & 0x02;
    bool pm = a[2] & 0x80;

    t->second = bcd(a[0], binary);
    t->minute = bcd(a[1], binary);
    t->hour = bcd(a[2] & 0x7f, binary);
    if (!h24) {
        t->hour = (t->hour % 12) + (pm ? 12 : 0);
    }
    t->day = bcd(a[3], binary);
    t->month = bcd(a[4], binary);
    unsigned century = bcd(a[6], binary);
    if (century < 19 || century > 21) {
        century = 20;
    }
    t->year = century * 100 + bcd(a[5], binary);
}

uint64_t rtc_to_unix(const struct rtc_time *t)
{
    /* Days from civil (H. Hinnant), valid for the Gregorian calendar. */
    int y = (int)t->year - (t->month <= 2);
    int era = y / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned mp = (t->month + 9) % 12;
    unsigned doy = (153 * mp + 2) / 5 + t->day - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    int64_t days = (int64_t)era * 146097 + doe - 719468;

    return (uint64_t)days * 86400 + t->hour * 3600 + t->minute * 60 + t->second;
}

uint64_t rtc_wait_max_gap;

uint64_t rtc_wait_second_edge(void)
{
    uint8_t s0 = cmos_read(0x00);
    uint64_t start = rdtsc(), prev = start;

    rtc_wait_max_gap = 0;
    /* 12e9 cycles: 3 s at 4 GHz, longer on anything slower. */
    while (prev - start < 12000000000ull) {
        uint8_t s = cmos_read(0x00);
        uint64_t now = rdtsc();
        if (now - prev > rtc_wait_max_gap) {
            rtc_wait_max_gap = now - prev;
        }
        prev = now;
        if (s != s0) {
            return now;
        }
    }
    return 0;
}

/* ---- TSC ---- */

static uint64_t tsc_hz_cached;

void tsc_set_hz(uint64_t hz)
{
    tsc_hz_cached = hz;
}

uint64_t tsc_hz(void)
{
    if (tsc_hz_cached == 0) {
        uint64_t a = rtc_wait_second_edge();
        uint64_t b = rtc_wait_second_edge();
        if (a != 0 && b != 0) {
            tsc_hz_cached = b - a;
        }
    }
    return tsc_hz_cached;
}

void udelay(uint64_t us)
{
    uint64_t per_us = tsc_hz_cached != 0 ? tsc_hz_cached / 1000000 : 4000;
    uint64_t start = rdtsc();

    while (rdtsc() - start < us * per_us) {
        cpu_relax();
    }
}
