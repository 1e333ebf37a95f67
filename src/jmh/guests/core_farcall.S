# bench-core: a loop at the end of one page that calls a leaf function at the start of the next: 50 million rounds of
# 10 instructions (500 million instructions); RAX is the sum of the function's results.
        .include "core_bench.inc"
bench:
        mov ecx, 50000000
        xor eax, eax
        mov rsi, 0x12345
        jmp 1f
        .balign 4096
        .skip 4096 - 64                 # the loop ends well before the page's end; mix starts the next page
1:      mov rdi, rsi
        call mix
        add rax, rdx
        dec ecx
        jnz 1b
        ret
        .balign 4096
mix:                                    # RDX = 31 * RDI ^ RCX, plus RDI / 8
        imul rdx, rdi, 31
        xor rdx, rcx
        shr rdi, 3
        add rdx, rdi
        ret
