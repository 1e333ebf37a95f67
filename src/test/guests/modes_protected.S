# 32-bit protected mode as an operating system uses it: started at 0800:0000 (a STARTUP IPI of vector 8), it loads a
# GDT with ring 0 and ring 3 segments and a 32-bit TSS, an IDT of 32-bit gates, turns on 32-bit paging with 4 KiB
# pages and a 4 MiB PSE page, takes a page fault, drops to ring 3 by IRET, comes back by INT 0x80 through a DPL3
# trap gate on the TSS's ring 0 stack, and takes #GP for INT through a DPL0 gate and for CLI at ring 3.
# Each step writes a value to a port 0x90-0x9A (LegacyModesTest checks them); ends in HLT at ring 0.
        .intel_syntax noprefix
        .include "protected_mode.inc"
        .section .text.start
        .globl _start
_start:
        real_to_protected gdtr, pm32
pm32:
        flat_segments 0x70000
        load_tss gdt, 0x28, tss, 0x68000
        mov eax, offset page_fault
        mov edi, offset idt + 14 * 8
        mov edx, 0x8E00                 # 32-bit interrupt gate, DPL0
        call set_gate
        mov eax, offset general_protection
        mov edi, offset idt + 13 * 8
        call set_gate
        mov eax, offset int81
        mov edi, offset idt + 0x81 * 8
        call set_gate
        mov eax, offset int80
        mov edi, offset idt + 0x80 * 8
        mov edx, 0xEF00                 # 32-bit trap gate, DPL3
        call set_gate
        lidt [idtr]

        mov edi, 0x31000                # a page table mapping 0-4 MiB to itself, user and writable
        mov eax, 7
        mov ecx, 1024
1:      stosd
        add eax, 0x1000
        loop 1b
        mov dword ptr [0x31000 + 0x50 * 4], 0   # but 0x50000: not present
        mov dword ptr [0x30000], 0x31007
        mov dword ptr [0x30004], 0x800087       # 4 MiB at linear 4 MiB is physical 8 MiB
        mov eax, cr4
        or eax, 0x10                    # PSE
        mov cr4, eax
        mov eax, 0x30000
        mov cr3, eax
        mov eax, cr0
        or eax, 0x80000000
        mov cr0, eax

        mov dword ptr [0x400010], 0xCAFEF00D
        mov eax, [0x400010]
        out 0x90, eax
        mov ebx, [0x50004]              # #PF; the handler skips these 6 bytes
        push 0x23                       # to ring 3: SS, ESP, EFLAGS, CS, EIP
        push 0x6F000
        push 0x2
        push 0x1B
        push offset user
        iret

user:
        mov eax, 0x1111
        int 0x80
        mov ebx, eax
user_int81:
        int 0x81                        # a DPL0 gate from ring 3: #GP(0x81 * 8 + 2)
user_cli:
        cli                             # IOPL 0 at ring 3: #GP(0)
        jmp user_cli

int80:                                  # frame: EIP, CS, EFLAGS, ESP, SS
        out 0x94, eax
        mov eax, [esp + 4]
        out 0x95, eax
        mov eax, [esp + 16]
        out 0x96, eax
        mov eax, esp
        out 0x97, eax
        mov eax, 0x2222
        iret

page_fault:                             # frame: error code, EIP, CS, EFLAGS
        mov eax, cr2
        out 0x91, eax
        pop eax
        out 0x92, eax
        add dword ptr [esp], 6
        iret

general_protection:
        pop eax
        out 0x98, eax
        mov ecx, [esp]
        xor eax, eax
        cmp ecx, offset user_int81
        jne 2f
        mov eax, 1
2:      cmp ecx, offset user_cli
        jne 3f
        mov eax, 2
3:      out 0x99, eax
        mov eax, ebx
        out 0x9A, eax
        cmp dword ptr [esp], offset user_cli
        je 4f
        add dword ptr [esp], 2
        iret
4:      hlt

int81:
        hlt

        set_gate_routine

        .balign 8
gdt:    .quad 0
        .quad 0x00CF9A000000FFFF        # 0x08: 32-bit code, ring 0
        .quad 0x00CF92000000FFFF        # 0x10: data, ring 0
        .quad 0x00CFFA000000FFFF        # 0x18: 32-bit code, ring 3
        .quad 0x00CFF2000000FFFF        # 0x20: data, ring 3
        .quad 0x0000890000000067        # 0x28: 32-bit TSS (base filled in)
gdtr:   .word 0x2F
        .long gdt
idtr:   .word 0x82 * 8 - 1
        .long idt
        .balign 8
idt:    .fill 0x82, 8, 0
tss:    .fill 104, 1, 0
