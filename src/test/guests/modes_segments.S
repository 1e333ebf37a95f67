# Segment checks in 32-bit protected mode: accesses past a limit, into an expand-down segment, a store to read-only
# data, a load through a null DS and through SS past its limit, a far jump past a code segment's limit. Started at 0800:0000 as an application processor.
# Every access writes port 0x90: its value when allowed, or the #GP/#SS handler writes 0x91 with the vector and
# 0x92 with the error code and resumes at EDI (LegacyModesTest checks the sequence). Ends in HLT.
        .intel_syntax noprefix
        .include "protected_mode.inc"
        .section .text.start
        .globl _start
_start:
        real_to_protected gdtr, pm32
pm32:
        flat_segments 0x70000
        mov eax, offset general_protection
        mov edi, offset idt + 13 * 8
        mov edx, 0x8E00                 # 32-bit interrupt gate, DPL0
        call set_gate
        mov eax, offset stack_fault
        mov edi, offset idt + 12 * 8
        call set_gate
        lidt [idtr]
        mov dword ptr [0x10FFC], 0x600DF00D     # the last dword of the limited segments' 4 KiB at 0x10000
        mov dword ptr [0x11000], 0xABCDEF01     # the first one past it

        mov ax, 0x18                    # data, base 0x10000, limit 0xFFF
        mov es, ax
        mov ebx, 0xFFC
        mov eax, es:[ebx]               # the last dword within the limit
        out 0x90, eax
        mov edi, offset 1f
        mov ebx, 0xFFE
        mov eax, es:[ebx]               # its last byte past the limit: #GP(0)
        out 0x90, eax
1:
        mov ax, 0x20                    # expand-down data, base 0x10000, limit 0xFFF: offsets 0x1000 and up
        mov es, ax
        mov ebx, 0x1000
        mov eax, es:[ebx]
        out 0x90, eax
        mov edi, offset 1f
        mov ebx, 0xFFC
        mov eax, es:[ebx]               # at or below the limit of an expand-down segment: #GP(0)
        out 0x90, eax
1:
        mov ax, 0x28                    # read-only data
        mov es, ax
        mov eax, es:[0xFFC]
        out 0x90, eax
        mov edi, offset 1f
        mov es:[0xFFC], eax             # a store: #GP(0)
        out 0x90, eax
1:
        mov edi, offset 1f
        xor ax, ax
        mov es, ax                      # a null selector loads; using it faults
        mov eax, es:[0]
        out 0x90, eax
1:
        mov ax, 0x30                    # SS: data, base 0, limit 0x7FFFF (the stack stays usable for the handler)
        mov ss, ax
        mov edi, offset 1f
        mov ebx, 0x80000
        mov eax, ss:[ebx]               # past SS's limit: #SS(0)
        out 0x90, eax
1:
        mov ax, 0x10
        mov ss, ax
        mov edi, offset 1f
        ljmp 0x38, offset 1f            # a code segment whose limit ends below this code: #GP(0) at the far jump
1:
        hlt

general_protection:                     # frame: error code, EIP, CS, EFLAGS
        mov eax, 13
        out 0x91, eax
        pop eax
        out 0x92, eax
        mov [esp], edi
        iret

stack_fault:
        mov eax, 12
        out 0x91, eax
        pop eax
        out 0x92, eax
        mov [esp], edi
        iret

        set_gate_routine

        .balign 8
gdt:    .quad 0
        .quad 0x00CF9A000000FFFF        # 0x08: 32-bit code
        .quad 0x00CF92000000FFFF        # 0x10: data, 4 GiB
        .quad 0x0040920100000FFF        # 0x18: data, base 0x10000, limit 0xFFF (byte granular)
        .quad 0x0040960100000FFF        # 0x20: expand-down data, base 0x10000, limit 0xFFF, B set
        .quad 0x0040900100000FFF        # 0x28: read-only data, base 0x10000, limit 0xFFF
        .quad 0x004792000000FFFF        # 0x30: data, base 0, limit 0x7FFFF, B set
        .quad 0x00409A0000007FFF        # 0x38: 32-bit code, base 0, limit 0x7FFF: below the guest's code
gdtr:   .word 0x3F
        .long gdt
idtr:   .word 14 * 8 - 1
        .long idt
        .balign 8
idt:    .fill 14, 8, 0
