# scripts/bench-sandbox: the guest's own clock (TSC) around 100,000 port exits (OUT to port 0x80, which the machine
# ignores) and around 500,000 iterations of a 4-instruction loop; prints "pio" and "loop" with the TSC ticks each
# took, in hex, on COM1, then exits through debug-exit with 0 (status 1).
        .intel_syntax noprefix
        .code64
        .section .text.start, "ax"
        .globl _start
_start:
        cld
        call now
        mov r12, rax
        mov ecx, 100000
1:      out 0x80, al
        dec ecx
        jnz 1b
        call now
        sub rax, r12
        lea rsi, [rip + pio]
        call report
        call now
        mov r12, rax
        mov ecx, 500000
        xor eax, eax
        xor edx, edx
2:      add rax, rcx
        xor rdx, rax
        dec rcx
        jnz 2b
        call now
        sub rax, r12
        lea rsi, [rip + loop]
        call report
        xor eax, eax
        out 0xf4, eax
        cli
        hlt

now:                                    # RAX: the TSC
        rdtsc
        shl rdx, 32
        or rax, rdx
        ret

report:                                 # RSI: a label; RAX: a value printed as 16 hex digits and a newline
        mov rbx, rax
        mov dx, 0x3f8
3:      lodsb
        test al, al
        jz 4f
        out dx, al
        jmp 3b
4:      mov ecx, 16
5:      rol rbx, 4
        mov eax, ebx
        and eax, 0xf
        lea rdi, [rip + hexdigits]
        mov al, [rdi + rax]
        out dx, al
        dec ecx
        jnz 5b
        mov al, 10
        out dx, al
        ret

pio:    .asciz "pio "
loop:   .asciz "loop "
hexdigits: .ascii "0123456789abcdef"
