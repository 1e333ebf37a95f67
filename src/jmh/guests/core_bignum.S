# bench-core: multi-precision multiply-accumulate, as a bignum library's inner loop (Linux's mpihelp_mul_1 in
# assembly): 200000 passes of x = x * k over a 256-limb number, each limb a 64x64->128-bit MUL with its carry added
# (51 million MULs); RAX is the XOR of the limbs afterwards.
        .include "core_bench.inc"
        .equ LIMBS, 0x400000
        .equ COUNT, 256
bench:
        mov edi, LIMBS
        mov ecx, COUNT
        movabs rax, 0x9E3779B97F4A7C15
1:      mov [rdi + rcx * 8 - 8], rax
        rol rax, 7
        dec ecx
        jnz 1b
        movabs r10, 0xD6E8FEB86659FD93
        mov r8d, 200000
2:      xor r9d, r9d                    # the carry limb
        xor ecx, ecx
3:      mov rax, [rdi + rcx * 8]
        mul r10
        add rax, r9
        adc rdx, 0
        mov [rdi + rcx * 8], rax
        mov r9, rdx
        inc ecx
        cmp ecx, COUNT
        jne 3b
        dec r8d
        jnz 2b
        xor eax, eax
        mov ecx, COUNT
4:      xor rax, [rdi + rcx * 8 - 8]
        dec ecx
        jnz 4b
        ret
