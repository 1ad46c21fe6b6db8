// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * smp: expects cpus=N; the MADT must list N enabled processors, every AP must come up through
 * INIT-SIPI-SIPI, and the APIC ids the CPUs read from their own LAPICs must be distinct and
 * be exactly the MADT's.
 */
#include "guest.h"

static bool in_list(const uint32_t *ids, unsigned n, uint32_t id)
{
    for (unsigned i = 0; i < n; i++) {
        if (ids[i] == id) {
            return true;
        }
    }
    return false;
}

void test_main(void)
{
    struct madt_info m;
    unsigned want = (unsigned)cmdline_u64("cpus", 0);

    CHECK(want != 0, "no cpus=N on the command line");
    CHECK(want <= GUEST_MAX_CPUS, "cpus=%u is more than the kit supports (%u)", want,
          GUEST_MAX_CPUS);
    CHECK(madt_parse(&m) == 0, "no MADT");
    printf("smp: cpus=%u, MADT lists %u enabled processors:", want, m.ncpus);
    for (unsigned i = 0; i < m.ncpus; i++) {
        printf(" %u", m.apic_ids[i]);
    }
    printf("\n");
    CHECK(m.ncpus == want, "MADT lists %u enabled processors, expected %u", m.ncpus, want);

    lapic_enable();
    uint32_t bsp = lapic_id();
    CHECK(in_list(m.apic_ids, m.ncpus, bsp), "BSP APIC id %u is not in the MADT", bsp);

    uint64_t t0 = rdtsc();
    int up = smp_start_aps(m.apic_ids, m.ncpus, 2000);
    printf("BSP APIC id %u; %d AP(s) up after %lu TSC cycles\n", bsp, up, rdtsc() - t0);
    CHECK(up == (int)want - 1, "%d of %u APs came up", up, want - 1);

    uint32_t seen[GUEST_MAX_CPUS];
    unsigned nseen = 0;
    seen[nseen++] = bsp;
    for (unsigned i = 0; i < (unsigned)up; i++) {
        uint32_t id = ap_infos[i].lapic_id;
        printf("AP slot %u: LAPIC id %u\n", i, id);
        CHECK(ap_infos[i].started, "AP slot %u counted but did not record its id", i);
        CHECK(!in_list(seen, nseen, id), "APIC id %u reported twice", id);
        CHECK(in_list(m.apic_ids, m.ncpus, id), "AP APIC id %u is not in the MADT", id);
        seen[nseen++] = id;
    }
}
