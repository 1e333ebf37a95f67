# RDRAND and RDSEED, twice each: prints "entropy ok" when each set CF and each pair differs, else "entropy bad";
# exits with v = 0 (status 1).
        .intel_syntax noprefix
        .code64
        .include "serial.inc"
        .section .text.start, "ax"
        .globl _start
_start:
        rdrand rbx
        jnc bad
        rdrand rcx
        jnc bad
        cmp rbx, rcx
        je bad
        rdseed rbx
        jnc bad
        rdseed rcx
        jnc bad
        cmp rbx, rcx
        je bad
        lea rsi, [rip + good]
        jmp report
bad:    lea rsi, [rip + poor]
report: call puts
        xor eax, eax
        jmp exit
        .section .rodata
good:    .asciz "entropy ok\r\n"
poor:    .asciz "entropy bad\r\n"
