package io.jkvm.x86;

/**
 * The state a vCPU comes out of RESET in (SDM Vol. 3A, "Processor State Following Power-up, Reset, or INIT";
 * APM Vol. 2, "Processor Initialization State"): real mode at F000:FFF0 with CS's base at FFFF0000, 64 KiB segment
 * limits, CR0 = 60000010H, DR6 = FFFF0FF0H, DR7 = 400H, RFLAGS = 2 and RDX the processor signature. Both vendors
 * agree on every field here; the signature comes from the CPU model.
 */
public final class ResetState {
    private ResetState() {
    }

    public static final long CR0 = 0x60000010L, DR6 = 0xFFFF0FF0L, DR7 = 0x400, RIP = 0xFFF0, RFLAGS = 0x2;
    public static final int CS_SELECTOR = 0xF000;
    public static final long CS_BASE = 0xFFFF0000L;
    /** IA32_APIC_BASE of the bootstrap processor: the xAPIC enabled at FEE00000, BSP set. */
    public static final long APIC_BASE_BSP = 0xFEE00900L;

    /** RDX at reset: the processor signature (family, model, stepping), CPUID.1:EAX. */
    public static long rdx(CpuidTable model) {
        return model.leaf(1, 0).eax() & 0xFFFFFFFFL;
    }

    /** The general registers: all zero but RIP, RFLAGS and RDX. */
    public static Registers registers(CpuidTable model) {
        return Registers.zero().withRip(RIP).withRflags(RFLAGS).withGpr(2, rdx(model));
    }

    /** Segments, descriptor tables and control registers, with {@code apicBase} (the BSP's, or an AP's). */
    public static SpecialRegisters specialRegisters(long apicBase) {
        Segment code = new Segment(CS_BASE, 0xFFFF, CS_SELECTOR, 0xB, true, 0, false, true, false, false, false, false);
        Segment data = new Segment(0, 0xFFFF, 0, 0x3, true, 0, false, true, false, false, false, false);
        Segment ldt = new Segment(0, 0xFFFF, 0, 0x2, true, 0, false, false, false, false, false, false);
        Segment tr = new Segment(0, 0xFFFF, 0, 0xB, true, 0, false, false, false, false, false, false);
        DescriptorTable table = new DescriptorTable(0, 0xFFFF);
        return new SpecialRegisters(code, data, data, data, data, data, tr, ldt, table, table, CR0, 0, 0, 0, 0, 0, apicBase,
                new long[4]);
    }

    /**
     * What INIT leaves of {@code before} (SDM vol. 3, 9.1.1, Table 10-1's INIT column, as KVM's kvm_vcpu_reset does
     * it): the RESET state's segments, descriptor tables, CR2-CR4, CR8 and EFER, with CR0.CD and NW kept as they were
     * and the APIC base kept; x87, SSE and XSAVE state, XCR0 and the other MSRs are the vCPU's to keep.
     */
    public static SpecialRegisters init(SpecialRegisters before) {
        SpecialRegisters r = specialRegisters(before.apicBase());
        long cd = 1L << 30, nw = 1L << 29;
        long cr0 = ControlBits.CR0_ET | (before.cr0() & (cd | nw));
        return new SpecialRegisters(r.cs(), r.ds(), r.es(), r.fs(), r.gs(), r.ss(), r.tr(), r.ldt(), r.gdt(), r.idt(), cr0,
                0, 0, 0, 0, 0, r.apicBase(), r.interruptBitmap());
    }

    /** {@code s} with CS as a STARTUP IPI of {@code vector} sets it: vector × 256, base vector × 4 KiB. */
    public static SpecialRegisters startupCs(SpecialRegisters s, int vector) {
        if (vector < 0 || vector > 0xFF) {
            throw new IllegalArgumentException("a STARTUP IPI's vector is 8 bits, not 0x" + Integer.toHexString(vector));
        }
        return realModeCs(s, vector << 8);
    }

    /** {@code s} with CS the real-mode segment {@code selector} (base selector × 16), as after INIT otherwise. */
    public static SpecialRegisters realModeCs(SpecialRegisters s, int selector) {
        if (selector < 0 || selector > 0xFFFF) {
            throw new IllegalArgumentException("a real-mode segment is 16 bits, not 0x" + Integer.toHexString(selector));
        }
        Segment c = s.cs();
        Segment code = new Segment((long) selector << 4, c.limit(), selector, c.type(), c.present(), c.dpl(), c.db(), c.s(),
                c.l(), c.g(), c.avl(), c.unusable());
        return new SpecialRegisters(code, s.ds(), s.es(), s.fs(), s.gs(), s.ss(), s.tr(), s.ldt(), s.gdt(), s.idt(), s.cr0(),
                s.cr2(), s.cr3(), s.cr4(), s.cr8(), s.efer(), s.apicBase(), s.interruptBitmap());
    }

    /**
     * After INIT and a STARTUP IPI of {@code vector}: the INIT state but for CS, which is vector × 256 with a base of
     * vector × 4 KiB, so the processor starts in real mode at that page with IP 0 (SDM vol. 3, 9.4.4.1, 11.6.1).
     */
    public static SpecialRegisters startup(long apicBase, int vector) {
        return startupCs(specialRegisters(apicBase), vector);
    }

    /** The general registers after a STARTUP IPI: the reset values with IP 0. */
    public static Registers startupRegisters(CpuidTable model) {
        return registers(model).withRip(0);
    }

    /**
     * The bootstrap processor in 32-bit protected mode, paging off, as a Multiboot loader leaves it: flat CS (0x08)
     * and data segments (0x10), no descriptor tables loaded, CR0 = PE | ET, the rest as at reset.
     */
    public static SpecialRegisters flatProtectedMode() {
        Segment code = Segment.flatCode32(0x08);
        Segment data = Segment.flatData(0x10);
        SpecialRegisters reset = specialRegisters(APIC_BASE_BSP);
        return new SpecialRegisters(code, data, data, data, data, data, reset.tr(), reset.ldt(), new DescriptorTable(0, 0),
                new DescriptorTable(0, 0), ControlBits.CR0_PE | ControlBits.CR0_ET, 0, 0, 0, 0, 0, reset.apicBase(), new long[4]);
    }
}
