package io.jkvm.emu;

import io.jkvm.linux.Mapping;
import io.jkvm.x86.CpuidTable;
import io.jkvm.x86.RamLayout;

/**
 * The instruction being run: its fetch through the MMU into {@link InstructionDecoder}, its immediates and ModRM
 * operand as the handlers take them, effective and linear addresses, r/m operands.
 */
abstract sealed class InstructionFetch extends MemoryAccess permits StepExecution {
    InstructionFetch(Mapping ram, RamLayout layout, CpuidTable cpuid, int mxcsrMask, IoPort io) {
        super(ram, layout, cpuid, mxcsrMask, io);
    }

    /** Clears the prefixes the last instruction left. */
    void beginInstruction() {
        rexW = false;
        rexR = rexX = rexB = 0;
        rex2 = false;
        anyRex = false;
        rep = 0;
        lock = false;
        slowAccess = watchingData;
        lockedWordAt = -1;
        segOverride = false;
        stackAddressed = false;
    }

    // ---- instruction fetch and decode state ------------------------------------------------------------------

    long ip;               // the linear address after the instruction being executed
    int opSize;                    // 2, 4 or 8
    int adSize;            // 4 or 8
    boolean rexW;
    int rexR, rexX, rexB;          // register-number high bits (REX: 8; REX2: 8 and/or 16)
    boolean rex2;
    int rep;                       // 0, 0xF2 or 0xF3
    boolean p66;                   // a 66 prefix: operand size, or the SSE mandatory prefix
    long segBase;                  // the base the memory operand's segment adds (0 in 64-bit mode but for FS and GS)
    boolean segOverride;           // a segment prefix chose segBase: BP and SP bases no longer select SS
    int segIndex;                  // outside 64-bit mode: the segment register segBase is from, for its checks
    int mod, regField, rmField;
    long ea;
    int nddTarget = -1;            // set by an APX NDD instruction for the duration of its legacy handler
    private boolean ripRelative;
    private long disp;

    /** The guest-physical address of the last instruction fetch that found no RAM. */
    long fetchOutsideRam;
    long fetchPhysBase;

    /** The instruction being executed, as {@link InstructionDecoder} read it. */
    Instruction insn;

    /** The instruction byte at linear {@code address}, fetched through the MMU as an instruction fetch. */
    private int codeByte(long address) {
        long page = address & ~0xFFFL;
        if (page != fetchPage) {
            long phys = translate(address, ACC_EXEC) & ~0xFFFL; // the byte's own address: a #PF reports it in CR2
            if (!isRam(phys, 0x1000)) {
                fetchOutsideRam = translate(address, ACC_EXEC);
                throw new Stop(Reason.FETCH_OUTSIDE_RAM); // as KVM: an emulation failure, not a device read
            }
            fetchPhysBase = phys;
            fetchPage = page;
        }
        return ram.getByte(fetchPhysBase + (address & 0xFFF)) & 0xFF;
    }

    /**
     * Decodes the instruction at {@link #ip} (a linear address): afterwards {@link #insn} is it, {@link #ip} is the
     * address after it.
     */
    Instruction decodeInstruction() {
        long start = ip;
        long wrap = code64 ? -1L : 0xFFFFFFFFL;
        codeByte(start & wrap); // the fetch's translation and its faults, as the decoder's first byte would take them
        long physical = fetchPhysBase + (start & 0xFFF);
        boolean apx = code64 && apxEnabled(), protectedMode = protectedMode(), apm = vendor.followsApm();
        // what the decoder reads besides the bytes: an instruction decoded under other settings is decoded again
        int mode = (code64 ? 1 : 0) | (apx ? 2 : 0) | (protectedMode ? 4 : 0) | (apm ? 8 : 0) | defaultSize << 4;
        int slot = (int) (physical ^ physical >>> 9) & (DECODED_SLOTS - 1);
        Instruction decoded = decodedInsn[slot];
        if (decoded == null || decodedAt[slot] != physical || decodedMode[slot] != mode
                || !ram.holds(physical, decodedBytes[slot])) {
            CodeCursor code = cursor;
            code.address = start;
            code.wrap = wrap;
            InstructionDecoder decoder = code64 ? (apx ? (apm ? APX_APM : APX_SDM) : apm ? PLAIN_APM : PLAIN_SDM)
                    : new InstructionDecoder(false, defaultSize, protectedMode, false, apm);
            decoded = decoder.decode(code);
            interpreterDecodes++;
            if ((physical & 0xFFF) + decoded.length() <= 0x1000) { // one across a page end is decoded each time
                byte[] bytes = new byte[decoded.length()];
                ram.read(physical, bytes, 0, bytes.length);
                decodedAt[slot] = physical;
                decodedMode[slot] = mode;
                decodedBytes[slot] = bytes;
                decodedInsn[slot] = decoded;
            }
        }
        insn = decoded;
        ip = (start + decoded.length()) & wrap;
        return decoded;
    }

    /**
     * The interpreter's last decoded instructions, by guest-physical address and the mode that decoded them, with
     * their bytes: one whose bytes are still in memory runs again undecoded (an interrupt's entry and IRET, a REP
     * MOVS, the 16- and 32-bit code before long mode). Direct-mapped by address.
     */
    private static final int DECODED_SLOTS = 256;
    /** How many instructions the interpreter decoded, not finding them kept (for the tests). */
    long interpreterDecodes;
    private final long[] decodedAt = new long[DECODED_SLOTS];
    private final int[] decodedMode = new int[DECODED_SLOTS];
    private final byte[][] decodedBytes = new byte[DECODED_SLOTS][];
    private final Instruction[] decodedInsn = new Instruction[DECODED_SLOTS];

