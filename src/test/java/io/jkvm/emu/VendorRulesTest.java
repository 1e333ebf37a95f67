package io.jkvm.emu;

import io.jkvm.emu.ExceptionsTest.Taken;
import io.jkvm.testing.EmuVm;
import io.jkvm.x86.CpuModel;
import io.jkvm.x86.CpuidFixtures;
import io.jkvm.x86.Registers;
import io.jkvm.x86.VcpuExit;
import io.jkvm.x86.Vendor;
import org.junit.jupiter.api.Test;

import java.util.List;
import java.util.Optional;

import static io.jkvm.emu.ExceptionsTest.hex;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Where Intel's SDM and AMD's APM differ, the software core follows the CPU model's vendor (docs/vendors.md): each
 * rule runs on the Intel and the AMD fixture (and Hygon and Zhaoxin where the vendor string decides), never on
 * whatever CPU the tests happen to run on.
 */
class VendorRulesTest {
    private static final CpuModel INTEL = CpuidFixtures.intelModel();
    private static final CpuModel AMD = CpuidFixtures.amdModel();
    private static final long DATA = 0x200000;

    /** Runs {@code code} with the exception handlers of ExceptionsTest: the fault taken, or empty at HLT. */
    private static Optional<Taken> run(CpuModel model, String code, java.util.function.Consumer<EmuVm> check) {
        try (EmuVm vm = new EmuVm(model, hex(code + " f4"))) {
            ExceptionsTest.installIdt(vm);
            VcpuExit exit = vm.vcpu.run();
            if (exit instanceof VcpuExit.Hlt) {
                check.accept(vm);
                return Optional.empty();
            }
            assertTrue(exit instanceof VcpuExit.Io io && io.port() == 0x90, "a fault handler's OUT 0x90, not " + exit);
            Registers r = vm.vcpu.registers();
            return Optional.of(new Taken((int) ((VcpuExit.Io) exit).data().get(0), r.rbx(), r.rcx(), r.rdx(), r.rsi()));
        }
    }

    private static Optional<Taken> run(CpuModel model, String code) {
        return run(model, code, vm -> { });
    }

    @Test
    void fxsaveAndTheStateRecordCarryTheModelsMxcsrMask() {
        for (CpuModel model : List.of(INTEL, AMD)) {
            run(model, "b8 00 00 20 00 0f ae 00", vm -> { // mov eax, DATA; fxsave [rax]
                assertEquals(model.mxcsrMask(), vm.memory.readInt(DATA + 28), model.spec() + ": MXCSR_MASK in the FXSAVE image");
                byte[] record = vm.vcpu.saveState().xsave().toBytes();
                assertEquals(model.mxcsrMask(), java.nio.ByteBuffer.wrap(record).order(java.nio.ByteOrder.LITTLE_ENDIAN).getInt(28),
                        model.spec() + ": MXCSR_MASK in the state record");
            });
        }
    }

    @Test
    void ldmxcsrWithMmIsGpOnIntelAndLoadsOnAmd() {
        String code = "c7 04 25 00 00 20 00 80 1f 02 00 0f ae 14 25 00 00 20 00"; // [DATA] = 0x21F80; ldmxcsr [DATA]
        assertEquals(13, run(INTEL, code).orElseThrow().vector(), "Intel: bit 17 is reserved");
        assertEquals(0, run(INTEL, code).orElseThrow().errorCode());
        assertEquals(Optional.empty(), run(AMD, code, vm -> assertEquals(0x21F80, vm.vcpu.saveState().xsave().mxcsr())));
        String bit18 = "c7 04 25 00 00 20 00 80 1f 04 00 0f ae 14 25 00 00 20 00";
        assertEquals(13, run(AMD, bit18).orElseThrow().vector(), "AMD: bit 18 is reserved");
    }

