# bench-core: a loop whose body crosses the end of a page, one of its instructions split between the two: 100 million
# iterations of 9 instructions (900 million instructions); RAX as core_loop's.
        .include "core_bench.inc"
bench:
        mov ecx, 100000000
        xor eax, eax
        xor edx, edx
        jmp 1f
        .balign 4096
        .skip 4096 - 11                 # the loop's fourth instruction (IMUL, 4 bytes) starts 2 bytes before the end
1:      add rax, rcx
        xor rdx, rax
        add rax, rdx
        imul rdx, rax, 3
        sub rax, rdx
        xor rdx, rcx
        add rax, 1
        dec rcx
        jnz 1b
        xor rax, rdx
        ret
