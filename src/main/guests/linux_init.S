# /init of the initramfs the Linux cache's training boots (`aot-training --linux`): a static x86-64 Linux program
# without libc, so the training's profiles cover a kernel running user space (system calls, user page faults, fork's
# copy-on-write, execve, context switches with their FPU state and TLS base) as a user's guest does. As PID 1 it starts
# itself again with an argument (fork, execve) CHILDREN times and waits for each; each child sets its TLS base, maps
# MAPPING bytes and writes every page, reads /init into them, hashes them with rotates, adds and XORs (as SHA-1's
# rounds do), counts their zero bytes with SSE2's PCMPEQB and PMOVMSKB and again a byte at a time, runs string functions
# as glibc's SSE2, SSSE3 and SSE4.2 ones do and what else compiled C code has (loads through FS, 16-bit stores, fences),
# asks the time and its pid, and exits with 0 when the counts agree, the read gave /init's bytes and every other check
# holds. PID 1 powers
# the machine off once every child exited with 0, else exits, and the kernel panics (jkvm exits 2).
        .intel_syntax noprefix
        .equ SYS_READ, 0
        .equ SYS_OPEN, 2
        .equ SYS_CLOSE, 3
        .equ SYS_MMAP, 9
        .equ SYS_MUNMAP, 11
        .equ SYS_GETPID, 39
        .equ SYS_FORK, 57
        .equ SYS_EXECVE, 59
        .equ SYS_WAIT4, 61
        .equ SYS_ARCH_PRCTL, 158
        .equ SYS_REBOOT, 169
        .equ SYS_CLOCK_GETTIME, 228
        .equ SYS_EXIT_GROUP, 231
        .equ ARCH_SET_FS, 0x1002
        .equ CHILDREN, 8
        .equ MAPPING, 0x100000
        .equ HASH_PASSES, 4
        .equ STRINGS, 0x80000
        .equ STRING_LENGTH, 4095
        .equ COPY, 0x2000
        .equ STRING_ROUNDS, 100
        .text
        .globl _start
_start:
        cmp qword ptr [rsp], 1                  # argc: a child is started with one argument
        ja child
        mov r12d, CHILDREN
1:      mov eax, SYS_FORK
        syscall
        test rax, rax
        js failed
        jz start_child
        mov rdi, -1                             # wait4(-1, &status, 0, NULL)
        lea rsi, [rip + status]
        xor edx, edx
        xor r10d, r10d
        mov eax, SYS_WAIT4
        syscall
        test rax, rax
        js failed
        cmp dword ptr [rip + status], 0         # exited, with 0
        jne failed
        dec r12d
        jnz 1b
        mov edi, 0xfee1dead                     # reboot(MAGIC1, MAGIC2, LINUX_REBOOT_CMD_POWER_OFF)
        mov esi, 672274793
        mov edx, 0x4321fedc
        xor r10d, r10d
        mov eax, SYS_REBOOT
        syscall
failed:
        mov edi, 1                              # PID 1 exits: the kernel panics
        mov eax, SYS_EXIT_GROUP
        syscall

start_child:
        lea rdi, [rip + path]
        lea rsi, [rip + child_argv]
        lea rdx, [rip + child_envp]
        mov eax, SYS_EXECVE
        syscall
        mov edi, 127
        mov eax, SYS_EXIT_GROUP
        syscall

child:
        mov edi, ARCH_SET_FS
        lea rsi, [rip + tls]
        mov eax, SYS_ARCH_PRCTL
        syscall
        test rax, rax
        jnz child_failed
        xor edi, edi                            # mmap(NULL, MAPPING, READ|WRITE, PRIVATE|ANONYMOUS, -1, 0)
        mov esi, MAPPING
        mov edx, 3
        mov r10d, 0x22
        mov r8, -1
        xor r9d, r9d
        mov eax, SYS_MMAP
        syscall
        cmp rax, -4096
        ja child_failed
        mov rbx, rax
        xor ecx, ecx                            # every page written: a fault each
2:      mov rdx, rcx
        shl rdx, 12
        mov [rbx + rdx], rcx
        inc ecx
        cmp ecx, MAPPING / 4096
        jb 2b
        lea rdi, [rip + path]                   # /init read into the pages: the kernel's copies to user pages
        xor esi, esi
        mov eax, SYS_OPEN
        syscall
        test rax, rax
        js child_failed
        mov r13, rax
        mov rdi, rax
        mov rsi, rbx
        mov edx, MAPPING
        mov eax, SYS_READ
        syscall
        mov r14, rax
        mov rdi, r13
        mov eax, SYS_CLOSE
        syscall
        cmp r14, 4                              # /init's bytes: an ELF file's magic first
        jb child_failed
        cmp dword ptr [rbx], 0x464c457f
        jne child_failed
        mov r13d, HASH_PASSES                   # rotates, adds and XORs over every dword
        mov r8d, 0x67452301
        mov r9d, 0xefcdab89
        mov r10d, 0x98badcfe
