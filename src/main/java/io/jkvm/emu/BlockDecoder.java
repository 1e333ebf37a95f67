package io.jkvm.emu;

import io.jkvm.linux.Mapping;

import static io.jkvm.emu.BlockOp.*;

/**
  * Turns a block of instructions in guest-physical memory into {@link BlockOp}s: each instruction is read by
  * {@link InstructionDecoder} and, when it is one of the common integer forms (ALU, MOV, LEA, MOVZX/MOVSX,
  * INC/DEC/NOT/NEG, PUSH/POP, IMUL, shifts and rotates, Jcc/JMP/CALL/RET, CMOVcc, SETcc, NOPs, BSWAP, CLI) with a 66,
  * REX, FS/GS or ignored segment prefix, reduced to the op the block executor runs. The atomic read-modify-writes and
  * MOVS/STOS stay in the block too, run there by the interpreter (most locked ones as one compare-and-swap). Anything
  * else (F2/67 prefixes, F3 but on MOVS/STOS, REX2, VEX, the other string, system and SSE instructions, a form the
  * interpreter would reject) ends the block: the interpreter runs it from the same decoder's record. An instruction is
  * taken here only when its meaning depends on nothing but its bytes, so a block stays valid across mode changes.
  */
final class BlockDecoder {
    private static final int MAX_INSNS = 64;
    private static final int PAGE = CodeCache.PAGE;

    /** An instruction running past the bytes a block may hold: the interpreter fetches it across the boundary. */
    private static final class PastPage extends RuntimeException {
        PastPage() {
            super(null, null, false, false);
        }
    }

    private static final PastPage PAST_PAGE = new PastPage();

    /**
     * The bytes of one page from an offset on, and of the page after it in linear order (the tail) once asked for:
     * {@code tail} gives that page's physical base, or -1 when the block must end at this page's end.
     */
    private static final class PageBytes implements InstructionBytes {
        private final Mapping ram;
        private final long pageBase;
        private final java.util.function.LongSupplier tail;
        private long tailBase = -2; // -2: not asked for yet
        int pos;

        PageBytes(Mapping ram, long pageBase, int offset, java.util.function.LongSupplier tail) {
            this.ram = ram;
            this.pageBase = pageBase;
            this.pos = offset;
            this.tail = tail;
        }

        /** Whether a block may hold bytes from {@link #pos} on: in its page, or in the tail (asked for at its start). */
        boolean more() {
            if (pos < PAGE) {
                return true;
            }
            if (tailBase == -2) {
                tailBase = tail.getAsLong();
            }
            return tailBase >= 0 && pos < 2 * PAGE;
        }

        @Override
        public int next() {
            if (pos < PAGE) {
                return ram.getByte(pageBase + pos++) & 0xFF;
            }
            if (!more()) {
                throw PAST_PAGE;
            }
            return ram.getByte(tailBase + pos++ - PAGE) & 0xFF;
        }

        byte byteAt(int at) {
            return ram.getByte(at < PAGE ? pageBase + at : tailBase + at - PAGE);
        }
    }

    // the instruction being reduced
    private final Instruction insn;
    private final int seg;
    private final int opSize;

    private BlockDecoder(Instruction insn) {
        this.insn = insn;
        this.seg = segment(insn);
        this.opSize = insn.operandSize();
    }

    /** A memory operand's segment as an op holds it: {@link BlockOp#FS} or {@link BlockOp#GS} for their prefixes, else 0. */
    static int segment(Instruction insn) {
        int fsOrGs = insn.prefixes().fsOrGs();
        return fsOrGs == SegmentLoads.FS ? FS : fsOrGs == SegmentLoads.GS ? GS : 0;
    }

    /** The block at {@code offset} in the page at physical {@code pageBase} (wholly inside RAM), within that page. */
    static DecodedBlock decode(Mapping ram, long pageBase, int offset, int epoch) {
        return decode(ram, pageBase, offset, epoch, () -> -1);
    }

