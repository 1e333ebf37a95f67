# Each form the decoded tier runs (DecodedForm and its groups: DecodedArithmetic, DecodedMoves, DecodedBranches) in
# each of its shapes: the ALU operations between whole registers (64- and 32-bit), with an immediate, to and from
# memory, on byte (AH too) and 16-bit registers; ADC and SBB; TEST; MOV between registers, loads, stores, immediates to
# registers and memory, RIP-relative; LEA of 64, 32 and 16 bits; MOVZX and MOVSX; PUSH and POP of 64- and 16-bit
# registers, PUSH of an immediate and of memory; loads, stores and ALU operations through FS and GS; CMOVcc, SETcc,
# CBW/CWDE/CDQE, CWD/CDQ/CQO; INC/DEC; IMUL's two- and three-operand forms; shifts and rotates of registers by
# immediates; Jcc on each condition, taken and not, JMP, CALL and RET, CALL through a register, JMP through memory; a
# long NOP.
# A loop of ROUNDS rounds over an LCG in RBX folds every result and the flags after each flag-setting form into R15,
# but for the flags the manuals leave undefined after it (AF after logic, IMUL's SF, ZF, AF and PF, a shift's OF past
# one), which it folds into its data's last quad instead: KVM's run of it (BackendDifferentialTest) gives the registers
# the core does on either vendor's part. Then HLT. The test runs it with the interpreter alone, in decoded blocks and
# compiled, and compares.
        .intel_syntax noprefix
        .code64
        .section .text.start, "ax"
        .globl _start
        .equ ROUNDS, 3000

        .macro fold reg                         # R15 = rol(R15 + reg, 7)
        add r15, \reg
        rol r15, 7
        .endm
        .macro flags defined=0x8D5              # the arithmetic flags both manuals define after the form into R15 (and
        pushfq                                  # RDX), those they leave undefined into the last quad: the core's tiers
        .if 0x8D5 & ~(\defined)                 # agree on both, hardware's vendors only on the first (docs/vendors.md)
        pushfq
        pop rdx
        and edx, 0x8D5 & ~(\defined)
        xor [rsi + 128], rdx
        rol qword ptr [rsi + 128], 3
        .endif
        pop rdx
        and edx, \defined
        xor r15, rdx
        rol r15, 3
        .endm
        .equ LOGIC, 0x8C5                       # AND, OR, XOR, TEST and shifts by one: AF undefined
        .equ SHIFTED, 0x0C5                     # shifts by more than one: OF and AF undefined
        .equ MULTIPLIED, 0x801                  # IMUL: only CF and OF defined
_start:
        mov rbx, 0x2545F4914F6CDD1D
        xor r15d, r15d
        mov r14d, ROUNDS
        lea rsi, [rip + data]
        mov ecx, 0xC0000100                     # FS_BASE = data, GS_BASE = data + 32: the forms through FS and GS
        mov rax, rsi
        mov rdx, rsi
        shr rdx, 32
        wrmsr
        mov ecx, 0xC0000101
        lea rax, [rsi + 32]
        mov rdx, rax
        shr rdx, 32
        wrmsr
        xor edi, edi
