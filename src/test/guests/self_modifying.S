# Self-modifying code against the software core's decoded-block cache: each part rewrites code that already ran,
# or that the running block already decoded, and keeps what the rewritten code did in R8-R11 (the value stale
# decoded code would give is in each comment). Then OUT 0x80 with what host_patched returns, OUT 0x81 with what it
# returns after the host rewrote its immediate (at 0x100801) between the two runs, and HLT.
        .intel_syntax noprefix
        .code64
        .section .text.start, "ax"
        .globl _start
_start:
        # (a) same page: a loop adds 10 to the immediate of an instruction it ran, in its own block
        mov ecx, 3
        xor ebx, ebx
1:
patch_a:
        mov eax, 1
        add ebx, eax
        add dword ptr [rip + patch_a + 1], 10
        dec ecx
        jnz 1b
        mov r8d, ebx                            # 1 + 11 + 21 = 33 (stale: 1 + 11 + 11)

        # (b) same block, ahead: a store rewrites an instruction decoded with it but not run yet
        mov byte ptr [rip + patch_b + 1], 7
patch_b:
        mov eax, 1
        mov r9d, eax                            # 7 (stale: 1)

        # (c) another page: run a function there, rewrite its immediate, run it again
        call far_function
        mov r10d, eax
        mov dword ptr [rip + far_function + 1], 6
        call far_function
        shl r10d, 8
        or r10d, eax                            # 0x506 (stale: 0x505)

        # (d) REP MOVSB copies other code over that function
        lea rsi, [rip + replacement]
        lea rdi, [rip + far_function]
        mov ecx, replacement_end - replacement
        cld
        rep movsb
        call far_function
        mov r11d, eax                           # 42 (stale: 6)

        # (e) the host rewrites host_patched while the vCPU is out on the first OUT
        call host_patched
        out 0x80, al
        call host_patched
        out 0x81, al
        hlt

replacement:
        mov eax, 42
        ret
replacement_end:

        .org 0x800
host_patched:
        mov eax, 1
        ret

        .balign 4096
far_function:
        mov eax, 5
        ret