    /**
     * The block at {@code offset} in the page at physical {@code pageBase} (wholly inside RAM), which may go on into
     * the next page in linear order: {@code tail} gives its physical base (in RAM), or -1, when the block reaches the end.
     */
    static DecodedBlock decode(Mapping ram, long pageBase, int offset, int epoch, java.util.function.LongSupplier tail) {
        PageBytes page = new PageBytes(ram, pageBase, offset, tail);
        BlockOp[] insns = new BlockOp[MAX_INSNS]; // an array, not a list: its copy has no branch a boot's first empty block deoptimizes
        int count = 0;
        boolean endsBeforeSlow = false;
        Instruction slow = null;
        int examined = offset; // the decision to stop depends on the bytes looked at too: they are checked as well
        while (count < MAX_INSNS && page.more()) {
            BlockOp insn;
            Instruction decoded = null;
            try {
                decoded = InstructionDecoder.BLOCKS.decode(page);
                insn = reduce(decoded);
            } catch (PastPage | GuestFault e) {
                insn = null; // the interpreter fetches across the page, or raises the fault
            }
            examined = page.pos;
            if (insn == null) {
                endsBeforeSlow = true;
                slow = decoded != null && steppedAsDecoded(decoded) ? decoded : null;
                break;
            }
            insns[count++] = insn;
            if (insn.endsBlock()) {
                break;
            }
        }
        byte[] bytes = new byte[examined - offset];
        for (int i = 0; i < bytes.length; i++) {
            bytes[i] = page.byteAt(offset + i);
        }
        long tailPhysical = examined > PAGE ? page.tailBase : -1;
        return new DecodedBlock(java.util.Arrays.copyOf(insns, count), bytes, endsBeforeSlow, slow, epoch, pageBase + offset,
                tailPhysical);
    }

    /**
     * The op a block would run for the instruction {@code bytes} start with (an instruction across a page end, its
     * bytes gathered from both pages), or null when the interpreter must run it or the bytes end before it does.
     */
    static BlockOp reduce(byte[] bytes) {
        InstructionBytes in = new InstructionBytes() {
            int pos;

            @Override
            public int next() {
                if (pos == bytes.length) {
                    throw PAST_PAGE;
                }
                return bytes[pos++] & 0xFF;
            }
        };
        try {
            return reduce(InstructionDecoder.BLOCKS.decode(in));
        } catch (PastPage | GuestFault e) {
            return null;
        }
    }

    /** The op a block runs for {@code insn}, or null when the interpreter must run it. */
    private static BlockOp reduce(Instruction insn) {
        Prefixes prefixes = insn.prefixes();
        BlockOp system = kernelEntryOp(insn);
        if (system != null) {
            return system;
        }
        if (interpretedInBlocks(insn)) {
            BlockOp form = prefixes.lock() || exchangesMemory(insn) ? new BlockDecoder(insn).locked() : SseForms.of(insn);
            if (form != null && form.op() == BlockOp.SSE) {
                return form; // it runs from its fields (SseForms.run), not the interpreter's decoding
            }
            return (form != null ? form : BlockOp.of(INTERPRETED, insn.length(), 0, 0, 0, NONE, NONE, NONE, 0, 0, 0, 0))
                    .interpreting(insn);
        }
        boolean pause = prefixes.rep() == 0xF3 && insn.map() == 0 && insn.opcode() == 0x90;
        if (prefixes.lock() || prefixes.rep() != 0 && !pause || prefixes.addressSize()
                || insn.encoding() != Instruction.LEGACY && insn.encoding() != Instruction.REX) {
            return null;
        }
        BlockDecoder d = new BlockDecoder(insn);
        return switch (insn.map()) {
            case 0 -> d.map0(insn.opcode());
            case 1 -> d.map1(insn.opcode());
            default -> null;
        };
    }

    /**
     * Whether the interpreter may run {@code insn}, an instruction a block ends before, from the block decoder's reading
     * of it (the block's bytes cover it): SYSCALL, SYSRET, STI, IRET, HLT, WRMSR, RDMSR and CPUID, with no prefix but
     * REX, whose decoding depends on nothing the block decoder does not know (not the vendor's rules for prefixed
     * branches, nor APX's prefixes). A system call's entry and return step two of them and STI a third.
     */
    static boolean steppedAsDecoded(Instruction insn) {
        int b = insn.opcode();
        return unprefixed(insn) && (insn.map() == 0 ? b == 0xFB || b == 0xCF || b == 0xF4
                : insn.map() == 1 && (b == 0x05 || b == 0x07 || b == 0x30 || b == 0x32 || b == 0xA2));
    }

