package io.jkvm.emu;

import io.jkvm.x86.ControlBits;
import io.jkvm.x86.Segment;
import io.jkvm.x86.Xcr0Rules;
import io.jkvm.x86.XsaveComponent;

/**
 * The 0F map's system groups: 6 (SLDT, STR, LLDT, LTR; VERR and VERW in SelectorChecks), 7 (SGDT/LGDT and the rest of the descriptor tables, XGETBV,
 * XSETBV, RDTSCP, SWAPGS, INVLPG), 9 (CMPXCHG8B/16B, XRSTORS, XSAVEC, XSAVES, RDRAND, RDSEED), 15 (fences, FXSAVE and
 * XSAVE with their restores, LDMXCSR/STMXCSR, CLFLUSH); MOV to and from control and debug registers; XCR0's rules.
 */
final class SystemInstructions {
    private SystemInstructions() {
    }

    /** 0F 00: SLDT, STR, LLDT, LTR, VERR, VERW (the rest #UD). */
    static void group6(Core c) {
        c.takeModrm();
        if (!c.protectedMode()) {
            throw GuestFault.of(GuestFault.UD); // the group's selector instructions need protected mode
        }
        switch (c.regField & 7) {
            case 0, 1 -> requireUserModeInstruction(c);
            case 4, 5 -> {
                SelectorChecks.verify(c, (c.regField & 7) == 5);
                return;
            }
            default -> { }
        }
        switch (c.regField & 7) {
            case 1 -> storeSelector(c, c.tr);
            case 3 -> {
                requireProtectedCpl0(c);
                loadTaskRegister(c, (int) c.readRm(2));
            }
            case 0 -> storeSelector(c, c.ldtr.unusable() ? 0 : c.ldtr.selector());
            case 2 -> {
                requireProtectedCpl0(c);
                loadLdt(c, (int) c.readRm(2));
            }
            default -> throw GuestFault.of(GuestFault.UD);
        }
        c.done();
    }

    /** LTR and LLDT: #UD in real mode, #GP(0) above CPL0. */
    private static void requireProtectedCpl0(Core c) {
        if (!c.protectedMode()) {
            throw GuestFault.of(GuestFault.UD);
        }
        c.requireCpl0();
    }

    /**
     * LTR: an available TSS descriptor from the GDT (16 bytes in IA-32e mode, its base's upper half in the second
     * 8), marked busy; a null selector, one in the LDT or not naming an available TSS is #GP(selector), not present #NP.
     */
    private static void loadTaskRegister(Core c, int selector) {
        int code = selector & 0xFFFC;
        if (code == 0 || (selector & 4) != 0) {
            throw GuestFault.withCode(GuestFault.GP, code);
        }
        long address = SegmentLoads.descriptorAddress(c, selector);
        long low = c.supervisorRead(address, 8);
        int type = (int) (low >>> 40) & 0x1F; // S clear: 09 an available 32-bit (or 64-bit) TSS, 01 a 16-bit one
        if (type != 0x9 && !(type == 0x1 && !c.longMode())) {
            throw GuestFault.withCode(GuestFault.GP, code);
        }
        if ((low & (1L << 47)) == 0) {
            throw GuestFault.withCode(GuestFault.NP, code);
        }
        Segment s = SegmentLoads.cached(selector, low);
        long base = systemBase(c, address, s);
        c.supervisorWrite(address + 5, 1, (low >>> 40) | 2); // busy
        c.taskRegister = new Segment(base, s.limit(), selector, type | 2, true, s.dpl(), s.db(), false, false,
                s.g(), s.avl(), false);
        c.tr = selector;
    }

    /** A system descriptor's base: in IA-32e mode 16 bytes long, bits 63:32 of the base in its second 8, canonical or #GP(selector). */
    private static long systemBase(Core c, long address, Segment s) {
        if (!c.longMode()) {
            return s.base();
        }
        long base = s.base() | c.supervisorRead(address + 8, 4) << 32;
        if (!c.canonicalForRegister(base)) {
            throw GuestFault.withCode(GuestFault.GP, s.selector() & 0xFFFC);
        }
        return base;
    }

