// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * MC146818A real-time clock model (data sheet: address map, registers A-D, interrupts,
 * update cycle). Time is the host's UTC clock plus a guest offset; interrupt flags are
 * derived from the clock when read, and timers run only while an interrupt is enabled.
 * See docs/devices-legacy.md for the choices made.
 */
#include "io/cmos_rtc.h"

#include <errno.h>
#include <string.h>

#include "vmm/clock.h"
#include "vmm/device.h"

enum {
    RTC_SEC = 0x00,
    RTC_SEC_ALARM = 0x01,
    RTC_MIN = 0x02,
    RTC_MIN_ALARM = 0x03,
    RTC_HOUR = 0x04,
    RTC_HOUR_ALARM = 0x05,
    RTC_DOW = 0x06,
    RTC_DAY = 0x07,
    RTC_MONTH = 0x08,
    RTC_YEAR = 0x09,
    RTC_REG_A = 0x0a,
    RTC_REG_B = 0x0b,
    RTC_REG_C = 0x0c,
    RTC_REG_D = 0x0d,
    RTC_CENTURY = 0x32,
};

#define REG_A_UIP 0x80
#define REG_A_RATE 0x0f
#define REG_B_SET 0x80
#define REG_B_PIE 0x40
#define REG_B_AIE 0x20
#define REG_B_UIE 0x10
#define REG_B_SQWE 0x08
#define REG_B_DM_BINARY 0x04
#define REG_B_24H 0x02
#define REG_C_IRQF 0x80
#define REG_C_PF 0x40
#define REG_C_AF 0x20
#define REG_C_UF 0x10
#define REG_D_VRT 0x80
#define HOUR_PM 0x80
#define ALARM_DONT_CARE 0xc0

#define NS_PER_S 1000000000ll
#define UIP_NS 244000ll /* UIP rises this long before each update (244 µs, data sheet) */
/* Keeps every date computation far from int64 overflow; the registers reach year 25599. */
#define OFFSET_LIMIT_S 1000000000000ll

/* ---- calendar arithmetic (proleptic Gregorian, days since 1970-01-01) ---- */

static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
}

