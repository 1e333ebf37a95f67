# Prints the CPUID feature registers the guest sees, one "leaf.subleaf.register value" line each in decimal, and
# exits with v = 0 (status 1). CoreCpuidTest holds them to what the software core implements.
        .intel_syntax noprefix
        .code64
        .include "serial.inc"

        .macro report leaf, sub, reg, label
        mov eax, \leaf
        mov ecx, \sub
        cpuid
        mov eax, \reg
        lea rsi, [rip + \label]
        call puts
        call putdec
        lea rsi, [rip + newline]
        call puts
        .endm

        .section .text.start, "ax"
        .globl _start
_start:
        report 1, 0, ecx, l1ecx
        report 1, 0, edx, l1edx
        report 7, 0, ebx, l7ebx
        report 7, 0, ecx, l7ecx
        report 7, 0, edx, l7edx
        report 7, 1, eax, l71eax
        report 7, 1, edx, l71edx
        report 0xD, 1, eax, ld1eax
        report 0x80000001, 0, ecx, le1ecx
        report 0x80000001, 0, edx, le1edx
        xor eax, eax
        jmp exit
        .section .rodata
l1ecx:   .asciz "1.0.ECX "
l1edx:   .asciz "1.0.EDX "
l7ebx:   .asciz "7.0.EBX "
l7ecx:   .asciz "7.0.ECX "
l7edx:   .asciz "7.0.EDX "
l71eax:  .asciz "7.1.EAX "
l71edx:  .asciz "7.1.EDX "
ld1eax:  .asciz "13.1.EAX "
le1ecx:  .asciz "2147483649.0.ECX "
le1edx:  .asciz "2147483649.0.EDX "
newline: .asciz "\r\n"