3:      mov rsi, rbx
        mov ecx, MAPPING / 4
4:      mov edx, [rsi]
        rol r8d, 5
        add r8d, edx
        xor r9d, r8d
        rol r9d, 30
        add r10d, r9d
        ror r10d, 7
        add rsi, 4
        dec ecx
        jnz 4b
        dec r13d
        jnz 3b
        mov [rip + digest], r8d
        mov [rip + digest + 4], r9d
        mov [rip + digest + 8], r10d
        pxor xmm1, xmm1                         # zero bytes by SSE2, 16 at a time
        xor r11d, r11d
        mov rsi, rbx
        mov ecx, MAPPING / 16
5:      movdqu xmm0, [rsi]
        pcmpeqb xmm0, xmm1
        pmovmskb eax, xmm0
6:      test eax, eax                           # the mask's bits counted
        jz 7f
        lea edx, [rax - 1]
        and eax, edx
        inc r11d
        jmp 6b
7:      add rsi, 16
        dec ecx
        jnz 5b
        xor r12d, r12d                          # and a byte at a time
        mov rsi, rbx
        mov ecx, MAPPING
8:      cmp byte ptr [rsi], 0
        jne 9f
        inc r12d
9:      inc rsi
        dec ecx
        jnz 8b
        cmp r11d, r12d
        jne child_failed
        call strings
        mov edi, 1                              # clock_gettime(CLOCK_MONOTONIC, &time)
        lea rsi, [rip + time]
        mov eax, SYS_CLOCK_GETTIME
        syscall
        test rax, rax
        jnz child_failed
        mov eax, SYS_GETPID
        syscall
        cmp rax, 1
        jle child_failed
        mov rdi, rbx
        mov esi, MAPPING
        mov eax, SYS_MUNMAP
        syscall
        xor edi, edi
        mov eax, SYS_EXIT_GROUP
        syscall
child_failed:
        mov edi, 1
        mov eax, SYS_EXIT_GROUP
        syscall

# String functions as glibc's SSE2 and SSE4.2 ones make them, STRING_ROUNDS times over a string of STRING_LENGTH
# letters at STRINGS in the mapping (RBX): strlen by PMINUB, PCMPEQB, PMOVMSKB and BSF; memchr by a broadcast byte
# (PUNPCKLBW, PUNPCKLWD, PSHUFD); memcpy by MOVDQU loads and MOVDQA stores and by REP MOVSB, checked by REPE CMPSB;
# memset by REP STOSB; strcmp of the copy by PCMPISTRI where the CPU has SSE4.2. A wrong answer fails the child.
strings:
        lea rdi, [rbx + STRINGS]                # the letters, a to z over and over, then a NUL
        xor ecx, ecx
1:      mov eax, ecx
        xor edx, edx
        mov r8d, 26
        div r8d
        add dl, 'a'
        mov [rdi + rcx], dl
        inc ecx
        cmp ecx, STRING_LENGTH
        jb 1b
        mov byte ptr [rdi + rcx], 0
        push rbx
        mov eax, 1
        cpuid
        pop rbx
        and ecx, 1 << 20                        # SSE4.2
        mov r14d, ecx
        mov r15d, STRING_ROUNDS
2:      lea rdi, [rbx + STRINGS]                # strlen
        pxor xmm1, xmm1
        mov rax, rdi
3:      movdqa xmm0, [rax]
        pminub xmm0, [rax + 16]
        pcmpeqb xmm0, xmm1
        pmovmskb edx, xmm0
        test edx, edx
        jnz 4f
        add rax, 32
        jmp 3b
4:      movdqa xmm0, [rax]
        pcmpeqb xmm0, xmm1
        pmovmskb edx, xmm0
        test edx, edx
        jnz 5f
        add rax, 16
        movdqa xmm0, [rax]
        pcmpeqb xmm0, xmm1
        pmovmskb edx, xmm0
5:      bsf edx, edx
        add rax, rdx
        sub rax, rdi
        cmp rax, STRING_LENGTH
        jne child_failed
        mov eax, 'z'                            # memchr: the first z, the 26th letter
        movd xmm2, eax
        punpcklbw xmm2, xmm2
        punpcklwd xmm2, xmm2
        pshufd xmm2, xmm2, 0
        mov rax, rdi
6:      movdqa xmm0, [rax]
        pcmpeqb xmm0, xmm2
        pmovmskb edx, xmm0
        test edx, edx
        jnz 7f
        add rax, 16
        jmp 6b
