package io.jkvm.emu;

import io.jkvm.testing.EmuVm;
import io.jkvm.x86.VcpuExit;
import org.junit.jupiter.api.Test;

import static io.jkvm.emu.ExceptionsTest.hex;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;

/**
 * The memory forms of PMOVZX/PMOVSX (which read only as many bytes as they widen, unaligned), PINSRQ and PEXTRD,
 * against their register forms on the core (the oracle checks the register forms against the host CPU).
 */
class Sse4MemoryFormsTest {
    @Test
    void memoryFormsReadAndWriteWhatTheRegisterFormsDo() {
        String code = "66 0f 38 30 07 f3 0f 7e 0f 66 0f 38 30 d1" // pmovzxbw xmm0, [rdi]; movq xmm1, [rdi]; pmovzxbw xmm2, xmm1
                + "66 0f 38 21 1f 66 0f 6e 27 66 0f 38 21 ec" // pmovsxbd xmm3, [rdi]; movd xmm4, [rdi]; pmovsxbd xmm5, xmm4
                + "66 48 0f 3a 22 37 01 66 0f 3a 16 57 40 03" // pinsrq xmm6, [rdi], 1; pextrd [rdi+0x40], xmm2, 3
                + "f3 0f 7f 47 10 f3 0f 7f 57 20 f3 0f 7f 5f 30 f3 0f 7f 6f 50 f3 0f 7f 77 60 f4"; // movdqu to +0x10 ... +0x60
        long data = 0x300001; // unaligned: these reads need no alignment
        try (EmuVm vm = new EmuVm("host,+sse4.1", hex(code))) {
            vm.memory.writeLong(data, 0x8899AABBCCDDEEFFL);
            vm.memory.writeLong(data + 8, 0x0123456789ABCDEFL); // past what PMOVZXBW may read
            vm.vcpu.setRegisters(vm.vcpu.registers().withGpr(7, data));
            assertInstanceOf(VcpuExit.Hlt.class, vm.vcpu.run());
            for (int half = 0; half < 16; half += 8) {
                assertEquals(vm.memory.readLong(data + 0x20 + half), vm.memory.readLong(data + 0x10 + half), "PMOVZXBW m64 = r, +" + half);
                assertEquals(vm.memory.readLong(data + 0x50 + half), vm.memory.readLong(data + 0x30 + half), "PMOVSXBD m32 = r, +" + half);
            }
            assertEquals(0x00CC00DD00EE00FFL, vm.memory.readLong(data + 0x10), "the low four bytes, zero-extended to words");
            assertEquals(0xFFFFFFEEFFFFFFFFL, vm.memory.readLong(data + 0x30), "the low two bytes, sign-extended to dwords");
            assertEquals(0x8899AABBCCDDEEFFL, vm.memory.readLong(data + 0x68), "PINSRQ put [rdi] in the high quadword");
            assertEquals(0x00880099, vm.memory.readInt(data + 0x40), "PEXTRD lane 3 of xmm2 to memory");
        }
    }

    /** PCMPISTRI with an unaligned memory operand, as strpbrk and strstr use it: the index of the first match. */
    @Test
    void stringComparesSearchUnalignedMemory() {
        long text = 0x300003;
        // movdqu xmm1, [rsi]; pcmpistri xmm1, [rdi], imm; mov [rsi+0x40], ecx; pushfq; pop rax; mov [rsi+0x48], rax
        String tail = " 89 4e 40 9c 58 48 89 46 48 f4";
        int[][] cases = {{0x00, 2}, {0x0C, 6}, {0x40, 9}}; // equal any "lo" (first), equal ordered "wor", equal any "lo" (last)
        String[] needles = {"lo", "wor", "lo"};
        for (int k = 0; k < cases.length; k++) {
            try (EmuVm vm = new EmuVm("host,+sse4.2", hex("f3 0f 6f 0e 66 0f 3a 63 0f " + String.format("%02x", cases[k][0]) + tail))) {
                byte[] hay = "hello world\0".getBytes(java.nio.charset.StandardCharsets.US_ASCII);
                vm.memory.write(text, hay, 0, hay.length);
                byte[] needle = (needles[k] + "\0").getBytes(java.nio.charset.StandardCharsets.US_ASCII);
                vm.memory.write(0x300100, needle, 0, needle.length);
                vm.vcpu.setRegisters(vm.vcpu.registers().withGpr(7, text).withGpr(6, 0x300100));
                assertInstanceOf(VcpuExit.Hlt.class, vm.vcpu.run());
                assertEquals(cases[k][1], vm.memory.readInt(0x300140), needles[k] + " imm " + cases[k][0] + ": ECX");
                long flags = vm.memory.readLong(0x300148);
                assertEquals(Core.CF | Core.ZF | Core.SF, flags & (Core.CF | Core.ZF | Core.SF), "found (CF), both strings end (ZF, SF)");
            }
        }
    }

