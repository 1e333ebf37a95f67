package io.jkvm.machine;

import io.jkvm.emu.CoreCpuid;
import io.jkvm.x86.CpuFeature;
import io.jkvm.x86.CpuModel;
import io.jkvm.x86.CpuidTable;
import io.jkvm.x86.Vendor;

/**
 * The --cpu spellings: {@code host[,+f,-f...]}, this host's KVM model with edits; {@code core[,edits]}, the same
 * narrowed to what the software core implements: a model both backends run, so its VM can move between them and
 * its snapshots restore on either; and {@code max[,edits]}, every feature the core implements (QEMU's {@code -cpu max}
 * for TCG; AMD's automatic IBRS on an AMD-like host only), for the software core.
 */
public final class CpuModels {
    private CpuModels() {
    }

    public static CpuModel parse(String spec, CpuidTable host, int hostMxcsrMask) {
        String stripped = spec.strip();
        if (stripped.equals("max") || stripped.startsWith("max,")) { // every feature the core implements, then the edits
            StringBuilder all = new StringBuilder("host");
            boolean amdLike = Vendor.of(CpuModel.parse("host" + stripped.substring(3), host, hostMxcsrMask).cpuid()).followsApm(); // after vendor=
            for (CoreCpuid.Bit b : CoreCpuid.BITS) {
                CpuFeature.byName(b.name())
                        .filter(f -> amdLike || f != CpuFeature.AUTO_IBRS) // AMD's leaf: an Intel model has none
                        .ifPresent(f -> all.append(",+").append(f.qemuName()));
            }
            CpuModel edited = CpuModel.parse(all + stripped.substring(3), host, hostMxcsrMask);
            return new CpuModel(stripped, CoreCpuid.narrow(edited).cpuid(), hostMxcsrMask);
        }
        if (stripped.equals("core") || stripped.startsWith("core,")) {
            CpuModel edited = CpuModel.parse("host" + stripped.substring(4), host, hostMxcsrMask);
            return new CpuModel(stripped, CoreCpuid.narrow(edited).cpuid(), hostMxcsrMask);
        }
        return CpuModel.parse(spec, host, hostMxcsrMask);
    }

    /** What of {@code model} the software core does not implement, as one phrase; empty when the core runs it as it is. */
    public static String lackingOnCore(CpuModel model) {
        return CoreCpuid.summary(model.cpuid());
    }
}