    /** LLDT: an LDT descriptor from the GDT, or a null selector, which leaves LDTR unusable. */
    private static void loadLdt(Core c, int selector) {
        int code = selector & 0xFFFC;
        if (code == 0) {
            c.ldtr = Segment.unusableLdt();
            return;
        }
        if ((selector & 4) != 0) {
            throw GuestFault.withCode(GuestFault.GP, code);
        }
        long address = SegmentLoads.descriptorAddress(c, selector);
        long low = c.supervisorRead(address, 8);
        if (((low >>> 40) & 0x1F) != 0x2) {
            throw GuestFault.withCode(GuestFault.GP, code);
        }
        if ((low & (1L << 47)) == 0) {
            throw GuestFault.withCode(GuestFault.NP, code);
        }
        Segment s = SegmentLoads.cached(selector, low);
        long base = systemBase(c, address, s);
        c.ldtr = new Segment(base, s.limit(), selector, 0x2, true, 0, false, false, false, s.g(), s.avl(), false);
    }

    /** 0F C7: CMPXCHG8B/16B (/1), XRSTORS (/3), XSAVEC (/4), XSAVES (/5), RDRAND (/6), RDSEED (/7). */
    static void group9(Core c) {
        c.takeModrm();
        int op = c.regField & 7;
        if (op == 1 && c.mod != 3) {
            long a = c.ea();
            if (c.rexW) {
                if ((a & 15) != 0) {
                    throw GuestFault.withCode(GuestFault.GP, 0);
                }
                if (c.lock && c.hostCompareExchange16(a)) {
                    c.done();
                    return;
                }
                long lo = c.read(a, 8), hi = c.read(a + 8, 8);
                if (lo == c.r[0] && hi == c.r[2]) {
                    c.write(a, 8, c.r[3]);
                    c.write(a + 8, 8, c.r[1]);
                    c.modifyArith(Core.ZF, Core.ZF);
                } else {
                    c.write(a, 8, lo); // a failed compare writes the destination back (SDM): a write fault, a device's write
                    c.write(a + 8, 8, hi);
                    c.r[0] = lo;
                    c.r[2] = hi;
                    c.modifyArith(Core.ZF, 0);
                }
            } else {
                long v = c.read(a, 8);
                long expect = (c.r[2] << 32) | (c.r[0] & 0xFFFFFFFFL);
                if (v == expect) {
                    c.write(a, 8, (c.r[1] << 32) | (c.r[3] & 0xFFFFFFFFL));
                    c.modifyArith(Core.ZF, Core.ZF);
                } else {
                    c.write(a, 8, v); // written back, as above
                    c.r[0] = v & 0xFFFFFFFFL;
                    c.r[2] = v >>> 32;
                    c.modifyArith(Core.ZF, 0);
                }
            }
        } else if (op >= 3 && op <= 5 && c.mod != 3) {
            Xsave.compactedInstruction(c, op, c.ea(), (c.r[2] << 32) | (c.r[0] & 0xFFFFFFFFL));
        } else if (op == 7 && c.mod == 3 && c.rep == 0xF3) { // RDPID: IA32_TSC_AUX, a full register in 64-bit mode
            c.setReg(c.rmField, c.code64 ? 8 : 4, c.tscAux);
        } else if ((op == 6 || op == 7) && c.mod == 3 && c.rep == 0) {
            c.setReg(c.rmField, c.opSize, io.jkvm.linux.HostRandom.nextLong() /* RDRAND, RDSEED: the host's entropy */);
            c.setArith(Core.CF);
        } else {
            throw GuestFault.of(GuestFault.UD);
        }
        c.done();
    }

    /** LFENCE, MFENCE or SFENCE (0F AE /5-/7, register form): the host's own fences, for other vCPUs' threads. */
    static void fence(int op) {
        switch (op) {
            case 5 -> java.lang.invoke.VarHandle.acquireFence();
            case 6 -> java.lang.invoke.VarHandle.fullFence(); // TSO's one reordering, a store and a later load, undone
            default -> java.lang.invoke.VarHandle.releaseFence();
        }
    }

