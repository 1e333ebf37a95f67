package io.jkvm.kvm;

import io.jkvm.linux.uapi.kvm_debugregs;
import io.jkvm.linux.uapi.kvm_dtable;
import io.jkvm.linux.uapi.kvm_fpu;
import io.jkvm.linux.uapi.kvm_regs;
import io.jkvm.linux.uapi.kvm_segment;
import io.jkvm.linux.uapi.kvm_sregs;
import io.jkvm.linux.uapi.kvm_vcpu_events;
import io.jkvm.x86.DebugRegisters;
import io.jkvm.x86.DescriptorTable;
import io.jkvm.x86.FpuState;
import io.jkvm.x86.PendingEvents;
import io.jkvm.x86.Registers;
import io.jkvm.x86.Segment;
import io.jkvm.x86.SpecialRegisters;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/** KVM's register structs to and from the backend-neutral records in {@code x86}. */
final class StateMarshal {
    private StateMarshal() {
    }

    static Registers readRegs(MemorySegment s) {
        return new Registers(kvm_regs.rax(s), kvm_regs.rbx(s), kvm_regs.rcx(s), kvm_regs.rdx(s),
                kvm_regs.rsi(s), kvm_regs.rdi(s), kvm_regs.rsp(s), kvm_regs.rbp(s),
                kvm_regs.r8(s), kvm_regs.r9(s), kvm_regs.r10(s), kvm_regs.r11(s),
                kvm_regs.r12(s), kvm_regs.r13(s), kvm_regs.r14(s), kvm_regs.r15(s),
                kvm_regs.rip(s), kvm_regs.rflags(s));
    }

    static void writeRegs(MemorySegment s, Registers r) {
        kvm_regs.rax(s, r.rax()); kvm_regs.rbx(s, r.rbx()); kvm_regs.rcx(s, r.rcx()); kvm_regs.rdx(s, r.rdx());
        kvm_regs.rsi(s, r.rsi()); kvm_regs.rdi(s, r.rdi()); kvm_regs.rsp(s, r.rsp()); kvm_regs.rbp(s, r.rbp());
        kvm_regs.r8(s, r.r8()); kvm_regs.r9(s, r.r9()); kvm_regs.r10(s, r.r10()); kvm_regs.r11(s, r.r11());
        kvm_regs.r12(s, r.r12()); kvm_regs.r13(s, r.r13()); kvm_regs.r14(s, r.r14()); kvm_regs.r15(s, r.r15());
        kvm_regs.rip(s, r.rip()); kvm_regs.rflags(s, r.rflags());
    }

    static Segment readSegment(MemorySegment s) {
        return new Segment(kvm_segment.base(s), kvm_segment.limit(s), Short.toUnsignedInt(kvm_segment.selector(s)),
                kvm_segment.type(s), kvm_segment.present(s) != 0, kvm_segment.dpl(s), kvm_segment.db(s) != 0,
                kvm_segment.s(s) != 0, kvm_segment.l(s) != 0, kvm_segment.g(s) != 0, kvm_segment.avl(s) != 0,
                kvm_segment.unusable(s) != 0);
    }

    static void writeSegment(MemorySegment s, Segment g) {
        kvm_segment.base(s, g.base());
        kvm_segment.limit(s, g.limit());
        kvm_segment.selector(s, (short) g.selector());
        kvm_segment.type(s, (byte) g.type());
        kvm_segment.present(s, bit(g.present()));
        kvm_segment.dpl(s, (byte) g.dpl());
        kvm_segment.db(s, bit(g.db()));
        kvm_segment.s(s, bit(g.s()));
        kvm_segment.l(s, bit(g.l()));
        kvm_segment.g(s, bit(g.g()));
        kvm_segment.avl(s, bit(g.avl()));
        kvm_segment.unusable(s, bit(g.unusable()));
    }

