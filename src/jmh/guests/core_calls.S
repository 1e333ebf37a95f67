# bench-core: call and return heavy: the naive recursive Fibonacci of 32 (7 million calls); RAX is fib(32), 2178309.
        .include "core_bench.inc"
bench:
        mov edi, 32
fib:                                    # RAX = fib(RDI)
        cmp rdi, 2
        jae 1f
        mov rax, rdi
        ret
1:      push rdi
        dec rdi
        call fib
        pop rdi
        push rax
        push rdi
        sub rdi, 2
        call fib
        pop rdi
        pop rdx
        add rax, rdx
        ret
