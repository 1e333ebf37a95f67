# Benchmark guest: OUT to port 0x80 forever; RAX counts the exits so the host can check none were lost.
        .intel_syntax noprefix
        .code64
        .section .text.start, "ax"
        .globl _start
_start:
        xor eax, eax
1:      out 0x80, al
        inc rax
        jmp 1b
