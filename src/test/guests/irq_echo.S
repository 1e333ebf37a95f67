# Echoes serial input upper-cased from the UART's interrupt: programs the 8259A pair (vectors 0x20-0x2F, only
# IRQ4 unmasked) and the 16550 (IER: received data), then sits in STI; HLT. The IRQ4 handler reads every waiting
# byte, echoes it, and ends with a specific EOI; the main loop never touches the UART. After a newline it prints
# what the handler read from the ISR (OCW3) and the ISR after the EOI, and exits with v = 0 (status 1).
        .intel_syntax noprefix
        .code64
        .include "serial.inc"
        .set PIC1, 0x20
        .set PIC2, 0xa0
        .set COM1_IER, 0x3f9
        .set COM1_MCR, 0x3fc
        .set VECTORS, 0x20
        .section .text.start, "ax"
        .globl _start
_start:
        lea rsi, [rip + prompt]
        call puts
        # Gates for vectors 0x20-0x2F: IRQ4 echoes, IRQ7 is the spurious vector (no EOI), the rest just EOI.
        mov edi, VECTORS
1:      lea rax, [rip + irq_other]
        cmp edi, VECTORS + 4
        jne 2f
        lea rax, [rip + irq_serial]
2:      cmp edi, VECTORS + 7
        jne 3f
        lea rax, [rip + irq_spurious]
3:      call set_gate
        inc edi
        cmp edi, VECTORS + 16
        jb 1b
        lidt [rip + idtr]
        # 8259A pair: ICW1 edge, cascade, ICW4 needed; ICW2 vector bases; ICW3 slave on IR2; ICW4 8086 mode.
        mov al, 0x11
        out PIC1, al
        out PIC2, al
        mov al, VECTORS
        out PIC1 + 1, al
        mov al, VECTORS + 8
        out PIC2 + 1, al
        mov al, 0x04
        out PIC1 + 1, al
        mov al, 0x02
        out PIC2 + 1, al
        mov al, 0x01
        out PIC1 + 1, al
        out PIC2 + 1, al
        mov al, 0xef                # OCW1: only IRQ4
        out PIC1 + 1, al
        mov al, 0xff
        out PIC2 + 1, al
        # 16550: interrupt on received data; OUT2 gates the UART's IRQ line on a PC.
        mov dx, COM1_MCR
        mov al, 0x0b                # DTR, RTS, OUT2
        out dx, al
        mov dx, COM1_IER
        mov al, 0x01
        out dx, al
wait:   sti
        hlt                         # the STI shadow covers HLT: no interrupt slips in between
        cmp byte ptr [rip + done], 0
        je wait
        cli
        lea rsi, [rip + isr_text]
        call puts
        movzx eax, byte ptr [rip + isr_seen]
        call putdec
        lea rsi, [rip + after_text]
        call puts
        mov al, 0x0b                # OCW3: read ISR
        out PIC1, al
        in al, PIC1
        movzx eax, al
        call putdec
        lea rsi, [rip + newline]
        call puts
        xor eax, eax
        jmp exit

# set_gate: IDT entry EDI -> handler RAX, a 64-bit interrupt gate in the kernel code segment. Clobbers RAX, RCX, RDX.
set_gate:
        lea rdx, [rip + idt]
        mov ecx, edi
        shl ecx, 4
        add rdx, rcx
        mov word ptr [rdx], ax
        mov word ptr [rdx + 2], 0x08
        mov word ptr [rdx + 4], 0x8e00
        shr rax, 16
        mov word ptr [rdx + 6], ax
        shr rax, 16
        mov dword ptr [rdx + 8], eax
        mov dword ptr [rdx + 12], 0
        ret

irq_serial:
        push rax
        push rdx
        mov al, 0x0b                # OCW3: read ISR, to show IRQ4 is in service here
        out PIC1, al
        in al, PIC1
        mov [rip + isr_seen], al
        mov al, 0x0a                # OCW3: back to IRR
        out PIC1, al
1:      mov dx, COM1_LSR
        in al, dx
        test al, 1                  # LSR.DR: read until the FIFO is empty, so the line drops
        jz 3f
        mov dx, COM1
        in al, dx
        cmp al, 'a'
        jb 2f
        cmp al, 'z'
        ja 2f
        sub al, 0x20
2:      cmp al, 10
        jne 4f
        mov byte ptr [rip + done], 1
4:      mov ah, al
        mov dx, COM1_LSR
5:      in al, dx
        test al, 0x20
        jz 5b
        mov al, ah
        mov dx, COM1
        out dx, al
        jmp 1b
3:      mov al, 0x64                # OCW2: specific EOI for IRQ4
        out PIC1, al
        pop rdx
        pop rax
        iretq

irq_other:
        push rax
        mov al, 0x20                # OCW2: non-specific EOI
        out PIC1, al
        pop rax
        iretq

irq_spurious:
        iretq                       # nothing was put in service: no EOI

        .section .rodata
prompt:     .asciz "irq> "
isr_text:   .asciz "ISR in the handler: "
after_text: .asciz ", after EOI: "
newline:    .asciz "\r\n"
        .section .data
        .balign 16
idtr:   .word 16 * (VECTORS + 16) - 1
        .quad idt
done:   .byte 0
isr_seen: .byte 0
        .balign 16
idt:    .fill 16 * (VECTORS + 16), 1, 0