    /** CLAC ({@code set} false) or STAC: EFLAGS.AC for SMAP, at CPL0 in a model with SMAP; else #UD. */
    static void accessCheckFlag(Core c, boolean set) {
        if (c.cpl != 0 || !c.smap) {
            throw GuestFault.of(GuestFault.UD);
        }
        c.flagBits = set ? c.flagBits | Core.AC : c.flagBits & ~Core.AC;
    }

    /** SWAPGS: GS's base and IA32_KERNEL_GS_BASE exchanged, in 64-bit code (else #UD) at CPL0 (else #GP(0)). */
    static void swapgs(Core c) {
        if (!c.code64) {
            throw GuestFault.of(GuestFault.UD);
        }
        c.requireCpl0();
        long base = c.gsBase;
        c.gsBase = c.kernelGsBase;
        c.kernelGsBase = base;
    }

    /** RDTSC: EDX:EAX from the time-stamp counter; #GP(0) outside CPL0 when CR4.TSD is set. */
    static void rdtsc(Core c) {
        c.requireTscAccess();
        long count = c.tsc.read();
        c.r[0] = count & 0xFFFFFFFFL;
        c.r[2] = count >>> 32;
    }

    /**
     * PAUSEs a vCPU runs between two host yields. A guest spinning with PAUSE waits for another vCPU (a lock it holds,
     * an IPI it has to answer), whose thread may be waiting for this one's host core: as KVM's pause-loop exiting yields
     * a spinning vCPU, the thread yields its core every so many PAUSEs (about a microsecond of spinning each time).
     */
    static final int PAUSES_PER_YIELD = 64;

    /** PAUSE: a spin-wait hint, passed on to the host, whose core the thread yields every {@link #PAUSES_PER_YIELD}th. */
    static void pause(Core c) {
        if (++c.pauses % PAUSES_PER_YIELD == 0) {
            Thread.yield();
        } else {
            Thread.onSpinWait();
        }
    }

    /** 0F AE: fences, FXSAVE/FXRSTOR, LDMXCSR/STMXCSR, XSAVE/XRSTOR/XSAVEOPT, CLFLUSH. */
    static void group15(Core c) {
        c.takeModrm();
        int op = c.regField & 7;
        if (c.mod == 3 && c.rep == 0xF3 && op <= 3) {
            fsgsBase(c, op);
            return;
        }
        if (c.mod == 3) {
            if (op >= 5) {
                fence(op);
                c.done();
                return;
            }
            throw GuestFault.of(GuestFault.UD);
        }
        if (c.rex2 && op >= 4 && op <= 6) {
            throw GuestFault.of(GuestFault.UD); // XSAVE/XRSTOR/XSAVEOPT are not REX2-promoted
        }
        long a = c.ea();
        switch (op) {
            case 0 -> Xsave.fxsave(c, a);
            case 1 -> Xsave.fxrstor(c, a);
            case 2 -> {
                long v = c.read(a, 4);
                if ((v & ~Integer.toUnsignedLong(c.mxcsrMask)) != 0) {
                    throw GuestFault.withCode(GuestFault.GP, 0);
                }
                c.mxcsr = (int) v;
            }
            case 3 -> c.write(a, 4, c.mxcsr);
            case 4 -> Xsave.xsave(c, a, (c.r[2] << 32) | (c.r[0] & 0xFFFFFFFFL));
            case 6 -> {
                if (c.p66) {
                    c.read(a, 1); // CLWB: a cache write-back, nothing to do here but the access's faults
                } else {
                    Xsave.xsave(c, a, (c.r[2] << 32) | (c.r[0] & 0xFFFFFFFFL)); // XSAVEOPT: XSAVE's image is a valid one
                }
            }
            case 5 -> Xsave.xrstor(c, a, (c.r[2] << 32) | (c.r[0] & 0xFFFFFFFFL));
            default -> c.read(a, 1); // CLFLUSH, and CLFLUSHOPT (66): a read access for their fault behaviour
        }
        c.done();
    }

