# bench-core: SSE2 and SSSE3 as Linux's ChaCha20 (chacha_block_xor_ssse3) runs them: 100000 blocks of 20 rounds on
# four XMM rows (PADDD, PXOR, PSHUFB for the 16- and 8-bit rotations, PSLLD/PSRLD/POR for the others, PSHUFD to
# turn the columns into diagonals and back), each block added to its input and the counter stepped; RAX is the last
# block's first eight bytes plus the sum of every block's second eight.
        .include "core_bench.inc"
        .include "sse.inc"
bench:
        sse_on
        movdqu xmm8, [rip + rot16]
        movdqu xmm9, [rip + rot8]
        movdqu xmm10, [rip + sigma]
        movdqu xmm11, [rip + key0]
        movdqu xmm12, [rip + key1]
        pxor xmm13, xmm13               # counter and nonce
        mov eax, 1
        movd xmm14, eax                 # the counter's step
        xor r8d, r8d
        mov ecx, 100000
1:      movdqa xmm0, xmm10
        movdqa xmm1, xmm11
        movdqa xmm2, xmm12
        movdqa xmm3, xmm13
        mov edx, 10
2:      paddd xmm0, xmm1                # the column round
        pxor xmm3, xmm0
        pshufb xmm3, xmm8
        paddd xmm2, xmm3
        pxor xmm1, xmm2
        movdqa xmm4, xmm1
        pslld xmm1, 12
        psrld xmm4, 20
        por xmm1, xmm4
        paddd xmm0, xmm1
        pxor xmm3, xmm0
        pshufb xmm3, xmm9
        paddd xmm2, xmm3
        pxor xmm1, xmm2
        movdqa xmm4, xmm1
        pslld xmm1, 7
        psrld xmm4, 25
        por xmm1, xmm4
        pshufd xmm1, xmm1, 0x39         # to the diagonals
        pshufd xmm2, xmm2, 0x4e
        pshufd xmm3, xmm3, 0x93
        paddd xmm0, xmm1                # the diagonal round
        pxor xmm3, xmm0
        pshufb xmm3, xmm8
        paddd xmm2, xmm3
        pxor xmm1, xmm2
        movdqa xmm4, xmm1
        pslld xmm1, 12
        psrld xmm4, 20
        por xmm1, xmm4
        paddd xmm0, xmm1
        pxor xmm3, xmm0
        pshufb xmm3, xmm9
        paddd xmm2, xmm3
        pxor xmm1, xmm2
        movdqa xmm4, xmm1
        pslld xmm1, 7
        psrld xmm4, 25
        por xmm1, xmm4
        pshufd xmm1, xmm1, 0x93         # back to the columns
        pshufd xmm2, xmm2, 0x4e
        pshufd xmm3, xmm3, 0x39
        dec edx
        jnz 2b
        paddd xmm0, xmm10               # the input added
        paddd xmm1, xmm11
        paddd xmm2, xmm12
        paddd xmm3, xmm13
        pxor xmm0, xmm1
        pxor xmm0, xmm2
        pxor xmm0, xmm3
        movq rax, xmm0
        pshufd xmm0, xmm0, 0x4e
        movq rsi, xmm0
        add r8, rsi
        paddd xmm13, xmm14              # the next block
        dec ecx
        jnz 1b
        add rax, r8
        ret

        .balign 16
rot16:  .byte 2, 3, 0, 1, 6, 7, 4, 5, 10, 11, 8, 9, 14, 15, 12, 13
rot8:   .byte 3, 0, 1, 2, 7, 4, 5, 6, 11, 8, 9, 10, 15, 12, 13, 14
sigma:  .ascii "expand 32-byte k"
key0:   .quad 0x0706050403020100, 0x0f0e0d0c0b0a0908
key1:   .quad 0x1716151413121110, 0x1f1e1d1c1b1a1918
