# The forms decoded blocks run besides ALU, moves and branches: group 3's MUL, IMUL, DIV and IDIV (registers and
# memory, 8 to 64 bits), PAUSE, the fences, RDTSC, LEAVE (also 16-bit), PUSHF, BT/BTS/BTR/BTC (immediate and register
# bit offsets, a register offset reaching below and past a memory operand), MOV from a segment register, BSWAP (32 and
# 64 bits, a REX.B register too), CLI, and the forms compiled blocks run besides those: NOT, NEG, shifts and rotates by CL
# (a count of 0 too). A loop of ROUNDS rounds over an LCG in RBX folds what each leaves (results, flags) into R15; R12
# counts RDTSC readings that went backwards. Then HLT. The test runs it with the interpreter alone, in decoded blocks
# and compiled, and compares.
        .intel_syntax noprefix
        .code64
        .section .text.start, "ax"
        .globl _start
        .equ ROUNDS, 3000
_start:
        mov rbx, 0x2545F4914F6CDD1D
        xor r15d, r15d
        xor r12d, r12d
        xor r13d, r13d
        mov r14d, ROUNDS
        lea rsi, [rip + data]
round:
        imul rbx, rbx, 0x5851F42D
        add rbx, 0x14057B7E

        mov rax, rbx                            # MUL r64, then its CF/OF
        mov rcx, 0x9E3779B97F4A7C15
        mul rcx
        seto cl
        add r15, rax
        add r15, rdx
        add r15, rcx
        mov eax, ebx                            # IMUL m32, one operand
        imul dword ptr [rsi]
        setc cl
        add r15, rax
        xor r15, rdx
        add r15, rcx
        mov ax, bx                              # MUL r16
        mov cx, 0x7FFF
        mul cx
        add r15, rax
        add r15, rdx
        mov al, bl                              # IMUL r8
        mov cl, -3
        imul cl
        add r15, rax

        mov rax, rbx                            # DIV r64
        xor edx, edx
        mov rcx, rbx
        shr rcx, 40
        or rcx, 1
        div rcx
        add r15, rax
        add r15, rdx
        mov eax, ebx                            # IDIV r32
        cdq
        mov ecx, -1234567
        idiv ecx
        add r15, rax
        add r15, rdx
        mov ax, 1000                            # DIV m8
        div byte ptr [rsi + 4]
        add r15, rax
        mov rax, rbx                            # IDIV m64
        cqo
        idiv qword ptr [rsi + 8]
        add r15, rax
        add r15, rdx

        pause
        lfence
        mfence
        sfence

        rdtsc                                   # RDTSC: never backwards
        shl rdx, 32
        or rax, rdx
        cmp rax, r13
        adc r12, 0
        mov r13, rax

        mov rax, rbx                            # BT family, immediate and register offsets
        bt rax, 17
        setc cl
        add r15, rcx
        bts eax, 9
        btr rax, 63
        btc ax, 3
        add r15, rax
        mov ecx, ebx
        btc rax, rcx
        bts eax, ecx
        sbb rdx, rdx
        add r15, rax
        add r15, rdx
        btr qword ptr [rsi + 16], 5
        bts word ptr [rsi + 24], 15
        movsx rcx, bl                           # a register offset of -128..127 bits: 16 bytes either side
        btc qword ptr [rsi + 48], rcx
        sbb rdx, rdx
        add r15, rdx
        movsx ecx, bh
        bt dword ptr [rsi + 48], ecx
        adc r15, 0
        movsx cx, bl
        bts word ptr [rsi + 48], cx
        adc r15, [rsi + 32]
        add r15, [rsi + 48]
        add r15, [rsi + 64]

        mov rax, rbx                            # BSWAP: 64 bits, 32 (zero-extended), and R9
        bswap rax
        add r15, rax
        mov rax, rbx
        bswap eax
        add r15, rax
        mov r9, rbx
        bswap r9
        xor r15, r9

        pushfq                                  # CLI at CPL 0 clears IF, which POPF sets first (nothing interrupts
        or qword ptr [rsp], 0x200               # this machine); the PUSHF below reads it
        popfq
        cli

        mov eax, ss                             # MOV from segment registers
        add r15, rax
        mov rax, cs
        add r15, rax
        mov word ptr [rsi + 80], ds
        movzx eax, word ptr [rsi + 80]
        add r15, rax

        test bl, bl                             # PUSHF, after flags set by TEST
        pushfq
        pop rax
        and eax, 0xAC5                          # OF IF SF ZF PF CF: AF is undefined after TEST
        add r15, rax

        push rbp                                # LEAVE, and its 16-bit form
        mov rbp, rsp
        sub rsp, 40
        mov [rbp - 8], rbx
        leave
        add r15, rsp
        mov rdx, rbp
        sub rsp, 2
        mov word ptr [rsp], bx
        mov rbp, rsp
        .byte 0x66, 0xC9                        # LEAVE with 66: BP from a 16-bit pop
        add r15, rbp
        mov rbp, rdx

        mov ecx, ebx                            # shifts and rotates by CL: counts 0-31 and 64-95, 0 among them
        shr ecx, 11                             # (an LCG's low bits have short periods: RBX stays odd)
        and ecx, 0x5F
        mov rax, rbx
        cmp eax, 7                              # the flags a count of 0 leaves as they were
        shl rax, cl
        pushfq
        pop rdx
        and edx, 0xC5                           # SF, ZF, PF, CF: OF and AF are undefined after most counts
        add r15, rdx
        add r15, rax
        mov rdx, rbx
        sar edx, cl                             # 32 bits: zero-extended even by a count of 0
        add r15, rdx
        rol qword ptr [rsi + 80], cl
        add r15, [rsi + 80]
        ror dword ptr [rsi + 88], cl
        adc r15, [rsi + 88]
        not rax                                 # NOT and NEG
        add r15, rax
        not dword ptr [rsi + 84]
        add r15, [rsi + 80]
        neg edx
        adc r15, rdx
        neg qword ptr [rsi + 88]
        adc r15, [rsi + 88]
        xor qword ptr [rsi + 80], rbx

        dec r14d
        jnz round
        xor eax, eax                            # RDTSC's readings differ run to run
        xor edx, edx
        xor r13d, r13d
        hlt
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