    /** Whether {@code insn} has no prefix but REX: no legacy prefix, no REX2, VEX or EVEX. */
    private static boolean unprefixed(Instruction insn) {
        return insn.prefixes().length() == 0 && (insn.encoding() == Instruction.LEGACY || insn.encoding() == Instruction.REX);
    }

    /**
     * SWAPGS at each kernel entry from user space and each return, and CLAC and STAC around each user access (0F 01 F8,
     * CA, CB with no prefix but REX): ops of their own, as each changes only GS's base or EFLAGS.AC, which no block
     * or region keeps (every access through GS reads the base from the core, and only the full path's SMAP check reads
     * AC); null for any other instruction.
     */
    private static BlockOp kernelEntryOp(Instruction insn) {
        if (insn.map() != 1 || insn.opcode() != 0x01 || !unprefixed(insn)) {
            return null; // a prefixed one is the interpreter's inside the block (interpretedInBlocks)
        }
        return switch (insn.modrmByte()) {
            case 0xF8 -> BlockOp.of(BlockOp.SWAP_GS, insn.length(), 0, 0, 0, NONE, NONE, NONE, 0, 0, 0, 0);
            case 0xCA, 0xCB -> BlockOp.of(BlockOp.AC_FLAG, insn.length(), 0, insn.modrmByte() & 1, 0, NONE, NONE, NONE, 0,
                    0, 0, 0);
            default -> null;
        };
    }

    /**
     * Whether the interpreter runs {@code insn} inside a block ({@link BlockOp#INTERPRETED}) rather than the block
     * ending before it: the atomic read-modify-writes (a LOCK prefix where it is allowed, XCHG with memory, CMPXCHG and
     * XADD), which spin locks and reference counts run between plain instructions; MOVS and STOS with or without REP
     * (memcpy, memset and clear_page on parts with ERMS); CLAC, STAC and SWAPGS with a legacy prefix (without one they
     * are ops of their own: {@link #kernelEntryOp}); and what {@link #computesOnly} names. Their meaning depends on
     * nothing but their bytes in 64-bit code, and the interpreter's lock retries stay within the instruction.
     */
    private static boolean interpretedInBlocks(Instruction insn) {
        Prefixes prefixes = insn.prefixes();
        if (prefixes.addressSize() || insn.encoding() != Instruction.LEGACY && insn.encoding() != Instruction.REX) {
            return false;
        }
        int b = insn.opcode();
        if (insn.map() == 0 && (b == 0xA4 || b == 0xA5 || b == 0xAA || b == 0xAB)) {
            return !prefixes.lock() && (prefixes.rep() == 0 || prefixes.rep() == 0xF3);
        }
        if (!prefixes.lock() && computesOnly(insn)) {
            return true; // a 66, F2 or F3 prefix selects the instruction here
        }
        if (insn.map() == 1 && b == 0x01 && (insn.modrmByte() == 0xCA || insn.modrmByte() == 0xCB)) {
            return !prefixes.lock(); // CLAC, STAC around each user access: only EFLAGS.AC, which no direct page depends on
        }
        if (insn.map() == 1 && b == 0x01 && insn.modrmByte() == 0xF8) {
            // SWAPGS at each kernel entry from user space and each return: only GS's base, which every access through
            // GS reads from the core as it goes (no block or region keeps it); at CPL 3 its #GP is a block's fault
            return !prefixes.lock() && prefixes.rep() == 0;
        }
        if (prefixes.rep() != 0) {
            return false;
        }
        if (prefixes.lock()) {
            return insn.map() <= 1 && LockPrefix.allows(insn.map(), b, insn.modrmByte());
        }
        return insn.map() == 0 ? (b == 0x86 || b == 0x87) && insn.modrm().mod() != 3
                : insn.map() == 1 && (b == 0xB0 || b == 0xB1 || b == 0xC0 || b == 0xC1);
    }

