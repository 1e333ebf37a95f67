# Back down the modes, as a reboot or kexec trampoline goes: from the 64-bit entry contract by a far return into
# compatibility mode, paging off (IA-32e mode ends, EFER.LMA clear), EFER.LME off, 16-bit data segments, a far jump
# into a 16-bit code segment, CR0.PE off and a far jump into real mode at 0800:xxxx, where the code copied below
# 1 MiB takes an INT through the IVT. Ports 0x90-0x93 report each step (LegacyModesTest); ends in HLT in real mode.
        .intel_syntax noprefix
        .code64
        .section .text.start
        .globl _start
_start:
        lgdt [rip + gdtr]
        lea rsi, [rip + low_start]      # the real-mode part goes below 1 MiB, at 0x8000
        mov edi, 0x8000
        mov ecx, offset low_end - low_start
        rep movsb
        push 0x18
        lea rax, [rip + compat]
        push rax
        rex.W retf

        .code32
compat:
        mov eax, cr0
        and eax, 0x7FFFFFFF             # paging off: IA-32e mode ends
        mov cr0, eax
        mov ecx, 0xC0000080
        rdmsr
        out 0x90, eax                   # EFER: LME still set, LMA clear
        and eax, ~0x100
        wrmsr
        rdmsr
        out 0x91, eax                   # LME clear too
        mov ax, 0x28                    # 16-bit data segments, 64 KiB limits, as real mode keeps them
        mov ds, ax
        mov es, ax
        mov ss, ax
        mov esp, 0x7000
        ljmp 0x20, 0x8000               # 16-bit protected mode

        .code16
low_start:
        mov eax, cr0
        and al, 0xFE                    # PE off
        mov cr0, eax
        ljmp 0x0800, offset real - low_start
real:
        xor ax, ax
        mov ds, ax
        mov ss, ax
        mov sp, 0x7000
        lidt [0x8000 + ivtr - low_start]    # the interrupt vector table at 0 (the entry contract's IDTR is empty)
        mov word ptr [0x40 * 4], offset int40 - low_start
        mov word ptr [0x40 * 4 + 2], 0x0800
        mov ax, cs
        out 0x92, ax                    # 0x0800
        int 0x40
        out 0x93, ax
        hlt
int40:
        mov ax, 0x4040
        iret
ivtr:   .word 0x3FF
        .long 0
low_end:

        .balign 8
gdt:    .quad 0
        .quad 0x00AF9B000000FFFF        # 0x08: 64-bit code
        .quad 0x00CF93000000FFFF        # 0x10: data
        .quad 0x00CF9B000000FFFF        # 0x18: 32-bit code
        .quad 0x00009B000000FFFF        # 0x20: 16-bit code, base 0, limit 0xFFFF
        .quad 0x000093000000FFFF        # 0x28: 16-bit data, base 0, limit 0xFFFF
gdtr:   .word 0x2F
        .quad gdt
