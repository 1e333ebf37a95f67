# MIPS benchmark (a): a tight integer loop of RDI iterations, 4 instructions each; then OUT 0x80 and HLT.
        .intel_syntax noprefix
        .code64
        .section .text.start, "ax"
        .globl _start
_start:
        mov rcx, rdi
1:      add rax, rcx
        xor rdx, rax
        dec rcx
        jnz 1b
        out 0x80, al
        hlt