    /**
     * Whether {@code insn} (in a legacy map, LOCK aside) only computes on registers, the flags and memory, with no
     * control transfer and nothing of the machine's mode or system state: SSE to SSE4.2, SSSE3 and MMX (ChaCha20,
     * BLAKE2s and the checksums Linux runs with them step through thousands of these a boot), SHA and AES-NI, MOVBE,
     * CRC32, ADCX/ADOX, SHLD/SHRD, BSF/BSR/TZCNT/LZCNT, POPCNT, MOVNTI and CMPXCHG8B/16B (SLUB's per-CPU cmpxchg16b).
     * Not 0F 78-7B (VMREAD/VMWRITE, SSE4a), group 15 (XSAVE, XRSTOR, LDMXCSR and the rest) nor the 0F38 system forms
     * (INVEPT, INVVPID, INVPCID, the shadow-stack and MOVDIR stores).
     */
    static boolean computesOnly(Instruction insn) {
        int map = insn.map(), b = insn.opcode();
        if (map == 1 && b == 0xC7) {
            return insn.extension() == 1 && insn.modrm().mod() != 3; // CMPXCHG8B/16B; the rest of group 9 is not
        }
        return map >= 1 && map <= 3 && (COMPUTES_ONLY[(map - 1) * 4 + (b >>> 6)] >>> b & 1) != 0;
    }

    /**
     * {@link #computesOnly}'s opcodes of maps 1-3, a bit each: one look-up, where a chain of range tests gave C2 a
     * branch to prune at each range the kernel had not decoded yet, and {@link #decode} was compiled again as it did
     * (docs/benchmarks.md).
     */
    private static final long[] COMPUTES_ONLY = computesOnlyTable();

    private static long[] computesOnlyTable() {
        long[] bits = new long[12];
        for (int b = 0; b < 256; b++) {
            boolean map1 = b >= 0x10 && b <= 0x17 || b >= 0x28 && b <= 0x2F || b >= 0x50 && b <= 0x77
                    || b >= 0x7C && b <= 0x7F || b >= 0xC2 && b <= 0xC6 || b >= 0xD0 && b <= 0xFE
                    || b == 0xA4 || b == 0xA5 || b == 0xAC || b == 0xAD || b == 0xB8 || b == 0xBC || b == 0xBD;
            boolean map2 = b <= 0x7F || b >= 0xC8 && b <= 0xCF || b >= 0xDB && b <= 0xDF || b == 0xF0 || b == 0xF1
                    || b == 0xF6;
            bits[b >>> 6] |= map1 ? 1L << b : 0;
            bits[4 + (b >>> 6)] |= map2 ? 1L << b : 0;
            bits[8 + (b >>> 6)] |= 1L << b; // map 3: all of it
        }
        return bits;
    }

    /**
     * Whether {@code insn} is a CMPXCHG or XADD with memory without LOCK, as Linux's per-CPU operations run them
     * (`this_cpu_cmpxchg` on %gs): a {@link BlockOp#LOCKED} op too, which may run it atomically (x86 allows it).
     */
    private static boolean exchangesMemory(Instruction insn) {
        int b = insn.opcode();
        return insn.map() == 1 && (b == 0xB1 || b == 0xC1) && insn.modrm().mod() != 3;
    }

    /**
     * A LOCK-prefixed ADD, OR, AND, SUB or XOR with a register or an immediate, INC, DEC, XADD or CMPXCHG of 4 or 8 bytes
     * (and XADD and CMPXCHG of memory without LOCK, {@link #exchangesMemory}) as a {@link BlockOp#LOCKED} op, its kind
     * in {@code sub} (the ALU operation, + 16 with an immediate; INC 8, DEC 9, XADD 10, CMPXCHG 11); null for the other
     * locked forms (ADC and SBB read CF, bytes and words, NOT, NEG, the bit tests, CMPXCHG8B/16B), which the interpreter
     * runs.
     */
    private BlockOp locked() {
        if (opSize < 4) {
            return null;
        }
        int b = insn.opcode(), op = regField() & 7;
        int kind;
        if (insn.map() == 0) {
            kind = switch (b) {
                case 0x01, 0x09, 0x21, 0x29, 0x31 -> b >>> 3;
                case 0x81, 0x83 -> op == 2 || op == 3 ? -1 : 16 + op;
                case 0xFF -> op <= 1 ? 8 + op : -1;
                default -> -1;
            };
        } else {
            kind = b == 0xC1 ? 10 : b == 0xB1 ? 11 : -1;
        }
        if (kind < 0) {
            return null;
        }
        return withRm(LOCKED, opSize, kind, regField(), opSize, kind >= 16 ? insn.signedImmediate() : 0);
    }

