# Call gates in 32-bit protected mode: a far CALL through a DPL3 gate at ring 0 (same level: the parameters stay on
# the caller's stack), then from ring 3 (the TSS's ring 0 stack, the two parameters copied, SS:ESP pushed), each
# returning by RET far 8; then a ring 3 call through a DPL0 gate: #GP(gate). Started at 0800:0000 as an application
# processor; ports 0x90-0x99 report each step (LegacyModesTest). Ends in HLT at ring 0.
        .intel_syntax noprefix
        .include "protected_mode.inc"
        .section .text.start
        .globl _start
_start:
        real_to_protected gdtr, pm32
pm32:
        flat_segments 0x70000
        load_tss gdt, 0x28, tss, 0x68000
        mov eax, offset gate_target      # the gates' offsets
        mov word ptr [gdt + 0x30], ax
        mov word ptr [gdt + 0x38], ax
        shr eax, 16
        mov word ptr [gdt + 0x30 + 6], ax
        mov word ptr [gdt + 0x38 + 6], ax
        mov eax, offset general_protection
        mov word ptr [idt + 13 * 8], ax
        mov word ptr [idt + 13 * 8 + 2], 0x08
        mov word ptr [idt + 13 * 8 + 4], 0x8E00
        shr eax, 16
        mov word ptr [idt + 13 * 8 + 6], ax
        lidt [idtr]

        push 20                         # ring 0 through the gate: same level
        push 30
        lcall 0x30, 0
        push 0x23                       # to ring 3
        push 0x6F000
        push 0x2
        push 0x1B
        push offset user
        iret

user:
        mov ebp, esp
        push 5
        push 7
        lcall 0x33, 0                   # through the DPL3 gate to ring 0, and back by RET far 8
        mov ebx, ebp
        sub ebx, esp                    # 0: the RET released the parameters on this stack too
        lcall 0x3B, 0                   # a DPL0 gate from ring 3: #GP(0x38)
        jmp user

gate_target:                            # frame: EIP, CS, the two parameters; from ring 3 then ESP, SS
        mov eax, [esp + 8]
        add eax, [esp + 12]
        out 0x90, eax
        mov eax, [esp + 4]
        out 0x91, eax
        mov eax, esp
        out 0x92, eax
        mov eax, ss
        out 0x93, eax
        lret 8

general_protection:
        pop eax
        out 0x98, eax
        mov eax, ebx
        out 0x99, eax
        hlt

        .balign 8
gdt:    .quad 0
        .quad 0x00CF9A000000FFFF        # 0x08: 32-bit code, ring 0
        .quad 0x00CF92000000FFFF        # 0x10: data, ring 0
        .quad 0x00CFFA000000FFFF        # 0x18: 32-bit code, ring 3
        .quad 0x00CFF2000000FFFF        # 0x20: data, ring 3
        .quad 0x0000890000000067        # 0x28: 32-bit TSS (base filled in)
        .quad 0x0000EC0200080000        # 0x30: 32-bit call gate, DPL3, 2 parameters, to 0x08 (offset filled in)
        .quad 0x00008C0200080000        # 0x38: the same gate at DPL0
gdtr:   .word 0x3F
        .long gdt
idtr:   .word 14 * 8 - 1
        .long idt
        .balign 8
idt:    .fill 14, 8, 0
tss:    .fill 104, 1, 0