    static SpecialRegisters readSregs(MemorySegment s) {
        long[] bitmap = new long[4];
        MemorySegment.copy(s, ValueLayout.JAVA_LONG, kvm_sregs.interrupt_bitmap$offset(), bitmap, 0, 4);
        return new SpecialRegisters(readSegment(kvm_sregs.cs(s)), readSegment(kvm_sregs.ds(s)),
                readSegment(kvm_sregs.es(s)), readSegment(kvm_sregs.fs(s)), readSegment(kvm_sregs.gs(s)),
                readSegment(kvm_sregs.ss(s)), readSegment(kvm_sregs.tr(s)), readSegment(kvm_sregs.ldt(s)),
                readTable(kvm_sregs.gdt(s)), readTable(kvm_sregs.idt(s)),
                kvm_sregs.cr0(s), kvm_sregs.cr2(s), kvm_sregs.cr3(s), kvm_sregs.cr4(s), kvm_sregs.cr8(s),
                kvm_sregs.efer(s), kvm_sregs.apic_base(s), bitmap);
    }

    static void writeSregs(MemorySegment s, SpecialRegisters r) {
        writeSegment(kvm_sregs.cs(s), r.cs());
        writeSegment(kvm_sregs.ds(s), r.ds());
        writeSegment(kvm_sregs.es(s), r.es());
        writeSegment(kvm_sregs.fs(s), r.fs());
        writeSegment(kvm_sregs.gs(s), r.gs());
        writeSegment(kvm_sregs.ss(s), r.ss());
        writeSegment(kvm_sregs.tr(s), r.tr());
        writeSegment(kvm_sregs.ldt(s), r.ldt());
        writeTable(kvm_sregs.gdt(s), r.gdt());
        writeTable(kvm_sregs.idt(s), r.idt());
        kvm_sregs.cr0(s, r.cr0());
        kvm_sregs.cr2(s, r.cr2());
        kvm_sregs.cr3(s, r.cr3());
        kvm_sregs.cr4(s, r.cr4());
        kvm_sregs.cr8(s, r.cr8());
        kvm_sregs.efer(s, r.efer());
        kvm_sregs.apic_base(s, r.apicBase());
        MemorySegment.copy(r.interruptBitmap(), 0, s, ValueLayout.JAVA_LONG, kvm_sregs.interrupt_bitmap$offset(), 4);
    }

    private static DescriptorTable readTable(MemorySegment s) {
        return new DescriptorTable(kvm_dtable.base(s), Short.toUnsignedInt(kvm_dtable.limit(s)));
    }

    private static void writeTable(MemorySegment s, DescriptorTable t) {
        kvm_dtable.base(s, t.base());
        kvm_dtable.limit(s, (short) t.limit());
    }

    static FpuState readFpu(MemorySegment s) {
        byte[] fpr = kvm_fpu.fpr(s).toArray(ValueLayout.JAVA_BYTE);
        byte[] xmm = kvm_fpu.xmm(s).toArray(ValueLayout.JAVA_BYTE);
        return new FpuState(fpr, Short.toUnsignedInt(kvm_fpu.fcw(s)), Short.toUnsignedInt(kvm_fpu.fsw(s)),
                Byte.toUnsignedInt(kvm_fpu.ftwx(s)), Short.toUnsignedInt(kvm_fpu.last_opcode(s)),
                kvm_fpu.last_ip(s), kvm_fpu.last_dp(s), xmm, kvm_fpu.mxcsr(s));
    }

    static void writeFpu(MemorySegment s, FpuState f) {
        MemorySegment.copy(MemorySegment.ofArray(f.fpr()), 0, s, kvm_fpu.fpr$offset(), 128);
        MemorySegment.copy(MemorySegment.ofArray(f.xmm()), 0, s, kvm_fpu.xmm$offset(), 256);
        kvm_fpu.fcw(s, (short) f.fcw());
        kvm_fpu.fsw(s, (short) f.fsw());
        kvm_fpu.ftwx(s, (byte) f.ftwx());
        kvm_fpu.last_opcode(s, (short) f.lastOpcode());
        kvm_fpu.last_ip(s, f.lastIp());
        kvm_fpu.last_dp(s, f.lastDp());
        kvm_fpu.mxcsr(s, f.mxcsr());
    }

    static DebugRegisters readDebugRegs(MemorySegment s) {
        return new DebugRegisters(kvm_debugregs.db(s, 0), kvm_debugregs.db(s, 1), kvm_debugregs.db(s, 2),
                kvm_debugregs.db(s, 3), kvm_debugregs.dr6(s), kvm_debugregs.dr7(s));
    }