    @Test
    void aMisalignedSseOperandIsGpUnlessAmdsMmIsSet() {
        String paddd = "66 0f fe 04 25 08 00 20 00"; // paddd xmm0, [DATA + 8]: 16-byte operand, 8-aligned
        String setMm = "c7 04 25 00 00 20 00 80 1f 02 00 0f ae 14 25 00 00 20 00 ";
        assertEquals(13, run(INTEL, paddd).orElseThrow().vector());
        assertEquals(13, run(AMD, paddd).orElseThrow().vector(), "AMD with MM clear");
        assertEquals(Optional.empty(), run(AMD, setMm + paddd), "AMD with MM set: misaligned SSE mode");
        assertEquals(13, run(AMD, setMm + "66 0f 6f 04 25 08 00 20 00").orElseThrow().vector(),
                "MOVDQA needs 16-byte alignment even in misaligned SSE mode");
    }

    @Test
    void aNearCallWith66IgnoresItOnIntelAndIs16BitOnAmd() {
        // 66 e8 fc 8f [00 00]: Intel reads rel32 0x8FFC; AMD reads rel16 0x8FFC and truncates IP to 16 bits.
        for (CpuModel model : List.of(INTEL, AMD)) {
            try (EmuVm vm = new EmuVm(model, hex("66 e8 fc 8f 00 00"))) {
                vm.memory.write(0x109002, new byte[]{(byte) 0xF4}, 0, 1);
                vm.memory.write(0x9000, new byte[]{(byte) 0xF4}, 0, 1);
                long rsp = vm.vcpu.registers().rsp();
                assertInstanceOf(VcpuExit.Hlt.class, vm.vcpu.run());
                Registers r = vm.vcpu.registers();
                if (model == INTEL) {
                    assertEquals(0x109003, r.rip(), "Intel: rel32 from the end of the 6-byte CALL");
                    assertEquals(rsp - 8, r.rsp(), "Intel: an 8-byte return address");
                    assertEquals(0x100006, vm.memory.readLong(r.rsp()));
                } else {
                    assertEquals(0x9001, r.rip(), "AMD: (0x100004 + 0x8FFC) & 0xFFFF");
                    assertEquals(rsp - 2, r.rsp(), "AMD: a 2-byte return address");
                    assertEquals(0x0004, vm.memory.readLong(r.rsp() - 6) >>> 48, "AMD: IP's low 16 bits (RSP is 2 below the top of RAM)");
                }
            }
        }
    }

    @Test
    void aNearRetAndJccWith66AreTruncatedOnAmdOnly() {
        // push 0x109000; 66 c3 (ret): Intel pops 8 (0x109000), AMD pops 2 (0x9000) and RSP moves by 2
        for (CpuModel model : List.of(INTEL, AMD)) {
            try (EmuVm vm = new EmuVm(model, hex("68 00 90 10 00 66 c3"))) {
                vm.memory.write(0x109000, new byte[]{(byte) 0xF4}, 0, 1);
                vm.memory.write(0x9000, new byte[]{(byte) 0xF4}, 0, 1);
                long rsp = vm.vcpu.registers().rsp();
                assertInstanceOf(VcpuExit.Hlt.class, vm.vcpu.run());
                assertEquals(model == INTEL ? 0x109001 : 0x9001, vm.vcpu.registers().rip(), model.spec());
                assertEquals(model == INTEL ? rsp : rsp - 6, vm.vcpu.registers().rsp(), model.spec());
            }
            // xor eax, eax; 66 0f 84 rel (JE): Intel rel32 0x8FF5 from 0x100009; AMD rel16 0x8FF5 from 0x100007
            try (EmuVm vm = new EmuVm(model, hex("31 c0 66 0f 84 f5 8f 00 00"))) {
                vm.memory.write(0x108FFE, new byte[]{(byte) 0xF4}, 0, 1);
                vm.memory.write(0x8FFC, new byte[]{(byte) 0xF4}, 0, 1);
                assertInstanceOf(VcpuExit.Hlt.class, vm.vcpu.run());
                assertEquals(model == INTEL ? 0x108FFF : 0x8FFD, vm.vcpu.registers().rip(), model.spec());
            }
        }
    }

