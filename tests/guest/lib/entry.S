/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * entry.S: PVH entry (32-bit protected mode, paging off, EBX = hvm_start_info), the long-mode
 * switch, the GDT, link-time page tables, the 256 interrupt stubs, the CPL3 drop and the
 * AP real-mode trampoline. Everything here runs at CPL0, which the development host
 * interprets, so the page tables are built by the assembler, not by a loop.
 */

#define KCODE 0x08
#define KDATA 0x10
#define UDATA 0x18
#define UCODE 0x20
#define KCODE32 0x38
#define AP_TRAMPOLINE_ADDR 0x8000
#define AP_STACK_SIZE 4096

/* Xen ELF note XEN_ELFNOTE_PHYS32_ENTRY (18): the 32-bit physical entry point. */
    .section .note.Xen, "a"
    .p2align 2
    .long 4, 4, 18
    .asciz "Xen"
    .p2align 2
    .long pvh_start32

/* CR3, PAE, EFER.LME, paging: shared by the BSP and AP 32-bit paths. */
.macro ENTER_LONG_MODE target
    movl $pml4, %eax
    movl %eax, %cr3
    movl %cr4, %eax
    orl $0x20, %eax
    movl %eax, %cr4
    movl $0xc0000080, %ecx
    rdmsr
    orl $0x100, %eax
    wrmsr
    movl %cr0, %eax
    orl $0x80000001, %eax
    movl %eax, %cr0
    ljmp $KCODE, $\target
.endm

    .section .text.entry, "ax"
    .code32
    .globl pvh_start32
pvh_start32:
    cli
    movl %ebx, pvh_start_info_paddr
    lgdt gdt_ptr
    ENTER_LONG_MODE start64

    .code64
start64:
    movw $KDATA, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    xorl %eax, %eax
    movw %ax, %fs
    movw %ax, %gs
    movq $kstack_top, %rsp
    call guest_start
1:  hlt
    jmp 1b

/* enter_user(fn, user_rsp, rflags): iretq to CPL3. */
    .globl enter_user
enter_user:
    pushq %rdx
    popfq
    pushq $(UDATA | 3)
    pushq %rsi
    pushq %rdx
    pushq $(UCODE | 3)
    pushq %rdi
    iretq

/* Interrupt stubs, 16 bytes each, so stub N is at isr_stubs + 16 * N. */
.macro ISR vec
    .p2align 4
    .if (\vec == 8) || (\vec >= 10 && \vec <= 14) || (\vec == 17) || (\vec == 21) || (\vec == 29) || (\vec == 30)
    .else
    pushq $0
    .endif
    pushq $\vec
    jmp isr_common
.endm

    .p2align 4
    .globl isr_stubs
isr_stubs:
    .altmacro
    .set vec, 0
    .rept 256
    ISR %vec
    .set vec, vec + 1
    .endr
    .noaltmacro

/*
 * Caller-saved registers only (irq_dispatch is a C function and keeps the rest), plus RBX so
 * the CPUID service below can return it.
 */
isr_common:
    pushq %rbx
    pushq %rax
    pushq %rcx
    pushq %rdx
    pushq %rsi
    pushq %rdi
    pushq %r8
    pushq %r9
    pushq %r10
    pushq %r11
    movq %rsp, %rdi
    cld
    call irq_dispatch
    popq %r11
    popq %r10
    popq %r9
    popq %r8
    popq %rdi
    popq %rsi
    popq %rdx
    popq %rcx
    popq %rax
    popq %rbx
    addq $16, %rsp
    iretq

/*
 * cpuid_cpl0(regs): CPUID executed at CPL0. On the development host CPUID at CPL3 runs
 * natively and reports the physical CPU, so CPL3 code traps here on purpose: the #UD
 * handler recognises this ud2 by address, runs CPUID on the saved RAX/RCX, fills in
 * RAX/RBX/RCX/RDX and resumes after the ud2. regs points to 4 u32: eax, ebx, ecx, edx.
 */
    .globl cpuid_cpl0, cpuid_cpl0_ud2
cpuid_cpl0:
    pushq %rbx
    movq %rdi, %r8
    movl 0(%r8), %eax
    movl 8(%r8), %ecx
cpuid_cpl0_ud2:
    ud2
    movl %eax, 0(%r8)
    movl %ebx, 4(%r8)
    movl %ecx, 8(%r8)
    movl %edx, 12(%r8)
    popq %rbx
    ret

/* AP path after the trampoline: 32-bit protected mode on our GDT. */
    .code32
ap_start32:
    movw $KDATA, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    ENTER_LONG_MODE ap_start64

    .code64
ap_start64:
    movw $KDATA, %ax
    movw %ax, %ds
    movw %ax, %es
    movw %ax, %ss
    movl $1, %eax
    lock xaddl %eax, ap_next_slot
    movl %eax, %edi
    leal 1(%rax), %eax
    shll $12, %eax
    addq $ap_stacks, %rax
    movq %rax, %rsp
    call ap_main
2:  cli
    hlt
    jmp 2b

/*
 * Real-mode trampoline, copied to AP_TRAMPOLINE_ADDR (SIPI vector 0x08). It only loads the
 * GDT and jumps to ap_start32 in the image; addresses inside it are relative to its copy.
 */
    .code16
    .globl ap_trampoline_start, ap_trampoline_end
ap_trampoline_start:
    cli
    xorw %ax, %ax
    movw %ax, %ds
    lgdtl (AP_TRAMPOLINE_ADDR + tramp_gdt_ptr - ap_trampoline_start)
    movl %cr0, %eax
    orl $1, %eax
    movl %eax, %cr0
    ljmpl $KCODE32, $ap_start32
    .p2align 3
tramp_gdt_ptr:
    .word gdt_end - gdt - 1
    .long gdt
ap_trampoline_end:
    .code64

    .section .data, "aw"
    .p2align 4
    .globl gdt, gdt_tss
gdt:
    .quad 0
    .quad 0x00af9a000000ffff /* 0x08 kernel code, 64-bit */
    .quad 0x00cf92000000ffff /* 0x10 kernel data */
    .quad 0x00cff2000000ffff /* 0x18 user data */
    .quad 0x00affa000000ffff /* 0x20 user code, 64-bit */
gdt_tss:
    .quad 0, 0               /* 0x28 TSS, filled in by runtime.c */
    .quad 0x00cf9a000000ffff /* 0x38 kernel code, 32-bit (AP path) */
gdt_end:
    .p2align 3
gdt_ptr:
    .word gdt_end - gdt - 1
    .quad gdt

    .globl pvh_start_info_paddr, ap_next_slot
pvh_start_info_paddr:
    .long 0
ap_next_slot:
    .long 0

/*
 * Identity map of 0-4 GiB with 2 MiB pages, all user-accessible (U/S), made by the assembler.
 * The last GiB (APIC, IOAPIC, PCI holes) is uncached (PCD|PWT).
 */
    .section .data.pagetables, "aw"
    .p2align 12
pml4:
    .quad pdpt + 0x7
    .fill 511, 8, 0
pdpt:
    .quad pd + 0x0007
    .quad pd + 0x1007
    .quad pd + 0x2007
    .quad pd + 0x3007
    .fill 508, 8, 0
pd:
    .set addr, 0
    .rept 2048
    .if addr >= 0xc0000000
    .quad addr + 0x9f
    .else
    .quad addr + 0x87
    .endif
    .set addr, addr + 0x200000
    .endr

    .section .bss, "aw", @nobits
    .p2align 12
    .globl kstack_top, ist_stack_top, ustack_top, ap_stacks
kstack:
    .skip 16384
kstack_top:
ist_stack:
    .skip 8192
ist_stack_top:
ustack:
    .skip 65536
ustack_top:
ap_stacks:
    .skip 64 * AP_STACK_SIZE

    .section .note.GNU-stack, "", @progbits
