# jkvm's training guest, which `aot-training` runs for the JDK's start-up cache: a loop over the instruction groups a
# guest's hot code reaches beyond the demo's (locked read-modify-writes, SSE2 lanes and SSSE3's PSHUFB where the CPU
# has it, 64x64->128-bit multiplies and divides, string stores, moves and compares), run often enough that the core
# compiles its regions, some on its compiler thread; so the classes those paths load come linked from the cache. It
# checks what the loop left and exits through debug-exit with v = 0 (jkvm exits 1), or v = 1 (exits 3) on a mismatch.
        .intel_syntax noprefix
        .code64
        .include "serial.inc"
        .include "sse.inc"
        .equ ROUNDS, 100000
        .section .text.start, "ax"
        .globl _start
_start:
        sse_on
        mov eax, 1
        cpuid
        and ecx, 1 << 9                 # SSSE3
        mov r13d, ecx
        lea rbx, [rip + counters]
        movdqu xmm2, [rip + step]
        pxor xmm1, xmm1
        mov r12d, ROUNDS
1:      call locked
        call exchange
        call lanes
        call wide
        call divide
        dec r12d
        jnz 1b
        call strings
        jne mismatch
        cmp dword ptr [rbx], 2 * ROUNDS         # LOCK XADD's counter
        jne mismatch
        cmp dword ptr [rbx + 8], ROUNDS         # LOCK CMPXCHG's
        jne mismatch
        cmp qword ptr [rbx + 16], ROUNDS        # LOCK INC's
        jne mismatch
        cmp dword ptr [rbx + 24], 3 * ROUNDS    # LOCK ADD's
        jne mismatch
        cmp qword ptr [rbx + 32], 1             # the last XCHG's: R12 in the last round
        jne mismatch
        xor eax, eax
        jmp exit
mismatch:
        mov al, 1
        jmp exit

locked:
        mov eax, 2
        lock xadd [rbx], eax
        mov eax, [rbx + 8]
        lea edx, [rax + 1]
        lock cmpxchg [rbx + 8], edx
        ret

exchange:
        lock inc qword ptr [rbx + 16]
        lock add dword ptr [rbx + 24], 3
        mov rcx, r12
        xchg [rbx + 32], rcx
        ret

lanes:
        movdqu xmm0, [rbx + 64]
        paddd xmm0, xmm2
        pxor xmm1, xmm0
        pshufd xmm1, xmm1, 0x39
        movdqa xmm3, xmm1
        pslld xmm1, 7
        psrld xmm3, 25
        por xmm1, xmm3
        test r13d, r13d
        jz 2f
        pshufb xmm1, xmm2
2:      pcmpeqb xmm3, xmm0
        pmovmskb eax, xmm3
        movdqu [rbx + 64], xmm1
        movq rax, xmm1
        ret

wide:
        mov rax, r12
        mov rcx, 0x9e3779b97f4a7c15
        mul rcx
        add [rbx + 40], rax
        adc [rbx + 48], rdx
        imul rax, rdx, 13
        ret

divide:
        mov rax, [rbx + 40]
        xor edx, edx
        mov ecx, 1000003
        div rcx
        add [rbx + 56], rdx
        ret

# A page of bytes stored, copied by quadwords and compared; ZF set when the copy matched.
strings:
        lea rdi, [rbx + 256]
        mov ecx, 4096
        mov al, 0x5a
        rep stosb
        lea rsi, [rbx + 256]
        lea rdi, [rbx + 256 + 4096]
        mov ecx, 512
        rep movsq
        lea rsi, [rbx + 256]
        lea rdi, [rbx + 256 + 4096]
        mov ecx, 4096
        repe cmpsb
        ret

        .section .rodata
        .balign 16
step:   .byte 3, 0, 1, 2, 7, 4, 5, 6, 11, 8, 9, 10, 15, 12, 13, 14

        .section .bss
        .balign 64
counters: .skip 256 + 2 * 4096
