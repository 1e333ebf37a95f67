# A multiboot v1 kernel that uses the RAM a PC has above 4 GiB: it finds the range at 4 GiB in the MBI's memory map,
# checks that fw_cfg's RAM size is the RAM below (mem_upper + 1 MiB) plus that range, turns on PAE paging to reach
# the first and the last 2 MiB of it, writes and reads back a word in each, and checks that the MMIO window at 3 GiB
# keeps no store (it is no RAM). Ends through debug-exit: 0x21 all well; 1 no range at 4 GiB, 2 fw_cfg disagrees,
# 3 RAM above 4 GiB lost a store, 4 the window kept one.
.include "multiboot.inc"
.set PDPT, 0x9000
.set PD_LOW, 0xA000                       # linear 0-1 GiB: identity
.set PD_HIGH, 0xB000                      # linear 1 GiB: the first 2 MiB at 4 GiB; 1 GiB + 2 MiB: the last 2 MiB
.set PD_WINDOW, 0xC000                    # linear 3 GiB: identity, the MMIO window's first 2 MiB
entry:
    mov esp, 0x80000                      # multiboot gives no stack
    mov esi, [ebx + 48]                   # mmap_addr
    mov ecx, [ebx + 44]                   # mmap_length
    add ecx, esi
find:
    cmp esi, ecx
    jae no_range
    cmp dword ptr [esi + 4], 0            # base_addr, low then high
    jne next
    cmp dword ptr [esi + 8], 1
    jne next
    cmp dword ptr [esi + 20], 1           # type: RAM
    je found
next:
    add esi, [esi]
    add esi, 4
    jmp find
no_range:
    mov eax, 1
    jmp fail
found:
    mov edi, [esi + 12]                   # the range's length (below 4 GiB of it: enough for this machine)
    mov eax, [ebx + 8]                    # mem_upper, KiB above 1 MiB
    shl eax, 10
    add eax, 0x100000                     # RAM below the window
    xor edx, edx
    add eax, edi
    adc edx, [esi + 16]                   # + the range at 4 GiB: the whole RAM, EDX:EAX
    mov ebp, eax
    mov esi, edx
    mov dx, 0x510
    mov ax, 3                             # FW_CFG_RAM_SIZE
    out dx, ax
    inc dx
    in eax, dx
    cmp eax, ebp
    jne fw_cfg_differs
    in eax, dx
    cmp eax, esi
    je paging
fw_cfg_differs:
    mov eax, 2
    jmp fail

paging:
    mov dword ptr [PDPT], PD_LOW | 1
    mov dword ptr [PDPT + 4], 0
    mov dword ptr [PDPT + 8], PD_HIGH | 1
    mov dword ptr [PDPT + 12], 0
    mov dword ptr [PDPT + 16], 0
    mov dword ptr [PDPT + 20], 0
    mov dword ptr [PDPT + 24], PD_WINDOW | 1
    mov dword ptr [PDPT + 28], 0
    xor ecx, ecx
1:  mov eax, ecx
    shl eax, 21
    or eax, 0x83                          # present, writable, 2 MiB
    mov [PD_LOW + ecx * 8], eax
    mov dword ptr [PD_LOW + ecx * 8 + 4], 0
    inc ecx
    cmp ecx, 512
    jb 1b
    mov dword ptr [PD_HIGH], 0x83         # 4 GiB
    mov dword ptr [PD_HIGH + 4], 1
    lea eax, [edi - 0x200000]             # 4 GiB + length - 2 MiB
    or eax, 0x83
    mov [PD_HIGH + 8], eax
    mov dword ptr [PD_HIGH + 12], 1
    mov dword ptr [PD_WINDOW], 0xC0000083 # 3 GiB
    mov dword ptr [PD_WINDOW + 4], 0
    mov eax, cr4
    or eax, 0x20                          # PAE
    mov cr4, eax
    mov eax, PDPT
    mov cr3, eax
    mov eax, cr0
    or eax, 0x80000000
    mov cr0, eax

    mov dword ptr [0x40000000], 0x12345678
    mov dword ptr [0x403FFFFC], 0x9ABCDEF0 # the last word of RAM
    cmp dword ptr [0x40000000], 0x12345678
    jne lost
    cmp dword ptr [0x403FFFFC], 0x9ABCDEF0
    jne lost
    mov dword ptr [0xC0000000], 0x55AA55AA
    cmp dword ptr [0xC0000000], 0x55AA55AA
    je window_kept
    mov esi, offset done
    mov dx, 0x3F8
2:  lodsb
    test al, al
    jz 3f
    out dx, al
    jmp 2b
3:  mov eax, 0x21
    jmp fail
lost:
    mov eax, 3
    jmp fail
window_kept:
    mov eax, 4
fail:
    mov edx, 0xF4
    out dx, eax
    hlt

.data
done:
    .asciz "RAM above 4G\n"
