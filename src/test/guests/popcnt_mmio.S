# POPCNT with its operand in MMIO (0xC0000000: no RAM there). KVM's instruction emulator has no POPCNT, so every
# KVM (VMX, SVM and kvm_pvm alike) stops here with an emulation failure; the software core reads the unmapped
# address as all ones and prints "POPCNT = 64". Exits with v = 0 (status 1).
        .intel_syntax noprefix
        .code64
        .include "serial.inc"
        .section .text.start, "ax"
        .globl _start
_start:
        mov ecx, 0xC0000000
        popcnt rax, qword ptr [rcx]
        lea rsi, [rip + label]
        call puts
        call putdec
        lea rsi, [rip + newline]
        call puts
        xor eax, eax
        jmp exit
        .section .rodata
label:   .asciz "POPCNT = "
newline: .asciz "\r\n"
