/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * guest.h: the interface of the deskvm guest test kit, a freestanding x86-64 runtime booted
 * through the PVH entry (Xen ELF note 18) whose test bodies run at CPL3 with IOPL=3.
 * The conventions here (serial port, debug-exit values, cmdline keys) are relied on by the
 * engine and by run-guest.sh; docs/guest-test-kit.md explains them.
 */
#ifndef DESKVM_GUEST_H
#define DESKVM_GUEST_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- Conventions ---------------------------------------------------------------------- */

#define GUEST_COM1 0x3f8           /* 16550 UART, polled transmit */
#define GUEST_DEBUG_EXIT_PORT 0xf4 /* isa-debug-exit: VMM exits with (v << 1) | 1 */
#define GUEST_EXIT_PASS 0x10       /* -> exit status 33 */
#define GUEST_EXIT_FAIL 0x11       /* -> exit status 35 */
#define GUEST_EXIT_SKIP 0x12       /* -> exit status 37 */

#define GUEST_MAX_CPUS 64
#define LAPIC_BASE 0xfee00000ul
#define IOAPIC_BASE 0xfec00000ul

/* Vectors used by the kit: the 8259 is remapped to 0x20-0x2f and masked. */
#define VEC_PIC_BASE 0x20
#define VEC_PIT 0x30
#define VEC_RTC 0x38
#define VEC_LAPIC_TIMER 0x40
#define VEC_UART 0x34
#define VEC_SPURIOUS 0xff

/* Every test provides this; it runs at CPL3, interrupts blocked by TPR. Returning means PASS. */
void test_main(void);
/*
 * Optional: a test may define this to run a few instructions at CPL0 (interrupts off, IDT and
 * TSS loaded, serial not yet initialised) just before the drop to CPL3. CPL0 code is
 * interpreted on the development host: keep it to a handful of instructions and leave results
 * in globals for test_main() to check and print.
 */
void test_cpl0(void) __attribute__((weak));

/* ---- struct hvm_start_info (xen/include/public/arch-x86/hvm/start_info.h) ------------- */

#define HVM_START_MAGIC 0x336ec578u

struct hvm_start_info {
    uint32_t magic;
    uint32_t version;
    uint32_t flags;
    uint32_t nr_modules;
    uint64_t modlist_paddr;
    uint64_t cmdline_paddr;
    uint64_t rsdp_paddr;
    uint64_t memmap_paddr;   /* version >= 1 */
    uint32_t memmap_entries; /* version >= 1 */
    uint32_t reserved;
};

struct hvm_memmap_entry {
    uint64_t addr;
    uint64_t size;
    uint32_t type; /* 1 = RAM, 2 = reserved, 3 = ACPI, 4 = NVS, 5 = unusable */
    uint32_t reserved;
};

extern uint32_t pvh_start_info_paddr; /* EBX at the PVH entry */
const struct hvm_start_info *start_info(void);

/* ---- Ending a test ------------------------------------------------------------------ */

__attribute__((noreturn)) void guest_exit(uint8_t code);
__attribute__((noreturn)) void guest_pass(void);
__attribute__((noreturn, format(printf, 1, 2))) void guest_fail(const char *fmt, ...);
__attribute__((noreturn, format(printf, 1, 2))) void guest_skip(const char *fmt, ...);
#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            guest_fail(__VA_ARGS__);                                                               \
        }                                                                                          \
    } while (0)

/* ---- Serial and formatting ---------------------------------------------------------- */

void uart_init(void);
void uart_putc(char c);
bool uart_rx_ready(void);
uint8_t uart_getc(void);
__attribute__((format(printf, 1, 2))) int printf(const char *fmt, ...);
int vprintf(const char *fmt, va_list ap);
__attribute__((format(printf, 3, 4))) int snprintf(char *buf, size_t n, const char *fmt, ...);
int vsnprintf(char *buf, size_t n, const char *fmt, va_list ap);

/* ---- Tiny libc ---------------------------------------------------------------------- */

void *memcpy(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strncmp(const char *a, const char *b, size_t n);

/* ---- Command line: "key=value" words ------------------------------------------------ */

const char *cmdline(void);
/* Copies the value of key into buf (NUL-terminated); returns false when absent. */
bool cmdline_get(const char *key, char *buf, size_t n);
/* Parses decimal or 0x hex with an optional K/M/G suffix (binary units). */
uint64_t cmdline_u64(const char *key, uint64_t dflt);

/* ---- Port I/O, MMIO, CPU ------------------------------------------------------------ */

static inline void outb(uint16_t port, uint8_t v)
{
    __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}
static inline void outw(uint16_t port, uint16_t v)
{
    __asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port));
}
static inline void outl(uint16_t port, uint32_t v)
{
    __asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}
static inline uint8_t inb(uint16_t port)
{
    uint8_t v;
    __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}
static inline uint16_t inw(uint16_t port)
{
    uint16_t v;
    __asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}
static inline uint32_t inl(uint16_t port)
{
    uint32_t v;
    __asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}
