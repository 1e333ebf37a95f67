# A processor's way from real mode to 64-bit mode, as an application processor's trampoline takes it: it starts at
# 0800:0000 (a STARTUP IPI of vector 8), checks 16-bit addressing, the IVT and a far call, enters 32-bit protected
# mode, builds IA-32e page tables, turns on PAE, EFER.LME and paging, and far-jumps into 64-bit code.
# Port 0x90-0x94: one value per step (LegacyModesTest checks them); ends in HLT with RAX = 0x1122334455667788.
        .intel_syntax noprefix
        .code16
        .section .text.start
        .globl _start
_start:
        cli
        xor ax, ax
        mov ds, ax
        mov ss, ax
        mov sp, 0x7000
        mov bx, offset data16
        xor si, si
        mov ax, [bx+si+2]               # DS:BX+SI+disp8
        out 0x90, ax
        push 0x55aa
        mov bp, sp
        mov ax, [bp]                    # a BP base addresses SS
        out 0x91, ax
        pop ax
        mov word ptr [0x80*4], offset int80
        mov word ptr [0x80*4+2], 0
        int 0x80                        # through the interrupt vector table
        mov ax, cx
        out 0x92, ax
        lcall 0x0800, offset farsub - 0x8000
        lgdt [gdtr]
        mov eax, cr0
        or al, 1
        mov cr0, eax
        ljmp 0x08, offset pm32
int80:
        mov cx, 0x4242
        iret
farsub:                                 # the caller's CS is above the return IP
        mov bp, sp
        mov ax, [bp+2]
        out 0x93, ax
        lret

        .code32
pm32:
        mov ax, 0x10
        mov ds, ax
        mov es, ax
        mov ss, ax
        mov esp, 0x90000
        mov eax, 0x12345678
        push eax
        pop ebx
        out 0x94, eax
        mov edi, 0x20000                # PML4, PDPT and a page directory of two 2 MiB pages
        xor eax, eax
        mov ecx, 0x3000 / 4
        rep stosd
        mov dword ptr [0x20000], 0x21003
        mov dword ptr [0x21000], 0x22003
        mov dword ptr [0x22000], 0x000083
        mov dword ptr [0x22008], 0x200083
        mov eax, cr4
        or eax, 0x20                    # PAE
        mov cr4, eax
        mov eax, 0x20000
        mov cr3, eax
        mov ecx, 0xC0000080
        rdmsr
        or eax, 0x100                   # EFER.LME
        wrmsr
        mov eax, cr0
        or eax, 0x80000000              # PG: IA-32e mode, in compatibility mode until CS changes
        mov cr0, eax
        ljmp 0x18, offset lm64

        .code64
lm64:
        movabs rax, 0x1122334455667788
        hlt

        .balign 8
gdt:    .quad 0
        .quad 0x00CF9A000000FFFF        # 0x08: 32-bit code
        .quad 0x00CF92000000FFFF        # 0x10: data
        .quad 0x00AF9A000000FFFF        # 0x18: 64-bit code
gdtr:   .word 31
        .long gdt
data16: .word 0, 0x1234