7:      bsf edx, edx
        add rax, rdx
        sub rax, rdi
        cmp rax, 25
        jne child_failed
        lea rsi, [rbx + STRINGS]                # memcpy, 16 bytes at a time, the NUL too
        lea rdi, [rbx + STRINGS + COPY]
        xor eax, eax
8:      movdqu xmm0, [rsi + rax]
        movdqa [rdi + rax], xmm0
        add rax, 16
        cmp rax, STRING_LENGTH + 1
        jb 8b
        lea rdi, [rbx + STRINGS + COPY + COPY]  # and by REP MOVSB
        mov ecx, STRING_LENGTH + 1
        rep movsb
        lea rsi, [rbx + STRINGS + COPY]
        lea rdi, [rbx + STRINGS + COPY + COPY]
        mov ecx, STRING_LENGTH + 1
        repe cmpsb
        jne child_failed
        lea rdi, [rbx + STRINGS + 3 * COPY]     # memset
        mov eax, 0x55
        mov ecx, COPY
        rep stosb
        test r14d, r14d
        jz 10f
        lea rsi, [rbx + STRINGS]                # strcmp: equal each, negative polarity, to the NUL
        lea rdi, [rbx + STRINGS + COPY]
        xor edx, edx
9:      movdqu xmm0, [rsi + rdx]
        pcmpistri xmm0, [rdi + rdx], 0x18
        jc child_failed                         # a byte that differs
        jz 10f                                  # the NUL: equal
        add rdx, 16
        jmp 9b
10:     call extras
        dec r15d
        jnz 2b
        ret

# What else a compiled C program's code has: loads through FS (the TLS block, the stack protector's canary), 16-bit
# stores and read-modify-writes, the three fences, XGETBV where the OS has enabled XSAVE, PSHUFB with a mask that is
# no lane rotation and PALIGNR where the CPU has SSSE3, strspn and strcspn by PCMPISTRI where it has SSE4.2.
extras:
        mov rax, fs:[0]                         # the TLS block's pointer to itself
        lea rdx, [rip + tls]
        cmp rax, rdx
        jne child_failed
        mov rax, fs:[0x28]
        cmp rax, [rip + tls + 0x28]
        jne child_failed
        lea rdi, [rbx + STRINGS + 3 * COPY]
        mov ax, 0x1234
        mov [rdi], ax
        add word ptr [rdi], 0x0101
        movzx eax, word ptr [rdi]
        cmp eax, 0x1335
        jne child_failed
        mfence
        lfence
        sfence
        push rbx
        mov eax, 1
        cpuid
        pop rbx
        mov r13d, ecx
        bt r13d, 27                             # OSXSAVE: XCR0 has x87 and SSE
        jnc 1f
        xor ecx, ecx
        xgetbv
        and eax, 3
        cmp eax, 3
        jne child_failed
1:      bt r13d, 9                              # SSSE3
        jnc 2f
        movdqa xmm0, [rip + letters]
        movdqa xmm4, xmm0
        pshufb xmm0, [rip + reversed]           # the bytes reversed, twice: as they were
        pshufb xmm0, [rip + reversed]
        pcmpeqb xmm0, xmm4
        pmovmskb eax, xmm0
        cmp eax, 0xffff
        jne child_failed
        movdqa xmm0, xmm4
        palignr xmm0, xmm4, 1                   # the bytes from the second on, then the first
        movd eax, xmm0
        cmp eax, 0x65646362                     # "bcde"
        jne child_failed
2:      bt r13d, 20                             # SSE4.2
        jnc 3f
        movdqa xmm3, [rip + set]
        pcmpistri xmm3, [rip + spanned], 0x10   # strspn: equal any, negative polarity
        cmp ecx, 9
        jne child_failed
        pcmpistri xmm3, [rip + spanned + 16], 0 # strcspn: equal any
        cmp ecx, 3
        jne child_failed
3:      ret

        .data
path:   .asciz "/init"
argument:
        .asciz "child"
        .balign 8
child_argv:
        .quad path, argument, 0
child_envp:
        .quad 0
status: .long 0
        .balign 16
tls:    .quad tls                               # a TLS block's first word points at itself, as the x86-64 ABI's does
        .quad 0, 0, 0, 0
        .quad 0x2f8a1c7d5e934b60                # at 0x28: the stack protector's canary
letters:
        .ascii "abcdefghijklmnop"
reversed:
        .byte 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0
set:    .asciz "abc"
        .balign 16
spanned:
        .asciz "abcabcabcxyz"
        .balign 16
        .asciz "xyzbxyz"
        .balign 16
digest: .long 0, 0, 0
        .balign 8
time:   .quad 0, 0
