# bench-core: a tight 4-instruction integer loop, 300 million iterations (1.2 billion instructions).
        .include "core_bench.inc"
bench:
        mov ecx, 300000000
        xor eax, eax
        xor edx, edx
1:      add rax, rcx
        xor rdx, rax
        dec rcx
        jnz 1b
        xor rax, rdx
        ret
