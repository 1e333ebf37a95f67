# 5-level paging, as an OS turns it on: from 0800:0000 (a STARTUP IPI of vector 8) into 32-bit protected mode, CR4.PAE
# and CR4.LA57 set before paging (they cannot change in IA-32e mode), CR3 at a PML5, EFER.LME, CR0.PG, and a far jump
# into 64-bit code. There it reads and writes guest RAM through addresses only 57-bit linear addresses reach: PML5
# entry 128 (0x0080_0000_0000_0000, not canonical at 48 bits) and, through an FS base WRMSR takes only when the model
# has LA57, entry 256 (0xFF00_0000_0000_0000). The IDT is empty: a fault is a triple fault.
# Ports 0x90-0x92 (FiveLevelPagingTest checks them); ends in HLT with RAX = 0x5A5A.
        .intel_syntax noprefix
        .code16
        .section .text.start
        .globl _start
_start:
        cli
        xor ax, ax
        mov ds, ax
        lidt [idtr]
        lgdt [gdtr]
        mov eax, cr0
        or al, 1
        mov cr0, eax
        ljmp 0x08, offset pm32

        .code32
pm32:
        mov ax, 0x10
        mov ds, ax
        mov es, ax
        mov ss, ax
        mov esp, 0x90000
        mov edi, 0x20000                # PML5, PML4, PDPT and a page directory of two 2 MiB pages
        xor eax, eax
        mov ecx, 0x4000 / 4
        rep stosd
        mov dword ptr [0x20000], 0x21003          # PML5[0]
        mov dword ptr [0x20000 + 128 * 8], 0x21003 # PML5[128]: 0x0080_0000_0000_0000
        mov dword ptr [0x20000 + 256 * 8], 0x21003 # PML5[256]: 0xFF00_0000_0000_0000
        mov dword ptr [0x21000], 0x22003
        mov dword ptr [0x22000], 0x23003
        mov dword ptr [0x23000], 0x000083
        mov dword ptr [0x23008], 0x200083
        mov eax, cr4
        or eax, 0x1020                  # PAE and LA57: #GP where the model has no LA57
        mov cr4, eax
        mov eax, 0x20000
        mov cr3, eax
        mov ecx, 0xC0000080
        rdmsr
        or eax, 0x100                   # EFER.LME
        wrmsr
        mov eax, cr0
        or eax, 0x80000000              # PG: IA-32e mode with 5-level paging
        mov cr0, eax
        ljmp 0x18, offset lm64

        .code64
lm64:
        movabs rbx, 0x0080000000000000
        add rbx, offset value
        mov rax, [rbx]                  # through PML5[128]
        out 0x90, eax
        mov dword ptr [rbx + 4], 0x5757 # a store there lands in the same RAM
        mov eax, dword ptr [value + 4]
        out 0x91, eax
        mov ecx, 0xC0000100             # FS_BASE = 0xFF00_0000_0000_0000: canonical at 57 bits only
        xor eax, eax
        mov edx, 0xFF000000
        wrmsr
        mov eax, dword ptr fs:[value]   # through PML5[256]
        out 0x92, eax
        mov eax, 0x5A5A
        hlt

        .balign 8
gdt:    .quad 0
        .quad 0x00CF9A000000FFFF        # 0x08: 32-bit code
        .quad 0x00CF92000000FFFF        # 0x10: data
        .quad 0x00AF9A000000FFFF        # 0x18: 64-bit code
gdtr:   .word 31
        .long gdt
idtr:   .word 0
        .long 0
        .balign 8
value:  .quad 0x0123456789ABCDEF