    /** The next instruction byte's linear address, wrapped to the mode's width: one per core, reused by each decode. */
    private final class CodeCursor implements InstructionBytes {
        long address, wrap;

        @Override
        public int next() {
            return codeByte(address++ & wrap);
        }
    }

    private final CodeCursor cursor = new CodeCursor();

    private static final InstructionDecoder PLAIN_SDM = new InstructionDecoder(true, 4, true, false, false),
            PLAIN_APM = new InstructionDecoder(true, 4, true, false, true),
            APX_SDM = new InstructionDecoder(true, 4, true, true, false),
            APX_APM = new InstructionDecoder(true, 4, true, true, true);

    /**
     * What every mode takes from {@link #insn} alike: LOCK and REP, the operand and address sizes, the 66 prefix, and
     * the register numbers' high bits and W from REX, REX2, VEX or EVEX. Returns the legacy prefixes, whose segment
     * is the mode's to apply.
     */
    Prefixes applyDecoded() {
        Prefixes p = insn.prefixes();
        if (p.lock()) {
            lockPrefix();
        }
        rep = p.rep();
        adSize = insn.addressSize();
        opSize = insn.operandSize();
        p66 = p.operandSize();
        rexW = insn.rexW();
        rexR = insn.rexR();
        rexX = insn.rexX();
        rexB = insn.rexB();
        rex2 = insn.encoding() == Instruction.REX2;
        anyRex = insn.anyRex();
        return p;
    }

    /** Takes {@link #insn}'s ModRM operand: {@link #regField}, and {@link #rmField} or the effective address. */
    void takeModrm() {
        ripRelative = false;
        rmField = -1;
        ModRm f = insn.modrm();
        if (adSize == 2) { // 16-bit addressing has forms of its own
            mod = f.mod();
            regField = f.reg();
            if (mod == 3) {
                rmField = f.rm();
                return;
            }
            long address = f.disp();
            if (f.base() != BlockOp.NONE) {
                address += r[f.base()];
                stackBased(f.base()); // BP: the stack segment
            }
            if (f.index() != BlockOp.NONE) {
                address += r[f.index()];
            }
            ea = address & 0xFFFF;
            return;
        }
        mod = f.mod();
        regField = f.reg();
        if (f.isRegister()) {
            rmField = f.rm();
            return;
        }
        long address = f.disp();
        if (f.base() == BlockOp.RIP) {
            ripRelative = code64; // outside 64-bit mode: a 32-bit absolute displacement
            disp = f.disp();
            address = code64 ? 0 : f.disp();
        } else if (f.base() != BlockOp.NONE) {
            address += r[f.base()];
            stackBased(f.base());
            stackAddressed = code64 && !segOverride && (f.base() == 4 || f.base() == 5);
        }
        if (f.index() != BlockOp.NONE) {
            address += r[f.index()] << f.scale();
        }
        ea = address;
    }

    /** Outside 64-bit mode, an EBP or ESP base (BP in 16-bit forms) addresses the stack segment unless a prefix says. */
    void stackBased(int base) {
        if (!code64 && !segOverride && (base == 4 || base == 5)) {
            segBase = segments[SegmentLoads.SS].base();
            segIndex = SegmentLoads.SS;
        }
    }

    /** The offsets an address size reaches: 16, 32 or 64 bits. */
    long offsetMask() {
        return adSize == 8 ? -1L : adSize == 4 ? 0xFFFFFFFFL : 0xFFFFL;
    }

    /** The memory operand's linear address (a RIP-relative one counts from the instruction's end, {@link #ip}). */
    long ea() {
        return linear(offset());
    }

    /** The memory operand's offset in its segment (the effective address), within the address size. */
    long offset() {
        long a = ripRelative ? ip + disp : ea;
        return adSize == 8 ? a : a & offsetMask();
    }

    /** The linear address of an offset in the operand's segment (DS or a prefix's): 32 bits wide outside 64-bit mode. */
    long linear(long offset) {
        return code64 ? offset + segBase : (offset + segBase) & 0xFFFFFFFFL;
    }

    /** The linear address of an offset in the operand's segment, once (outside 64-bit mode) the segment allows the access. */
    long dataLinear(long offset, int size, boolean write) {
        if (!code64) {
            SegmentChecks.check(core(), segIndex, offset, size, write);
        }
        return linear(offset);
    }

    /** The linear address of a string instruction's destination offset, which is always in ES, once ES allows the access. */
    long extraLinear(long offset, int size, boolean write) {
        if (code64) {
            return offset;
        }
        SegmentChecks.check(core(), SegmentLoads.ES, offset, size, write);
        return (offset + segments[SegmentLoads.ES].base()) & 0xFFFFFFFFL;
    }

    long readRm(int size) {
        return mod == 3 ? reg(rmField, size) : read(code64 ? ea() : checkedEa(size, false), size);
    }

    /** Outside 64-bit mode: the memory operand's linear address once its segment allows the access. */
    long checkedEa(int size, boolean write) {
        long offset = offset();
        SegmentChecks.check(core(), segIndex, offset, size, write);
        return linear(offset);
    }

    void writeRm(int size, long v) {
        if (nddTarget >= 0) { // APX new data destination: the result goes to EVEX.vvvv, zero-extended, not to r/m
            r[nddTarget] = v & mask(size);
            return;
        }
        if (mod == 3) {
            setReg(rmField, size, v);
        } else {
            write(code64 ? ea() : checkedEa(size, true), size, v);
        }
    }

}
