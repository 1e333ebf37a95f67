# A multiboot v1 kernel that powers the machine off as an OS does through ACPI: it scans the BIOS area
# (0xE0000-0xFFFFF) for the RSDP, checks its checksum, follows the RSDT to the FADT, reads the PM timer there twice
# (it must have counted between), prints "acpi ok" and writes SLP_TYP 0 (the DSDT's \_S5) with SLP_EN to PM1a
# control. Failures exit through debug-exit: 0x50 no RSDP, 0x51 a bad checksum, 0x52 no FADT, 0x53 a timer that did
# not count, 0x54 still running after the write (the machine did not power off).
.include "multiboot.inc"
entry:
    mov esi, 0xE0000
find:
    cmp dword ptr [esi], 0x20445352       # "RSD "
    jne next
    cmp dword ptr [esi + 4], 0x20525450   # "PTR "
    je found
next:
    add esi, 16
    cmp esi, 0x100000
    jb find
    mov eax, 0x50
    jmp fail
found:
    xor eax, eax                          # the first 20 bytes sum to 0
    xor ecx, ecx
1:  add al, [esi + ecx]
    inc ecx
    cmp ecx, 20
    jb 1b
    test al, al
    mov eax, 0x51
    jnz fail
    mov esi, [esi + 16]                   # the RSDT
    mov ecx, [esi + 4]
    sub ecx, 36
    shr ecx, 2                            # its entries
    lea edi, [esi + 36]
2:  test ecx, ecx
    mov eax, 0x52
    jz fail
    mov ebx, [edi]
    cmp dword ptr [ebx], 0x50434146       # "FACP"
    je fadt
    add edi, 4
    dec ecx
    jmp 2b
fadt:
    mov edx, [ebx + 76]                   # PM_TMR_BLK
    in eax, dx
    mov ebp, eax
    mov ecx, 100000
3:  dec ecx
    jnz 3b
    in eax, dx
    cmp eax, ebp
    mov eax, 0x53
    je fail
    mov esi, offset message
    mov dx, 0x3F8
4:  lodsb
    test al, al
    jz 5f
    out dx, al
    jmp 4b
5:  mov edx, [ebx + 64]                   # PM1a_CNT_BLK
    mov ax, (0 << 10) | (1 << 13)         # SLP_TYP 0 (\_S5), SLP_EN
    out dx, ax
    mov eax, 0x54
fail:
    mov edx, 0xF4
    out dx, eax
    hlt

.data
message:
    .asciz "acpi ok\n"
