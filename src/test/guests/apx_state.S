# apx_test.c's three cases as one guest, with XSAVE/XRSTOR standing in for the host's KVM_GET/SET_XSAVE:
# (a) R16-R31 written by the guest appear in its XSAVE image at CPUID.(0xD,19).EBX, with XSTATE_BV[19] set;
# (b) values put into that image come back into R16-R31 through XRSTOR; (c) they survive XCR0[APX] going off and
# on again. Prints one line per case and exits with v = 0 (status 1), or names the case that failed (v = 1).
        .intel_syntax noprefix
        .code64
        .include "serial.inc"
        .include "apx.inc"
        .section .text.start, "ax"
        .globl _start
_start:
        and rsp, -16
        xor ecx, ecx
        mov eax, 0x80003            # XCR0 = x87 | SSE | APX
        xor edx, edx
        xsetbv
        mov eax, 0xd
        mov ecx, 19
        cpuid
        lea rsi, [rip + bad_size]
        cmp eax, 128                # component 19: 16 registers of 8 bytes
        jne fail
        mov r12d, ebx               # its offset in the standard format: taken from CPUID, never assumed
        lea rdi, [rip + area]

        .irp n, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31
        MOVQ_IMM \n, (0xA5A5000000000000+\n*0x10001)
        .endr
        mov eax, -1
        mov edx, -1
        xsave [rdi]
        lea rsi, [rip + case_a]
        bt qword ptr [rdi + 512], 19  # XSTATE_BV[19]
        jnc fail
        .irp n, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31
        mov rax, 0xA5A5000000000000 + \n * 0x10001
        cmp [rdi + r12 + (\n - 16) * 8], rax
        jne fail
        .endr
        call puts

        .irp n, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31
        mov rax, 0x5A5A000000000000 + \n * 0x1000001
        mov [rdi + r12 + (\n - 16) * 8], rax
        .endr
        mov eax, -1
        mov edx, -1
        xrstor [rdi]
        lea rsi, [rip + case_b]
        call check_b
        call puts

        xor ecx, ecx
        mov eax, 3                  # APX off: R16-R31 become unreachable but keep their values
        xor edx, edx
        xsetbv
        mov eax, 0x80003
        xsetbv
        lea rsi, [rip + case_c]
        call check_b
        call puts
        xor eax, eax
        jmp exit

# check_b: R16-R31 hold case (b)'s values, or jumps to fail with RSI naming the case.
check_b:
        .irp n, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31
        mov rax, 0x5A5A000000000000 + \n * 0x1000001
        REX2_RR 0, 1, 0x39, 0, \n   # cmp r\n, rax
        jne fail
        .endr
        ret

fail:   push rsi
        lea rsi, [rip + failed]
        call puts
        pop rsi
        call puts
        mov al, 1
        jmp exit

        .section .rodata
bad_size: .asciz "apx_test: CPUID.(0xD,19).EAX is not 128\r\n"
case_a:   .asciz "apx_test (a): R16-R31 in the XSAVE image at CPUID.(0xD,19).EBX\r\n"
case_b:   .asciz "apx_test (b): R16-R31 loaded from the XSAVE image\r\n"
case_c:   .asciz "apx_test (c): R16-R31 kept while XCR0[APX] was off\r\n"
failed:   .asciz "FAILED: "
        .section .bss
        .align 64
area:   .skip 4096