    /**
     * F3 0F AE /0-/3: RDFSBASE, RDGSBASE, WRFSBASE, WRGSBASE, 64-bit mode with CR4.FSGSBASE only (else #UD); 32 bits
     * without REX.W, zero-extended; a non-canonical base to write is #GP(0).
     */
    private static void fsgsBase(Core c, int op) {
        if (!c.code64 || (c.cr4 & ControlBits.CR4_FSGSBASE) == 0) {
            throw GuestFault.of(GuestFault.UD);
        }
        int size = c.rexW ? 8 : 4;
        switch (op) {
            case 0 -> c.setReg(c.rmField, size, c.fsBase);
            case 1 -> c.setReg(c.rmField, size, c.gsBase);
            default -> {
                long base = c.reg(c.rmField, size);
                if (!c.canonicalForRegister(base)) {
                    throw GuestFault.withCode(GuestFault.GP, 0);
                }
                if (op == 2) {
                    c.fsBase = base;
                } else {
                    c.gsBase = base;
                }
            }
        }
        c.done();
    }

    /**
     * 66 0F 38 82: INVPCID type, m128 at CPL0 with INVPCID in the model. The core's TLB has no PCID tags, so type 0
     * (one address) drops that address and types 1-3 (a PCID, all, all but global) drop everything; a type above 3,
     * a PCID above 4095 or a non-canonical address of type 0 is #GP(0).
     */
    static void invpcid(Core c) {
        if (!c.cpuidHas(7, 0, 1, 10)) {
            throw GuestFault.of(GuestFault.UD);
        }
        c.takeModrm();
        if (c.mod == 3) {
            throw GuestFault.of(GuestFault.UD);
        }
        c.requireCpl0();
        long type = c.reg(c.regField, c.code64 ? 8 : 4);
        long pcid = c.read(c.ea(), 8);
        long address = c.read(c.ea() + 8, 8);
        if (type > 3 || pcid > 0xFFF || type == 0 && !c.canonicalForRegister(address)) {
            throw GuestFault.withCode(GuestFault.GP, 0);
        }
        if (type <= 1 && pcid != 0 && (c.cr4 & ControlBits.CR4_PCIDE) == 0) {
            throw GuestFault.withCode(GuestFault.GP, 0); // without PCIDE only PCID 0 exists to invalidate
        }
        if (type == 0) {
            c.invlpg(address);
        } else if (type == 2) {
            c.flushTlbWithGlobals(); // every context, global translations too
        } else {
            c.flushTlb(); // one context, or all but the global translations
        }
        c.done();
    }

    /** SLDT and STR: 16 bits to memory; to a register, zero-extended to the operand size. */
    private static void storeSelector(Core c, long selector) {
        if (c.mod == 3) {
            c.setReg(c.rmField, c.opSize, selector);
        } else {
            c.writeRm(2, selector);
        }
    }

    /** 0F 06 CLTS: clears CR0.TS, at CPL0. */
    static void clts(Core c) {
        c.requireCpl0();
        c.cr0 &= ~ControlBits.CR0_TS;
        c.done();
    }

    /** 0F 08 INVD, 0F 09 WBINVD (and F3 0F 09 WBNOINVD): at CPL0; there are no caches here to write back or drop. */
    static void invalidateCaches(Core c) {
        c.requireCpl0();
        c.done();
    }

    /** SGDT, SIDT, SLDT, SMSW and STR are #GP(0) above CPL0 when CR4.UMIP is set. */
    private static void requireUserModeInstruction(Core c) {
        if (c.cpl > 0 && (c.cr4 & ControlBits.CR4_UMIP) != 0) {
            throw GuestFault.withCode(GuestFault.GP, 0);
        }
    }

    /**
     * The CR4 bits the core implements and the CPU model enumerates: TSD, DE, PSE, PAE, PGE, PCE, OSFXSR and OSXMMEXCPT
     * by their CPUID bits where they have one, and UMIP, LA57, FSGSBASE, PCIDE, OSXSAVE, SMEP, SMAP, PKE and PKS the
     * same; every other bit (VME and PVI, MCE, VMXE, SMXE, CET...) is reserved here: writing it is #GP(0).
     */
    static long cr4Writable(Core c) {
        long bits = ControlBits.CR4_PAE | 1L << 8 | ControlBits.CR4_OSFXSR | ControlBits.CR4_OSXMMEXCPT; // PCE has no CPUID bit
        long[][] byCpuid = { // CR4 bit, CPUID leaf, register (0 EAX .. 3 EDX), bit
                {2, 1, 3, 4}, {3, 1, 3, 2}, {4, 1, 3, 3}, {7, 1, 3, 13}, {11, 7, 2, 2}, {12, 7, 2, 16}, {16, 7, 1, 0}, {17, 1, 2, 17},
                {18, 1, 2, 26}, {20, 7, 1, 7}, {21, 7, 1, 20}, {22, 7, 2, 3}, {24, 7, 2, 31}};
        for (long[] b : byCpuid) {
            if (c.cpuidHas((int) b[1], 0, (int) b[2], (int) b[3])) {
                bits |= 1L << b[0];
            }
        }
        return bits;
    }

