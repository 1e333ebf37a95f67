# Compatibility mode: from the 64-bit entry contract, a far return into a 32-bit code segment of IA-32e mode, 32-bit
# code there (4-byte pushes, 2 with 66, 40-4F as INC/DEC rather than REX), and a far jump through a 16:32 pointer
# back to 64-bit code. Ports 0x90-0x93 report each step (LegacyModesTest); ends in HLT with RAX = 0x64.
        .intel_syntax noprefix
        .code64
        .section .text.start
        .globl _start
_start:
        lgdt [rip + gdtr]
        push 0x18                       # 32-bit code
        lea rax, [rip + compat]
        push rax
        rex.W retf
        .code32
compat:
        mov esp, 0x80000
        mov eax, esp
        push 0x11223344
        sub eax, esp
        out 0x90, eax                   # 4: the default operand size is 32 bits
        pop ebx
        mov edx, esp
        push ax
        sub edx, esp
        mov eax, edx
        out 0x91, eax                   # 2: a 66 prefix makes it 16
        pop ax
        mov ecx, 41
        inc ecx                         # 0x41: INC ECX, not REX.B
        dec ecx
        inc ecx
        mov eax, ecx
        out 0x92, eax
        mov eax, ebx
        out 0x93, eax                   # what the 4-byte push stored
        ljmp [farptr]
        .code64
back64:
        mov eax, 0x64
        hlt

        .balign 8
gdt:    .quad 0
        .quad 0x00AF9B000000FFFF        # 0x08: 64-bit code
        .quad 0x00CF93000000FFFF        # 0x10: data
        .quad 0x00CF9B000000FFFF        # 0x18: 32-bit code
gdtr:   .word 31
        .quad gdt
farptr: .long back64
        .word 0x08