    /** Register {@code n} as accessed with {@code size}: without REX, byte registers 4-7 are AH, CH, DH, BH. */
    private int regAt(int n, int size) {
        return size == 1 && !insn.anyRex() && n >= 4 && n < 8 ? HIGH_BYTE + n - 4 : n;
    }

    private int mod() {
        return insn.modrm().mod();
    }

    private int regField() {
        return insn.modrm().reg();
    }

    /** An instruction with a ModRM r/m operand of {@code rmSize} bytes. */
    private BlockOp withRm(int op, int size, int sub, int reg, int rmSize, long imm) {
        ModRm f = insn.modrm();
        int rm = f.mod() == 3 ? regAt(f.rm(), rmSize) : MEMORY;
        return BlockOp.of(op, insn.length(), size, sub, reg, rm, f.base(), f.index(), f.scale(), f.disp(), imm, seg);
    }

    /** LEA: the offset alone, no segment base. */
    private BlockOp lea() {
        ModRm f = insn.modrm();
        return BlockOp.of(LEA, insn.length(), opSize, 0, f.reg(), MEMORY, f.base(), f.index(), f.scale(), f.disp(), 0,
                0);
    }

    /** An instruction with register operands only. */
    private BlockOp plain(int op, int size, int sub, int reg, int rm, long imm) {
        return BlockOp.of(op, insn.length(), size, sub, reg, rm, NONE, NONE, 0, 0, imm, 0);
    }

    private int byteOr(int b) {
        return (b & 1) == 0 ? 1 : opSize;
    }

