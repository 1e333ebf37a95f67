# Not a runnable guest: apx.inc's macros on instructions whose bytes LLVM's APX MC tests publish. AsmTest compares
# the assembled bytes with those sequences, so the macros the APX guests are written in are checked.
        .intel_syntax noprefix
        .code64
        .include "apx.inc"
        .section .text.start, "ax"
        .globl _start
_start:                                              # the linker's entry symbol; no bytes
        MOVQ_IMM 16, 0xcccccccc                      # d5 18 b8 cc cc cc cc 00 00 00 00   mov r16, 0xcccccccc
        REX2_RR 0, 1, 0x01, 18, 17                   # d5 58 01 d1                        add r17, r18 (legacy: 01 /r)
        EVEX_RR 4, 0, 1, 1, 0, 15, 0x83, 0, 9        # 62 d4 84 18 83 c1 (7b)             add r15, r9, 123
        .byte 123
        EVEX_RR 4, 0, 1, 1, 1, 18, 0x42, 17, 16      # 62 ec ec 14 42 c8                  cfcmovb r18, r17, r16
        EVEX_RR 4, 0, 0, 1, 0, 31, 0xff, 6, 24       # 62 dc 04 10 ff f0                  push2 r31, r24
        EVEX_RR 4, 0, 0, 1, 0, 16, 0x8f, 0, 15       # 62 d4 7c 10 8f c7                  pop2 r16, r15
        EVEX_RR 4, 3, 0, 1, 0, 0, 0x40, 0, 0         # 62 f4 7f 18 40 c0                  setzuo al
        EVEX_RM 4, 0, 1, 0, 1, 0, 0x42, 16, 17, 18, 2, 123   # 62 ec f8 0c 42 44 91 7b    cfcmovb [r17 + 4*r18 + 123], r16
        CCMP_RR 0, 1, 2, 8, 0x39, 9, 15              # 62 54 c4 02 39 cf                  ccmpb {dfv=of} r15, r9
        EVEX_RR 2, 3, 1, 0, 0, 17, 0xf6, 18, 16      # 62 ea f7 00 f6 d0                  mulx r18, r17, r16
