package io.jkvm.emu;

import io.jkvm.machine.GuestMemory;
import io.jkvm.machine.LongModeBoot;
import io.jkvm.testing.EmuVm;
import io.jkvm.testing.TestGuests;
import io.jkvm.x86.ControlBits;
import io.jkvm.x86.CpuFeature;
import io.jkvm.x86.CpuModel;
import io.jkvm.x86.CpuidFixtures;
import io.jkvm.x86.ResetState;
import io.jkvm.x86.SpecialRegisters;
import io.jkvm.x86.VcpuExit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

import java.io.IOException;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;

/**
 * LA57, 5-level paging (SDM vol. 3, 4.5): CR4.LA57 set outside IA-32e mode makes the walk start at a PML5 and linear
 * addresses 57 bits wide; registers that hold addresses (FS_BASE and the other MSRs, descriptor-table bases) take
 * 57-bit canonical values whenever the model has LA57; CR4.LA57 cannot change in IA-32e mode; a model without LA57
 * refuses the bit.
 */
class FiveLevelPagingTest {
    private static final long HIGH = 0x0080_0000_0000_0000L; // PML5 entry 128: canonical at 57 bits, not at 48
    private static final long PML5 = 0x200000;

    private static CpuModel withLa57(CpuModel m, boolean on) {
        return m.withCpuid(m.cpuid().withFeature(CpuFeature.LA57, on));
    }

    /** Runs {@code guest} from where a STARTUP IPI of vector 8 starts a processor until HLT or shutdown, with its OUTs. */
    private static VcpuExit runFromStartup(GuestMemory memory, CpuModel model, String guest, List<Long> outs) throws IOException {
        byte[] image = Files.readAllBytes(TestGuests.path(guest + ".bin"));
        memory.write(0x8000, image, 0, image.length);
        EmulatedVcpu v = new EmulatedVcpu(0, memory.mapping(), model);
        v.setSpecialRegisters(ResetState.startup(ResetState.APIC_BASE_BSP, 8));
        v.setRegisters(ResetState.startupRegisters(model.cpuid()));
        for (int i = 0; i < 20; i++) {
            VcpuExit e = v.run();
            if (!(e instanceof VcpuExit.Io io)) {
                memory.writeLong(0, v.specialRegisters().cr4()); // what the guest left in CR4, for the caller
                memory.writeLong(8, v.registers().rax());
                return e;
            }
            outs.add(io.data().get(0));
        }
        throw new AssertionError("no end after " + outs);
    }

    @ParameterizedTest
    @ValueSource(strings = {"intel", "amd"})
    void anOsTurnsOnLa57AndReachesRamThroughAddressesOnly57BitsReach(String vendor) throws IOException {
        CpuModel model = withLa57(vendor.equals("intel") ? CpuidFixtures.intelModel() : CpuidFixtures.amdModel(), true);
        try (GuestMemory memory = GuestMemory.allocate(16L << 20)) {
            List<Long> outs = new ArrayList<>();
            assertInstanceOf(VcpuExit.Hlt.class, runFromStartup(memory, model, "modes_la57", outs), "outs " + outs);
            assertEquals(List.of(0x89ABCDEFL, 0x5757L, 0x89ABCDEFL), outs,
                    "a read through PML5[128], a store there read back at its physical address, a read through FS at PML5[256]");
            assertEquals(ControlBits.CR4_LA57 | ControlBits.CR4_PAE, memory.readLong(0) & (ControlBits.CR4_LA57 | ControlBits.CR4_PAE));
            assertEquals(0x5A5A, memory.readLong(8));
        }
    }

    @Test
    void aModelWithoutLa57RefusesCr4La57() throws IOException {
        CpuModel model = withLa57(CpuidFixtures.intelModel(), false);
        try (GuestMemory memory = GuestMemory.allocate(16L << 20)) {
            List<Long> outs = new ArrayList<>();
            assertInstanceOf(VcpuExit.Shutdown.class, runFromStartup(memory, model, "modes_la57", outs),
                    "MOV CR4 with LA57 is #GP(0); the empty IDT makes it a triple fault");
            assertEquals(List.of(), outs);
            assertEquals(0, memory.readLong(0) & ControlBits.CR4_LA57);
        }
    }

