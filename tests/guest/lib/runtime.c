// SPDX-License-Identifier: GPL-2.0-or-later
/*
 * runtime.c: the CPL0 part of the guest kit (TSS, IDT, the common interrupt handler) and the
 * CPL3 start-up (serial, command line) that calls test_main(). CPL0 code is interpreted on
 * the development host, so it does the least it can and leaves everything else to CPL3.
 */
#include "guest.h"

#define KCODE 0x08
#define TSS_SEL 0x28

struct tss64 {
    uint32_t reserved0;
    uint64_t rsp[3];
    uint64_t reserved1;
    uint64_t ist[7];
    uint64_t reserved2;
    uint16_t reserved3;
    uint16_t iomap_base;
    /* All-zero I/O permission bitmap (every port allowed) plus the 0xff terminator byte. */
    uint8_t iomap[8192 + 1];
} __attribute__((packed));

struct idt_entry {
    uint16_t offset_lo;
    uint16_t selector;
    uint8_t ist;
    uint8_t type_attr;
    uint16_t offset_mid;
    uint32_t offset_hi;
    uint32_t zero;
} __attribute__((packed));

struct irq_frame {
    uint64_t r11, r10, r9, r8, rdi, rsi, rdx, rcx, rax, rbx;
    uint64_t vector, error;
    uint64_t rip, cs, rflags, rsp, ss;
};

struct desc_ptr {
    uint16_t limit;
    uint64_t base;
} __attribute__((packed));

extern char isr_stubs[], kstack_top[], ist_stack_top[], ustack_top[], cpuid_cpl0_ud2[];
void cpuid_cpl0(struct cpuid_regs *r);
extern uint64_t gdt_tss[2];
void enter_user(void (*fn)(void), uint64_t rsp, uint64_t rflags) __attribute__((noreturn));
void guest_start(void);
void irq_dispatch(struct irq_frame *f);

static struct tss64 tss;
static struct idt_entry idt[256] __attribute__((aligned(16)));
static const struct desc_ptr idt_ptr = {sizeof(idt) - 1, (uint64_t)idt};
struct irq_stats irq_stats;

static char cmdline_buf[1024];

void idt_load(void)
{
    __asm__ volatile("lidt %0" : : "m"(idt_ptr));
}

static void user_entry(void)
{
    const struct hvm_start_info *si = start_info();

    uart_init();
    /* Keep a copy: the AP trampoline and tests may reuse low memory. */
    if (si != NULL && si->cmdline_paddr != 0) {
        const char *src = (const char *)(uintptr_t)si->cmdline_paddr;
        size_t i;

        for (i = 0; i + 1 < sizeof(cmdline_buf) && src[i] != '\0'; i++) {
            cmdline_buf[i] = src[i];
        }
        cmdline_buf[i] = '\0';
    }
    test_main();
    guest_pass();
}

/* CPL0: TSS, IDT, then straight to CPL3 with IOPL=3 and IF=0. */
void guest_start(void)
{
    uint64_t base = (uint64_t)&tss;
    uint64_t stubs = (uint64_t)isr_stubs;

    tss.rsp[0] = (uint64_t)kstack_top;
    tss.ist[0] = (uint64_t)ist_stack_top;
    tss.iomap_base = offsetof(struct tss64, iomap);
    tss.iomap[8192] = 0xff;
    gdt_tss[0] = (sizeof(tss) - 1) | ((base & 0xffffff) << 16) | (0x89ull << 40) |
                 (((base >> 24) & 0xff) << 56);
    gdt_tss[1] = base >> 32;
    __asm__ volatile("ltr %w0" : : "r"(TSS_SEL));

    for (unsigned v = 0; v < 256; v++) {
        uint64_t addr = stubs + 16 * v;

        idt[v].offset_lo = (uint16_t)addr;
        idt[v].selector = KCODE;
        idt[v].ist = (v == 2 || v == 8) ? 1 : 0;
        idt[v].type_attr = 0x8e;
        idt[v].offset_mid = (uint16_t)(addr >> 16);
        idt[v].offset_hi = (uint32_t)(addr >> 32);
    }
    idt_load();
    if (test_cpl0 != NULL) {
        test_cpl0();
    }
    /*
     * The development host ignores RFLAGS.IOPL at CPL3 (the TSS bitmap above grants the
     * ports instead), so cli/sti cannot work there: CPL3 runs with IF=1 and masks interrupts
     * through the LAPIC TPR. Quiet the 8259 and raise the TPR before anything can fire.
     */
    pic_remap_and_mask();
    lapic_write(LAPIC_SVR, 0x100 | VEC_SPURIOUS);
    lapic_write(LAPIC_TPR, 0xf0);
    enter_user(user_entry, (uint64_t)ustack_top - 8, 0x3202);
}

static const char *const exception_names[32] = {
    "#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "CSO", "#TS",
    "#NP", "#SS", "#GP", "#PF", "15",  "#MF", "#AC", "#MC", "#XM", "#VE", "#CP",
};

