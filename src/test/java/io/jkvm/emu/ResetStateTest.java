package io.jkvm.emu;

import io.jkvm.kvm.Kvm;
import io.jkvm.kvm.KvmVcpu;
import io.jkvm.kvm.Vm;
import io.jkvm.linux.Mapping;
import io.jkvm.testing.RequiresKvm;
import io.jkvm.x86.CpuModel;
import io.jkvm.x86.CpuidFixtures;
import io.jkvm.x86.DescriptorTable;
import io.jkvm.x86.Registers;
import io.jkvm.x86.ResetState;
import io.jkvm.x86.Segment;
import io.jkvm.x86.SpecialRegisters;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * A vCPU starts in the RESET state as both manuals give it, on either vendor's model: the software core's from its
 * constructor, KVM's from the kernel; the values are the manuals', written out here, not taken from either backend.
 */
class ResetStateTest {
    private static void assertResetSegments(SpecialRegisters s, String who) {
        Segment cs = s.cs();
        assertEquals(0xF000, cs.selector(), who + ": CS selector");
        assertEquals(0xFFFF0000L, cs.base(), who + ": CS base (the first fetch is at FFFFFFF0)");
        assertEquals(0xFFFF, cs.limit(), who + ": CS limit");
        assertEquals(true, cs.present() && cs.s() && (cs.type() & 0xA) == 0xA, who + ": CS present, code, readable");
        for (Segment d : new Segment[]{s.ds(), s.es(), s.fs(), s.gs(), s.ss()}) {
            assertEquals(0, d.selector(), who + ": data selector");
            assertEquals(0, d.base(), who + ": data base");
            assertEquals(0xFFFF, d.limit(), who + ": data limit");
            assertEquals(true, d.present() && d.s() && (d.type() & 2) != 0, who + ": data present and writable");
        }
        assertEquals(new DescriptorTable(0, 0xFFFF), s.gdt(), who + ": GDTR");
        assertEquals(new DescriptorTable(0, 0xFFFF), s.idt(), who + ": IDTR");
        assertEquals(0xFFFF, s.tr().limit(), who + ": TR limit");
        assertEquals(0xFFFF, s.ldt().limit(), who + ": LDTR limit");
        assertEquals(0x60000010L, s.cr0(), who + ": CR0 (CD, NW, ET)");
        assertEquals(0, s.cr3() | s.cr4() | s.efer(), who + ": CR3, CR4, EFER");
    }

    @ParameterizedTest
    @ValueSource(strings = {"intel", "amd"})
    void theSoftwareCoreStartsAtTheResetVector(String vendor) {
        CpuModel model = vendor.equals("intel") ? CpuidFixtures.intelModel() : CpuidFixtures.amdModel();
        try (Mapping ram = Mapping.anonymous(1 << 20, "test RAM")) {
            EmulatedVcpu v = new EmulatedVcpu(0, ram, model);
            Registers r = v.registers();
            assertEquals(0xFFF0, r.rip(), "RIP");
            assertEquals(0x2, r.rflags(), "RFLAGS");
            assertEquals(model.cpuid().leaf(1, 0).eax() & 0xFFFFFFFFL, r.rdx(), "RDX: the processor signature");
            assertEquals(0, r.rax() | r.rbx() | r.rcx() | r.rsp() | r.rbp() | r.rsi() | r.rdi(), "the other GPRs");
            SpecialRegisters s = v.specialRegisters();
            assertResetSegments(s, vendor + " core");
            assertEquals(0xFEE00900L, s.apicBase(), "APIC base: enabled at FEE00000, BSP");
            assertEquals(ResetState.specialRegisters(0xFEE00900L), s, "exactly ResetState's");
        }
    }

    @Test
    @RequiresKvm
    void aKvmVcpuStartsThereToo() {
        try (Kvm kvm = Kvm.open(); Vm vm = kvm.createVm()) {
            KvmVcpu v = vm.createVcpu(0); // the VM closes it
            assertResetSegments(v.specialRegisters(), "KVM");
            assertEquals(0xFFF0, v.registers().rip(), "KVM's RIP");
        }
    }
}
