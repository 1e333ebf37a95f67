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
