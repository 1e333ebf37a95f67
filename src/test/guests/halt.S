# Prints a line, then HLT with interrupts disabled: the VM ends with status 0.
        .intel_syntax noprefix
        .code64
        .include "serial.inc"
        .section .text.start, "ax"
        .globl _start
_start:
        lea rsi, [rip + message]
        call puts
        cli
        hlt
        .section .rodata
message: .asciz "halting\r\n"