    /** 0F 01: descriptor tables, SMSW/LMSW, XGETBV/XSETBV, RDPKRU/WRPKRU, VMCALL/VMMCALL, RDTSCP, SWAPGS, INVLPG. */
    static void group7(Core c) {
        int m = c.insn.modrmByte();
        if (m == 0xD0) { // XGETBV
            if ((c.cr4 & ControlBits.CR4_OSXSAVE) == 0) {
                throw GuestFault.of(GuestFault.UD);
            }
            if ((c.r[1] & 0xFFFFFFFFL) != 0) {
                throw GuestFault.withCode(GuestFault.GP, 0);
            }
            c.r[0] = c.xcr0 & 0xFFFFFFFFL;
            c.r[2] = c.xcr0 >>> 32;
            c.done();
            return;
        }
        if (m == 0xD1) { // XSETBV
            if ((c.cr4 & ControlBits.CR4_OSXSAVE) == 0) {
                throw GuestFault.of(GuestFault.UD);
            }
            c.requireCpl0();
            long value = (c.r[2] << 32) | (c.r[0] & 0xFFFFFFFFL);
            if ((c.r[1] & 0xFFFFFFFFL) != 0 || Xcr0Rules.violation(value, c.cpuid.supportedXcr0() | 0x3).isPresent()) {
                throw GuestFault.withCode(GuestFault.GP, 0);
            }
            setXcr0(c, value);
            c.done();
            return;
        }
        if (m == 0xCA || m == 0xCB) {
            accessCheckFlag(c, m == 0xCB);
            c.done();
            return;
        }
        if (m == 0xEE || m == 0xEF) { // RDPKRU, WRPKRU: the protection-key rights of user pages, under CR4.PKE
            if ((c.cr4 & ControlBits.CR4_PKE) == 0) {
                throw GuestFault.of(GuestFault.UD);
            }
            if ((c.r[1] & 0xFFFFFFFFL) != 0 || (m == 0xEF && (c.r[2] & 0xFFFFFFFFL) != 0)) {
                throw GuestFault.withCode(GuestFault.GP, 0);
            }
            if (m == 0xEE) {
                c.r[0] = c.pkru & 0xFFFFFFFFL;
                c.r[2] = 0;
            } else {
                c.setPkru((int) c.r[0]);
            }
            c.done();
            return;
        }
        if (m == 0xC1 || m == 0xD9) { // VMCALL, VMMCALL: KVM's hypercalls
            KvmHypercalls.call(c);
            return;
        }
        if (m == 0xF9) { // RDTSCP
            c.requireTscAccess();
            long count = c.tsc.read();
            c.r[0] = count & 0xFFFFFFFFL;
            c.r[2] = count >>> 32;
            c.r[1] = c.tscAux;
            c.done();
            return;
        }
        if (m == 0xF8) {
            swapgs(c);
            c.done();
            return;
        }
        c.takeModrm();
        int op = c.regField & 7;
        if (op == 4) { // SMSW: CR0's low 16 bits to memory; to a register, CR0 as wide as the operand
            requireUserModeInstruction(c);
            c.writeRm(c.mod == 3 ? c.opSize : 2, c.mod == 3 ? c.cr0 & Core.mask(c.opSize) : c.cr0 & 0xFFFF);
            c.done();
            return;
        }
        if (op == 6) { // LMSW: CR0.PE, MP, EM and TS from the operand; it can set PE, never clear it
            c.requireCpl0();
            long msw = c.readRm(2);
            long pe = (c.cr0 | msw) & ControlBits.CR0_PE;
            c.cr0 = (c.cr0 & ~0xEL) | (msw & 0xEL) | pe;
            c.done();
            return;
        }
        if (c.mod == 3) {
            throw GuestFault.of(GuestFault.UD);
        }
        switch (op) {
            case 0, 1 -> { // SGDT/SIDT: an 8-byte base in 64-bit mode, 4 outside (24 bits of it under a 16-bit operand size)
                requireUserModeInstruction(c);
                long base = op == 0 ? c.gdtBase : c.idtBase;
                c.write(c.ea(), 2, op == 0 ? c.gdtLimit : c.idtLimit);
                if (c.code64) {
                    c.write(c.ea() + 2, 8, base);
                } else {
                    c.write(c.linear((c.offset() + 2) & c.offsetMask()), 4, base & (c.opSize == 2 ? 0xFFFFFF : 0xFFFFFFFFL));
                }
            }
            case 2, 3 -> { // LGDT/LIDT
                c.requireCpl0();
                int limit = (int) c.read(c.ea(), 2);
                long base = c.code64 ? c.read(c.ea() + 2, 8)
                        : c.read(c.linear((c.offset() + 2) & c.offsetMask()), 4) & (c.opSize == 2 ? 0xFFFFFF : 0xFFFFFFFFL);
                if (c.code64 && !c.canonicalForRegister(base)) {
                    throw GuestFault.withCode(GuestFault.GP, 0); // a table base must be canonical
                }
                if (op == 2) {
                    c.gdtLimit = limit;
                    c.gdtBase = base;
                } else {
                    c.idtLimit = limit;
                    c.idtBase = base;
                }
            }
            case 7 -> { // INVLPG
                c.requireCpl0();
                c.invlpg(c.ea());
            }
            default -> throw GuestFault.of(GuestFault.UD);
        }
        c.done();
    }

