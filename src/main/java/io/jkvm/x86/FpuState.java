package io.jkvm.x86;

import java.util.Arrays;

/** The legacy x87/SSE state KVM_GET_FPU carries: ST0-7 (16 bytes each), control words, XMM0-15 and MXCSR. */
public record FpuState(byte[] fpr, int fcw, int fsw, int ftwx, int lastOpcode, long lastIp, long lastDp,
                       byte[] xmm, int mxcsr) {

    public FpuState {
        if (fpr.length != 128 || xmm.length != 256) {
            throw new IllegalArgumentException("FPU state needs 128 bytes of ST registers and 256 of XMM");
        }
        fpr = fpr.clone();
        xmm = xmm.clone();
    }

    /** The state after reset (FNINIT: FCW 0x37F; MXCSR 0x1F80). */
    public static FpuState initial() {
        return new FpuState(new byte[128], 0x37F, 0, 0, 0, 0, 0, new byte[256], 0x1F80);
    }

    @Override
    public byte[] fpr() {
        return fpr.clone();
    }

    @Override
    public byte[] xmm() {
        return xmm.clone();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof FpuState f && Arrays.equals(fpr, f.fpr) && fcw == f.fcw && fsw == f.fsw
                && ftwx == f.ftwx && lastOpcode == f.lastOpcode && lastIp == f.lastIp && lastDp == f.lastDp
                && Arrays.equals(xmm, f.xmm) && mxcsr == f.mxcsr;
    }

    @Override
    public int hashCode() {
        return Arrays.hashCode(fpr) * 31 + Arrays.hashCode(xmm) + fcw + mxcsr;
    }
}
