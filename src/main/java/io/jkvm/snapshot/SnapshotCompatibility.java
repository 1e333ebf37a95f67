package io.jkvm.snapshot;

import io.jkvm.x86.CpuFeature;
import io.jkvm.x86.CpuModel;
import io.jkvm.x86.CpuidTable;
import io.jkvm.x86.XsaveLayout;

import java.util.ArrayList;
import java.util.List;

/**
 * Whether a snapshot's CPU model runs on this host's KVM as it is: besides the features KVM lacks
 * ({@link CpuModel#missingOn}), KVM keeps XSAVE state at the host's own offsets, so a guest that was told other
 * offsets by its CPUID (a snapshot from a host with another layout) cannot run there; the software core can, with
 * the snapshot's layout. The state record itself moves between layouts by component number either way.
 */
public final class SnapshotCompatibility {
    private SnapshotCompatibility() {
    }

    /**
     * Why a snapshot's machine cannot run on this host's KVM besides missing features, one phrase each: XSAVE
     * components the guest was told sit elsewhere, and MXCSR bits the vCPUs use that this CPU's MXCSR_MASK lacks
     * (KVM_SET_XSAVE would refuse them). Empty: KVM can run it as far as state goes.
     */
    public static List<String> kvmObstacles(MachineState state, CpuidTable host, int hostMxcsrMask) {
        List<String> out = new ArrayList<>();
        List<CpuFeature> moved = kvmLayoutMismatch(state.cpu(), host);
        if (!moved.isEmpty()) {
            out.add("this host's KVM keeps the XSAVE state of " + moved.stream().map(CpuFeature::qemuName)
                    .collect(java.util.stream.Collectors.joining(", ")) + " at other offsets than the snapshot's CPU model");
        }
        mxcsrLacking(state, hostMxcsrMask, "this CPU's").ifPresent(out::add);
        return out;
    }

    /** The MXCSR bits any of the snapshot's vCPUs has set. */
    public static int mxcsrInUse(MachineState state) {
        int used = 0;
        for (io.jkvm.x86.VcpuState v : state.vcpus()) {
            used |= v.xsave().mxcsr();
        }
        return used;
    }

    /** The first MXCSR bit in use that {@code mask} ({@code whose} MXCSR_MASK) lacks, as a phrase; empty when none. */
    private static java.util.Optional<String> mxcsrLacking(MachineState state, int mask, String whose) {
        int lacking = mxcsrInUse(state) & ~mask;
        return lacking == 0 ? java.util.Optional.empty() : java.util.Optional.of(String.format(
                "the saved MXCSR uses bit %d, which %s MXCSR_MASK 0x%X lacks", Integer.numberOfTrailingZeros(lacking), whose, mask));
    }

    /**
     * The state moved onto {@code target}, the CPU model a destination offers (restore --cpu): each vCPU takes the
     * model's CPUID (with its own APIC ID) and its XSAVE state moves to the model's offsets by component number.
     * Refused in one line where the guest would lose something it already uses: another vendor, a feature its model
     * had, an XCR0 bit the vCPUs enabled, an MXCSR bit the model's MXCSR_MASK lacks.
     */
    public static MachineState retarget(MachineState state, CpuModel target) {
        CpuModel saved = state.cpu();
        List<String> why = new ArrayList<>();
        String from = saved.cpuid().vendor().strip(), to = target.cpuid().vendor().strip();
        if (!from.equals(to)) {
            why.add("the guest ran on a " + from + " CPU and the model is " + to);
        }
        List<CpuFeature> lacking = saved.missingOn(target.cpuid());
        if (!lacking.isEmpty()) {
            why.add("the model lacks " + CpuFeature.describe(lacking));
        }
        long xcr0 = 0;
        for (io.jkvm.x86.VcpuState v : state.vcpus()) {
            xcr0 |= v.xcr0();
        }
        long xcr0Lacking = xcr0 & ~target.cpuid().supportedXcr0();
        if (xcr0Lacking != 0 && lacking.isEmpty()) {
            why.add(String.format("the vCPUs enabled XCR0 bits 0x%x, which the model does not offer", xcr0Lacking));
        }
        mxcsrLacking(state, target.mxcsrMask(), "the model's").ifPresent(why::add);
        if (!why.isEmpty()) {
            throw new SnapshotException("cannot restore with --cpu " + CpuModel.printable(target.spec()) + ": "
                    + String.join("; ", why) + ": leave out --cpu to restore with the model it was saved with ("
                    + CpuModel.printable(saved.spec()) + ")");
        }
        XsaveLayout layout = target.layout();
        List<io.jkvm.x86.VcpuState> moved = new ArrayList<>();
        for (int id = 0; id < state.vcpus().size(); id++) {
            io.jkvm.x86.VcpuState v = state.vcpus().get(id);
            io.jkvm.x86.XsaveArea area = v.xsave(); // a copy per call: taken once
            io.jkvm.x86.XsaveArea x = area.layout().equals(layout) ? area : area.relayout(layout);
            moved.add(v.withCpuid(target.cpuid().withApicId(id)).withXsave(x));
        }
        return new MachineState(target, state.memorySize(), moved, state.devices(), state.tscKhz(), state.kvmClock());
    }

    /** The features whose XSAVE components sit at other offsets (or sizes) in the model than on the host. */
    public static List<CpuFeature> kvmLayoutMismatch(CpuModel model, CpuidTable host) {
        XsaveLayout mine = model.layout(), theirs = XsaveLayout.fromCpuid(host);
        List<CpuFeature> out = new ArrayList<>();
        for (XsaveLayout.Component c : mine.components()) {
            if (c.number() < 2 || c.supervisor() || (model.cpuid().supportedXcr0() & c.mask()) == 0) {
                continue;
            }
            boolean same = theirs.has(c.number()) && theirs.require(c.number()).offset() == c.offset()
                    && theirs.require(c.number()).size() == c.size();
            if (!same) {
                for (CpuFeature f : CpuFeature.values()) {
                    if ((f.xsaveMask() & c.mask()) != 0 && !out.contains(f)) {
                        out.add(f);
                    }
                }
            }
        }
        return out;
    }
}
