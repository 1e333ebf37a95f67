# Insertion sort, sortedness check and checksum over 64 LCG-filled quadwords, written the way GCC -mapxf compiles
# such code: EGPRs through REX2, NDD adds, NF forms, CFCMOV for the guarded load, CCMP for the loop condition,
# SETcc.ZU for a flag-to-count, PUSH2/POP2 in a prologue. Hand-encoded through apx.inc. sort_legacy.S is the same
# program without APX: both must print the same line.
        .intel_syntax noprefix
        .code64
        .include "serial.inc"
        .include "apx.inc"
        .include "sort_report.inc"
        .section .text.start, "ax"
        .globl _start
_start:
        and rsp, -16
        xor ecx, ecx
        mov eax, 0x80003            # XCR0 = x87 | SSE | APX
        xor edx, edx
        xsetbv
        lea rbx, [rip + data]
        MOVQ_IMM 16, 0x2545F4914F6CDD1D     # r16: LCG state
        MOVQ_IMM 17, 6364136223846793005    # r17: multiplier
        MOVQ_IMM 18, 1442695040888963407    # r18: increment
        MOVQ_IMM 20, 0                      # r20: i
fill:   REX2_RR 1, 1, 0xaf, 16, 17          # imul r16, r17
        EVEX_RR 4, 0, 1, 0, 1, 0, 0x01, 18, 16   # {nf} add r16, r18
        REX2_RM 0, 1, 0x89, 16, 3, 20, 3, 0 # mov [rbx + 8*r20], r16
        EVEX_RR 4, 0, 1, 1, 0, 20, 0x83, 0, 20   # add r20, r20, 1
        .byte 1
        REX2_RR 0, 1, 0x83, 7, 20           # cmp r20, 64
        .byte 64
        jb fill

        MOVQ_IMM 20, 1                      # insertion sort: i = 1..63
outer:  REX2_RM 0, 1, 0x8b, 22, 3, 20, 3, 0 # mov r22, [rbx + 8*r20]: key
        EVEX_RR 4, 0, 1, 1, 0, 21, 0x83, 5, 20   # sub r21, r20, 1: j = i - 1
        .byte 1
inner:  REX2_RR 0, 1, 0x83, 7, 21           # cmp r21, 0
        .byte 0
        EVEX_RM 4, 0, 1, 0, 0, 0, 0x4d, 23, 3, 21, 3, 0   # cfcmovge r23, [rbx + 8*r21]: no load when j < 0
        CCMP_RR 0, 1, 0xd, 2, 0x39, 22, 23  # ccmpge {dfv=zf} r23, r22: a[j] - key, or ZF when j < 0
        jbe insert                          # unsigned order
        REX2_RM 0, 1, 0x89, 23, 3, 21, 3, 8 # mov [rbx + 8*r21 + 8], r23
        EVEX_RR 4, 0, 1, 0, 1, 0, 0xff, 1, 21    # {nf} dec r21
        jmp inner
insert: REX2_RM 0, 1, 0x89, 22, 3, 21, 3, 8 # mov [rbx + 8*r21 + 8], r22
        EVEX_RR 4, 0, 1, 0, 1, 0, 0x83, 0, 20    # {nf} add r20, 1
        .byte 1
        REX2_RR 0, 1, 0x83, 7, 20           # cmp r20, 64
        .byte 64
        jb outer

        MOVQ_IMM 28, 0                      # r28: pairs out of order
        MOVQ_IMM 20, 1
check:  REX2_RM 0, 1, 0x8b, 25, 3, 20, 3, -8     # mov r25, [rbx + 8*r20 - 8]
        REX2_RM 0, 1, 0x3b, 25, 3, 20, 3, 0      # cmp r25, [rbx + 8*r20]
        EVEX_RR 4, 3, 0, 1, 0, 0, 0x47, 0, 27    # setzua r27: 1 when a[i-1] > a[i], all 64 bits written
        EVEX_RR 4, 0, 1, 1, 1, 28, 0x01, 27, 28  # {nf} add r28, r28, r27
        EVEX_RR 4, 0, 1, 1, 0, 20, 0x83, 0, 20   # add r20, r20, 1
        .byte 1
        REX2_RR 0, 1, 0x83, 7, 20           # cmp r20, 64
        .byte 64
        jb check

        call checksum
        REX2_RR 0, 1, 0x89, 28, 0           # mov rax, r28
        REX2_RR 0, 1, 0x89, 24, 2           # mov rdx, r24
        jmp sort_report

# checksum: r24 = fold of data[0..63]; keeps r29 and r30 as a callee would (PUSH2/POP2 on a 16-byte aligned stack).
checksum:
        push rbp
        EVEX_RR 4, 0, 0, 1, 0, 29, 0xff, 6, 30   # push2 r29, r30
        MOVQ_IMM 24, 0x9E3779B97F4A7C15
        MOVQ_IMM 29, 0
1:      REX2_RM 0, 1, 0x8b, 30, 3, 29, 3, 0 # mov r30, [rbx + 8*r29]
        EVEX_RR 4, 0, 1, 1, 1, 24, 0x31, 30, 24  # {nf} xor r24, r24, r30
        EVEX_RR 4, 0, 1, 0, 1, 0, 0xc1, 0, 24    # {nf} rol r24, 13
        .byte 13
        EVEX_RR 4, 0, 1, 0, 1, 0, 0x6b, 24, 24   # {nf} imul r24, r24, 31
        .byte 31
        EVEX_RR 4, 0, 1, 1, 0, 29, 0x83, 0, 29   # add r29, r29, 1
        .byte 1
        REX2_RR 0, 1, 0x83, 7, 29           # cmp r29, 64
        .byte 64
        jb 1b
        EVEX_RR 4, 0, 0, 1, 0, 30, 0x8f, 0, 29   # pop2 r30, r29
        pop rbp
        ret

        .section .bss
        .align 64
data:   .skip 8 * 64