    @Test
    void sysenterRunsOnIntelAndIsUdOnAmdInLongMode() {
        // IA32_SYSENTER_CS = 0x08, _EIP = 0x101000, _ESP = 0x300000; sysenter
        String code = "b9 74 01 00 00 b8 08 00 00 00 31 d2 0f 30 b9 76 01 00 00 b8 00 10 10 00 0f 30"
                + " b9 75 01 00 00 b8 00 00 30 00 0f 30 0f 34";
        try (EmuVm vm = new EmuVm(INTEL, hex(code))) {
            vm.memory.write(0x101000, new byte[]{(byte) 0xF4}, 0, 1);
            assertInstanceOf(VcpuExit.Hlt.class, vm.vcpu.run());
            assertEquals(0x101001, vm.vcpu.registers().rip());
            assertEquals(0x300000, vm.vcpu.registers().rsp());
            assertEquals(0x08, vm.vcpu.specialRegisters().cs().selector());
        }
        assertEquals(6, run(AMD, code).orElseThrow().vector());
        assertEquals(6, run(AMD, "0f 35").orElseThrow().vector(), "SYSEXIT too");
    }

    @Test
    void sysretToANonCanonicalRcxFaultsAtCpl0OnIntelAndAtCpl3OnAmd() {
        // EFER.SCE; STAR = 0x0013_0008 << 32; rcx = 0x8000000000000000; r11 = 2; sysretq
        String code = "b9 80 00 00 c0 0f 32 83 c8 01 0f 30 b9 81 00 00 c0 31 c0 ba 08 00 13 00 0f 30"
                + " 48 b9 00 00 00 00 00 00 00 80 41 bb 02 00 00 00 48 0f 07";
        Taken intel = run(INTEL, code).orElseThrow();
        assertEquals(13, intel.vector());
        assertEquals(0, intel.cs() & 3, "Intel: #GP before the switch, at CPL0");
        assertEquals(EmuVm.CODE + hex(code).length - 3, intel.rip(), "Intel: the SYSRET itself faults");
        Taken amd = run(AMD, code).orElseThrow();
        assertEquals(13, amd.vector());
        assertEquals(3, amd.cs() & 3, "AMD: SYSRET completes; the fetch at CPL3 faults");
        assertEquals(0x8000000000000000L, amd.rip());
    }

    @Test
    void aNullFsSelectorClearsTheBaseOnSdmVendorsAndKeepsItOnApmVendors() {
        // FS_BASE = 0x5000; xor eax, eax; mov fs, ax; rdmsr FS_BASE
        String code = "b9 00 01 00 c0 b8 00 50 00 00 31 d2 0f 30 31 c0 8e e0 0f 32";
        for (String vendor : List.of("GenuineIntel", "CentaurHauls", "  Shanghai  ", "AuthenticAMD", "HygonGenuine")) {
            CpuModel model = INTEL.withCpuid(CpuidFixtures.withVendor(CpuidFixtures.intel(), vendor));
            run(model, code, vm -> assertEquals(Vendor.of(vendor).followsApm() ? 0x5000 : 0, vm.vcpu.registers().rax(), vendor));
        }
    }

    @Test
    void vendorStringsAndSignaturesDecodeForEveryVendor() {
        assertEquals(Vendor.INTEL, Vendor.of("GenuineIntel"));
        assertEquals(Vendor.AMD, Vendor.of("AuthenticAMD"));
        assertEquals(Vendor.HYGON, Vendor.of("HygonGenuine"));
        assertEquals(Vendor.ZHAOXIN, Vendor.of("CentaurHauls"));
        assertEquals(Vendor.ZHAOXIN, Vendor.of("  Shanghai  "));
        assertEquals(Vendor.OTHER, Vendor.of("VIA VIA VIA "));
        assertTrue(Vendor.HYGON.followsApm() && !Vendor.ZHAOXIN.followsApm() && !Vendor.OTHER.followsApm());
        // signature -> family, model: Sapphire Rapids, Zen 5, Hygon Dhyana, Zhaoxin KX-6000, a Pentium 4
        int[][] cases = {{0x000806F8, 6, 0x8F}, {0x00B00F21, 0x1A, 0x02}, {0x00900F01, 0x18, 0x00},
                {0x000107B5, 7, 0x1B}, {0x00000F29, 0xF, 0x02}, {0x00000F41, 0xF, 0x04}, {0x00020F12, 0xF, 0x21}};
        for (int[] c : cases) {
            assertEquals(c[1], Vendor.family(c[0]), Integer.toHexString(c[0]));
            assertEquals(c[2], Vendor.model(c[0]), Integer.toHexString(c[0]));
        }
    }
}