round:
        imul rbx, rbx, 0x5851F42D
        add rbx, 0x14057B7E
        mov rax, rbx
        ror rax, 17
        mov rcx, rbx
        rol rcx, 29

        mov r8, rax                             # ALU between 64-bit registers
        add r8, rcx
        flags
        fold r8
        sub r8, rbx
        flags
        fold r8
        cmp r8, rcx
        flags
        and r8, rax
        flags LOGIC
        or r8, rcx
        flags LOGIC
        xor r8, rbx
        flags LOGIC
        fold r8
        adc r8, rcx
        flags
        sbb r8, rax
        flags
        fold r8
        mov r9d, eax                            # ... and 32-bit ones (the destination zero-extended)
        add r9d, ecx
        flags
        fold r9
        sub r9d, ebx
        flags
        cmp r9d, ecx
        flags
        and r9d, eax
        or r9d, ecx
        xor r9d, ebx
        flags LOGIC
        adc r9d, ecx
        sbb r9d, eax
        flags
        fold r9
        add r9, rcx                             # the reverse encoding (ALU reg, r/m)
        .byte 0x4C, 0x03, 0xC9                  # add r9, rcx as 03 /r
        .byte 0x45, 0x2B, 0xC8                  # sub r9d, r8d as 2B /r
        flags
        fold r9

        mov r10, rbx                            # with immediates, 64 and 32 bits
        add r10, 0x12345
        flags
        sub r10, -77
        flags
        cmp r10, 0x7FFF
        flags
        and r10, 0x0FFFFFF0
        or r10, 0x101
        xor r10, -2
        flags LOGIC
        adc r10, 5
        sbb r10, 9
        flags
        fold r10
        mov r11d, ebx
        add r11d, 0x80000000
        flags
        sub r11d, 3
        cmp r11d, -1
        flags
        and r11d, 0xFF00FF
        or r11d, 0x3
        xor r11d, 0x55
        adc r11d, 1
        sbb r11d, 1
        flags
        fold r11

        mov [rsi + 64], rbx                     # to and from memory
        add [rsi + 64], rcx
        flags
        sub [rsi + 64], eax
        flags
        cmp [rsi + 64], rax
        flags
        add rax, [rsi + 64]
        flags
        add dl, [rsi + 9]
        flags
        sub cx, [rsi + 10]
        flags
        xor ecx, [rsi + 68]
        flags LOGIC
        cmp rcx, [rsi + 64]
        flags
        add qword ptr [rsi + 64], 0x1234
        cmp dword ptr [rsi + 68], 77
        flags
        cmp byte ptr [rsi + 65], 0x80
        flags
        and word ptr [rsi + 66], 0x0FF0
        fold rax
        fold rcx
        fold [rsi + 64]

        mov edx, ebx                            # byte and 16-bit registers, AH-BH too
        add al, bl
        flags
        sub ah, dl
        flags
        xor ch, al
        cmp dh, bh
        flags
        add dx, cx
        flags
        sub ax, 0x1234
        flags
        or cl, 0x81
        and bh, 0xF0
        flags LOGIC
        fold rax
        fold rcx
        fold rdx
        fold rbx
        test rax, rcx                           # TEST
        flags LOGIC
        test r9d, r10d
        flags LOGIC
        test al, ah
        flags LOGIC
        test byte ptr [rsi + 64], 0x41
        flags LOGIC
        test dword ptr [rsi + 64], ecx
        flags LOGIC
        test rcx, 0x100
        flags LOGIC

        mov r12, fs:[rdi + 64]                  # through FS and GS: loads, stores, ALU, CMP and TEST, MOVZX
        mov r13d, gs:[rdi + 36]
        fold r12
        fold r13
        add r12, gs:[rdi + 32]
        flags
        xor r13d, fs:[rdi + 68]
        flags LOGIC
        cmp qword ptr gs:[rdi + 40], 0x77
        flags
        test dword ptr fs:[rdi + 4], 0x1F
        flags LOGIC
        movzx eax, byte ptr gs:[rdi + 33]
        movzx ecx, word ptr fs:[rdi + 66]
        fold rax
        fold rcx
        mov fs:[rdi + 112], rbx
        mov gs:[rdi + 84], ecx
        add fs:[rdi + 112], r12
        flags
        mov qword ptr gs:[rdi + 88], 0x5A5A
        fold [rsi + 112]
        fold [rsi + 120]
        mov r12, rax                            # MOV: registers, loads, stores, immediates
        mov r13d, ecx
        fold r12
        fold r13
        mov r12, [rsi + 8]
        mov r13d, [rsi + 12]
        mov rdx, [rip + data + 16]
        fold r12
        fold r13
        fold rdx
        mov [rsi + 72], r12
        mov [rsi + 76], r13d
        mov qword ptr [rsi + 80], -5
        mov dword ptr [rsi + 84], 0x87654321
        mov r12, -1
        mov r12d, 0x7654321
        mov r13, 0x123456789
        fold r12
        fold r13
        mov byte ptr [rsi + 73], 0x5A
        mov [rsi + 74], cx
        mov [rsi + 75], ah
        mov dl, [rsi + 9]
        mov bh, cl
        mov cx, [rsi + 10]
        mov ax, 0x1357
        mov word ptr [rsi + 88], 0x2468
        fold rdx
        fold rbx
        fold rcx
        fold rax
        fold [rsi + 72]
        fold [rsi + 80]
        fold [rsi + 88]

        lea r12, [rax + rcx * 4 + 0x40]         # LEA of 64, 32 and 16 bits
        lea r13d, [rbx + rdx * 8 - 3]
        lea dx, [rax + rcx + 7]
        lea r8, [rip + data]
        fold r12
        fold r13
        fold rdx
        fold r8
        movzx eax, byte ptr [rsi + 73]          # MOVZX and MOVSX
        movzx r12, word ptr [rsi + 74]
        movzx ecx, bh
        movzx dx, byte ptr [rsi + 75]
        fold rax
        fold r12
        fold rcx
        fold rdx
        movsx rax, byte ptr [rsi + 75]
        movsx r12d, word ptr [rsi + 74]
        movsxd r13, dword ptr [rsi + 84]
        movsx cx, bl
        fold rax
        fold r12
        fold r13
        fold rcx

        push rbx                                # PUSH and POP
        push rcx
        push 0x1234
        push -9
        push qword ptr [rsi + 64]
        pop r8
        pop r9
        pop r10
        pop rcx
        pop rdx
        fold r8
        fold r9
        fold r10
        fold rcx
        fold rdx
        push ax
        pop r8w
        fold r8
        cmp rax, rbx                            # CMOVcc, SETcc
        cmovb r12, rcx
        cmovge r13d, eax
        cmovne cx, dx
        cmova r8, [rsi + 64]
        setg al
        setbe byte ptr [rsi + 90]
        setp dl
        fold r12
        fold r13
        fold rcx
        fold rax
        fold rdx
        fold [rsi + 88]
        mov rax, rbx                            # CBW, CWDE, CDQE, CWD, CDQ, CQO
        cbw
        fold rax
        cwde
        fold rax
        cdqe
        fold rax
        cwd
        fold rdx
        cdq
        fold rdx
        cqo
        fold rdx
        mov eax, ebx                            # INC and DEC
        inc rax
        flags
        dec eax
        flags
        inc byte ptr [rsi + 90]
        dec word ptr [rsi + 74]
        flags
        inc cl
        fold rax
        fold rcx
        imul r12, rbx                           # IMUL's two- and three-operand forms
        flags MULTIPLIED
        imul r13d, [rsi + 8], 0x7777
        flags MULTIPLIED
        imul cx, dx, -3
        flags MULTIPLIED
        fold r12
        fold r13
        fold rcx

        cmp rbx, rcx                            # each condition of Jcc, taken or not
        jo 11f
        add r15, 3
