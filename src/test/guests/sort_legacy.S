# sort_apx.S without APX: the same insertion sort, sortedness check and checksum over the same 64 quadwords, in
# legacy registers and instructions. Must print exactly what sort_apx.S prints.
        .intel_syntax noprefix
        .code64
        .include "serial.inc"
        .include "sort_report.inc"
        .section .text.start, "ax"
        .globl _start
_start:
        and rsp, -16
        lea rbx, [rip + data]
        mov r8, 0x2545F4914F6CDD1D
        mov r9, 6364136223846793005
        mov r10, 1442695040888963407
        xor r11, r11
fill:   imul r8, r9
        add r8, r10
        mov [rbx + 8*r11], r8
        add r11, 1
        cmp r11, 64
        jb fill

        mov r11, 1
outer:  mov r13, [rbx + 8*r11]
        lea r12, [r11 - 1]
inner:  cmp r12, 0
        jl insert
        mov r14, [rbx + 8*r12]
        cmp r14, r13
        jbe insert
        mov [rbx + 8*r12 + 8], r14
        dec r12
        jmp inner
insert: mov [rbx + 8*r12 + 8], r13
        add r11, 1
        cmp r11, 64
        jb outer

        xor ebp, ebp
        mov r11, 1
check:  mov rdi, [rbx + 8*r11 - 8]
        cmp rdi, [rbx + 8*r11]
        seta al
        movzx eax, al
        add rbp, rax
        add r11, 1
        cmp r11, 64
        jb check

        call checksum
        mov rax, rbp
        mov rdx, r15
        jmp sort_report

checksum:
        mov r15, 0x9E3779B97F4A7C15
        xor ecx, ecx
1:      mov rdx, [rbx + 8*rcx]
        xor r15, rdx
        rol r15, 13
        imul r15, r15, 31
        add rcx, 1
        cmp rcx, 64
        jb 1b
        ret

        .section .bss
        .align 64
data:   .skip 8 * 64
