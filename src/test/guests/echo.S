# Reads serial input and echoes it upper-cased, until a newline; then exits with v = 0 (status 1).
        .intel_syntax noprefix
        .code64
        .include "serial.inc"
        .section .text.start, "ax"
        .globl _start
_start:
        lea rsi, [rip + prompt]
        call puts
1:      mov dx, COM1_LSR
2:      in al, dx
        test al, 1               # LSR.DR: a byte is waiting
        jz 2b
        mov dx, COM1
        in al, dx
        cmp al, 'a'
        jb 3f
        cmp al, 'z'
        ja 3f
        sub al, 0x20
3:      mov ah, al
        mov dx, COM1_LSR
4:      in al, dx
        test al, 0x20
        jz 4b
        mov al, ah
        mov dx, COM1
        out dx, al
        cmp al, 10
        jne 1b
        xor eax, eax
        jmp exit
        .section .rodata
prompt: .asciz "echo> "
