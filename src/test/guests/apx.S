# An APX guest: enables XCR0[APX] with XSETBV, writes R16..R31 (REX2-encoded by hand: GNU as 2.40 has no APX),
# sums them into RAX through REX2 ADDs and checks the sum; prints the result and exits with v = 0 (status 1).
        .intel_syntax noprefix
        .code64
        .include "serial.inc"
        .section .text.start, "ax"
        .globl _start
_start:
        xor ecx, ecx
        mov eax, 0x80003            # x87 | SSE | APX
        xor edx, edx
        xsetbv
        # mov r16..r31, 16..31: d5 18+B3 b8+reg imm64
        .irp n, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31
        .byte 0xd5, 0x18 | ((\n & 8) >> 3), 0xb8 + (\n & 7)
        .quad \n
        .endr
        xor eax, eax
        # add rax, r16..r31: d5 (B4|W|B3) 03 (modrm 11 reg=rax rm=n)
        .irp n, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31
        .byte 0xd5, 0x18 | ((\n & 8) >> 3), 0x03, 0xc0 + (\n & 7)
        .endr
        cmp rax, 376                # 16 + 17 + ... + 31
        jne bad
        lea rsi, [rip + ok]
        call puts
        xor eax, eax
        jmp exit
bad:    lea rsi, [rip + fail]
        call puts
        mov al, 1
        jmp exit
        .section .rodata
ok:     .asciz "APX: R16-R31 written and read back\r\n"
fail:   .asciz "APX: MISMATCH\r\n"