11:     jno 12f
        add r15, 5
12:     cmp ebx, ecx
        jbe 13f
        add r15, 7
13:     ja 14f
        add r15, 9
14:     test rbx, rbx
        js 15f
        add r15, 11
15:     jp 16f
        add r15, 13
16:     cmp rbx, rcx
        jl 17f
        add r15, 17
17:     jge 18f
        add r15, 19
18:     jle 19f
        add r15, 23
19:     jg 20f
        add r15, 29
20:     jae 21f
        add r15, 31
21:     jz 22f
        add r15, 37
22:     rol r15, 5
        mov eax, 0x7FFFFFFF                     # shifts of whole registers by immediates, then their flags:
        add eax, 1                              # OF and AF set before them (what a shift leaves in AF, and in OF past
                                                # one, is undefined: the last quad)
        shl r8, 3
        flags SHIFTED
        shr r9d, 7
        flags SHIFTED
        add eax, 0x7FFFFFFF
        sar r10, 63
        flags SHIFTED
        shl r11d, 1
        flags LOGIC
        sar r12d, 1
        jc 23f
        add r15, 41
23:     fold r8
        fold r9
        fold r10
        fold r11
        fold r12
        mov rax, rbx                            # branches
        and eax, 7
        cmp eax, 3
        jb 1f
        add r15, 11
        jmp 2f
1:      sub r15, 13
2:      test al, 1
        jnz 3f
        call bump
        jmp 4f
3:      lea rcx, [rip + bump]
        call rcx
4:      lea rcx, [rip + 5f]
        mov [rsi + 96], rcx
        jmp qword ptr [rsi + 96]
5:      nop dword ptr [rax + rax * 1 + 0]
        jmp 6f
6:      dec r14d
        jnz round
        hlt

bump:   add r15, rax
        rol r15, 11
        ret
        ud2                                     # the code's end, for DecodedFormsTest's sweep

        .balign 256                             # data apart from code: a store there drops no decoded block
data:
        .long 0x6B43A9B5, 0x00000007
        .quad 0x0000000000001235
        .quad 0x5555AAAA5555AAAA, 0x0123456789ABCDEF
        .quad 0xFEDCBA9876543210, 0x0F0F0F0F0F0F0F0F
        .quad 0xAAAAAAAAAAAAAAAA, 0x3333333333333333
        .quad 0x1111111111111111, 0
        .quad 0, 0
        .quad 0, 0
        .quad 0, 0                              # +112: the stores through FS and GS
        .quad 0                                 # +128: the flags the manuals leave undefined, folded (the last quad)
