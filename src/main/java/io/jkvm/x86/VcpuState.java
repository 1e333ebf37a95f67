package io.jkvm.x86;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.SequencedMap;

/**
 * A vCPU's whole architectural state, the same for either backend: what a snapshot stores, what moves a vCPU
 * between KVM and the software core. R0..R15, RIP and RFLAGS are in {@code registers}; R16..R31 live where the
 * hardware keeps them, in the XSAVE area's APX component (19), read through {@link #gpr(int)}. The XSAVE area is
 * kept in its {@linkplain XsaveArea#canonical() canonical form}, so one state reads the same from either backend.
 */
public record VcpuState(CpuidTable cpuid, Registers registers, SpecialRegisters specialRegisters, long xcr0,
                        XsaveArea xsave, SequencedMap<Integer, Long> msrs, PendingEvents events,
                        DebugRegisters debugRegisters, Activity activity) {

    public VcpuState {
        msrs = Collections.unmodifiableSequencedMap(new LinkedHashMap<>(msrs));
        xsave = xsave.canonical();
    }

    /** A copy: an XsaveArea's setters write in place, and a record must not change under its holder. */
    @Override
    public XsaveArea xsave() {
        return XsaveArea.of(xsave.layout(), xsave.toBytes());
    }

    /** The first field that differs from {@code other}, bit for bit, e.g. "specialRegisters.tr.base: 0x1800 vs 0x0". */
    public java.util.Optional<String> firstDifference(VcpuState other) {
        return StateDiff.first(this, other);
    }

    /** GPR {@code n} for n in 0..31, by encoding number (0 = RAX ... 15 = R15, 16..31 = R16..R31). */
    public long gpr(int n) {
        return n < 16 ? registers.gpr(n) : xsave.apx().r(n);
    }

    public ApxState egprs() {
        return xsave.apx();
    }

    public VcpuState withRegisters(Registers r) {
        return new VcpuState(cpuid, r, specialRegisters, xcr0, xsave, msrs, events, debugRegisters, activity);
    }

    public VcpuState withCpuid(CpuidTable table) {
        return new VcpuState(table, registers, specialRegisters, xcr0, xsave, msrs, events, debugRegisters, activity);
    }

    public VcpuState withXsave(XsaveArea x) {
        return new VcpuState(cpuid, registers, specialRegisters, xcr0, x, msrs, events, debugRegisters, activity);
    }

    public VcpuState withXcr0(long value) {
        return new VcpuState(cpuid, registers, specialRegisters, value, xsave, msrs, events, debugRegisters, activity);
    }

    public VcpuState withActivity(Activity a) {
        return new VcpuState(cpuid, registers, specialRegisters, xcr0, xsave, msrs, events, debugRegisters, a);
    }

    /** Equal as the guest sees it: XSAVE compared by state (present components and their bytes), not raw buffer. */
    public boolean sameState(VcpuState o) {
        return cpuid.equals(o.cpuid) && registers.equals(o.registers) && specialRegisters.equals(o.specialRegisters)
                && xcr0 == o.xcr0 && xsave.sameState(o.xsave) && msrs.equals(o.msrs) && events.equals(o.events)
                && debugRegisters.equals(o.debugRegisters) && activity == o.activity;
    }
}
