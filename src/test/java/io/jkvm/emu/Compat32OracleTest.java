package io.jkvm.emu;

import io.jkvm.linux.HostCpu;
import io.jkvm.machine.GuestMemory;
import io.jkvm.testing.NativeCompat;
import io.jkvm.testing.OracleCore;
import io.jkvm.x86.CpuModel;
import io.jkvm.x86.Registers;
import io.jkvm.x86.ResetState;
import io.jkvm.x86.VcpuExit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIf;

import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import io.jkvm.linux.Mapping;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The host CPU is the reference for the forms only 16- and 32-bit code has: each runs natively in a 32-bit code
 * segment of this process (NativeCompat) and on the software core in 32-bit protected mode, from the same random
 * state (fixed seed); EAX-EDI and the flags the SDM defines for the instruction must match.
 */
@EnabledIf(value = "io.jkvm.testing.NativeCompat#hostRuns32BitCode", disabledReason = "this host's kernel runs no 32-bit"
        + " code (Linux's 32-bit user code segment, 0x23, is not in its GDT: booted with ia32_emulation=off or built without"
        + " IA-32 emulation), and this oracle runs the forms natively there")
class Compat32OracleTest {
    private static final int CASES = OracleCore.casesPerForm(48);
    private static final long CF = 1, PF = 4, AF = 0x10, ZF = 0x40, SF = 0x80, OF = 0x800, ALL = CF | PF | AF | ZF | SF | OF;
    private static final long CODE = 0x100000;
    private static NativeCompat host;
    private static GuestMemory memory;
    private static EmulatedVcpu core;
    private static final Random random = new Random(OracleCore.SEED);
    private static int forms, cases;

    @BeforeAll
    static void setUp() {
        host = new NativeCompat();
        memory = GuestMemory.allocate(4L << 20);
        CpuModel model;
        model = CpuModel.parse("host", io.jkvm.testing.HostModel.cpuid(), HostCpu.mxcsrMask()); // the host's vendor rules, as natively
        core = new EmulatedVcpu(0, memory.mapping(), model);
        core.setSpecialRegisters(ResetState.flatProtectedMode());
    }

    @AfterAll
    static void tearDown() {
        System.out.println("32-bit native oracle: " + forms + " forms, " + cases + " cases");
        host.close();
        memory.close();
    }

    private static long value() {
        return switch (random.nextInt(6)) {
            case 0 -> 0;
            case 1 -> random.nextInt(256);
            case 2 -> 0xFFFFFFFFL;
            default -> random.nextLong() & 0xFFFFFFFFL;
        };
    }

    /** Runs {@code insn} natively and on the core from random states; compares EAX-EDI and the {@code defined} flags. */
    private static void compare(String form, byte[] insn, long defined) {
        forms++;
        byte[] code = new byte[insn.length + 1];
        System.arraycopy(insn, 0, code, 0, insn.length);
        code[insn.length] = (byte) 0xF4;
        memory.write(CODE, code, 0, code.length);
        for (int i = 0; i < CASES; i++) {
            long[] gprs = new long[16];
            for (int n = 0; n < 8; n++) {
                gprs[n] = value();
            }
            long flags = random.nextLong() & ALL;
            NativeCompat.Result expected = host.run(insn, gprs, flags);
            core.setRegisters(Registers.byEncoding(gprs, CODE, flags | 0x2).withRsp(0x200000));
            VcpuExit exit = core.run();
            String where = form + " (" + HexFormat.ofDelimiter(" ").formatHex(insn) + ") from " + describe(gprs, flags);
            assertTrue(exit instanceof VcpuExit.Hlt, () -> where + ": the core stopped with " + exit);
            Registers r = core.registers();
            for (int n = 0; n < 8; n++) {
                if (n != 4) {
                    final int reg = n;
                    assertEquals(expected.gprs()[n], r.gpr(n) & 0xFFFFFFFFL,
                            () -> where + ": register " + reg + " 0x" + Long.toHexString(expected.gprs()[reg]) + " natively");
                }
            }
            assertEquals(expected.eflags() & defined, r.rflags() & defined,
                    () -> where + ": flags natively 0x" + Long.toHexString(expected.eflags()));
            cases++;
        }
    }

    private static String describe(long[] gprs, long flags) {
        StringBuilder s = new StringBuilder();
        for (int n = 0; n < 8; n++) {
            s.append(String.format("r%d=0x%x ", n, gprs[n]));
        }
        return s.append(String.format("flags=0x%x", flags)).toString();
    }

    /**
     * Where MAP_32BIT's 2 GiB are full (a JVM's heap and class space can fill them), the oracle's memory comes from
     * above 2 GiB and below 4 GiB, and 32-bit code still runs there: the fill here forces that.
     */
    @Test
    void theOracleRunsAboveTwoGigabytesWhenTheLowRangeIsFull() {
        List<Mapping> fill = new ArrayList<>();
        try {
            for (long size : new long[]{16L << 20, 1L << 20, 32L << 10}) {
                while (true) {
                    Mapping m = Mapping.anonymousExecutableLow(size, "filler");
                    fill.add(m);
                    if (m.address() >= 0x8000_0000L) {
                        break;
                    }
                }
            }
            try (NativeCompat high = new NativeCompat()) {
                long[] gprs = new long[16];
                gprs[0] = 0x09;
                NativeCompat.Result r = high.run(new byte[]{0x04, 0x09, 0x27}, gprs, 0); // add al, 9; daa
                assertEquals(0x18, r.gprs()[0] & 0xFF, "9 + 9 in packed BCD, run natively above 2 GiB");
            }
        } finally {
            fill.forEach(Mapping::close);
        }
    }

