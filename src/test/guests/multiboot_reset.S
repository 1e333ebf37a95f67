# A multiboot v1 kernel that resets the machine as Linux's reboot does, through the FADT's reset register (port
# 0xCF9, RST_CPU | SYS_RST): it prints "boot" first, and with "panic" on its command line Linux's panic message
# before it (what a panic=-1 kernel prints before its reset); with "halt", HLT with interrupts off instead of the
# reset (after the panic message, what the boot processor does when a panic on another vCPU stops it). Still running
# after the write: debug-exit 0x60.
.include "multiboot.inc"
entry:
    mov esp, 0x80000                      # multiboot gives no stack
    mov esi, offset booted
    call print
    xor ecx, ecx                          # bit 0: "panic" on the command line, bit 1: "halt"
    test dword ptr [ebx], 4               # a command line?
    jz 5f
    mov edi, [ebx + 16]
1:  mov al, [edi]
    test al, al
    jz 5f
    cmp dword ptr [edi], 0x696E6170       # "pani"
    jne 2f
    cmp byte ptr [edi + 4], 'c'
    jne 2f
    or ecx, 1
2:  cmp dword ptr [edi], 0x746C6168       # "halt"
    jne 3f
    or ecx, 2
3:  inc edi
    jmp 1b
5:  test ecx, 1
    jz 6f
    mov esi, offset panicked
    call print
6:  test ecx, 2
    jz reset
    cli
    hlt
reset:
    mov dx, 0xCF9
    mov al, 6
    out dx, al
    mov eax, 0x60
    mov edx, 0xF4
    out dx, eax
    hlt

print:                                    # the string at ESI to COM1
    mov dx, 0x3F8
3:  lodsb
    test al, al
    jz 4f
    out dx, al
    jmp 3b
4:  ret

.data
booted:
    .asciz "boot\n"
panicked:
    .asciz "Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000100\n"