    private BlockOp map0(int b) {
        if (b < 0x40 && (b & 7) < 6) {
            int op = (b >>> 3) & 7;
            int size = byteOr(b);
            switch (b & 7) {
                case 0, 1 -> {
                    if (mod() == 3 && size >= 4) { // the commonest form: no operand-size switch when it runs
                        return withRm(size == 8 ? ALU_R64_R64 : ALU_R32_R32, size, op, regField(), size, 0);
                    }
                    return withRm(ALU_RM_REG, size, op, regAt(regField(), size), size, 0);
                }
                case 2, 3 -> {
                    return withRm(ALU_REG_RM, size, op, regAt(regField(), size), size, 0);
                }
                default -> {
                    long imm = insn.operandImmediate(size);
                    return plain(ALU_RM_IMM, size, op, 0, 0, imm);
                }
            }
        }
        switch (b) {
            case 0x50, 0x51, 0x52, 0x53, 0x54, 0x55, 0x56, 0x57 -> {
                return plain(PUSH_REG, opSize == 2 ? 2 : 8, 0, (b & 7) | insn.rexB(), 0, 0);
            }
            case 0x58, 0x59, 0x5A, 0x5B, 0x5C, 0x5D, 0x5E, 0x5F -> {
                return plain(POP_REG, opSize == 2 ? 2 : 8, 0, (b & 7) | insn.rexB(), 0, 0);
            }
            case 0x63 -> {
                return withRm(MOVSX, opSize, 4, regField(), 4, 0);
            }
            case 0x68 -> {
                long imm = insn.signedImmediate();
                return plain(PUSH_IMM, opSize == 2 ? 2 : 8, 0, NONE, NONE, imm); // no register operand
            }
            case 0x6A -> {
                long imm = insn.signedImmediate();
                return plain(PUSH_IMM, opSize == 2 ? 2 : 8, 0, NONE, NONE, imm); // no register operand
            }
            case 0x69, 0x6B -> {
                long imm = insn.signedImmediate();
                return withRm(IMUL_IMM, opSize, 0, regField(), opSize, imm);
            }
            case 0x70, 0x71, 0x72, 0x73, 0x74, 0x75, 0x76, 0x77, 0x78, 0x79, 0x7A, 0x7B, 0x7C, 0x7D, 0x7E, 0x7F -> {
                if (opSize == 2) {
                    return null; // 66-prefixed near branches follow the vendor: the interpreter has the rule
                }
                long rel = insn.signedImmediate();
                return plain(JCC, 8, b & 0xF, 0, 0, rel);
            }
            case 0x80, 0x81, 0x83 -> {
                int size = b == 0x80 ? 1 : opSize;
                long imm = b == 0x83 ? insn.signedImmediate() : insn.operandImmediate(size);
                return withRm(ALU_RM_IMM, size, regField() & 7, 0, size, imm);
            }
            case 0x84, 0x85 -> {
                int size = byteOr(b);
                return withRm(TEST_RM_REG, size, 0, regAt(regField(), size), size, 0);
            }
            case 0x88, 0x89 -> {
                int size = byteOr(b);
                return withRm(MOV_RM_REG, size, 0, regAt(regField(), size), size, 0);
            }
            case 0x8A, 0x8B -> {
                int size = byteOr(b);
                return withRm(MOV_REG_RM, size, 0, regAt(regField(), size), size, 0);
            }
            case 0x8D -> {
                if (mod() == 3) {
                    return null; // #UD
                }
                return lea();
            }
            case 0x90 -> {
                if (insn.rexB() != 0) {
                    return null; // XCHG R8, RAX
                }
                return plain(insn.prefixes().rep() == 0xF3 ? PAUSE : NOP, opSize, 0, 0, 0, 0);
            }
            case 0x8C -> {
                int sreg = regField() & 7;
                return sreg > 5 ? null : withRm(MOV_FROM_SEG, opSize, sreg, 0, opSize, 0); // a store is 2 bytes
            }
            case 0xFA -> {
                return plain(CLI, opSize, 0, 0, 0, 0);
            }
            case 0x9C -> {
                return plain(PUSHF, opSize == 2 ? 2 : 8, 0, 0, 0, 0);
            }
            case 0xC9 -> {
                return plain(LEAVE, opSize == 2 ? 2 : 8, 0, 0, 0, 0);
            }
            case 0x98 -> {
                return plain(SIGN_EXTEND_ACC, opSize, 0, 0, 0, 0);
            }
            case 0x99 -> {
                return plain(SIGN_FILL_DX, opSize, 0, 0, 0, 0);
            }
            case 0xA8, 0xA9 -> {
                int size = byteOr(b);
                long imm = insn.operandImmediate(size);
                return plain(TEST_RM_IMM, size, 0, 0, 0, imm);
            }
            case 0xB0, 0xB1, 0xB2, 0xB3, 0xB4, 0xB5, 0xB6, 0xB7 -> {
                long imm = insn.immediate();
                return plain(MOV_RM_IMM, 1, 0, 0, regAt((b & 7) | insn.rexB(), 1), imm);
            }
            case 0xB8, 0xB9, 0xBA, 0xBB, 0xBC, 0xBD, 0xBE, 0xBF -> {
                long imm = insn.immediate();
                return plain(MOV_RM_IMM, opSize, 0, 0, (b & 7) | insn.rexB(), imm);
            }
            case 0xC0, 0xC1, 0xD0, 0xD1, 0xD2, 0xD3 -> {
                int size = byteOr(b);
                long count = b <= 0xC1 ? insn.immediate() : b <= 0xD1 ? 1 : NONE;
                return withRm(SHIFT, size, regField() & 7, 0, size, count);
            }
            case 0xC3 -> {
                if (opSize == 2) {
                    return null;
                }
                return plain(RET, 8, 0, 0, 0, 0);
            }
            case 0xC6, 0xC7 -> {
                if ((regField() & 7) != 0) {
                    return null;
                }
                int size = byteOr(b);
                long imm = insn.operandImmediate(size);
                return withRm(MOV_RM_IMM, size, 0, 0, size, imm);
            }
            case 0xE8 -> {
                if (opSize == 2) {
                    return null;
                }
                long rel = insn.signedImmediate();
                return plain(CALL, 8, 0, 0, 0, rel);
            }
            case 0xE9 -> {
                if (opSize == 2) {
                    return null;
                }
                long rel = insn.signedImmediate();
                return plain(JMP, 8, 0, 0, 0, rel);
            }
            case 0xEB -> {
                if (opSize == 2) {
                    return null;
                }
                long rel = insn.signedImmediate();
                return plain(JMP, 8, 0, 0, 0, rel);
            }
            case 0xF6, 0xF7 -> {
                int size = byteOr(b);
                switch (regField() & 7) {
                    case 0, 1 -> {
                        long imm = insn.operandImmediate(size);
                        return withRm(TEST_RM_IMM, size, 0, 0, size, imm);
                    }
                    case 2 -> {
                        return withRm(NOT, size, 0, 0, size, 0);
                    }
                    case 3 -> {
                        return withRm(NEG, size, 0, 0, size, 0);
                    }
                    default -> {
                        return withRm(MUL_DIV, size, regField() & 7, 0, size, 0);
                    }
                }
            }
            case 0xFE, 0xFF -> {
                int op = regField() & 7;
                int size = b == 0xFE ? 1 : opSize;
                if (op == 0 || op == 1) {
                    return withRm(mod() == 3 && size == 8 ? INC_DEC_R64 : op == 0 ? INC : DEC, size, op, 0, size, 0);
                }
                if (b == 0xFE) {
                    return null;
                }
                return switch (op) {
                    case 2 -> opSize == 2 ? null : withRm(CALL_RM, 8, 0, 0, 8, 0);
                    case 4 -> opSize == 2 ? null : withRm(JMP_RM, 8, 0, 0, 8, 0);
                    case 6 -> withRm(PUSH_RM, opSize == 2 ? 2 : 8, 0, 0, opSize == 2 ? 2 : 8, 0);
                    default -> null;
                };
            }
            default -> {
                return null;
            }
        }
    }

