# bench-core: the sieve of Eratosthenes over 4 million numbers, 8 times: REP STOSB to set the flags, byte loads and
# stores to strike the multiples; RAX is the count of primes found in the last round (283,146).
        .include "core_bench.inc"
        .equ N, 4000000
        .equ FLAGS, 0x400000
bench:
        mov r8d, 8
1:      mov edi, FLAGS
        mov ecx, N
        mov al, 1
        rep stosb
        xor r9d, r9d                    # primes counted
        mov esi, 2
2:      cmp byte ptr [FLAGS + rsi], 0
        je 4f
        inc r9
        mov rdi, rsi
        imul rdi, rsi
        cmp rdi, N
        jae 4f
3:      mov byte ptr [FLAGS + rdi], 0
        add rdi, rsi
        cmp rdi, N
        jb 3b
4:      inc esi
        cmp esi, N
        jb 2b
        dec r8d
        jnz 1b
        mov rax, r9
        ret
