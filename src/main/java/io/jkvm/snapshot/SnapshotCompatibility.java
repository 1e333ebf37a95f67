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
        int used = 0;
        for (io.jkvm.x86.VcpuState v : state.vcpus()) {
            used |= v.xsave().mxcsr();
        }
        int lacking = used & ~hostMxcsrMask;
        if (lacking != 0) {
            out.add(String.format("the saved MXCSR uses bit %d, which this CPU's MXCSR_MASK 0x%X lacks",
                    Integer.numberOfTrailingZeros(lacking), hostMxcsrMask));
        }
        return out;
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