    private BlockOp map1(int b) {
        switch (b) {
            case 0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87, 0x88, 0x89, 0x8A, 0x8B, 0x8C, 0x8D, 0x8E, 0x8F -> {
                if (opSize == 2) {
                    return null;
                }
                long rel = insn.signedImmediate();
                return plain(JCC, 8, b & 0xF, 0, 0, rel);
            }
            case 0x40, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0x49, 0x4A, 0x4B, 0x4C, 0x4D, 0x4E, 0x4F -> {
                return withRm(CMOV, opSize, b & 0xF, regField(), opSize, 0);
            }
            case 0x90, 0x91, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97, 0x98, 0x99, 0x9A, 0x9B, 0x9C, 0x9D, 0x9E, 0x9F -> {
                return withRm(SETCC, 1, b & 0xF, 0, 1, 0);
            }
            case 0xAF -> {
                return withRm(IMUL_REG_RM, opSize, 0, regField(), opSize, 0);
            }
            case 0x31 -> {
                return plain(RDTSC, 8, 0, 0, 0, 0);
            }
            case 0xAE -> {
                int op = regField() & 7;
                if (mod() != 3 || op < 5 || insn.prefixes().operandSize()) {
                    return null; // the state saves and loads, and with 66 the wait instructions
                }
                return plain(FENCE, opSize, op, NONE, NONE, 0);
            }
            case 0xA3, 0xAB, 0xB3, 0xBB -> {
                return withRm(BIT_TEST, opSize, (b >>> 3) & 3, regField(), opSize, NONE);
            }
            case 0xBA -> {
                int op = (regField() & 7) - 4;
                return op < 0 ? null : withRm(BIT_TEST, opSize, op, NONE, opSize, insn.immediate() & 0xFF);
            }
            case 0xB6, 0xB7 -> {
                int from = b == 0xB6 ? 1 : 2;
                return withRm(MOVZX, opSize, from, regField(), from, 0);
            }
            case 0xBE, 0xBF -> {
                int from = b == 0xBE ? 1 : 2;
                return withRm(MOVSX, opSize, from, regField(), from, 0);
            }
            case 0xC8, 0xC9, 0xCA, 0xCB, 0xCC, 0xCD, 0xCE, 0xCF -> { // BSWAP; with 66 undefined: the interpreter's
                return opSize == 2 ? null : plain(BSWAP, opSize, 0, 0, (b & 7) | insn.rexB(), 0);
            }
            case 0x0D, 0x18, 0x19, 0x1A, 0x1B, 0x1C, 0x1D, 0x1E, 0x1F -> { // prefetch and hint NOPs: no access
                return withRm(NOP, opSize, 0, 0, opSize, 0);
            }
            default -> {
                return null;
            }
        }
    }
}