static inline uint32_t mmio_read32(uintptr_t addr)
{
    return *(volatile uint32_t *)addr;
}
static inline void mmio_write32(uintptr_t addr, uint32_t v)
{
    *(volatile uint32_t *)addr = v;
}
static inline uint64_t rdtsc(void)
{
    uint32_t lo, hi;
    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return ((uint64_t)hi << 32) | lo;
}
static inline void cpu_relax(void)
{
    __asm__ volatile("pause" ::: "memory");
}
/*
 * CPL3 runs with RFLAGS.IF=1 always: the development host forces IOPL to 0 at CPL3, so
 * cli/sti fault there. Interrupts are gated by the LAPIC task priority instead: TPR 0xf0
 * blocks every vector (the state tests start in), TPR 0 lets all through. NMIs and SMIs are
 * not affected.
 */
static inline void irq_enable(void)
{
    __asm__ volatile("" ::: "memory");
    mmio_write32(LAPIC_BASE + 0x080, 0x00);
}
static inline void irq_disable(void)
{
    mmio_write32(LAPIC_BASE + 0x080, 0xf0);
    __asm__ volatile("" ::: "memory");
}
static inline void barrier(void)
{
    __asm__ volatile("" ::: "memory");
}

struct cpuid_regs {
    uint32_t eax, ebx, ecx, edx;
};
/*
 * The VMM's CPUID: executed at CPL0 (from CPL3 through a deliberate #UD the handler serves),
 * because on the development host CPUID at CPL3 runs natively on the physical CPU.
 */
struct cpuid_regs cpuid(uint32_t leaf, uint32_t subleaf);
/* CPUID executed in place (at CPL3 in tests): what user code sees. */
struct cpuid_regs cpuid_native(uint32_t leaf, uint32_t subleaf);

/* ---- Interrupt bookkeeping (written by the CPL0 handler) ---------------------------- */

struct irq_stats {
    volatile uint32_t count[256];
    volatile uint64_t last_rip;
    volatile uint64_t last_error;
    volatile uint32_t last_vector;
};
extern struct irq_stats irq_stats;

/* ---- Local APIC (xAPIC MMIO at 0xfee00000) ------------------------------------------ */

#define LAPIC_ID 0x020
#define LAPIC_VER 0x030
#define LAPIC_TPR 0x080
#define LAPIC_EOI 0x0b0
#define LAPIC_SVR 0x0f0
#define LAPIC_ICR_LO 0x300
#define LAPIC_ICR_HI 0x310
#define LAPIC_LVT_TIMER 0x320
#define LAPIC_TIMER_INIT 0x380
#define LAPIC_TIMER_CUR 0x390
#define LAPIC_TIMER_DIV 0x3e0

static inline uint32_t lapic_read(uint32_t reg)
{
    return mmio_read32(LAPIC_BASE + reg);
}
static inline void lapic_write(uint32_t reg, uint32_t v)
{
    mmio_write32(LAPIC_BASE + reg, v);
}
void lapic_enable(void);
uint32_t lapic_id(void);
void lapic_eoi(void);
void lapic_set_tpr(uint8_t tpr);
/* divide: 1, 2, 4, ..., 128. periodic false = one-shot. vector 0 masks the timer. */
void lapic_timer_start(uint8_t vector, uint32_t count, unsigned divide, bool periodic);
void lapic_timer_stop(void);
int lapic_send_ipi(uint32_t apic_id, uint32_t icr_lo);

/* ---- IOAPIC, 8259, PIT, RTC --------------------------------------------------------- */

uint32_t ioapic_read(uint32_t reg);
void ioapic_write(uint32_t reg, uint32_t v);
unsigned ioapic_max_redir(void);
/* Routes gsi to vector on dest_apic_id, edge/high unless level/low are set. */
void ioapic_route(unsigned gsi, uint8_t vector, uint8_t dest_apic_id, bool level, bool low);
void ioapic_mask(unsigned gsi);

void pic_remap_and_mask(void);
void pic_unmask(unsigned irq);

#define PIT_HZ 1193182u
void pit_rate_generator(unsigned hz); /* channel 0, mode 2 */
void pit_stop(void);
uint16_t pit_read_counter0(void);

struct rtc_time {
    unsigned year, month, day, hour, minute, second;
};
uint8_t cmos_read(uint8_t reg);
void cmos_write(uint8_t reg, uint8_t v);
void rtc_read(struct rtc_time *t); /* waits for UIP clear, converts BCD / 12-hour */
uint64_t rtc_to_unix(const struct rtc_time *t);
/* Busy-waits until the RTC seconds register changes; returns rdtsc() at the edge. */
uint64_t rtc_wait_second_edge(void);
/*
 * The longest TSC interval between two polls of the last rtc_wait_second_edge(): a poll is one
 * port exit (tens of us), so milliseconds mean the host did not run the vCPU for that long.
 */
extern uint64_t rtc_wait_max_gap;

/* ---- TSC ------------------------------------------------------------------------------ */