    /** XCR0 changes; R16..R31 keep their values while APX is off and come back when it is on again (patch 05). */
    static void setXcr0(Core c, long value) {
        boolean apxBefore = c.apxEnabled();
        boolean apxAfter = (value & XsaveComponent.APX.mask()) != 0;
        if (apxBefore && !apxAfter) {
            System.arraycopy(c.r, 16, c.egprsSaved, 0, 16);
        } else if (!apxBefore && apxAfter) {
            System.arraycopy(c.egprsSaved, 0, c.r, 16, 16);
        }
        c.xcr0 = value;
    }

    static void movCr(Core c, boolean toCr) {
        c.requireCpl0();
        int m = c.insn.modrmByte(); // no memory form: the c.mod bits are ignored, c.r/m is always a GPR
        int crn = ((m >>> 3) & 7) | c.rexR;
        int gpr = (m & 7) | c.rexB;
        if (toCr) {
            c.serialize();
            long v = c.code64 ? c.r[gpr] : c.r[gpr] & 0xFFFFFFFFL;
            switch (crn) {
                case 0 -> writeCr0(c, v);
                case 2 -> c.cr2 = v;
                case 3 -> {
                    // With CR4.PCIDE, bit 63 asks to keep the PCID's TLB entries: the core may drop them anyway
                    c.cr3 = (c.cr4 & ControlBits.CR4_PCIDE) != 0 ? v & ~(1L << 63) : v;
                    c.flushTlb();
                }
                case 4 -> {
                    if ((v & ~cr4Writable(c)) != 0) {
                        throw GuestFault.withCode(GuestFault.GP, 0); // a reserved bit, or one for a feature the model lacks
                    }
                    if (c.longMode() && (v & ControlBits.CR4_PAE) == 0) {
                        throw GuestFault.withCode(GuestFault.GP, 0); // IA-32e mode needs PAE paging
                    }
                    if (c.longMode() && ((v ^ c.cr4) & ControlBits.CR4_LA57) != 0) {
                        throw GuestFault.withCode(GuestFault.GP, 0); // the paging depth changes only outside IA-32e mode
                    }
                    boolean pcide = (v & ControlBits.CR4_PCIDE) != 0 && (c.cr4 & ControlBits.CR4_PCIDE) == 0;
                    if (pcide && (!c.cpuidHas(1, 0, 2, 17) || !c.longMode() || (c.cr3 & 0xFFF) != 0)) {
                        throw GuestFault.withCode(GuestFault.GP, 0); // PCIDs need the feature, IA-32e mode and PCID 0
                    }
                    c.cr4 = v;
                    c.flushTlbWithGlobals(); // CR4.PGE, SMEP, SMAP or PKE may have changed
                }
                case 8 -> {
                    if ((v & ~0xFL) != 0) {
                        throw GuestFault.withCode(GuestFault.GP, 0); // CR8's reserved bits
                    }
                    c.cr8 = v;
                    if (c.apic != null) {
                        c.apic.setTaskPriorityClass((int) v); // CR8 is TPR[7:4]
                    }
                }
                default -> throw GuestFault.of(GuestFault.UD);
            }
        } else {
            c.r[gpr] = switch (crn) {
                case 0 -> c.cr0;
                case 2 -> c.cr2;
                case 3 -> c.cr3;
                case 4 -> c.cr4;
                case 8 -> c.apic != null ? c.apic.taskPriorityClass() : c.cr8;
                default -> throw GuestFault.of(GuestFault.UD);
            };
        }
        c.done();
    }

