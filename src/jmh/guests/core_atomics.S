# bench-core: atomic read-modify-writes between plain instructions, as spin locks and reference counts run them: 20
# million rounds of LOCK XADD and a LOCK CMPXCHG increment; RAX is the sum XADD returned plus the counter's value.
        .include "core_bench.inc"
        .equ COUNTERS, 0x400000
bench:
        mov ebx, COUNTERS
        mov qword ptr [rbx], 0
        mov qword ptr [rbx + 8], 0
        xor r8d, r8d
        mov ecx, 20000000
1:      mov eax, 2
        lock xadd dword ptr [rbx], eax
        add r8, rax
        mov edx, [rbx + 8]
        lea esi, [rdx + 1]
        mov eax, edx
        lock cmpxchg dword ptr [rbx + 8], esi
        dec ecx
        jnz 1b
        mov rax, r8
        add rax, [rbx + 8]
        ret
