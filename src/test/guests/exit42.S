# Loaded as ELF: prints a line, exits with v = 42 (status 85).
        .intel_syntax noprefix
        .code64
        .include "serial.inc"
        .section .text.start, "ax"
        .globl _start
_start:
        lea rsi, [rip + message]
        call puts
        mov al, 42
        jmp exit
        .section .rodata
message: .asciz "exit code 42 coming\r\n"