    /**
     * MOV to CR0, with the mode transitions it makes: paging on with EFER.LME set enters IA-32e mode (EFER.LMA, which
     * needs CR4.PAE); paging off leaves it, which only compatibility-mode code can do. PG without PE, NW without CD,
     * and bits 63:32 are #GP(0).
     */
    static void writeCr0(Core c, long v) {
        v |= ControlBits.CR0_ET;
        if ((v >>> 32) != 0 || (v & ControlBits.CR0_PG) != 0 && (v & ControlBits.CR0_PE) == 0
                || (v & ControlBits.CR0_NW) != 0 && (v & ControlBits.CR0_CD) == 0) {
            throw GuestFault.withCode(GuestFault.GP, 0);
        }
        boolean paging = (v & ControlBits.CR0_PG) != 0, wasPaging = c.paging();
        if (paging && !wasPaging && (c.efer & ControlBits.EFER_LME) != 0) {
            if ((c.cr4 & ControlBits.CR4_PAE) == 0) {
                throw GuestFault.withCode(GuestFault.GP, 0);
            }
            c.efer |= ControlBits.EFER_LMA;
        } else if (!paging && wasPaging && c.longMode()) {
            if (c.code64) {
                throw GuestFault.withCode(GuestFault.GP, 0);
            }
            c.efer &= ~ControlBits.EFER_LMA;
        }
        c.cr0 = v;
        c.flushTlbWithGlobals();
        c.modeChanged();
    }

    /** MOV to/from DR0-DR3, DR6, DR7 (DR4/DR5 alias DR6/DR7 without CR4.DE). */
    static void movDr(Core c, boolean toDr) {
        c.requireCpl0();
        if ((c.dr7 & 0x2000) != 0) { // DR7.GD: general detect, a fault before the MOV; the handler gets GD clear
            c.dr6 |= 0x2000; // BD
            c.dr7 &= ~0x2000L;
            c.debugRegistersChanged();
            throw GuestFault.of(GuestFault.DB);
        }
        int m = c.insn.modrmByte();
        int n = ((m >>> 3) & 7) | c.rexR;
        int gpr = (m & 7) | c.rexB;
        if (n > 7) {
            throw GuestFault.of(GuestFault.UD);
        }
        if (n == 4 || n == 5) {
            if ((c.cr4 & 0x8) != 0) { // CR4.DE
                throw GuestFault.of(GuestFault.UD);
            }
            n += 2;
        }
        if (toDr) {
            long v = c.r[gpr];
            switch (n) {
                case 6 -> c.dr6 = (v & 0x1E00FL) | 0xFFFF0FF0L;
                case 7 -> {
                    c.dr7 = (v & 0xFFFF2BFFL) | 0x400;
                    c.debugRegistersChanged();
                }
                default -> c.dr[n] = v;
            }
        } else {
            c.r[gpr] = n == 6 ? c.dr6 : n == 7 ? c.dr7 : c.dr[n];
        }
        c.done();
    }
}
