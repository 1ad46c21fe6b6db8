// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * cpuid: expects cpus=N. Checks the hypervisor bit (leaf 1 ECX[31]); with HTT, leaf 1
 * EBX[23:16] >= N; leaf 0xB (when present) names a package-level count >= N and an x2APIC id
 * that matches leaf 1's initial APIC id. It then starts the APs (the kit's smp code runs
 * CPUID on each) and requires every CPU's leaf 1 and leaf 0xB ids to be distinct. The counts
 * assume all N CPUs sit in one package, which is how run-guest.sh configures QEMU. CPUID
 * runs at CPL0 (see cpuid() in guest.h); the CPL3 answer is only reported.
 */
#include "guest.h"

static bool dup(const uint32_t *ids, unsigned n, uint32_t id)
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
    unsigned want = (unsigned)cmdline_u64("cpus", 0);
    struct cpuid_regs r0 = cpuid(0, 0), r1 = cpuid(1, 0);
    char vendor[13];

    CHECK(want != 0, "no cpus=N on the command line");
    memcpy(vendor, &r0.ebx, 4);
    memcpy(vendor + 4, &r0.edx, 4);
    memcpy(vendor + 8, &r0.ecx, 4);
    vendor[12] = '\0';
    printf("cpuid: vendor \"%s\", max leaf %#x, leaf 1 eax %#x ebx %#x ecx %#x edx %#x\n", vendor,
           r0.eax, r1.eax, r1.ebx, r1.ecx, r1.edx);

    struct cpuid_regs n1 = cpuid_native(1, 0);
    if (n1.eax != r1.eax || n1.ecx != r1.ecx || n1.ebx != r1.ebx) {
        printf("NOTE: CPUID at CPL3 differs (leaf 1 eax %#x ebx %#x ecx %#x): this host does "
               "not trap CPUID at CPL3\n",
               n1.eax, n1.ebx, n1.ecx);
    }
    CHECK(r1.ecx & (1u << 31), "hypervisor bit (leaf 1 ECX[31]) is clear");
    struct cpuid_regs h = cpuid(0x40000000, 0);
    char hv[13];
    memcpy(hv, &h.ebx, 4);
    memcpy(hv + 4, &h.ecx, 4);
    memcpy(hv + 8, &h.edx, 4);
    hv[12] = '\0';
    printf("hypervisor leaf 0x40000000: max %#x \"%s\"\n", h.eax, hv);

    bool htt = r1.edx & (1u << 28);
    unsigned logical = (r1.ebx >> 16) & 0xff;
    printf("HTT %u, logical processors per package %u\n", htt, logical);
    if (htt) {
        CHECK(logical >= want, "leaf 1 EBX[23:16] = %u < cpus=%u", logical, want);
    } else {
        CHECK(want == 1, "HTT clear but cpus=%u (expected one package)", want);
    }

    uint32_t bsp_x2 = ~0u;
    if (r0.eax >= 0xb && cpuid(0xb, 0).ebx != 0) {
        unsigned pkg_count = 0;
        for (uint32_t sub = 0; sub < 8; sub++) {
            struct cpuid_regs b = cpuid(0xb, sub);
            unsigned type = (b.ecx >> 8) & 0xff;
            if (type == 0) {
                break;
            }
            printf("leaf 0xb.%u: level type %u, shift %u, %u logical processors, x2APIC id %u\n",
                   sub, type, b.eax & 0x1f, b.ebx & 0xffff, b.edx);
            pkg_count = b.ebx & 0xffff;
            bsp_x2 = b.edx;
        }
        CHECK(pkg_count >= want, "leaf 0xB counts %u logical processors < cpus=%u", pkg_count,
              want);
        CHECK(bsp_x2 == (r1.ebx >> 24), "x2APIC id %u != initial APIC id %u", bsp_x2, r1.ebx >> 24);
    } else {
        printf("leaf 0xb not present\n");
    }

    struct madt_info m;
    CHECK(madt_parse(&m) == 0, "no MADT (needed to start the APs)");
    int up = smp_start_aps(m.apic_ids, m.ncpus, 2000);
    CHECK(up == (int)want - 1, "%d of %u APs came up", up, want - 1);

    uint32_t ids1[GUEST_MAX_CPUS], ids_b[GUEST_MAX_CPUS];
    unsigned n = 0;
    ids1[0] = r1.ebx >> 24;
    ids_b[0] = bsp_x2;
    n = 1;
    for (int i = 0; i < up; i++) {
        const struct ap_info *a = &ap_infos[i];
        printf("AP slot %d: leaf 1 id %u, leaf 0xb id %d, LAPIC id %u\n", i, a->cpuid1_id,
               (int)a->x2apic_id, a->lapic_id);
        CHECK(!dup(ids1, n, a->cpuid1_id), "leaf 1 APIC id %u seen twice", a->cpuid1_id);
        CHECK(a->x2apic_id == ~0u || !dup(ids_b, n, a->x2apic_id), "x2APIC id %u seen twice",
              a->x2apic_id);
        CHECK(a->cpuid1_id == a->lapic_id, "AP leaf 1 id %u != LAPIC id %u", a->cpuid1_id,
              a->lapic_id);
        ids1[n] = a->cpuid1_id;
        ids_b[n] = a->x2apic_id;
        n++;
    }
    printf("%u CPUs, distinct APIC ids\n", n);
}
