# Reads XCR0 with XGETBV and prints it in decimal; exits with v = 0 (status 1). Some KVMs cannot run XGETBV at CPL0.
        .intel_syntax noprefix
        .code64
        .include "serial.inc"
        .section .text.start, "ax"
        .globl _start
_start:
        xor ecx, ecx
        xgetbv
        lea rsi, [rip + label]
        call puts
        call putdec
        lea rsi, [rip + newline]
        call puts
        xor eax, eax
        jmp exit
        .section .rodata
label:   .asciz "XCR0 = "
newline: .asciz "\r\n"
