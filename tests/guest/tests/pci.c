// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * pci: enumerates bus 0 through configuration mechanism #1 (ports 0xCF8/0xCFC) and through
 * ECAM at the base the MCFG table gives, checks the Q35 host bridge at 00:00.0 (8086:29c0,
 * class 0x0600), and that both mechanisms agree on every present function's header, byte
 * and word lanes included. A byte read of 0xCF9 (the reset register) must leave the config
 * address alone. deskvm only: QEMU's microvm has no 0xCF8 mechanism.
 */
#include "guest.h"

struct mcfg {
    struct acpi_header h;
    uint8_t reserved[8];
    uint64_t base;
    uint16_t segment;
    uint8_t start_bus, end_bus;
    uint32_t reserved2;
} __attribute__((packed));

static uint32_t cf8_addr(unsigned dev, unsigned fn, unsigned reg)
{
    return 0x80000000u | dev << 11 | fn << 8 | (reg & 0xfc);
}

static uint32_t cf8_read32(unsigned dev, unsigned fn, unsigned reg)
{
    outl(0xcf8, cf8_addr(dev, fn, reg));
    return inl(0xcfc);
}

static uint32_t ecam_read32(uint64_t base, unsigned dev, unsigned fn, unsigned reg)
{
    return mmio_read32((uintptr_t)(base + ((uint64_t)dev << 15 | fn << 12 | reg)));
}

void test_main(void)
{
    const struct mcfg *m = (const struct mcfg *)acpi_find_table("MCFG");
    CHECK(m != NULL, "no MCFG table");
    CHECK(m->h.length >= sizeof(*m), "MCFG too short (%u)", m->h.length);
    CHECK(acpi_sum(m, m->h.length) == 0, "MCFG checksum is wrong");
    CHECK(m->segment == 0 && m->start_bus == 0, "MCFG segment %u start bus %u", m->segment,
          m->start_bus);
    CHECK(m->base != 0 && m->base < (4ull << 30) && (m->base & 0xfffff) == 0,
          "ECAM base %#lx unusable here", m->base);
    printf("MCFG: ECAM at %#lx, buses %u-%u\n", m->base, m->start_bus, m->end_bus);

    uint32_t id = cf8_read32(0, 0, 0);
    CHECK(id == 0x29c08086, "00:00.0 via 0xCF8 is %08x, want 29c08086", id);
    CHECK(ecam_read32(m->base, 0, 0, 0) == id, "00:00.0 via ECAM is %08x",
          ecam_read32(m->base, 0, 0, 0));
    uint32_t class = cf8_read32(0, 0, 8) >> 8;
    CHECK(class >> 8 == 0x0600, "host bridge class %06x", class);

    /* Reading the reset register at 0xCF9 must not disturb the config address. */
    outl(0xcf8, cf8_addr(0, 0, 8));
    (void)inb(0xcf9);
    CHECK(inl(0xcf8) == cf8_addr(0, 0, 8), "0xCF8 reads %08x after 0xCF9", inl(0xcf8));
    /* Enable bit clear: data reads all ones. */
    outl(0xcf8, cf8_addr(0, 0, 0) & ~0x80000000u);
    CHECK(inl(0xcfc) == 0xffffffffu, "data port answers with the enable bit clear");

    unsigned found = 0;
    for (unsigned dev = 0; dev < 32; dev++) {
        for (unsigned fn = 0; fn < 8; fn++) {
            uint32_t a = cf8_read32(dev, fn, 0), b = ecam_read32(m->base, dev, fn, 0);
            CHECK(a == b, "%02x.%u: 0xCF8 says %08x, ECAM %08x", dev, fn, a, b);
            if ((a & 0xffff) == 0xffff) {
                if (fn == 0) {
                    break;
                }
                continue;
            }
            found++;
            printf("  00:%02x.%u %04x:%04x class %06x\n", dev, fn, a & 0xffff, a >> 16,
                   cf8_read32(dev, fn, 8) >> 8);
            for (unsigned reg = 0; reg < 0x40; reg += 4) {
                /* BARs would change under sizing; here both only read. */
                uint32_t x = cf8_read32(dev, fn, reg), y = ecam_read32(m->base, dev, fn, reg);
                CHECK(x == y, "%02x.%u reg %#x: 0xCF8 %08x, ECAM %08x", dev, fn, reg, x, y);
                outl(0xcf8, cf8_addr(dev, fn, reg));
                for (unsigned lane = 0; lane < 4; lane++) {
                    uint8_t bb = inb((uint16_t)(0xcfc + lane));
                    CHECK(bb == (uint8_t)(x >> (8 * lane)), "%02x.%u reg %#x byte %u: %02x", dev,
                          fn, reg, lane, bb);
                }
                CHECK(inw(0xcfe) == (uint16_t)(x >> 16), "%02x.%u reg %#x word at 0xCFE", dev, fn,
                      reg);
            }
            uint8_t ht = (uint8_t)(cf8_read32(dev, fn, 0x0c) >> 16);
            if (fn == 0 && !(ht & 0x80)) {
                break;
            }
        }
    }
    /* A write through one mechanism is seen by the other: the bridge's scratch PAM byte. */
    outl(0xcf8, cf8_addr(0, 0, 0x90));
    outb(0xcfc, 0x30);
    CHECK((ecam_read32(m->base, 0, 0, 0x90) & 0xff) == 0x30, "PAM0 write via 0xCF8 not seen");
    mmio_write32((uintptr_t)(m->base + 0x90), 0);
    outl(0xcf8, cf8_addr(0, 0, 0x90));
    CHECK(inb(0xcfc) == 0, "PAM0 write via ECAM not seen");
    printf("%u function(s) on bus 0, both mechanisms agree\n", found);
}