/* CPL0 and interpreted on the development host: keep the external-interrupt path short. */
void irq_dispatch(struct irq_frame *f)
{
    unsigned v = (unsigned)f->vector & 0xff;

    irq_stats.count[v]++;
    if (v >= 32) {
        if (v != VEC_SPURIOUS) {
            mmio_write32(LAPIC_BASE + LAPIC_EOI, 0);
        }
        return;
    }
    if (v == 6 && f->rip == (uint64_t)cpuid_cpl0_ud2) {
        uint32_t a, b, c, d;
        __asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(f->rax), "c"(f->rcx));
        f->rax = a;
        f->rbx = b;
        f->rcx = c;
        f->rdx = d;
        f->rip += 2;
        return;
    }
    irq_stats.last_vector = v;
    irq_stats.last_rip = f->rip;
    irq_stats.last_error = f->error;

    uint64_t cr2;
    __asm__ volatile("mov %%cr2, %0" : "=r"(cr2));
    guest_fail("exception %u %s at rip %#lx cs %#lx error %#lx cr2 %#lx rsp %#lx rflags %#lx", v,
               exception_names[v] != NULL ? exception_names[v] : "?", f->rip, f->cs, f->error, cr2,
               f->rsp, f->rflags);
}

const struct hvm_start_info *start_info(void)
{
    const struct hvm_start_info *si =
        (const struct hvm_start_info *)(uintptr_t)pvh_start_info_paddr;

    if (si == NULL || si->magic != HVM_START_MAGIC) {
        return NULL;
    }
    return si;
}

void guest_exit(uint8_t code)
{
    outb(GUEST_DEBUG_EXIT_PORT, code);
    /* Without an isa-debug-exit device there is nothing left to do but wait to be killed. */
    for (;;) {
        cpu_relax();
    }
}

void guest_pass(void)
{
    printf("PASS\n");
    guest_exit(GUEST_EXIT_PASS);
}

void guest_fail(const char *fmt, ...)
{
    va_list ap;

    printf("FAIL: ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    guest_exit(GUEST_EXIT_FAIL);
}

void guest_skip(const char *fmt, ...)
{
    va_list ap;

    printf("SKIP: ");
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    guest_exit(GUEST_EXIT_SKIP);
}

const char *cmdline(void)
{
    return cmdline_buf;
}

bool cmdline_get(const char *key, char *buf, size_t n)
{
    size_t klen = strlen(key);
    const char *p = cmdline_buf;

    while (*p != '\0') {
        while (*p == ' ') {
            p++;
        }
        const char *word = p;
        while (*p != '\0' && *p != ' ') {
            p++;
        }
        if ((size_t)(p - word) > klen && strncmp(word, key, klen) == 0 && word[klen] == '=') {
            size_t i = 0;
            for (const char *v = word + klen + 1; v < p && i + 1 < n; v++) {
                buf[i++] = *v;
            }
            if (n > 0) {
                buf[i] = '\0';
            }
            return true;
        }
    }
    return false;
}

uint64_t cmdline_u64(const char *key, uint64_t dflt)
{
    char buf[32];
    const char *p = buf;
    uint64_t v = 0;
    unsigned base = 10;

    if (!cmdline_get(key, buf, sizeof(buf)) || buf[0] == '\0') {
        return dflt;
    }
    if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
        base = 16;
        p += 2;
    }
    for (; *p != '\0'; p++) {
        unsigned d;
        if (*p >= '0' && *p <= '9') {
            d = (unsigned)(*p - '0');
        } else if (base == 16 && *p >= 'a' && *p <= 'f') {
            d = (unsigned)(*p - 'a' + 10);
        } else if (base == 16 && *p >= 'A' && *p <= 'F') {
            d = (unsigned)(*p - 'A' + 10);
        } else {
            break;
        }
        v = v * base + d;
    }
    switch (*p) {
    case 'k':
    case 'K':
        v <<= 10;
        break;
    case 'm':
    case 'M':
        v <<= 20;
        break;
    case 'g':
    case 'G':
        v <<= 30;
        break;
    default:
        break;
    }
    return v;
}

/* At CPL3 through the #UD service in entry.S, so the VMM's CPUID answers, not the host's. */
struct cpuid_regs cpuid(uint32_t leaf, uint32_t subleaf)
{
    struct cpuid_regs r = {leaf, 0, subleaf, 0};
    uint16_t cs;

    __asm__ volatile("mov %%cs, %0" : "=r"(cs));
    if ((cs & 3) == 3) {
        cpuid_cpl0(&r);
    } else {
        __asm__ volatile("cpuid"
                         : "=a"(r.eax), "=b"(r.ebx), "=c"(r.ecx), "=d"(r.edx)
                         : "a"(leaf), "c"(subleaf));
    }
    return r;
}

/* CPUID executed where the test runs: at CPL3 this is what user code would see. */
struct cpuid_regs cpuid_native(uint32_t leaf, uint32_t subleaf)
{
    struct cpuid_regs r;

    __asm__ volatile("cpuid"
                     : "=a"(r.eax), "=b"(r.ebx), "=c"(r.ecx), "=d"(r.edx)
                     : "a"(leaf), "c"(subleaf));
    return r;
}