/* Measures the TSC against one RTC second (takes 1-2 s); cached after the first call. */
uint64_t tsc_hz(void);
void tsc_set_hz(uint64_t hz);
/* Busy-wait; before calibration it assumes a 4 GHz TSC, so it never waits too little on
 * anything slower. */
void udelay(uint64_t us);

/* ---- ACPI ------------------------------------------------------------------------------ */

struct acpi_header {
    char signature[4];
    uint32_t length;
    uint8_t revision;
    uint8_t checksum;
    char oem_id[6];
    char oem_table_id[8];
    uint32_t oem_revision;
    uint32_t creator_id;
    uint32_t creator_revision;
} __attribute__((packed));

struct acpi_rsdp {
    char signature[8];
    uint8_t checksum;
    char oem_id[6];
    uint8_t revision;
    uint32_t rsdt_address;
    uint32_t length;
    uint64_t xsdt_address;
    uint8_t extended_checksum;
    uint8_t reserved[3];
} __attribute__((packed));

uint8_t acpi_sum(const void *p, size_t n);
const struct acpi_rsdp *acpi_find_rsdp(void);
/* Calls fn for every table the XSDT (or RSDT) lists; returns the count or -1 if none. */
int acpi_for_each_table(void (*fn)(const struct acpi_header *t, void *ctx), void *ctx);
const struct acpi_header *acpi_find_table(const char sig[4]);

struct madt_info {
    unsigned ncpus;                    /* enabled LAPIC + x2APIC entries */
    uint32_t apic_ids[GUEST_MAX_CPUS]; /* in MADT order */
    uint32_t ioapic_addr;              /* 0 when none */
    unsigned ioapic_gsi_base;
    unsigned irq_to_gsi[16]; /* after interrupt source overrides */
    uint16_t irq_flags[16];  /* MPS INTI flags from the override, 0 = bus default */
};
int madt_parse(struct madt_info *m);

/* Generic Address Structure (ACPI 6.x, 5.2.3.2). */
struct acpi_gas {
    uint8_t space; /* 0 system memory, 1 system I/O */
    uint8_t bit_width;
    uint8_t bit_offset;
    uint8_t access_size;
    uint64_t address;
} __attribute__((packed));

/* The FADT's fixed-hardware power-management fields (ACPI 6.x, 5.2.9), X_ forms preferred. */
struct acpi_pm_info {
    uint32_t flags;      /* FADT flags; bit 20 HW_REDUCED_ACPI, bit 4 PWR_BUTTON (1: none) */
    bool hw_reduced;     /* no PM1 blocks: sleep through sleep_control */
    uint16_t sci_irq;    /* SCI_INT */
    uint32_t smi_cmd;    /* SMI_CMD port, 0 when the machine is always in ACPI mode */
    uint8_t acpi_enable; /* value for SMI_CMD that sets SCI_EN */
    uint8_t pm1_evt_len; /* PM1_STS at pm1a_evt, PM1_EN at pm1a_evt + pm1_evt_len / 2 */
    struct acpi_gas pm1a_evt;
    struct acpi_gas pm1a_cnt;
    struct acpi_gas sleep_control; /* hardware-reduced ACPI only */
    struct acpi_gas reset_reg;
    uint8_t reset_value;
};
#define ACPI_PM1_PWRBTN (1u << 8) /* PM1_STS.PWRBTN_STS, PM1_EN.PWRBTN_EN */
#define ACPI_PM1_SCI_EN (1u << 0) /* PM1_CNT */
#define ACPI_PM1_SLP_EN (1u << 13)

/* Reads the FADT; returns 0, or -1 without one (or one too short for the PM fields). */
int acpi_pm_info(struct acpi_pm_info *pm);
/* SLP_TYPa of \_Sn from the DSDT's Name(_Sn_, Package(){...}); -1 when not declared. */
int acpi_sleep_type(unsigned n);
/* Reads/writes size bytes (1, 2, 4) at offset from a GAS in system I/O or memory space. */
uint32_t acpi_gas_read(const struct acpi_gas *g, unsigned offset, unsigned size);
void acpi_gas_write(const struct acpi_gas *g, unsigned offset, unsigned size, uint32_t v);
/*
 * Enters S5 (soft off) through PM1a_CNT (SLP_TYP | SLP_EN) or, on hardware-reduced ACPI, the
 * sleep control register. Returns only if the machine did not power off, with the reason.
 */
const char *acpi_poweroff(void);

/* ---- SMP ------------------------------------------------------------------------------ */

struct ap_info {
    volatile uint32_t lapic_id;  /* LAPIC ID register, bits 31:24 */
    volatile uint32_t cpuid1_id; /* CPUID.1:EBX[31:24] */
    volatile uint32_t x2apic_id; /* CPUID.0xB:EDX, or ~0 */
    volatile uint32_t started;
};
extern volatile uint32_t ap_count;
extern struct ap_info ap_infos[GUEST_MAX_CPUS];
/* Starts every APIC id in ids[] other than the BSP's; waits up to timeout_ms for them. */
int smp_start_aps(const uint32_t *ids, unsigned n, unsigned timeout_ms);

#endif