    @Test
    void decimalAdjustments() {
        compare("DAA", new byte[]{0x27}, CF | AF | SF | ZF | PF);
        compare("DAS", new byte[]{0x2F}, CF | AF | SF | ZF | PF);
        compare("AAA", new byte[]{0x37}, CF | AF);
        compare("AAS", new byte[]{0x3F}, CF | AF);
        for (int base : new int[]{10, 1, 7, 16, 0xFF}) {
            compare("AAM " + base, new byte[]{(byte) 0xD4, (byte) base}, SF | ZF | PF);
            compare("AAD " + base, new byte[]{(byte) 0xD5, (byte) base}, SF | ZF | PF);
        }
        compare("SALC", new byte[]{(byte) 0xD6}, ALL);
    }

    @Test
    void incAndDecOfARegisterAre40To4F() {
        for (int b = 0x40; b <= 0x4F; b++) {
            if ((b & 7) != 4) {
                compare(String.format("%02X: INC/DEC r32", b), new byte[]{(byte) b}, ALL);
                compare(String.format("66 %02X: INC/DEC r16", b), new byte[]{0x66, (byte) b}, ALL);
            }
        }
    }

    @Test
    void sixteenBitAddressingFormsThroughLea() {
        for (int mod = 0; mod < 3; mod++) {
            for (int rm = 0; rm < 8; rm++) {
                int reg = random.nextInt(8);
                if (reg == 4) {
                    reg = 0;
                }
                byte[] disp = new byte[mod == 1 ? 1 : mod == 2 || mod == 0 && rm == 6 ? 2 : 0];
                random.nextBytes(disp);
                byte modrm = (byte) (mod << 6 | reg << 3 | rm);
                byte[] lea32 = concat(new byte[]{0x67, (byte) 0x8D, modrm}, disp);
                byte[] lea16 = concat(new byte[]{0x66, 0x67, (byte) 0x8D, modrm}, disp);
                compare("67 LEA r32, mod " + mod + " rm " + rm, lea32, ALL);
                compare("66 67 LEA r16, mod " + mod + " rm " + rm, lea16, ALL);
            }
        }
    }

    @Test
    void stackOperationsOfThe32BitOperandSize() {
        // PUSHAD then POPAD: every register back as it was; PUSH imm32; POP r32; PUSH r16 / POP r16 pairs.
        compare("PUSHAD; POPAD", new byte[]{0x60, 0x61}, ALL);
        compare("66 PUSHA; 66 POPA", new byte[]{0x66, 0x60, 0x66, 0x61}, ALL);
        compare("PUSHAD; POP EAX x 8", new byte[]{0x60, 0x58, 0x58, 0x58, 0x58, 0x58, 0x58, 0x58, 0x58}, ALL);
        compare("PUSH EBX; PUSH ECX; POP EAX; POP EDX", new byte[]{0x53, 0x51, 0x58, 0x5A}, ALL);
        compare("66 PUSH BX; POP AX (16-bit)", new byte[]{0x66, 0x53, 0x66, 0x58}, ALL);
        compare("PUSH imm8; POP ESI", new byte[]{0x6A, (byte) 0x85, 0x5E}, ALL);
        // ENTER with nesting levels 0, 1 and 3, then LEAVE, on a frame of the oracle's own stack (a level above 1 reads
        // frame pointers below EBP): push ebp; mov ebp, esp; ENTER; EAX = EBP - ESP; LEAVE; pop ebp. The SUB's AF
        // depends on where the stack is, which differs between the two sides: it is left out
        for (int level : new int[]{0, 1, 3}) {
            compare("ENTER 16, " + level + "; EAX = EBP - ESP; LEAVE", new byte[]{0x55, (byte) 0x89, (byte) 0xE5,
                    (byte) 0xC8, 16, 0, (byte) level, (byte) 0x89, (byte) 0xE8, 0x29, (byte) 0xE0, (byte) 0xC9, 0x5D}, ALL & ~AF);
        }
        compare("66 ENTER 8, 2; EAX = EBP - ESP; 66 LEAVE", new byte[]{0x55, (byte) 0x89, (byte) 0xE5,
                0x66, (byte) 0xC8, 8, 0, 2, (byte) 0x89, (byte) 0xE8, 0x29, (byte) 0xE0, 0x66, (byte) 0xC9, 0x5D}, ALL & ~AF);
    }

    private static byte[] concat(byte[] a, byte[] b) {
        byte[] r = new byte[a.length + b.length];
        System.arraycopy(a, 0, r, 0, a.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }
}
