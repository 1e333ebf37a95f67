# MIPS benchmark (b): RDI passes of a mixed workload over a 4 KiB buffer: an LCG fill (multiplies), a copy through
# a called function, and a checksum with shifts, rotates, multiplies and data-dependent branches; then OUT 0x80
# with the checksum's low byte, and HLT.
        .intel_syntax noprefix
        .code64
        .section .text.start, "ax"
        .globl _start
_start:
        mov r15, rdi
        mov rbx, 0x2545F4914F6CDD1D
        xor r14, r14
pass:
        lea rdi, [rip + src]
        mov ecx, 512
        mov r8, 6364136223846793005
        mov r9, 1442695040888963407
fill:   imul rbx, r8
        add rbx, r9
        mov [rdi], rbx
        add rdi, 8
        dec ecx
        jnz fill

        lea rsi, [rip + src]
        lea rdi, [rip + dst]
        mov ecx, 512
        call copy

        lea rsi, [rip + dst]
        mov ecx, 512
sum:    mov rax, [rsi]
        xor r14, rax
        rol r14, 13
        test al, 1
        jz even
        imul r14, r14, 31
        jmp next
even:   shr rax, 3
        add r14, rax
next:   add rsi, 8
        dec ecx
        jnz sum

        dec r15
        jnz pass
        mov eax, r14d
        out 0x80, al
        hlt

# copy: RCX qwords from [RSI] to [RDI].
copy:   mov rax, [rsi]
        mov [rdi], rax
        add rsi, 8
        add rdi, 8
        dec ecx
        jnz copy
        ret

        .section .bss
        .align 64
src:    .skip 4096
dst:    .skip 4096
