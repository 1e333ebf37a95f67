# A long deterministic computation for backend handoff tests: fills a 32 KiB buffer from a xorshift64 generator,
# then mixes it in rounds, printing each round's checksum on COM1. Before the first round FXRSTOR loads x87, MXCSR
# and XMM0-15 values the rounds never touch; at the end FXSAVE checks they came through every move. Halfway it
# prints "waiting for input", enables the UART's receive interrupt and sits in HLT (interrupts on) until a byte
# arrives, which it folds into the checksum. Needs one byte of serial input. Plain integer instructions only, plus
# FXRSTOR/FXSAVE, so KVM here runs it natively. Exits through debug-exit with v = the checksum's low 7 bits.
        .intel_syntax noprefix
        .code64
        .include "serial.inc"
        .set BUFFER, 0x200000
        .set QWORDS, 4096
        .set ROUNDS, 24
        .set COM1_IER, 0x3f9
        .set COM1_RBR, 0x3f8
        .section .text.start, "ax"
        .globl _start
_start:
        lea rsi, [rip + hello]
        call puts
        fxrstor [rip + fpu_image]

        # fill: r8 is the xorshift64 state
        mov r8, 0x9E3779B97F4A7C15
        mov rdi, BUFFER
        mov ecx, QWORDS
1:      mov rax, r8
        shl rax, 13
        xor r8, rax
        mov rax, r8
        shr rax, 7
        xor r8, rax
        mov rax, r8
        shl rax, 17
        xor r8, rax
        mov [rdi], r8
        add rdi, 8
        dec ecx
        jnz 1b

        xor r9, r9                 # r9: the running checksum
        xor r12, r12               # r12: round number
round:
        mov rdi, BUFFER
        xor ecx, ecx
2:      mov rax, [rdi + rcx * 8]
        xor rax, r9
        rol rax, 13
        imul rax, rax, 0x2545F491
        lea rdx, [rcx * 8 + 0x238]  # a neighbour: (i * 8 + 568) mod 32 KiB
        and edx, QWORDS * 8 - 1
        xor rax, [rdi + rdx]
        mov [rdi + rcx * 8], rax
        add r9, rax
        ror r9, 3
        inc ecx
        cmp ecx, QWORDS
        jb 2b

        inc r12
        lea rsi, [rip + round_label]
        call puts
        mov rax, r12
        call putdec
        lea rsi, [rip + colon]
        call puts
        mov rax, r9
        call putdec
        lea rsi, [rip + newline]
        call puts
        cmp r12, ROUNDS / 2
        jne 3f
        call wait_for_input
3:      cmp r12, ROUNDS
        jb round

        # the x87/SSE state loaded at the start must have come through unchanged
        fxsave [rip + fpu_check]
        lea rsi, [rip + fpu_image]
        lea rdi, [rip + fpu_check]
        mov ecx, 2                 # FCW, at 0 (compare leaves RSI/RDI past what it compared)
        call compare
        mov ecx, 1                 # FTW (abridged), at 4
        add rsi, 2
        add rdi, 2
        call compare
        add rsi, 19                # MXCSR, at 24 (not MXCSR_MASK at 28: that is the CPU's, 0xFFFF or 0x2FFFF)
        add rdi, 19
        mov ecx, 4
        call compare
        add rsi, 4                 # ST0, at 32: its 10 significant bytes
        add rdi, 4
        mov ecx, 10
        call compare
        add rsi, 118               # XMM0-15, at 160
        add rdi, 118
        mov ecx, 256
        call compare
        lea rsi, [rip + fpu_ok]
        call puts

        lea rsi, [rip + final_label]
        call puts
        mov rax, r9
        call putdec
        lea rsi, [rip + newline]
        call puts
        mov eax, r9d
        and eax, 0x7f
        jmp exit

# compare: RCX bytes at RSI and RDI; on a difference prints its offset in fpu_image and exits with v = 0x7f.
compare:
        mov al, [rsi]
        cmp al, [rdi]
        jne 4f
        inc rsi
        inc rdi
        dec ecx
        jnz compare
        ret
4:      lea rax, [rip + fpu_image]
        sub rsi, rax
        lea rax, [rip + fpu_bad]
        xchg rsi, rax
        call puts
        call putdec
        lea rsi, [rip + newline]
        call puts
        mov eax, 0x7f
        jmp exit

# wait_for_input: HLT with interrupts on until COM1 has a byte, then folds the byte into r9 and prints it.
wait_for_input:
        lea rsi, [rip + waiting]
        call puts
        lea rax, [rip + idt]       # every vector goes to irq: an interrupt, if one is delivered, only masks the UART
        lea rdx, [rip + irq]
        mov ecx, 256
5:      mov [rax], dx
        mov word ptr [rax + 2], 0x08
        mov word ptr [rax + 4], 0x8E00
        mov rbx, rdx
        shr rbx, 16
        mov [rax + 6], bx
        shr rbx, 16
        mov [rax + 8], ebx
        mov dword ptr [rax + 12], 0
        add rax, 16
        dec ecx
        jnz 5b
        lidt [rip + idtr]
        mov dx, COM1_IER
        mov al, 1                  # receive interrupt on: jkvm wakes a halted vCPU when it is raised
        out dx, al
6:      mov dx, COM1_LSR
        in al, dx
        test al, 1
        jnz 7f
        sti
        hlt
        cli
        jmp 6b
7:      mov dx, COM1_IER
        xor eax, eax
        out dx, al
        mov dx, COM1_RBR
        in al, dx
        movzx eax, al
        add r9, rax
        lea rsi, [rip + got]
        call puts
        call putdec
        lea rsi, [rip + newline]
        call puts
        ret

irq:
        push rax
        push rdx
        mov dx, COM1_IER
        xor eax, eax
        out dx, al
        pop rdx
        pop rax
        iretq

        .section .rodata
hello:       .asciz "handoff guest: 24 rounds over 32 KiB\r\n"
round_label: .asciz "round "
colon:       .asciz ": "
newline:     .asciz "\r\n"
waiting:     .asciz "waiting for input\r\n"
got:         .asciz "input byte "
fpu_ok:      .asciz "x87/SSE state intact\r\n"
fpu_bad:     .asciz "x87/SSE state changed at byte "
final_label: .asciz "checksum "

        .section .data
        .balign 16
# FXRSTOR image: FCW 0x027F (53-bit precision), ST0 valid holding 1.5, MXCSR 0x3F80 (round down), XMM0-15 patterns.
fpu_image:
        .short 0x027F, 0           # FCW, FSW
        .byte 0x01, 0              # FTW (abridged): ST0 valid
        .short 0                   # FOP
        .quad 0, 0                 # FIP, FDP
        .long 0x3F80, 0xFFFF       # MXCSR, MXCSR_MASK
        .quad 0xC000000000000000   # ST0 = 1.5: significand
        .short 0x3FFF, 0, 0, 0     #        exponent, padding
        .fill 7 * 16, 1, 0         # ST1-ST7
        .irp n, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15
        .quad 0x0101010101010101 * (\n + 1), 0xA5A5A5A500000000 + \n
        .endr
        .fill 96, 1, 0             # reserved and available
        .balign 16
fpu_check:
        .fill 512, 1, 0
        .balign 8
idtr:   .short 256 * 16 - 1
        .quad idt

        .section .bss
        .balign 16
idt:    .skip 256 * 16