    static void writeDebugRegs(MemorySegment s, DebugRegisters d) {
        kvm_debugregs.db(s, 0, d.dr0());
        kvm_debugregs.db(s, 1, d.dr1());
        kvm_debugregs.db(s, 2, d.dr2());
        kvm_debugregs.db(s, 3, d.dr3());
        kvm_debugregs.dr6(s, d.dr6());
        kvm_debugregs.dr7(s, d.dr7());
    }

    /** KVM_VCPUEVENT_VALID_NMI_PENDING | VALID_SIPI_VECTOR | VALID_SHADOW (PAYLOAD needs a capability enabled first). */
    static final int EVENTS_VALID = 0x1 | 0x2 | 0x4;

    static PendingEvents readEvents(MemorySegment s) {
        MemorySegment ex = kvm_vcpu_events.exception(s);
        MemorySegment in = kvm_vcpu_events.interrupt(s);
        MemorySegment nmi = kvm_vcpu_events.nmi(s);
        return new PendingEvents(
                new PendingEvents.Exception(kvm_vcpu_events.exception.injected(ex) != 0,
                        kvm_vcpu_events.exception.pending(ex) != 0, Byte.toUnsignedInt(kvm_vcpu_events.exception.nr(ex)),
                        kvm_vcpu_events.exception.has_error_code(ex) != 0, kvm_vcpu_events.exception.error_code(ex),
                        kvm_vcpu_events.exception_has_payload(s) != 0, kvm_vcpu_events.exception_payload(s)),
                new PendingEvents.Interrupt(kvm_vcpu_events.interrupt.injected(in) != 0,
                        Byte.toUnsignedInt(kvm_vcpu_events.interrupt.nr(in)), kvm_vcpu_events.interrupt.soft(in) != 0,
                        Byte.toUnsignedInt(kvm_vcpu_events.interrupt.shadow(in))),
                new PendingEvents.Nmi(kvm_vcpu_events.nmi.injected(nmi) != 0, kvm_vcpu_events.nmi.pending(nmi) != 0,
                        kvm_vcpu_events.nmi.masked(nmi) != 0),
                kvm_vcpu_events.sipi_vector(s),
                kvm_vcpu_events.triple_fault.pending(kvm_vcpu_events.triple_fault(s)) != 0);
    }

    static void writeEvents(MemorySegment s, PendingEvents e) {
        MemorySegment ex = kvm_vcpu_events.exception(s);
        MemorySegment in = kvm_vcpu_events.interrupt(s);
        MemorySegment nmi = kvm_vcpu_events.nmi(s);
        kvm_vcpu_events.exception.injected(ex, bit(e.exception().injected()));
        kvm_vcpu_events.exception.pending(ex, bit(e.exception().pending()));
        kvm_vcpu_events.exception.nr(ex, (byte) e.exception().vector());
        kvm_vcpu_events.exception.has_error_code(ex, bit(e.exception().hasErrorCode()));
        kvm_vcpu_events.exception.error_code(ex, e.exception().errorCode());
        kvm_vcpu_events.exception_has_payload(s, bit(e.exception().hasPayload()));
        kvm_vcpu_events.exception_payload(s, e.exception().payload());
        kvm_vcpu_events.interrupt.injected(in, bit(e.interrupt().injected()));
        kvm_vcpu_events.interrupt.nr(in, (byte) e.interrupt().vector());
        kvm_vcpu_events.interrupt.soft(in, bit(e.interrupt().soft()));
        kvm_vcpu_events.interrupt.shadow(in, (byte) e.interrupt().shadow());
        kvm_vcpu_events.nmi.injected(nmi, bit(e.nmi().injected()));
        kvm_vcpu_events.nmi.pending(nmi, bit(e.nmi().pending()));
        kvm_vcpu_events.nmi.masked(nmi, bit(e.nmi().masked()));
        kvm_vcpu_events.sipi_vector(s, e.sipiVector());
        kvm_vcpu_events.flags(s, EVENTS_VALID);
    }

    private static byte bit(boolean b) {
        return b ? (byte) 1 : (byte) 0;
    }
}
