package io.jkvm.x86;

import java.util.Arrays;

/** Segment, descriptor-table and control registers, EFER and the APIC base (what KVM_GET_SREGS carries). */
public record SpecialRegisters(Segment cs, Segment ds, Segment es, Segment fs, Segment gs, Segment ss,
                               Segment tr, Segment ldt, DescriptorTable gdt, DescriptorTable idt,
                               long cr0, long cr2, long cr3, long cr4, long cr8, long efer, long apicBase,
                               long[] interruptBitmap) {

    public SpecialRegisters {
        if (interruptBitmap.length != 4) {
            throw new IllegalArgumentException("interrupt bitmap has 4 words, not " + interruptBitmap.length);
        }
        interruptBitmap = interruptBitmap.clone();
    }

    /** A copy with GDTR = {@code gdt}. */
    public SpecialRegisters withGdt(DescriptorTable gdt) {
        return new SpecialRegisters(cs, ds, es, fs, gs, ss, tr, ldt, gdt, idt, cr0, cr2, cr3, cr4, cr8, efer, apicBase,
                interruptBitmap);
    }

    /** A copy with IDTR = {@code idt}. */
    public SpecialRegisters withIdt(DescriptorTable idt) {
        return new SpecialRegisters(cs, ds, es, fs, gs, ss, tr, ldt, gdt, idt, cr0, cr2, cr3, cr4, cr8, efer, apicBase,
                interruptBitmap);
    }

    @Override
    public long[] interruptBitmap() {
        return interruptBitmap.clone();
    }

    public boolean longModeActive() {
        return (efer & ControlBits.EFER_LMA) != 0;
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof SpecialRegisters r && cs.equals(r.cs) && ds.equals(r.ds) && es.equals(r.es)
                && fs.equals(r.fs) && gs.equals(r.gs) && ss.equals(r.ss) && tr.equals(r.tr) && ldt.equals(r.ldt)
                && gdt.equals(r.gdt) && idt.equals(r.idt) && cr0 == r.cr0 && cr2 == r.cr2 && cr3 == r.cr3
                && cr4 == r.cr4 && cr8 == r.cr8 && efer == r.efer && apicBase == r.apicBase
                && Arrays.equals(interruptBitmap, r.interruptBitmap);
    }

    @Override
    public int hashCode() {
        return java.util.Objects.hash(cs, ds, es, fs, gs, ss, tr, ldt, gdt, idt, cr0, cr2, cr3, cr4, cr8, efer, apicBase)
                ^ Arrays.hashCode(interruptBitmap);
    }
}
