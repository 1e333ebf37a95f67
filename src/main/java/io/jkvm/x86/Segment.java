package io.jkvm.x86;

/** A segment register with its hidden descriptor part, as KVM's kvm_segment carries it. */
public record Segment(long base, int limit, int selector, int type, boolean present, int dpl,
                      boolean db, boolean s, boolean l, boolean g, boolean avl, boolean unusable) {

    /** Flat 64-bit code: execute/read, accessed (type 0xB), L=1, DPL 0. */
    public static Segment flatCode64(int selector) {
        return new Segment(0, 0xFFFFFFFF, selector, 0xB, true, 0, false, true, true, true, false, false);
    }

    /** Flat 32-bit code: execute/read, accessed (type 0xB), 4 GiB limit, D=1, DPL 0: what a boot loader leaves in CS. */
    public static Segment flatCode32(int selector) {
        return new Segment(0, 0xFFFFFFFF, selector, 0xB, true, 0, true, true, false, true, false, false);
    }

    /** Flat data: read/write, accessed (type 0x3), 4 GiB limit, D/B=1. */
    public static Segment flatData(int selector) {
        return new Segment(0, 0xFFFFFFFF, selector, 0x3, true, 0, true, true, false, true, false, false);
    }

    /** A busy 64-bit TSS (type 0xB, system segment): VMX entry wants a usable TR even when the guest never uses it. */
    public static Segment tss64(int selector, long base, int limit) {
        return new Segment(base, limit, selector, 0xB, true, 0, false, false, false, false, false, false);
    }

    public static Segment unusableLdt() {
        return new Segment(0, 0xFFFF, 0, 0x2, true, 0, false, false, false, false, false, true);
    }
}
