# Events between compatibility mode and 64-bit mode: from the 64-bit entry contract into 32-bit code of IA-32e mode,
# an INT through the 64-bit IDT and IRETQ back, then SYSCALL, which AMD takes to CSTAR and Intel refuses (#UD), and
# SYSENTER, which Intel takes to 64-bit code and AMD refuses. Every step writes a port 0x90-0x97 (LegacyModesTest
# checks them per vendor); ends in HLT in 64-bit code.
        .intel_syntax noprefix
        .code64
        .section .text.start
        .globl _start
_start:
        lgdt [rip + gdtr]
        lea rdi, [rip + idt + 0x30 * 16]
        lea rax, [rip + int30]
        call set_gate
        lea rdi, [rip + idt + 6 * 16]
        lea rax, [rip + undefined]
        call set_gate
        lidt [rip + idtr]
        mov ecx, 0xC0000080             # EFER.SCE
        rdmsr
        or eax, 1
        wrmsr
        mov ecx, 0xC0000081             # STAR: SYSCALL's CS 0x08 (SS 0x10)
        xor eax, eax
        mov edx, 0x00000008
        wrmsr
        mov ecx, 0xC0000083             # CSTAR
        lea rax, [rip + cstar]
        mov rdx, rax
        shr rdx, 32
        wrmsr
        mov ecx, 0x174                  # IA32_SYSENTER_CS, ESP, EIP
        mov eax, 0x08
        xor edx, edx
        wrmsr
        mov ecx, 0x175
        mov eax, 0x70000
        wrmsr
        mov ecx, 0x176
        lea rax, [rip + sysenter_target]
        mov rdx, rax
        shr rdx, 32
        wrmsr
        mov rsp, 0x80000
        push 0x18                       # 32-bit code
        lea rax, [rip + compat]
        push rax
        rex.W retf

        .code32
compat:
        mov eax, 0x1234
        int 0x30
        out 0x91, eax                   # the handler's value, back in compatibility mode
after_int:
        syscall                         # AMD: to CSTAR; Intel: #UD, and the handler skips it
after_syscall:
        mov eax, 0x77
        out 0x95, eax
        sysenter                        # Intel: to 64-bit code; AMD: #UD, skipped
        mov eax, 0x88
        out 0x97, eax
        ljmp [farptr]

        .code64
int30:                                  # a 64-bit handler: the frame holds the compatibility-mode CS and SS
        mov eax, [rsp + 8]
        out 0x90, eax
        mov eax, [rsp + 32]
        out 0x92, eax
        mov eax, 0x5678
        iretq

undefined:                              # #UD: report where, skip the 2-byte instruction
        mov eax, [rsp]
        lea rdx, [rip + after_int]
        sub eax, edx
        out 0x93, eax
        add qword ptr [rsp], 2
        iretq

cstar:                                  # AMD's SYSCALL from compatibility mode: RCX is the return EIP
        lea rdx, [rip + after_syscall]
        mov eax, ecx
        sub eax, edx
        out 0x94, eax
        mov rax, rsp                    # back to compatibility mode at ring 0 by IRETQ
        push 0x10
        push rax
        pushfq
        push 0x18
        push rdx
        iretq
sysenter_target:                        # Intel's SYSENTER from compatibility mode: 64-bit code, RSP from the MSR
        mov eax, esp
        out 0x96, eax
back64:                                 # a far CALL through a 64-bit call gate: 8-byte CS and RIP pushed
        lea rax, [rip + gate64_target]
        mov word ptr [rip + gdt + 0x20], ax
        shr rax, 16
        mov word ptr [rip + gdt + 0x20 + 6], ax
        shr rax, 16
        mov dword ptr [rip + gdt + 0x28], eax
        mov rbx, rsp
        call fword ptr [rip + gateptr]
        sub rbx, rsp
        mov eax, ebx
        out 0x99, eax                   # 0: LRETQ popped what the call pushed
        hlt
gate64_target:
        mov rax, [rsp + 8]
        out 0x98, eax
        lea rdx, [rip + back64]
        mov rax, [rsp]
        sub rax, rdx
        out 0x98, eax                   # the return RIP, relative to back64
        rex.W retf

set_gate:                               # rdi = gate, rax = 64-bit handler; an interrupt gate, DPL0, CS 0x08
        mov word ptr [rdi], ax
        mov word ptr [rdi + 2], 0x08
        mov word ptr [rdi + 4], 0x8E00
        shr rax, 16
        mov word ptr [rdi + 6], ax
        shr rax, 16
        mov dword ptr [rdi + 8], eax
        mov dword ptr [rdi + 12], 0
        ret

        .balign 8
gdt:    .quad 0
        .quad 0x00AF9B000000FFFF        # 0x08: 64-bit code
        .quad 0x00CF93000000FFFF        # 0x10: data
        .quad 0x00CF9B000000FFFF        # 0x18: 32-bit code
        .quad 0x00008C0000080000        # 0x20: 64-bit call gate, DPL0, to 0x08 (offset filled in), 16 bytes
        .quad 0
gdtr:   .word 0x2F
        .quad gdt
idtr:   .word 0x31 * 16 - 1
        .quad idt
farptr: .long back64
        .word 0x08
gateptr: .long 0
        .word 0x20
        .balign 16
idt:    .fill 0x31 * 16, 1, 0
