# A multiboot v1 kernel that programs nonsense into the PC platform, as a hostile guest would, with interrupts off:
# the local APIC's ICR sent a thousand times each in delivery modes jkvm does not deliver (SMI, reserved, ExtINT) and
# with illegal vectors, LVT entries with reserved modes and vectors, the I/O APIC's select register out of range and
# its redirection entries with reserved modes, the PIT's every control word and count, the RTC's and the 8259s'
# registers with garbage. Then it prints "alive" and exits through debug-exit 0x21 (status 0x43).
.include "multiboot.inc"
entry:
    cli
    mov esp, 0x80000
    mov dword ptr [0xFEE000F0], 0x1FF        # the local APIC software-enabled
    mov ecx, 1000
1:  mov dword ptr [0xFEE00310], 0
    mov dword ptr [0xFEE00300], 0x00040200   # SMI to self
    mov dword ptr [0xFEE00300], 0x00040300   # delivery mode 3 (reserved) to self
    mov dword ptr [0xFEE00300], 0x00040700   # ExtINT to self
    mov dword ptr [0xFEE00300], 0x00040005   # a fixed IPI with vector 5 (illegal) to self
    mov dword ptr [0xFEE00310], 0xFE000000   # a destination no APIC has
    mov dword ptr [0xFEE00300], 0x00000030
    loop 1b
    mov edi, 0xFEE00320                      # LVT timer, thermal, perf, LINT0, LINT1, error: every mode, vector 3
    mov eax, 0x00000303
2:  mov [edi], eax
    add eax, 0x100
    add edi, 0x10
    cmp edi, 0xFEE00380
    jb 2b
    mov dword ptr [0xFEE00320], 0x00010020   # the timer masked, then a count and a nonsense divide
    mov dword ptr [0xFEE003E0], 0xFFFFFFFF
    mov dword ptr [0xFEE00380], 1
    mov dword ptr [0xFEE00280], 0x12345678   # the error status register written
    mov eax, [0xFEE00280]
    mov ecx, 256                             # I/O APIC: every select value, then garbage through its window
    xor ebx, ebx
3:  mov [0xFEC00000], ebx
    mov dword ptr [0xFEC00010], 0xFFFFF3FF   # reserved delivery modes, every destination bit
    mov eax, [0xFEC00010]
    inc ebx
    loop 3b
    mov edx, 0x43                            # PIT: every control word, each with a count of 0 and of 1
    xor ebx, ebx
4:  mov al, bl
    out dx, al
    mov al, bl
    and al, 0xC0
    shr al, 6
    cmp al, 3
    je 5f                                    # read-back: no count follows
    mov dx, 0x40
    add dl, al
    xor al, al
    out dx, al
    out dx, al
    mov al, 1
    out dx, al
    in al, dx
    in al, dx
    mov dx, 0x43
5:  inc bl
    jnz 4b
    mov al, 0x30                             # channel 0 left one-shot, so it does not tick at 1.19 MHz
    out 0x43, al
    mov al, 0xFF
    out 0x40, al
    out 0x40, al
    mov al, 0xFF                             # channel 2's gate and speaker on and off
    out 0x61, al
    in al, 0x61
    xor al, al
    out 0x61, al
    mov ecx, 128                             # RTC: every register index written with 0xFF, read back
    xor ebx, ebx
6:  mov al, bl
    or al, 0x80                              # NMI masked, as a careful guest still would
    out 0x70, al
    mov al, 0xFF
    out 0x71, al
    in al, 0x71
    inc ebx
    loop 6b
    mov al, 0x8B                             # register B back to 24-hour BCD with no interrupts
    out 0x70, al
    mov al, 0x02
    out 0x71, al
    mov ecx, 64                              # the 8259s: half-finished init sequences and OCWs with garbage
7:  mov al, cl
    or al, 0x10
    out 0x20, al
    out 0xA0, al
    mov al, cl
    out 0x21, al
    out 0xA1, al
    mov al, 0xEF
    out 0x20, al
    out 0xA0, al
    loop 7b
    mov esi, offset alive
    mov dx, 0x3F8
8:  lodsb
    test al, al
    jz 9f
    out dx, al
    jmp 8b
9:  mov eax, 0x21
    mov edx, 0xF4
    out dx, eax
    hlt

.data
alive:
    .asciz "alive\n"
