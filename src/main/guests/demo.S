# jkvm's bundled demo guest: entered in 64-bit long mode per the entry contract (README). It prints a banner,
# the CPU vendor and family/model CPUID reports, checks memory across 16 pages below the stack, and exits
# through debug-exit with v = 0 (jkvm exits 1), or v = 1 (exits 3) if memory did not read back.
        .intel_syntax noprefix
        .code64
        .include "serial.inc"
        .section .text.start, "ax"
        .globl _start
_start:
        lea rsi, [rip + banner]
        call puts

        xor eax, eax
        cpuid
        lea rdi, [rip + vendor]
        mov [rdi], ebx
        mov [rdi + 4], edx
        mov [rdi + 8], ecx
        lea rsi, [rip + vendor_label]
        call puts
        lea rsi, [rip + vendor]
        call puts

        mov eax, 1
        cpuid
        mov ebx, eax             # family = EAX[11:8] (+ EAX[27:20] when 0xF)
        shr ebx, 8
        and ebx, 0xf
        mov ecx, eax             # model = EAX[7:4] (+ EAX[19:16] << 4 from family 6 on, as Linux decodes it)
        shr ecx, 4
        and ecx, 0xf
        cmp ebx, 0xf
        jne 1f
        mov edx, eax
        shr edx, 20
        and edx, 0xff
        add ebx, edx
1:      cmp ebx, 6
        jb 3f
        mov edx, eax
        shr edx, 16
        and edx, 0xf
        shl edx, 4
        add ecx, edx
3:      lea rsi, [rip + family_label]
        call puts
        mov eax, ebx
        call putdec
        lea rsi, [rip + model_label]
        call puts
        mov eax, ecx
        call putdec
        lea rsi, [rip + newline]
        call puts

        # Memory: 16 pages ending 64 KiB below the stack, a pattern at each page's start and its address at the end.
        mov r8, rsp
        sub r8, 0x10000
        and r8, -4096
        sub r8, 16 * 4096
        mov rdi, r8
        mov ecx, 16
        mov rax, 0x0123456789abcdef
4:      mov [rdi], rax
        mov [rdi + 4088], rdi
        add rdi, 4096
        rol rax, 7
        dec ecx
        jnz 4b
        mov rdi, r8
        mov ecx, 16
        mov rax, 0x0123456789abcdef
5:      cmp [rdi], rax
        jne memory_bad
        cmp [rdi + 4088], rdi
        jne memory_bad
        add rdi, 4096
        rol rax, 7
        dec ecx
        jnz 5b
        lea rsi, [rip + memory_ok]
        call puts
        lea rsi, [rip + goodbye]
        call puts
        xor eax, eax
        jmp exit

memory_bad:
        lea rsi, [rip + memory_fail]
        call puts
        mov al, 1
        jmp exit


        .section .rodata
banner:       .asciz "jkvm demo guest: hello from 64-bit long mode\r\n"
vendor_label: .asciz "CPU vendor: "
family_label: .asciz "\r\nCPU family "
model_label:  .asciz " model "
newline:      .asciz "\r\n"
memory_ok:    .asciz "memory: 16 pages written and read back\r\n"
memory_fail:  .asciz "memory: MISMATCH\r\n"
goodbye:      .asciz "exiting through debug-exit (v=0)\r\n"

        .section .bss
vendor: .skip 16
