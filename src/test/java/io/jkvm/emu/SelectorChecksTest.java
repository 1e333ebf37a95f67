package io.jkvm.emu;

import io.jkvm.machine.LongModeBoot;
import io.jkvm.testing.EmuVm;
import io.jkvm.x86.DescriptorTable;
import io.jkvm.x86.Registers;
import io.jkvm.x86.VcpuExit;
import org.junit.jupiter.api.Test;

import static io.jkvm.emu.ExceptionsTest.hex;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;

/** LAR, LSL, VERR and VERW at CPL0 against a GDT of every kind of descriptor they treat differently. */
class SelectorChecksTest {
    private static final long[][] EXTRA = { // selector, descriptor: appended to the boot GDT (null, code 0x08, data 0x10, TSS 0x18)
            {0x28, 0x0000F20000001234L}, // data, read/write, DPL3, byte-granular limit 0x1234
            {0x30, 0x0000900000000FFFL}, // data, read-only, DPL0
            {0x38, 0x0000980000000FFFL}, // code, execute-only, DPL0
            {0x40, 0x00009E0000000FFFL}, // code, conforming and readable, DPL0
            {0x48, 0x00008C0000000000L}, {0x50, 0}, // a 64-bit call gate (16 bytes)
            {0x58, 0x00008E0000000000L}, {0x60, 0}, // a 64-bit interrupt gate (16 bytes)
            {0x68, 0x0000120000000FFFL}, // data, read/write, DPL0, not present
    };

    /** RAX (-1 before) and ZF after {@code insn} with RBX = {@code selector}. */
    private static long[] run(String insn, int selector) {
        try (EmuVm vm = new EmuVm(hex(insn + "0f 94 c2 f4"))) { // insn; setz dl; hlt
            for (long[] e : EXTRA) {
                vm.memory.writeLong(LongModeBoot.GDT + e[0], e[1]);
            }
            vm.vcpu.setSpecialRegisters(vm.vcpu.specialRegisters().withGdt(new DescriptorTable(LongModeBoot.GDT, 0x6F)));
            vm.vcpu.setRegisters(vm.vcpu.registers().withGpr(0, -1).withGpr(3, selector).withGpr(2, 7));
            assertInstanceOf(VcpuExit.Hlt.class, vm.vcpu.run());
            Registers r = vm.vcpu.registers();
            return new long[]{r.gpr(0), r.gpr(2) & 0xFF};
        }
    }

    private static final String LSL = "0f 03 c3 ", LSL64 = "48 0f 03 c3 ", LAR = "0f 02 c3 ", LAR16 = "66 0f 02 c3 ",
            VERR = "0f 00 e3 ", VERW = "0f 00 eb ";

    private static void gives(String insn, int selector, long rax) {
        long[] got = run(insn, selector);
        assertEquals(1, got[1], insn + "0x" + Integer.toHexString(selector) + ": ZF");
        assertEquals(rax, got[0], insn + "0x" + Integer.toHexString(selector) + ": RAX");
    }

    private static void refuses(String insn, int selector, long raxBefore) {
        long[] got = run(insn, selector);
        assertEquals(0, got[1], insn + "0x" + Integer.toHexString(selector) + ": ZF");
        assertEquals(raxBefore, got[0], insn + "0x" + Integer.toHexString(selector) + ": RAX unchanged");
    }

    @Test
    void limitsAndAccessRights() {
        gives(LSL, 0x08, 0xFFFFFFFFL); // page-granular 0xFFFFF: 4 GiB - 1, zero-extended
        gives(LSL64, 0x10, 0xFFFFFFFFL);
        gives(LSL, 0x18, 0x67); // the TSS
        gives(LSL, 0x2B, 0x1234); // RPL 3 on a DPL3 segment
        gives(LSL, 0x68, 0xFFF); // not present: LSL does not look at P
        gives(LAR, 0x08, 0x00A09B00L); // G, L, P, DPL0, code exec/read accessed
        gives(LAR, 0x28, 0x0000F200L);
        gives(LAR, 0x48, 0x00008C00L); // a call gate has access rights, not a limit
        gives(LAR16, 0x10, 0xFFFFFFFFFFFF9300L); // 16-bit operand: only AX changes
        refuses(LSL, 0x48, -1); // ... so LSL refuses the gate
        refuses(LAR, 0x58, -1); // an interrupt gate: neither
        refuses(LSL, 0x00, -1); // null
        refuses(LSL, 0x0C, -1); // the LDT: the core has none
        refuses(LSL, 0x70, -1); // past the GDT limit
        refuses(LSL, 0x33, -1); // RPL 3 on a DPL0 segment
        gives(LSL, 0x43, 0xFFF); // ... unless it is conforming code
    }

    @Test
    void readableAndWritable() {
        gives(VERR, 0x10, -1);
        gives(VERW, 0x10, -1);
        gives(VERR, 0x30, -1); // read-only data
        refuses(VERW, 0x30, -1);
        refuses(VERR, 0x38, -1); // execute-only code
        gives(VERR, 0x08, -1); // readable code
        refuses(VERW, 0x08, -1); // code is never writable
        refuses(VERR, 0x18, -1); // the TSS: a system descriptor
        refuses(VERR, 0x00, -1);
        refuses(VERW, 0x33, -1); // RPL 3 on a DPL0 segment
    }
}
