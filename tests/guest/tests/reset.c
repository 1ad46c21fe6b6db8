// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * reset: resets the machine the way `method=` says and checks that it comes back through a
 * fresh boot. cf9: the PIIX/ICH reset control register (write 0x06 to port 0xCF9); kbd: the
 * i8042 "pulse reset line" command 0xFE on port 0x64; triple: an empty IDT (lidt, limit 0)
 * at CPL0, then an exception, which becomes a triple fault (SDM vol. 3, 6.15 #DF); acpi: the
 * FADT's RESET_REG / RESET_VALUE (ACPI 6.x, 4.8.3.6). Before the reset the first boot leaves a
 * marker in RAM at 32 MiB; a reset clears no RAM, so the second boot finds it and PASSes.
 * Not in free low memory (0x9000): SeaBIOS, which QEMU's PC machine reboots through, reuses it.
 * smp=1 (with cpus=N >= 2, not with triple, which resets before CPL3): both boots start every
 * AP, so the reset must put running APs back into wait-for-SIPI.
 */
#include "guest.h"

#define MARK_ADDR 0x2000000ul
#define MARK_MAGIC 0x7465736572766b64ull /* "dkvreset" */

struct reset_mark {
    uint64_t magic;
    uint32_t boots;
    char method[8];
};

static struct reset_mark *const mark = (struct reset_mark *)MARK_ADDR;

/* In .data: a reboot reloads the image, so the second boot must see it back at 1. */
static volatile uint32_t image_fresh = 1;

struct desc_ptr {
    uint16_t limit;
    uint64_t base;
} __attribute__((packed));

static bool method_is_triple(void)
{
    const struct hvm_start_info *si = start_info();
    static const char key[] = "method=triple";

    if (si == NULL || si->cmdline_paddr == 0) {
        return false;
    }
    const char *s = (const char *)(uintptr_t)si->cmdline_paddr;
    for (size_t i = 0; s[i] != '\0'; i++) {
        if ((i == 0 || s[i - 1] == ' ') && strncmp(s + i, key, sizeof(key) - 1) == 0 &&
            (s[i + sizeof(key) - 1] == '\0' || s[i + sizeof(key) - 1] == ' ')) {
            return true;
        }
    }
    return false;
}

/*
 * CPL0, first boot with method=triple: mark, then load an IDT with limit 0 and raise #UD.
 * Delivering #UD faults (#GP: vector outside the IDT limit), delivering #GP faults again, which
 * makes #DF, and a fault while delivering #DF shuts the processor down: a PC resets.
 */
void test_cpl0(void)
{
    static const struct desc_ptr empty_idt = {0, 0};

    if (mark->magic == MARK_MAGIC || !method_is_triple()) {
        return;
    }
    mark->magic = MARK_MAGIC;
    mark->boots = 1;
    memcpy(mark->method, "triple", 7);
    image_fresh = 0;
    __asm__ volatile("lidt %0\n\tud2" : : "m"(empty_idt) : "memory");
}

/* ACPI RESET_REG (a Generic Address Structure at FADT offset 116) and RESET_VALUE (128). */
static void reset_acpi(void)
{
    const uint8_t *fadt = (const uint8_t *)acpi_find_table("FACP");

    CHECK(fadt != NULL, "no FADT");
    CHECK(((const struct acpi_header *)fadt)->length >= 129, "FADT too short for RESET_REG");
    uint32_t flags;
    memcpy(&flags, fadt + 112, 4);
    CHECK(flags & (1u << 10), "FADT flags %#x: RESET_REG_SUP clear", flags);
    uint8_t space = fadt[116];
    uint64_t addr;
    memcpy(&addr, fadt + 120, 8);
    uint8_t value = fadt[128];
    printf("ACPI reset register: space %u address %#lx value %#x\n", space, addr, value);
    if (space == 1) {
        outb((uint16_t)addr, value);
    } else if (space == 0) {
        *(volatile uint8_t *)(uintptr_t)addr = value;
    } else {
        guest_fail("RESET_REG in address space %u", space);
    }
}

/* Starts all APs (INIT-SIPI-SIPI) and checks every one checked in. */
static void start_aps(unsigned boot)
{
    struct madt_info m;
    unsigned want = (unsigned)cmdline_u64("cpus", 1);

    CHECK(madt_parse(&m) == 0 && m.ncpus == want, "MADT lists %u CPUs, cpus=%u", m.ncpus, want);
    int up = smp_start_aps(m.apic_ids, m.ncpus, 2000);
    printf("boot %u: %d of %u APs started\n", boot, up, want - 1);
    CHECK(up == (int)want - 1, "boot %u: %d of %u APs came up", boot, up, want - 1);
}

void test_main(void)
{
    char method[8] = "";
    bool smp = cmdline_u64("smp", 0) != 0;

    if (!cmdline_get("method", method, sizeof(method))) {
        guest_fail("no method= on the command line (cf9, kbd, triple or acpi)");
    }
    if (mark->magic == MARK_MAGIC) {
        printf("boot %u after reset by %s\n", mark->boots + 1, mark->method);
        CHECK(strncmp(mark->method, method, sizeof(method)) == 0,
              "marker says method %s, command line %s", mark->method, method);
        CHECK(mark->boots == 1, "%u boots: the machine reset more than once", mark->boots + 1);
        CHECK(image_fresh == 1, "the image was not reloaded (.data still written)");
        mark->boots++;
        if (smp) {
            start_aps(2);
        }
        return;
    }

    printf("boot 1: reset by %s\n", method);
    mark->magic = MARK_MAGIC;
    mark->boots = 1;
    memcpy(mark->method, method, sizeof(method));
    image_fresh = 0;
    if (smp) {
        start_aps(1);
    }
    if (strncmp(method, "cf9", 4) == 0) {
        outb(0xcf9, 0x06);
    } else if (strncmp(method, "kbd", 4) == 0) {
        /* Wait for the controller's input buffer to drain (status bit 1), then pulse reset. */
        for (unsigned i = 0; i < 100000 && (inb(0x64) & 0x02) != 0; i++) {
            cpu_relax();
        }
        outb(0x64, 0xfe);
    } else if (strncmp(method, "acpi", 5) == 0) {
        reset_acpi();
    } else if (strncmp(method, "triple", 7) == 0) {
        guest_fail("method=triple: still running at CPL3 after the CPL0 triple fault");
    } else {
        guest_fail("unknown method=%s", method);
    }
    /* A reset takes effect at once; a machine without that reset port goes on here. */
    udelay(1000000);
    guest_fail("still running 1 s after the %s reset", method);
}