    private static final String FS_BASE_57 = "b9 00 01 00 c0 31 c0 ba 00 00 00 ff 0f 30"; // FS_BASE = 0xFF00_0000_0000_0000

    @Test
    void anAddressMsrTakes57BitCanonicalValuesWhereTheModelHasLa57EvenUnder4LevelPaging() {
        assertEquals(-1, ExceptionsTest.vectorRaised("max,+la57", "", FS_BASE_57));
        assertEquals(13, ExceptionsTest.vectorRaised("max,-la57", "", FS_BASE_57), "not canonical at 48 bits: #GP");
        assertEquals(13, ExceptionsTest.vectorRaised("max,+la57", "", "b9 00 01 00 c0 31 c0 ba 00 00 00 7f 0f 30"),
                "0x7F00_0000_0000_0000 is not canonical at 57 bits either");
    }

    @Test
    void underFourLevelPagingA57BitAddressIsStillNotCanonical() {
        assertEquals(13, ExceptionsTest.vectorRaised("max,+la57", "48 bb " + le64(HIGH), "48 8b 03")); // mov rax, [rbx]
    }

    @Test
    void cr4La57CannotBeSetInIa32eMode() {
        assertEquals(13, ExceptionsTest.vectorRaised("max,+la57", "", "0f 20 e0 48 0f ba e8 0c 0f 22 e0")); // bts rax, 12
    }

    /** The 4-level boot tables under a PML5 whose entries 0 and 128 both lead to them, CR4.LA57 set from outside. */
    private static EmuVm fiveLevel(String code) {
        EmuVm vm = new EmuVm("max,+la57", ExceptionsTest.hex(code + "f4"));
        vm.memory.writeLong(PML5, LongModeBoot.PML4 | 3);
        vm.memory.writeLong(PML5 + 128 * 8, LongModeBoot.PML4 | 3);
        ExceptionsTest.installIdt(vm);
        SpecialRegisters s = vm.vcpu.specialRegisters();
        vm.vcpu.setSpecialRegisters(new SpecialRegisters(s.cs(), s.ds(), s.es(), s.fs(), s.gs(), s.ss(), s.tr(), s.ldt(),
                s.gdt(), s.idt(), s.cr0(), s.cr2(), PML5, s.cr4() | ControlBits.CR4_LA57, s.cr8(), s.efer(), s.apicBase(),
                s.interruptBitmap()));
        return vm;
    }

    @Test
    void underFiveLevelPagingBit56IsTheSignAndCr4La57StaysSet() {
        try (EmuVm vm = fiveLevel("48 bb " + le64(HIGH + 0x5000) + "48 8b 03")) { // mov rax, [HIGH + 0x5000]
            vm.memory.writeLong(0x5000, 0x1234_5678_9ABC_DEF0L);
            assertInstanceOf(VcpuExit.Hlt.class, vm.vcpu.run());
            assertEquals(0x1234_5678_9ABC_DEF0L, vm.vcpu.registers().rax(), "PML5[128] -> the PML4 of the identity map");
        }
        try (EmuVm vm = fiveLevel("48 bb " + le64(0x0100_0000_0000_0000L) + "48 8b 03")) { // bit 56 set, 63:57 clear
            assertEquals(13, vm.nextOut(0x90), "not canonical at 57 bits: #GP(0)");
        }
        try (EmuVm vm = fiveLevel("0f 20 e0 48 0f ba f0 0c 0f 22 e0")) { // mov rax, cr4; btr rax, 12; mov cr4, rax
            assertEquals(13, vm.nextOut(0x90), "LA57 cleared in IA-32e mode: #GP(0)");
            assertEquals(ControlBits.CR4_LA57, vm.vcpu.specialRegisters().cr4() & ControlBits.CR4_LA57);
        }
    }

    private static String le64(long v) {
        StringBuilder s = new StringBuilder();
        for (int i = 0; i < 8; i++) {
            s.append(String.format("%02x ", (v >>> (8 * i)) & 0xFF));
        }
        return s.toString();
    }
}
