# Position-independent: runs as a flat binary at any --load-addr. Prints a line, exits with v = 0x21 (status 67).
        .intel_syntax noprefix
        .code64
        .include "serial.inc"
        .section .text.start, "ax"
        .globl _start
_start:
        lea rsi, [rip + message]
        call puts
        mov al, 0x21
        jmp exit
        .section .rodata
message: .asciz "hello from a flat binary\r\n"
