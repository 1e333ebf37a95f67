# A page fault from the middle of a decoded block that already ran once: the loop reads [RDX], then points RDX at
# unmapped memory, so the second pass faults on `faulting` (at 0x100042). The #PF handler (at 0x100100, installed
# by the test) keeps the error code in R10, CR2 in R11, the saved RIP in R12 and RAX in R13, then OUT 0x90 and HLT.
        .intel_syntax noprefix
        .code64
        .section .text.start, "ax"
        .globl _start
_start:
        mov r9, 0x700000000000
        lea rdx, [rip + readable]
        xor ebx, ebx
        jmp 1f

        .org 0x40
1:      inc ebx
faulting:
        mov rax, [rdx]
        add ebx, 0x100                          # ran once: RBX = 0x102 at the fault
        mov rdx, r9
        jmp 1b

        .org 0x100
page_fault:
        mov r13, rax
        pop r10
        mov r11, cr2
        mov r12, [rsp]
        mov al, 14
        out 0x90, al
        hlt

        .org 0x200
readable:
        .quad 0x1234