    @Test
    void movntdqaLoadsSixteenAlignedBytes() {
        try (EmuVm vm = new EmuVm("host,+sse4.1", hex("66 0f 38 2a 3f f3 0f 7f 7f 10 f4"))) { // movntdqa xmm7, [rdi]; movdqu [rdi+16], xmm7
            vm.memory.writeLong(0x300100, 0x1122334455667788L);
            vm.memory.writeLong(0x300108, 0x99AABBCCDDEEFF00L);
            vm.vcpu.setRegisters(vm.vcpu.registers().withGpr(7, 0x300100));
            assertInstanceOf(VcpuExit.Hlt.class, vm.vcpu.run());
            assertEquals(0x1122334455667788L, vm.memory.readLong(0x300110));
            assertEquals(0x99AABBCCDDEEFF00L, vm.memory.readLong(0x300118));
        }
        assertEquals(13, ExceptionsTest.vectorRaised("host,+sse4.1", "48 c7 c7 08 01 30 00", "66 0f 38 2a 3f"), "MOVNTDQA from a misaligned m128: #GP(0)");
        assertEquals(6, ExceptionsTest.vectorRaised("host,+sse4.1", "", "66 0f 38 2a c7"), "MOVNTDQA with a register source: #UD");
        assertEquals(6, ExceptionsTest.vectorRaised("host,-sse4.1", "48 c7 c7 00 01 30 00", "66 0f 38 2a 3f"),
                "MOVNTDQA where the model has no SSE4.1: #UD");
    }

    /** ROUNDSD and ROUNDSS in each of the four modes against Java's own rint, floor, ceil and truncation. */
    @Test
    void roundingToIntegralMatchesJavasRoundingFunctions() {
        double[] values = {0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 2.4999999, -7.75, 123456.5, 1e15 + 0.5, -0.0, 0.25, 4503599627370495.5};
        for (int mode = 0; mode < 4; mode++) {
            String imm = String.format("%02x", mode);
            String code = "f2 0f 10 0f 66 0f 3a 0b c1 " + imm + " f2 0f 11 47 08" // roundsd xmm0, [rdi] via xmm1 -> [rdi+8]
                    + "f3 0f 10 57 10 66 0f 3a 0a da " + imm + " f3 0f 11 5f 14 f4"; // roundss xmm3, [rdi+16] via xmm2 -> [rdi+20]
            for (double v : values) {
                try (EmuVm vm = new EmuVm("host,+sse4.1", hex(code))) {
                    vm.memory.writeLong(0x300000, Double.doubleToRawLongBits(v));
                    vm.memory.writeInt(0x300010, Float.floatToRawIntBits((float) v));
                    vm.vcpu.setRegisters(vm.vcpu.registers().withGpr(7, 0x300000));
                    assertInstanceOf(VcpuExit.Hlt.class, vm.vcpu.run());
                    double want = switch (mode) {
                        case 0 -> Math.rint(v);
                        case 1 -> Math.floor(v);
                        case 2 -> Math.ceil(v);
                        default -> v < 0 ? Math.ceil(v) : Math.floor(v);
                    };
                    float f = (float) v;
                    float wantF = switch (mode) {
                        case 0 -> (float) Math.rint(f);
                        case 1 -> (float) Math.floor(f);
                        case 2 -> (float) Math.ceil(f);
                        default -> (float) (f < 0 ? Math.ceil(f) : Math.floor(f));
                    };
                    assertEquals(Double.doubleToRawLongBits(want), vm.memory.readLong(0x300008), "roundsd mode " + mode + " of " + v);
                    assertEquals(Float.floatToRawIntBits(wantF), vm.memory.readInt(0x300014), "roundss mode " + mode + " of " + f);
                }
            }
        }
    }
}
