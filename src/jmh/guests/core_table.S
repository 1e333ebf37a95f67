# bench-core: 40 million multiply/add updates at pseudo-random places of a 256 KiB table (a 64-bit LCG picks each
# qword); RAX is the sum of the table afterwards.
        .include "core_bench.inc"
        .equ TABLE, 0x400000
        .equ QWORDS, 32768
bench:
        mov edi, TABLE
        mov ecx, QWORDS
        xor eax, eax
        rep stosq
        movabs r8, 6364136223846793005
        movabs r9, 1442695040888963407
        mov rax, 12345
        mov ecx, 40000000
1:      imul rax, r8
        add rax, r9
        mov rdx, rax
        shr rdx, 49                     # 15 bits: the qword's index
        add qword ptr [TABLE + rdx * 8], rax
        dec ecx
        jnz 1b
        mov ecx, QWORDS
        xor eax, eax
        mov esi, TABLE
2:      add rax, [rsi]
        add rsi, 8
        dec ecx
        jnz 2b
        ret
