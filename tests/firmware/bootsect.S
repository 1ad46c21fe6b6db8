/* SPDX-License-Identifier: GPL-2.0-or-later */
/*
 * A BIOS boot sector for the firmware test (docs/firmware.md): prints through INT 10h
 * teletype, reads sector 2 of the boot disk through INT 13h and checks its marker, then
 * reports through the debug-exit port 0xf4: 0x10 pass, 0x11 fail (exit status 33 / 35).
 */
    .code16
    .text
    .globl _start
_start:
    cli
    xor %ax, %ax
    mov %ax, %ds
    mov %ax, %es
    mov %ax, %ss
    mov $0x7c00, %sp
    sti
    mov %dl, boot_drive

    mov $hello, %si
    call puts

    /* INT 13h AH=02h: 1 sector, cylinder 0, head 0, sector 2 -> 0000:0x7e00. */
    mov $0x0201, %ax
    mov $0x0002, %cx
    xor %dh, %dh
    mov boot_drive, %dl
    mov $0x7e00, %bx
    int $0x13
    jc fail
    cmpl $0x4d564b44, 0x7e00 /* "DKVM" */
    jne fail

    mov $read_ok, %si
    call puts
    mov $0x10, %al
    out %al, $0xf4
    jmp halt

fail:
    mov $read_bad, %si
    call puts
    mov $0x11, %al
    out %al, $0xf4
halt:
    hlt
    jmp halt

puts:
    lodsb
    test %al, %al
    jz 1f
    mov $0x0e, %ah
    mov $0x0007, %bx
    int $0x10
    jmp puts
1:  ret

boot_drive: .byte 0
hello:      .asciz "deskvm boot sector: hello through INT 10h\r\n"
read_ok:    .asciz "deskvm boot sector: INT 13h read OK\r\nPASS\r\n"
read_bad:   .asciz "deskvm boot sector: INT 13h read FAILED\r\nFAIL\r\n"

    .org 510
    .word 0xaa55
/* Sector 2: the marker INT 13h must bring back. */
    .ascii "DKVM"
    .org 1024
