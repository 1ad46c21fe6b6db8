/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A tiny bzImage for the firmware kernel boot test (docs/firmware.md, test-fw-kernel.sh):
 * one setup sector with a boot protocol 2.12 header, and a protected-mode "kernel" loaded at
 * 1 MiB. The setup runs in real mode (where linuxboot_dma.bin enters it, at setup + 0x200),
 * switches to flat 32-bit protected mode and jumps to code32_start with ESI = boot_params,
 * as Linux's own setup does. The kernel prints what the loader left in boot_params (command
 * line, initrd place and first bytes, heap fields) to COM1 and leaves through debug-exit
 * 0xf4 with 0x10 (exit status 33).
 *   as --32 tinybz.S && ld -m elf_i386 -Ttext=0 --oformat=binary
 */
    .equ COM1, 0x3f8
    .equ KBASE, 0x100000

    .code16
    .text
    .globl _start
_start:
    .org 0x1f1
    .byte 1                     /* setup_sects: 1 + 1 sectors of setup */
    .word 0                     /* root_flags */
    .long (kend - kstart) / 16  /* syssize */
    .word 0, 0, 0               /* ram_size, vid_mode, root_dev */
    .word 0xaa55                /* boot_flag */
    .org 0x200
    jmp setup                   /* jump (2 bytes) */
    .ascii "HdrS"               /* header */
    .word 0x020c                /* version 2.12 */
    .long 0                     /* realmode_swtch */
    .word 0x1000, 0             /* start_sys_seg, kernel_version */
    .byte 0, 0x01               /* type_of_loader, loadflags: LOADED_HIGH */
    .word 0x8000                /* setup_move_size */
    .long KBASE                 /* code32_start */
    .long 0, 0, 0               /* ramdisk_image, ramdisk_size, bootsect_kludge */
    .word 0                     /* heap_end_ptr */
    .byte 0, 0                  /* ext_loader_ver, ext_loader_type */
    .long 0                     /* cmd_line_ptr */
    .long 0x7fffffff            /* initrd_addr_max */
    .long 0x200000              /* kernel_alignment */
    .byte 0, 0                  /* relocatable_kernel, min_alignment */
    .word 0                     /* xloadflags */
    .long 0x7ff                 /* cmdline_size */
    .long 0                     /* hardware_subarch */
    .quad 0                     /* hardware_subarch_data */
    .long 0, 0                  /* payload_offset, payload_length */
    .quad 0                     /* setup_data */
    .quad KBASE                 /* pref_address */
    .long 0x1000                /* init_size */
    .long 0, 0                  /* handover_offset, kernel_info_offset */

/* Real mode, CS = setup segment + 0x20, IP = 0 at this file's offset 0x200. */
setup:
    cli
    mov %cs, %ax
    sub $0x20, %ax
    mov %ax, %ds                /* DS offsets are file offsets */
    movzwl %ax, %ebx
    shl $4, %ebx                /* EBX: linear address of the setup = boot_params */
    mov $gdt, %eax
    add %ebx, %eax
    mov %eax, gdtr + 2
    mov $pm32, %eax
    add %ebx, %eax
    mov %eax, farptr
    lgdtl gdtr
    mov %cr0, %eax
    or $1, %eax
    mov %eax, %cr0
    ljmpl *farptr

    .code32
pm32:
    mov $0x10, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    lea 0xfe00(%ebx), %esp
    mov %ebx, %esi
    jmp *0x214(%esi)            /* code32_start */

    .p2align 3
gdt:
    .quad 0
    .quad 0x00cf9a000000ffff    /* 0x08: flat 32-bit code */
    .quad 0x00cf92000000ffff    /* 0x10: flat data */
gdtr:
    .word 23
    .long 0
farptr:
    .long 0
    .word 0x08

    .org 0x400
/* The protected-mode kernel, loaded at KBASE: ESI = boot_params. */
kstart:
    mov %esi, %ebp
    mov $(m_hello - kstart + KBASE), %esi
    call puts
    mov $(m_ptr - kstart + KBASE), %esi
    call puts
    mov 0x228(%ebp), %eax
    call hex32
    mov $(m_cmd - kstart + KBASE), %esi
    call puts
    mov 0x228(%ebp), %esi
    mov $256, %ecx
    call putn
    mov $(m_rd - kstart + KBASE), %esi
    call puts
    mov 0x218(%ebp), %eax
    call hex32
    mov $(m_rdsz - kstart + KBASE), %esi
    call puts
    mov 0x21c(%ebp), %eax
    call hex32
    mov $(m_rdata - kstart + KBASE), %esi
    call puts
    mov 0x218(%ebp), %esi
    mov 0x21c(%ebp), %ecx
    cmp $16, %ecx
    jbe 1f
    mov $16, %ecx
1:  call putn
    mov $(m_heap - kstart + KBASE), %esi
    call puts
    movzbl 0x211(%ebp), %eax
    call hex32
    mov $(m_hend - kstart + KBASE), %esi
    call puts
    movzwl 0x224(%ebp), %eax
    call hex32
    mov $(m_end - kstart + KBASE), %esi
    call puts
    mov $0x10, %al
    mov $0xf4, %dx
    out %al, %dx
2:  hlt
    jmp 2b

/* Write the NUL-terminated string at ESI. */
puts:
    mov $0x7fffffff, %ecx
/* Write at most ECX bytes of the string at ESI, stopping at a NUL. */
putn:
    mov $COM1, %dx
3:  test %ecx, %ecx
    jz 4f
    lodsb
    test %al, %al
    jz 4f
    out %al, %dx
    dec %ecx
    jmp 3b
4:  ret

/* Write EAX as 0x and 8 hex digits. */
hex32:
    mov %eax, %ebx
    mov $COM1, %dx
    mov $'0', %al
    out %al, %dx
    mov $'x', %al
    out %al, %dx
    mov $8, %ecx
5:  rol $4, %ebx
    mov %bl, %al
    and $0xf, %al
    add $'0', %al
    cmp $'9', %al
    jbe 6f
    add $('a' - '9' - 1), %al
6:  out %al, %dx
    dec %ecx
    jnz 5b
    ret

m_hello: .asciz "tinybz: protected mode\r\n"
m_ptr:   .asciz "tinybz: cmd_line_ptr="
m_cmd:   .asciz "\r\ntinybz: cmdline=["
m_rd:    .asciz "]\r\ntinybz: ramdisk_image="
m_rdsz:  .asciz " ramdisk_size="
m_rdata: .asciz "\r\ntinybz: initrd=["
m_heap:  .asciz "]\r\ntinybz: loadflags="
m_hend:  .asciz " heap_end_ptr="
m_end:   .asciz "\r\ntinybz: done\r\n"
    .p2align 4
kend:
