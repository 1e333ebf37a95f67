# A multiboot v1 kernel (entered in 32-bit protected mode, paging off) that checks what the boot loader gave it and
# starts the other processors as an OS does: it prints its command line (MBI cmdline) on COM1, reads the CPU count
# from fw_cfg, copies a real-mode trampoline to 0x8000, enables its local APIC and sends INIT then STARTUP (vector 8)
# to all but itself. Each processor the trampoline runs on counts itself in at 0x7000 (LOCK INC) and halts; once all
# have, the kernel exits through debug-exit with the count of processors, so jkvm's status is (cpus << 1) | 1.
# A wrong magic exits with 0x40, a missing cmdline with 0x41, a memory size below 1 MiB with 0x42.
.include "multiboot.inc"
entry:
    mov edx, 0xF4
    cmp eax, 0x2BADB002
    mov eax, 0x40
    jne fail
    test dword ptr [ebx], 4               # MBI flags: cmdline valid
    mov eax, 0x41
    jz fail
    cmp dword ptr [ebx + 8], 1024         # mem_upper: KiB above 1 MiB
    mov eax, 0x42
    jb fail
    mov esi, [ebx + 16]
    mov dx, 0x3F8
print:
    lodsb
    test al, al
    jz printed
    out dx, al
    jmp print
printed:
    mov al, 10
    out dx, al
    mov dx, 0x510                         # fw_cfg: key 5, the number of CPUs (16 bits)
    mov ax, 5
    out dx, ax
    mov dx, 0x511
    in al, dx
    movzx ecx, al
    in al, dx
    movzx eax, al
    shl eax, 8
    or ecx, eax
    mov ebp, ecx                          # the CPU count
    mov dword ptr [0xFEE000F0], 0x1FF     # SPIV: software-enable the APIC
    start_aps
    await_aps
    ap_trampoline
