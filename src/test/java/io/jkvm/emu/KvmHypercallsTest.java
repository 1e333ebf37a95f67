package io.jkvm.emu;

import io.jkvm.testing.EmuVm;
import io.jkvm.x86.CpuidFixtures;
import io.jkvm.x86.VcpuExit;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

import java.util.HexFormat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;

/** VMCALL and VMMCALL answer as KVM does, on either vendor's model: the result in RAX, the next instruction runs. */
class KvmHypercallsTest {
    @ParameterizedTest(name = "{0} of {1} on {3}")
    @CsvSource({
            "VMCALL, 11, 0, intel", // KVM_HC_SCHED_YIELD: a hint, 0
            "VMMCALL, 11, 0, amd",
            "VMCALL, 5, 0, amd", // KVM_HC_KICK_CPU
            "VMMCALL, 1000, -1000, intel", // an unknown number: -KVM_ENOSYS
            "VMCALL, 10, -1000, amd", // KVM_HC_SEND_IPI without a local APIC connected
    })
    void theHypercallAnswersInRax(String insn, long number, long expected, String model) {
        String call = insn.equals("VMCALL") ? "0f 01 c1" : "0f 01 d9";
        String code = "48 c7 c0" + le32(number) + call + " bb 07 00 00 00 f4"; // mov rax, n; call; mov ebx, 7; hlt
        try (EmuVm vm = new EmuVm(model.equals("intel") ? CpuidFixtures.intelModel() : CpuidFixtures.amdModel(), HexFormat.ofDelimiter(" ").parseHex(code.replaceAll(" +", " ").trim()))) {
            assertInstanceOf(VcpuExit.Hlt.class, vm.vcpu.run());
            assertEquals(expected, vm.vcpu.registers().rax());
            assertEquals(7, vm.vcpu.registers().rbx(), "the guest ran on after the hypercall");
        }
    }

    private static String le32(long v) {
        return String.format(" %02x %02x %02x %02x ", v & 0xFF, (v >>> 8) & 0xFF, (v >>> 16) & 0xFF, (v >>> 24) & 0xFF);
    }
}
