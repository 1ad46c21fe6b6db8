// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * libFuzzer harness for the MC146818 RTC: index/data port accesses, clock advances (which
 * fire the periodic and update timers), machine NVRAM set-up and hostile state loads.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "io/cmos_rtc.h"
#include "tests/helpers/fake_clock.h"
#include "tests/helpers/fake_irq.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_round_trip(const struct cmos_rtc *rtc, struct fake_clock *fc)
{
    uint8_t a[256], b[256];
    long n = vmstate_save(&cmos_rtc_vmstate, rtc, a, sizeof(a));
    struct cmos_rtc fresh;
    if (n <= 0 || cmos_rtc_init(&fresh, &fc->clock, NULL) != 0) {
        abort();
    }
    if (vmstate_load(&cmos_rtc_vmstate, &fresh, a, (size_t)n) != 0 ||
        vmstate_save(&cmos_rtc_vmstate, &fresh, b, sizeof(b)) != n || memcmp(a, b, (size_t)n)) {
        abort();
    }
    cmos_rtc_destroy(&fresh);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fake_clock fc;
    struct fake_irq irq;
    struct cmos_rtc rtc;
    int64_t start = 1700000000ll * 1000000000ll;
    if (size >= 4) {
        /* Any host time from 1970 to 2106, at any phase within the second. */
        uint32_t s;
        memcpy(&s, data, 4);
        start = (int64_t)s * 1000000000ll + (int64_t)(s % 1000) * 999999;
        data += 4;
        size -= 4;
    }
    fake_clock_init(&fc, start);
    fake_irq_init(&irq, 8);
    if (cmos_rtc_init(&rtc, &fc.clock, &irq.line) != 0) {
        abort();
    }
    size_t i = 0;
    while (i + 2 <= size) {
        uint8_t op = data[i++];
        uint8_t arg = data[i++];
        switch (op % 7) {
        case 0:
            cmos_rtc_ops.write(&rtc, op % 3, arg, 1); /* offset 2 is outside the range */
            break;
        case 1:
            cmos_rtc_ops.read(&rtc, op % 3, 1);
            break;
        case 2:
            if (i < size) { /* index then data: the usual pair */
                cmos_rtc_ops.write(&rtc, 0, arg, 1);
                cmos_rtc_ops.write(&rtc, 1, data[i++], 1);
            }
            break;
        case 3:
            /* Up to ~130 ms a step: fast periodic rates fire thousands of times. */
            fake_clock_advance(&fc, (uint64_t)arg << (op % 20));
            break;
        case 4:
            cmos_rtc_set_byte(&rtc, arg, op);
            cmos_rtc_set_memory(&rtc, (uint64_t)arg << (op % 40), (uint64_t)op << (arg % 48), arg);
            break;
        case 5: {
            uint8_t st[256];
            long n = vmstate_save(&cmos_rtc_vmstate, &rtc, st, sizeof(st));
            size_t m = arg % 8;
            for (size_t k = 0; k < m && i + 1 < size; k++, i += 2) {
                st[data[i] % n] ^= data[i + 1];
            }
            vmstate_load(&cmos_rtc_vmstate, &rtc, st, (size_t)n);
            break;
        }
        default:
            cmos_rtc_reset(&rtc);
            break;
        }
        if (rtc.index >= CMOS_RTC_NVRAM_SIZE) {
            abort();
        }
    }
    check_round_trip(&rtc, &fc);
    cmos_rtc_destroy(&rtc);
    return 0;
}