static int64_t days_from_date(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = floor_div(y, 400);
    int64_t yoe = y - era * 400;
    int64_t mp = (m + 9) % 12; /* March = 0 */
    int64_t doy = (153 * mp + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

struct rtc_tm {
    int64_t year;
    unsigned month, day, hour, min, sec, dow; /* dow: 1 = Sunday */
};

static void date_from_seconds(int64_t t, struct rtc_tm *tm)
{
    int64_t days = floor_div(t, 86400);
    int64_t rem = t - days * 86400;
    tm->hour = (unsigned)(rem / 3600);
    tm->min = (unsigned)(rem / 60 % 60);
    tm->sec = (unsigned)(rem % 60);
    tm->dow = (unsigned)((days % 7 + 7 + 4) % 7) + 1; /* 1970-01-01 was a Thursday */
    int64_t z = days + 719468;
    int64_t era = floor_div(z, 146097);
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    tm->day = (unsigned)(doy - (153 * mp + 2) / 5 + 1);
    tm->month = (unsigned)(mp < 10 ? mp + 3 : mp - 9);
    tm->year = yoe + era * 400 + (tm->month <= 2);
}

/* ---- register encoding ---- */

static bool binary_mode(const struct cmos_rtc *rtc)
{
    return rtc->cmos[RTC_REG_B] & REG_B_DM_BINARY;
}

static uint8_t to_reg(const struct cmos_rtc *rtc, unsigned v)
{
    return binary_mode(rtc) ? (uint8_t)v : (uint8_t)(((v / 10) << 4) | (v % 10));
}

/* guest-controlled: any byte decodes to 0..255 (invalid BCD digits just weigh 10 more) */
static unsigned from_reg(const struct cmos_rtc *rtc, uint8_t b)
{
    return binary_mode(rtc) ? b : (unsigned)(b >> 4) * 10 + (b & 0x0f);
}

static uint8_t hour_to_reg(const struct cmos_rtc *rtc, unsigned hour)
{
    if (rtc->cmos[RTC_REG_B] & REG_B_24H) {
        return to_reg(rtc, hour);
    }
    unsigned h12 = hour % 12 ? hour % 12 : 12;
    return to_reg(rtc, h12) | (hour >= 12 ? HOUR_PM : 0);
}

/* Returns 0..23, or a value >= 24 for a byte that names no hour. */
static unsigned hour_from_reg(const struct cmos_rtc *rtc, uint8_t b)
{
    if (rtc->cmos[RTC_REG_B] & REG_B_24H) {
        return from_reg(rtc, b);
    }
    unsigned h12 = from_reg(rtc, b & 0x7f);
    if (h12 < 1 || h12 > 12) {
        return 24;
    }
    return h12 % 12 + ((b & HOUR_PM) ? 12 : 0);
}

static unsigned clamp(unsigned v, unsigned lo, unsigned hi)
{
    return v < lo ? lo : v > hi ? hi : v;
}

/* ---- the clock ---- */

static int64_t host_now_s(const struct cmos_rtc *rtc)
{
    return floor_div(vclock_realtime(rtc->clock), NS_PER_S);
}

static int64_t guest_now_s(const struct cmos_rtc *rtc)
{
    return host_now_s(rtc) + rtc->offset_s;
}

/* Write the given time into the time registers in the current format. */
static void store_time(struct cmos_rtc *rtc, int64_t t)
{
    struct rtc_tm tm;
    date_from_seconds(t, &tm);
    int64_t year = tm.year < 0 ? 0 : tm.year;
    rtc->cmos[RTC_SEC] = to_reg(rtc, tm.sec);
    rtc->cmos[RTC_MIN] = to_reg(rtc, tm.min);
    rtc->cmos[RTC_HOUR] = hour_to_reg(rtc, tm.hour);
    rtc->cmos[RTC_DOW] = to_reg(rtc, tm.dow);
    rtc->cmos[RTC_DAY] = to_reg(rtc, tm.day);
    rtc->cmos[RTC_MONTH] = to_reg(rtc, tm.month);
    rtc->cmos[RTC_YEAR] = to_reg(rtc, (unsigned)(year % 100));
    rtc->cmos[RTC_CENTURY] = to_reg(rtc, (unsigned)(year / 100 % 100));
}

/* The time the guest wrote into the registers. Out-of-range fields are clamped. */
static int64_t load_time(const struct cmos_rtc *rtc)
{
    unsigned sec = clamp(from_reg(rtc, rtc->cmos[RTC_SEC]), 0, 59);
    unsigned min = clamp(from_reg(rtc, rtc->cmos[RTC_MIN]), 0, 59);
    unsigned hour = clamp(hour_from_reg(rtc, rtc->cmos[RTC_HOUR]), 0, 23);
    unsigned day = clamp(from_reg(rtc, rtc->cmos[RTC_DAY]), 1, 31);
    unsigned month = clamp(from_reg(rtc, rtc->cmos[RTC_MONTH]), 1, 12);
    int64_t year = (int64_t)from_reg(rtc, rtc->cmos[RTC_CENTURY]) * 100 +
                   clamp(from_reg(rtc, rtc->cmos[RTC_YEAR]), 0, 99);
    return days_from_date(year, month, day) * 86400 + hour * 3600 + min * 60 + sec;
}

static bool time_register(unsigned index)
{
    return index == RTC_SEC || index == RTC_MIN || index == RTC_HOUR ||
           (index >= RTC_DOW && index <= RTC_YEAR) || index == RTC_CENTURY;
}

static bool set_held(const struct cmos_rtc *rtc)
{
    return rtc->cmos[RTC_REG_B] & REG_B_SET;
}

/* ---- interrupts ---- */

/* Periodic rate in Hz for RS3-RS0; 1 and 2 are 256 and 128 Hz with a 32.768 kHz base. */
static uint64_t periodic_hz(const struct cmos_rtc *rtc)
{
    unsigned rate = rtc->cmos[RTC_REG_A] & REG_A_RATE;
    if (rate == 0) {
        return 0;
    }
    if (rate <= 2) {
        rate += 7;
    }
    return 32768u >> (rate - 1);
}

/* Periodic edges since the clock's zero: floor(t * hz / 1e9) without overflow. */
static uint64_t ticks_at(uint64_t t, uint64_t hz)
{
    return t / NS_PER_S * hz + t % NS_PER_S * hz / NS_PER_S;
}

/* The first time at which ticks_at() reaches k. */
static uint64_t tick_time(uint64_t k, uint64_t hz)
{
    return k / hz * NS_PER_S + (k % hz * NS_PER_S + hz - 1) / hz;
}

/* Alarm byte → wanted value, -1 for "don't care", -2 for a value that never matches. */
static int alarm_field(const struct cmos_rtc *rtc, unsigned index, unsigned limit)
{
    uint8_t b = rtc->cmos[index];
    if ((b & ALARM_DONT_CARE) == ALARM_DONT_CARE) {
        return -1;
    }
    unsigned v = index == RTC_HOUR_ALARM ? hour_from_reg(rtc, b) : from_reg(rtc, b);
    return v < limit ? (int)v : -2;
}

/* Smallest value >= from allowed by want (-1 any), or -1 when none up to limit-1. */
static int first_at_least(int want, int from, int limit)
{
    if (want == -1) {
        return from < limit ? from : -1;
    }
    return want >= from ? want : -1;
}

/* The first guest second after t that matches the alarm, or INT64_MAX when none ever does. */
static int64_t next_alarm(const struct cmos_rtc *rtc, int64_t t)
{
    int want_h = alarm_field(rtc, RTC_HOUR_ALARM, 24);
    int want_m = alarm_field(rtc, RTC_MIN_ALARM, 60);
    int want_s = alarm_field(rtc, RTC_SEC_ALARM, 60);
    if (want_h == -2 || want_m == -2 || want_s == -2) {
        return INT64_MAX;
    }
    int64_t start = t + 1;
    int64_t day = floor_div(start, 86400) * 86400;
    int rem = (int)(start - day);
    int h0 = rem / 3600, m0 = rem / 60 % 60, s0 = rem % 60;
    for (int pass = 0; pass < 2; pass++) {
        for (int h = first_at_least(want_h, h0, 24); h >= 0 && h < 24;
             h = first_at_least(want_h, h + 1, 24)) {
            int mfrom = h == h0 ? m0 : 0;
            for (int m = first_at_least(want_m, mfrom, 60); m >= 0 && m < 60;
                 m = first_at_least(want_m, m + 1, 60)) {
                int s = first_at_least(want_s, (h == h0 && m == m0) ? s0 : 0, 60);
                if (s >= 0) {
                    return day + h * 3600 + m * 60 + s;
                }
            }
        }
        /* Nothing left today: the first match tomorrow. */
        day += 86400;
        h0 = m0 = s0 = 0;
    }
    return INT64_MAX;
}

static bool irqf(const struct cmos_rtc *rtc)
{
    uint8_t b = rtc->cmos[RTC_REG_B];
    uint8_t c = rtc->cmos[RTC_REG_C];
    return ((b & REG_B_PIE) && (c & REG_C_PF)) || ((b & REG_B_AIE) && (c & REG_C_AF)) ||
           ((b & REG_B_UIE) && (c & REG_C_UF));
}

static void update_irq(struct cmos_rtc *rtc, bool force)
{
    bool level = irqf(rtc);
    if (level) {
        rtc->cmos[RTC_REG_C] |= REG_C_IRQF;
    } else {
        rtc->cmos[RTC_REG_C] &= (uint8_t)~REG_C_IRQF;
    }
    /* Level until register C is read; see docs/devices-legacy.md. */
    if (force || level != rtc->irq_level) {
        rtc->irq_level = level;
        irq_set(&rtc->irq, level);
    }
}

/*
 * Set PF, UF and AF for every event since the last sync. The flags are set whether or
 * not their interrupt is enabled (data sheet), so polling guests see them without timers.
 */
static void sync_flags(struct cmos_rtc *rtc)
{
    uint64_t now = vclock_now(rtc->clock);
    int64_t gs = guest_now_s(rtc);
    uint64_t hz = periodic_hz(rtc);
    if (hz && now > rtc->synced_mono_ns && ticks_at(now, hz) > ticks_at(rtc->synced_mono_ns, hz)) {
        rtc->cmos[RTC_REG_C] |= REG_C_PF;
    }
    if (!set_held(rtc) && gs > rtc->synced_guest_s) {
        rtc->cmos[RTC_REG_C] |= REG_C_UF;
        if (next_alarm(rtc, rtc->synced_guest_s) <= gs) {
            rtc->cmos[RTC_REG_C] |= REG_C_AF;
        }
    }
    rtc->synced_mono_ns = now;
    rtc->synced_guest_s = gs;
}

/* Forget events up to now (after a time change, or on load). */
static void resync(struct cmos_rtc *rtc)
{
    rtc->synced_mono_ns = vclock_now(rtc->clock);
    rtc->synced_guest_s = guest_now_s(rtc);
}

/* Arm the timers needed by the enabled interrupts, and only those. */
static void schedule(struct cmos_rtc *rtc)
{
    uint8_t b = rtc->cmos[RTC_REG_B];
    uint64_t now = vclock_now(rtc->clock);
    uint64_t hz = periodic_hz(rtc);

    if ((b & REG_B_PIE) && hz) {
        vtimer_mod(rtc->periodic_timer, tick_time(ticks_at(now, hz) + 1, hz));
    } else {
        vtimer_del(rtc->periodic_timer);
    }

    int64_t next = INT64_MAX;
    if (!set_held(rtc) && (b & (REG_B_UIE | REG_B_AIE))) {
        int64_t gs = guest_now_s(rtc);
        if (b & REG_B_UIE) {
            next = gs + 1;
        }
        if (b & REG_B_AIE) {
            int64_t a = next_alarm(rtc, gs);
            next = a < next ? a : next;
        }
    }
    if (next == INT64_MAX) {
        vtimer_del(rtc->update_timer);
        return;
    }
    /* Guest second `next` begins when the host clock reaches (next - offset) seconds. */
    int64_t wait = (next - rtc->offset_s) * NS_PER_S - vclock_realtime(rtc->clock);
    vtimer_mod(rtc->update_timer, now + (uint64_t)(wait > 0 ? wait : 0));
}

static void rtc_timer_fire(void *opaque)
{
    struct cmos_rtc *rtc = opaque;
    sync_flags(rtc);
    update_irq(rtc, false);
    schedule(rtc);
}

/* ---- register access ---- */

static uint8_t read_register(struct cmos_rtc *rtc, unsigned index)
{
    uint8_t val;
    if (time_register(index) && !set_held(rtc)) {
        store_time(rtc, guest_now_s(rtc));
    }
    switch (index) {
    case RTC_REG_A: {
        val = rtc->cmos[RTC_REG_A] & (uint8_t)~REG_A_UIP;
        int64_t real = vclock_realtime(rtc->clock);
        int64_t phase = real - floor_div(real, NS_PER_S) * NS_PER_S;
        if (!set_held(rtc) && phase >= NS_PER_S - UIP_NS) {
            val |= REG_A_UIP;
        }
        break;
    }
    case RTC_REG_C:
        /*
         * An event whose timer has not run yet (the event loop is late) is found here. On
         * the chip its flag and the IRQ rise together, so raise the line before the read
         * drops it: an edge-triggered guest still sees every event it enabled.
         */
        sync_flags(rtc);
        update_irq(rtc, false);
        val = rtc->cmos[RTC_REG_C];
        /* Reading C clears every flag and releases the IRQ line. */
        rtc->cmos[RTC_REG_C] = 0;
        update_irq(rtc, false);
        break;
    case RTC_REG_D:
        val = REG_D_VRT; /* the battery is always good */
        break;
    default:
        val = rtc->cmos[index];
        break;
    }
    return val;
}

static void write_reg_b(struct cmos_rtc *rtc, uint8_t val)
{
    uint8_t old = rtc->cmos[RTC_REG_B];
    sync_flags(rtc); /* events so far count under the old settings */
    if ((val & REG_B_SET) && !(old & REG_B_SET)) {
        /* Freeze the registers at the current time so the guest can edit them. */
        store_time(rtc, guest_now_s(rtc));
        val &= (uint8_t)~REG_B_UIE; /* SET going high clears UIE (data sheet) */
    }
    rtc->cmos[RTC_REG_B] = val;
    if (!(val & REG_B_SET) && (old & REG_B_SET)) {
        /* Releasing SET: the clock runs on from what the guest wrote. */
        rtc->offset_s = load_time(rtc) - host_now_s(rtc);
        resync(rtc);
    }
    update_irq(rtc, false);
    schedule(rtc);
}

static void write_register(struct cmos_rtc *rtc, unsigned index, uint8_t val)
{
    switch (index) {
    case RTC_REG_A:
        sync_flags(rtc);
        rtc->cmos[RTC_REG_A] = val & (uint8_t)~REG_A_UIP; /* UIP is read-only */
        schedule(rtc);
        return;
    case RTC_REG_B:
        write_reg_b(rtc, val);
        return;
    case RTC_REG_C:
    case RTC_REG_D:
        return; /* read-only */
    case RTC_SEC_ALARM:
    case RTC_MIN_ALARM:
    case RTC_HOUR_ALARM:
        sync_flags(rtc);
        rtc->cmos[index] = val;
        schedule(rtc);
        return;
    default:
        break;
    }
    if (!time_register(index)) {
        rtc->cmos[index] = val;
        return;
    }
    if (set_held(rtc)) {
        rtc->cmos[index] = val;
        return;
    }
    /* A write with the clock running sets that field of the running time at once. */
    sync_flags(rtc);
    int64_t host = host_now_s(rtc); /* once, so a second boundary in between loses nothing */
    store_time(rtc, host + rtc->offset_s);
    rtc->cmos[index] = val;
    rtc->offset_s = load_time(rtc) - host;
    resync(rtc);
    schedule(rtc);
}

static uint64_t rtc_read(void *opaque, uint64_t off, unsigned size)
{
    struct cmos_rtc *rtc = opaque;
    if (off != 1) { /* guest-controlled: the index port is write-only, like the PC's */
        return 0xff;
    }
    return read_register(rtc, rtc->index);
}

static void rtc_write(void *opaque, uint64_t off, uint64_t val, unsigned size)
{
    struct cmos_rtc *rtc = opaque;
    if (off == 0) {
        /* guest-controlled: bit 7 is the PC's NMI mask, not part of the index */
        rtc->index = (uint8_t)(val & 0x7f);
        rtc->nmi_disabled = (uint8_t)((val >> 7) & 1);
    } else if (off == 1) {
        write_register(rtc, rtc->index, (uint8_t)val);
    }
}

const struct bus_ops cmos_rtc_ops = {
    .read = rtc_read,
    .write = rtc_write,
    .min_size = 1,
    .max_size = 1,
};

/* ---- machine interface ---- */

int cmos_rtc_set_byte(struct cmos_rtc *rtc, unsigned index, uint8_t value)
{
    if (index >= CMOS_RTC_NVRAM_SIZE || index <= RTC_REG_D || index == RTC_CENTURY) {
        return -EINVAL;
    }
    rtc->cmos[index] = value;
    return 0;
}

static void put16(struct cmos_rtc *rtc, unsigned index, uint64_t v)
{
    v = v > 0xffff ? 0xffff : v;
    rtc->cmos[index] = (uint8_t)v;
    rtc->cmos[index + 1] = (uint8_t)(v >> 8);
}

void cmos_rtc_set_memory(struct cmos_rtc *rtc, uint64_t ram_below_4g, uint64_t ram_above_4g,
                         unsigned ncpus)
{
    const uint64_t mib = 1024 * 1024;
    put16(rtc, 0x15, 640); /* base memory in KiB */
    uint64_t ext_kib = ram_below_4g > mib ? (ram_below_4g - mib) / 1024 : 0;
    put16(rtc, 0x17, ext_kib); /* extended memory in KiB, and its POST copy */
    put16(rtc, 0x30, ext_kib);
    uint64_t above_16m = ram_below_4g > 16 * mib ? (ram_below_4g - 16 * mib) / 65536 : 0;
    put16(rtc, 0x34, above_16m); /* 64 KiB units above 16 MiB */
    uint64_t high = ram_above_4g / 65536;
    high = high > 0xffffff ? 0xffffff : high;
    rtc->cmos[0x5b] = (uint8_t)high; /* 64 KiB units above 4 GiB, 24 bits */
    rtc->cmos[0x5c] = (uint8_t)(high >> 8);
    rtc->cmos[0x5d] = (uint8_t)(high >> 16);
    unsigned cpus = ncpus == 0 ? 0 : ncpus - 1;
    rtc->cmos[0x5f] = (uint8_t)(cpus > 0xff ? 0xff : cpus);
}

bool cmos_rtc_nmi_disabled(const struct cmos_rtc *rtc)
{
    return rtc->nmi_disabled;
}

/* ---- life cycle and state ---- */

void cmos_rtc_reset(struct cmos_rtc *rtc)
{
    rtc->cmos[RTC_REG_B] &= (uint8_t) ~(REG_B_PIE | REG_B_AIE | REG_B_UIE | REG_B_SQWE);
    rtc->cmos[RTC_REG_C] = 0;
    resync(rtc);
    update_irq(rtc, true);
    schedule(rtc);
}

static void rtc_reset_cb(void *opaque)
{
    cmos_rtc_reset(opaque);
}

int cmos_rtc_init(struct cmos_rtc *rtc, struct vclock *clock, const struct irq_line *irq)
{
    memset(rtc, 0, sizeof(*rtc));
    if (!clock) {
        return -EINVAL; /* the RTC is a clock: it cannot run without one */
    }
    rtc->clock = clock;
    if (irq) {
        rtc->irq = *irq;
    }
    rtc->periodic_timer = vtimer_new(clock, rtc_timer_fire, rtc);
    rtc->update_timer = vtimer_new(clock, rtc_timer_fire, rtc);
    if (!rtc->periodic_timer || !rtc->update_timer) {
        cmos_rtc_destroy(rtc);
        return -ENOMEM;
    }
    rtc->cmos[RTC_REG_A] = 0x26; /* 32.768 kHz time base, 1024 Hz periodic rate */
    rtc->cmos[RTC_REG_B] = REG_B_24H;
    cmos_rtc_reset(rtc);
    return 0;
}

void cmos_rtc_destroy(struct cmos_rtc *rtc)
{
    if (!rtc) {
        return;
    }
    vtimer_free(rtc->periodic_timer);
    vtimer_free(rtc->update_timer);
    rtc->periodic_timer = rtc->update_timer = NULL;
}

static int rtc_post_load(void *opaque)
{
    struct cmos_rtc *rtc = opaque;
    /* Saved state is hostile input. */
    if (rtc->index >= CMOS_RTC_NVRAM_SIZE || rtc->nmi_disabled > 1 ||
        rtc->offset_s > OFFSET_LIMIT_S || rtc->offset_s < -OFFSET_LIMIT_S) {
        return -EINVAL;
    }
    rtc->cmos[RTC_REG_A] &= (uint8_t)~REG_A_UIP;
    resync(rtc);
    update_irq(rtc, true);
    schedule(rtc);
    return 0;
}

static const struct vmstate_field rtc_fields[] = {
    VMSTATE_FIELD(struct cmos_rtc, index),
    VMSTATE_FIELD(struct cmos_rtc, nmi_disabled),
    VMSTATE_ARRAY(struct cmos_rtc, cmos),
    VMSTATE_FIELD(struct cmos_rtc, offset_s),
    VMSTATE_END,
};

const struct vmstate cmos_rtc_vmstate = {
    .name = "cmos-rtc",
    .version = 1,
    .fields = rtc_fields,
    .post_load = rtc_post_load,
};

void cmos_rtc_device(struct cmos_rtc *rtc, struct device *out)
{
    *out = (struct device){
        .name = "cmos-rtc",
        .opaque = rtc,
        .reset = rtc_reset_cb,
        .state = &cmos_rtc_vmstate,
    };
}
