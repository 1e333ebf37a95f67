# Prints a line, then UD2 with no IDT (limit 0): #UD cannot be delivered, nor #DF, so the CPU shuts down.
        .intel_syntax noprefix
        .code64
        .include "serial.inc"
        .section .text.start, "ax"
        .globl _start
_start:
        lea rsi, [rip + message]
        call puts
        ud2
        .section .rodata
message: .asciz "about to triple-fault\r\n"
