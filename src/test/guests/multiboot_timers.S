# A multiboot v1 kernel whose state lives in the PC platform's devices, for snapshot, migration and handoff tests. In
# 32-bit protected mode with its own GDT and IDT it masks the 8259s, routes the PIT's IRQ 0 through I/O APIC pin 2 to
# vector 0x30, runs the PIT at 100 Hz (mode 2) and its local APIC's timer periodically at 1 kHz (vector 0x31), writes
# a CMOS byte, and prints "tick N" on COM1 at every 10th PIT interrupt, N = 1..8 (or to the number after the first
# '=' of its command line, as in --append ticks=30), sleeping in HLT between them. Then it
# checks that what it programmed is still there (a restore that lost a device's record fails here), starts the other
# processors with INIT and STARTUP (they count themselves in at 0x7000 and halt) and exits through debug-exit with the
# processor count, so jkvm's status is (cpus << 1) | 1. Failures exit with 0x43 (an unexpected vector), 0x44 (the
# CMOS byte), 0x45 (the I/O APIC entry), 0x46 (the APIC timer's LVT or no APIC timer interrupt), 0x47 (the PIT's mode).
.include "multiboot.inc"
.set APIC, 0xFEE00000
.set IOAPIC, 0xFEC00000
.set COUNT, 0x7000
entry:
    test dword ptr [ebx], 4               # MBI flags: cmdline valid
    jz 2f
    mov esi, [ebx + 16]
1:  lodsb
    test al, al
    jz 2f
    cmp al, '='
    jne 1b
    xor ecx, ecx
3:  movzx eax, byte ptr [esi]
    sub eax, '0'
    cmp eax, 9
    ja 4f
    imul ecx, ecx, 10
    add ecx, eax
    inc esi
    jmp 3b
4:  test ecx, ecx
    jz 2f
    mov [limit], ecx
2:  lgdt [gdt_pointer]
    .byte 0xEA                            # far JMP 0x08:reloaded
    .long reloaded
    .word 0x08
reloaded:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov esp, 0x90000
    mov edi, offset idt                   # every vector to `unexpected`, then the two timers'
    xor ecx, ecx
1:  mov eax, offset unexpected
    call gate
    inc ecx
    cmp ecx, 256
    jb 1b
    mov ecx, 0x30
    mov eax, offset pit_interrupt
    call gate
    mov ecx, 0x31
    mov eax, offset apic_timer_interrupt
    call gate
    lidt [idt_pointer]
    mov esi, offset hello
    call puts
    mov al, 0xFF                          # both 8259s masked: IRQ 0 reaches the CPU through the I/O APIC only
    out 0x21, al
    out 0xA1, al
    mov dword ptr [IOAPIC], 0x14          # pin 2 (the PIT, by the interrupt source override): vector 0x30, edge, APIC 0
    mov dword ptr [IOAPIC + 0x10], 0x30
    mov dword ptr [IOAPIC], 0x15
    mov dword ptr [IOAPIC + 0x10], 0
    mov al, 0x40                          # CMOS byte 0x40 = 0x5A
    out 0x70, al
    mov al, 0x5A
    out 0x71, al
    mov dword ptr [APIC + 0xF0], 0x1FF    # SPIV: software-enabled, spurious vector 0xFF
    mov dword ptr [APIC + 0x3E0], 0xB     # divide by 1
    mov dword ptr [APIC + 0x320], 0x20031 # LVT timer: periodic, vector 0x31
    mov dword ptr [APIC + 0x380], 1000000 # 1 ms at the APIC's 1 GHz
    mov al, 0x34                          # PIT counter 0: LSB then MSB, mode 2
    out 0x43, al
    mov ax, 11932                         # 100 Hz
    out 0x40, al
    mov al, ah
    out 0x40, al
    sti
sleep:
    hlt
    mov eax, [printed]
    cmp eax, [limit]
    jae checks
    inc eax
    imul eax, eax, 10
    cmp [pit_ticks], eax
    jb sleep
    inc dword ptr [printed]
    mov esi, offset tick
    call puts
    mov eax, [printed]
    call print_number
    jmp sleep

checks:
    cli
    mov al, 0x40
    out 0x70, al
    in al, 0x71
    cmp al, 0x5A
    mov eax, 0x44
    jne fail
    mov dword ptr [IOAPIC], 0x14
    mov eax, [IOAPIC + 0x10]
    and eax, 0x1FFFF
    cmp eax, 0x30
    mov eax, 0x45
    jne fail
    mov eax, [APIC + 0x320]
    cmp eax, 0x20031
    mov eax, 0x46
    jne fail
    cmp dword ptr [apic_ticks], 0
    je fail
    mov al, 0xE2                          # read-back: counter 0's status, not its count
    out 0x43, al
    in al, 0x40
    and al, 0x3F                          # LSB/MSB access (3) and mode 2
    cmp al, 0x34
    mov eax, 0x47
    jne fail

    mov dx, 0x510                         # fw_cfg: key 5, the number of CPUs
    mov ax, 5
    out dx, ax
    mov dx, 0x511
    in al, dx
    movzx ebp, al
    start_aps
    await_aps

pit_interrupt:
    inc dword ptr [pit_ticks]
    mov dword ptr [APIC + 0xB0], 0
    iret
apic_timer_interrupt:
    inc dword ptr [apic_ticks]
    mov dword ptr [APIC + 0xB0], 0
    iret
unexpected:
    mov eax, 0x43
    jmp fail

# gate: IDT entry ecx -> handler eax (a 32-bit interrupt gate in code segment 0x08)
gate:
    mov word ptr [edi + ecx * 8], ax
    mov word ptr [edi + ecx * 8 + 2], 0x08
    mov word ptr [edi + ecx * 8 + 4], 0x8E00
    shr eax, 16
    mov word ptr [edi + ecx * 8 + 6], ax
    ret

# print_number: eax in decimal, then a newline
print_number:
    mov ecx, 10
    mov edi, offset digits_end
5:  xor edx, edx
    div ecx
    add dl, '0'
    dec edi
    mov [edi], dl
    test eax, eax
    jnz 5b
    mov esi, edi
    call puts
    mov al, 10
    out dx, al
    ret

puts:
    mov dx, 0x3F8
2:  lodsb
    test al, al
    jz 3f
    out dx, al
    jmp 2b
3:  ret

    ap_trampoline

.data
.align 8
gdt:
    .quad 0
    .quad 0x00CF9A000000FFFF              # 0x08: flat 32-bit code
    .quad 0x00CF92000000FFFF              # 0x10: flat data
gdt_pointer:
    .word gdt_pointer - gdt - 1
    .long gdt
idt_pointer:
    .word 256 * 8 - 1
    .long idt
hello:
    .asciz "timers\n"
tick:
    .asciz "tick "
.align 4
pit_ticks:
    .long 0
apic_ticks:
    .long 0
printed:
    .long 0
limit:
    .long 8
digits:
    .skip 12
digits_end:
    .byte 0
.bss
.align 8
idt:
    .skip 256 * 8
