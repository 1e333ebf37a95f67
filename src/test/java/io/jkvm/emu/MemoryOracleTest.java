package io.jkvm.emu;

import io.jkvm.testing.Asm;
import io.jkvm.testing.NativeCpu;
import io.jkvm.testing.OracleCore;
import io.jkvm.x86.Registers;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.io.ByteArrayOutputStream;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.Random;

import static io.jkvm.testing.Asm.concat;
import static io.jkvm.testing.Asm.registerForm;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Memory-operand forms against the host CPU: RBX (and RSI/RDI for string instructions) point into an 8 KiB buffer
 * natively and into guest memory at 0x300000 on the core; the buffers, the registers (pointers compared as
 * offsets) and the defined flags must match. Covers read-modify-write, BT with bit offsets beyond the operand,
 * CMPXCHG/XADD, the string instructions with REP and both directions, and accesses crossing a page boundary.
 */
class MemoryOracleTest {
    private static final long GUEST_BUFFER = 0x300000;
    private static final long CF = 1, PF = 4, AF = 0x10, ZF = 0x40, SF = 0x80, OF = 0x800, ALL = CF | PF | AF | ZF | SF | OF;
    private static final Random random = new Random(OracleCore.SEED ^ 0x4D454DL);
    private static final int CASES = OracleCore.casesPerForm(24);
    private static OracleCore oracle;

    @BeforeAll
    static void setUp() {
        oracle = new OracleCore("memory", "host,+xsave,+apx");
        oracle.core.setXcr0(0x80003L); // APX on: the EVEX memory forms below need it, the legacy ones do not care
    }

    @AfterAll
    static void tearDown() {
        oracle.close();
    }

    private static final int[] POINTERS = {3, 6, 7}; // RBX, RSI, RDI

    /** Runs with RBX/RSI/RDI at {@code offsets} into the buffer; everything else random. */
    private static void check(String form, byte[] insn, long definedFlags, long[] offsets, long rcx, long flags) {
        check(form, insn, definedFlags, offsets, rcx, flags, -1, 0);
    }

    private static void check(String form, byte[] insn, long definedFlags, long[] offsets, long rcx, long flags, int fixedReg, long fixedValue) {
        check(form, new byte[][]{insn}, definedFlags, offsets, rcx, flags, fixedReg, fixedValue, null);
    }

    /** {@code insn} on the core against {@code twin} on the host, an equivalent legacy sequence. */
    private static void check(String form, byte[] insn, long definedFlags, long[] offsets, long rcx, long flags, int fixedReg, long fixedValue,
                              byte[] twin) {
        check(form, new byte[][]{insn}, definedFlags, offsets, rcx, flags, fixedReg, fixedValue, twin);
    }

    /** A sequence given as hex with its instructions between "|", the same on the host and the core. */
    private static void checkSequence(String form, String hex, long definedFlags, long[] offsets, long rcx, long flags) {
        String[] parts = hex.split("\\|");
        byte[][] insns = new byte[parts.length][];
        for (int i = 0; i < parts.length; i++) {
            insns[i] = HexFormat.of().parseHex(parts[i].replace(" ", ""));
        }
        check(form, insns, definedFlags, offsets, rcx, flags, -1, 0, null);
    }

    /** {@code insns} on the core against {@code twin} on the host (when null, the same bytes). */
    private static void check(String form, byte[][] insns, long definedFlags, long[] offsets, long rcx, long flags, int fixedReg, long fixedValue,
                              byte[] twin) {
        byte[] insn = concat(insns);
        NativeCpu host = oracle.host;
        byte[] buffer = new byte[8192];
        random.nextBytes(buffer);
        long[] g = new long[16];
        for (int i = 0; i < 16; i++) {
            g[i] = random.nextInt(4) == 0 ? random.nextInt(64) - 32 : random.nextLong();
        }
        g[1] = rcx;
        if (fixedReg >= 0) {
            g[fixedReg] = fixedValue;
        }
        long[] nativeRegs = g.clone();
        long[] coreRegs = g.clone();
        for (int k = 0; k < 3; k++) {
            nativeRegs[POINTERS[k]] = host.dataAddress() + offsets[k];
            coreRegs[POINTERS[k]] = GUEST_BUFFER + offsets[k];
        }
        host.setData(buffer);
        NativeCpu.Result want = host.run(twin == null ? insn : twin, nativeRegs, flags);
        byte[] wantData = host.data(buffer.length);

        oracle.memory.write(GUEST_BUFFER, buffer, 0, buffer.length);
        oracle.load(insns);
        oracle.setRegisters(coreRegs, (flags & 0xCD5L) | 0x2);
        String where = form + " [" + HexFormat.ofDelimiter(" ").formatHex(insn) + "]" + (twin == null ? "" : " twin ["
                + HexFormat.ofDelimiter(" ").formatHex(twin) + "]") + " offsets " + Arrays.toString(offsets);
        oracle.runLoaded(where);
        byte[] gotData = new byte[buffer.length];
        oracle.memory.read(GUEST_BUFFER, gotData);
        assertArrayEquals(wantData, gotData, where + ": memory");
        Registers r = oracle.core.registers();
        for (int n = 0; n < 16; n++) {
            if (n == 4) {
                continue;
            }
            long base = 0, guestBase = 0;
            for (int k = 0; k < 3; k++) {
                if (POINTERS[k] == n) {
                    base = host.dataAddress();
                    guestBase = GUEST_BUFFER;
                }
            }
            long w = want.gprs()[n] - base, got = r.gpr(n) - guestBase;
            final int reg = n;
            assertTrue(w == got, () -> where + ": r" + reg + " native 0x" + Long.toHexString(w) + ", core 0x" + Long.toHexString(got));
        }
        long fw = want.rflags() & definedFlags, fg = r.rflags() & definedFlags;
        assertTrue(fw == fg, () -> where + ": flags native 0x" + Long.toHexString(fw) + ", core 0x" + Long.toHexString(fg));
        oracle.counted(form);
    }

    /** opcode bytes, then ModRM [rbx + disp8] with the reg field, then an immediate. */
    private static byte[] mem(int size, int[] opcode, int reg, int disp, long imm, int immSize) {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        if (size == 2) {
            b.write(0x66);
        }
        int rex = (size == 8 ? 8 : 0) | ((reg & 8) != 0 ? 4 : 0);
        if (rex != 0) {
            b.write(0x40 | rex);
        }
        for (int o : opcode) {
            b.write(o);
        }
        b.write(0x43 | ((reg & 7) << 3)); // mod 01, rm 011 (rbx), disp8
        b.write(disp);
        for (int i = 0; i < immSize; i++) {
            b.write((int) (imm >>> (8 * i)));
        }
        return b.toByteArray();
    }

    private static int reg() {
        int r;
        do {
            r = random.nextInt(16);
        } while (r == 4 || r == 3 || r == 6 || r == 7);
        return r;
    }

    /** A base offset near the page boundary at 4096 half the time, so some accesses cross it. */
    private static long[] offsets() {
        long rbx = random.nextBoolean() ? 4096 - 64 + random.nextInt(64) : 256 + random.nextInt(3000);
        return new long[]{rbx, 1024 + random.nextInt(1024), 5000 + random.nextInt(1024)};
    }

    private static void sweep(String name, long defined, FormMaker make, int... sizes) {
        for (int size : sizes) {
            for (int i = 0; i < CASES; i++) {
                check(name + " m" + 8 * size, make.make(size), defined, offsets(), random.nextInt(64), random.nextLong());
            }
        }
    }

    private interface FormMaker {
        byte[] make(int size);
    }

    @Test
    void readModifyWriteAndLoads() {
        String[] alu = {"add", "or", "adc", "sbb", "and", "sub", "xor", "cmp"};
        for (int op = 0; op < 8; op++) {
            final int o = op;
            long defined = o == 1 || o == 4 || o == 6 ? ALL & ~AF : ALL;
            sweep(alu[o] + " m, r", defined, size -> mem(size, new int[]{(o << 3) | (size == 1 ? 0 : 1)}, reg(), random.nextInt(128), 0, 0), 1, 2, 4, 8);
            sweep(alu[o] + " r, m", defined, size -> mem(size, new int[]{(o << 3) | (size == 1 ? 2 : 3)}, reg(), random.nextInt(128), 0, 0), 1, 2, 4, 8);
            sweep(alu[o] + " m, imm8", defined, size -> mem(size, new int[]{size == 1 ? 0x80 : 0x83}, o, random.nextInt(128), random.nextLong(), 1), 1, 2, 4, 8);
        }
        sweep("mov m, r", ALL, size -> mem(size, new int[]{size == 1 ? 0x88 : 0x89}, reg(), random.nextInt(128), 0, 0), 1, 2, 4, 8);
        sweep("mov r, m", ALL, size -> mem(size, new int[]{size == 1 ? 0x8A : 0x8B}, reg(), random.nextInt(128), 0, 0), 1, 2, 4, 8);
        sweep("mov m, imm", ALL, size -> mem(size, new int[]{size == 1 ? 0xC6 : 0xC7}, 0, random.nextInt(128), random.nextLong(), size == 1 ? 1 : size == 2 ? 2 : 4), 1, 2, 4, 8);
        sweep("inc m", ALL, size -> mem(size, new int[]{size == 1 ? 0xFE : 0xFF}, 0, random.nextInt(128), 0, 0), 1, 2, 4, 8);
        sweep("neg m", ALL, size -> mem(size, new int[]{size == 1 ? 0xF6 : 0xF7}, 3, random.nextInt(128), 0, 0), 1, 2, 4, 8);
        sweep("not m", ALL, size -> mem(size, new int[]{size == 1 ? 0xF6 : 0xF7}, 2, random.nextInt(128), 0, 0), 1, 2, 4, 8);
        sweep("shl m, imm8", ALL & ~AF & ~OF, size -> mem(size, new int[]{size == 1 ? 0xC0 : 0xC1}, 4, random.nextInt(128), 2 + random.nextInt(5), 1), 1, 2, 4, 8);
        sweep("xchg m, r", ALL, size -> mem(size, new int[]{size == 1 ? 0x86 : 0x87}, reg(), random.nextInt(128), 0, 0), 1, 2, 4, 8);
        sweep("xadd m, r", ALL, size -> mem(size, new int[]{0x0F, size == 1 ? 0xC0 : 0xC1}, reg(), random.nextInt(128), 0, 0), 1, 2, 4, 8);
        sweep("cmpxchg m, r", ALL, size -> mem(size, new int[]{0x0F, size == 1 ? 0xB0 : 0xB1}, reg(), random.nextInt(128), 0, 0), 1, 2, 4, 8);
        sweep("movzx r, m8", ALL, size -> mem(size, new int[]{0x0F, 0xB6}, reg(), random.nextInt(128), 0, 0), 2, 4, 8);
        sweep("movsx r, m16", ALL, size -> mem(size, new int[]{0x0F, 0xBF}, reg(), random.nextInt(128), 0, 0), 4, 8);
        sweep("cmovne r, m", ALL, size -> mem(size, new int[]{0x0F, 0x45}, reg(), random.nextInt(128), 0, 0), 2, 4, 8);
        sweep("sete m8", ALL, size -> mem(1, new int[]{0x0F, 0x94}, 0, random.nextInt(128), 0, 0), 1);
        sweep("imul r, m", CF | OF, size -> mem(size, new int[]{0x0F, 0xAF}, reg(), random.nextInt(128), 0, 0), 2, 4, 8);
    }

    @Test
    void nonTemporalIntegerStoresStoreAsMovDoes() {
        for (int size : new int[]{4, 8}) {
            for (int i = 0; i < CASES; i++) {
                check("movnti m" + 8 * size, mem(size, new int[]{0x0F, 0xC3}, reg(), random.nextInt(128), 0, 0), 0, offsets(),
                        random.nextLong(), random.nextLong());
            }
        }
    }

    @Test
    void bitTestsReachBeyondTheOperand() {
        String[] names = {"bt", "bts", "btr", "btc"};
        int[] ops = {0xA3, 0xAB, 0xB3, 0xBB};
        for (int k = 0; k < 4; k++) {
            final int op = ops[k];
            for (int size : new int[]{2, 4, 8}) {
                for (int i = 0; i < CASES; i++) {
                    int r = reg();
                    byte[] insn = mem(size, new int[]{0x0F, op}, r, 0, 0, 0);
                    // A bit offset in -1000..1000: the byte touched is up to 125 bytes either side of RBX.
                    long[] offs = {2048 + random.nextInt(64), 1024, 5000};
                    check(names[k] + " m" + 8 * size + ", r", insn, CF, offs, random.nextInt(64), random.nextLong(), r, random.nextInt(2001) - 1000);
                }
            }
        }
    }

    @Test
    void stringInstructionsWithRepAndDirection() {
        String[][] ops = {{"movsb", "a4"}, {"movsq", "48 a5"}, {"stosb", "aa"}, {"stosd", "ab"}, {"lodsw", "66 ad"},
                {"cmpsb", "a6"}, {"scasd", "af"}};
        for (String[] op : ops) {
            for (String rep : new String[]{"", "f3 ", "f2 "}) {
                if (rep.equals("f2 ") && !op[0].startsWith("cmps") && !op[0].startsWith("scas")) {
                    continue;
                }
                for (int i = 0; i < CASES; i++) {
                    boolean down = random.nextBoolean();
                    String code = (down ? "fd | " : "") + rep + op[1] + (down ? " | fc" : "");
                    long[] offs = {256, 2048 + random.nextInt(256), 5000 + random.nextInt(256)};
                    String name = (rep.isEmpty() ? "" : rep.equals("f3 ") ? "rep " : "repne ") + op[0] + (down ? " (DF=1)" : "");
                    checkSequence(name, code, ALL, offs, random.nextInt(40), random.nextLong() & ~0x400L);
                }
            }
        }
    }
    /**
     * The NF twins push RFLAGS while RSP is the oracle's state block: the push must land on the oracle's own stack.
     * With no room of its own below the block, PUSHF wrote over malloc's chunk header and the test JVM died in free().
     */
    @Test
    void twinsPushOntoTheOraclesOwnStack() {
        long flags = CF | ZF | OF;
        NativeCpu.Result r = oracle.host.run(concat(PUSHF, POPF), new long[16], flags);
        long pushed = java.nio.ByteBuffer.wrap(oracle.host.stackTop(8)).order(java.nio.ByteOrder.LITTLE_ENDIAN).getLong();
        assertTrue((pushed & ALL) == flags && pushed == r.rflags(),
                () -> "PUSHF stored 0x" + Long.toHexString(pushed) + " below the block, RFLAGS 0x" + Long.toHexString(r.rflags()));
    }

    /** dst = the operand at [rbx + disp], zero-extended to 64 bits (MOVZX for 8 and 16 bits). */
    private static byte[] load(int size, int dst, int disp) {
        return size == 1 ? mem(4, new int[]{0x0F, 0xB6}, dst, disp, 0, 0) : size == 2 ? mem(4, new int[]{0x0F, 0xB7}, dst, disp, 0, 0)
                : mem(size, new int[]{0x8B}, dst, disp, 0, 0);
    }

    private static final byte[] PUSHF = {(byte) 0x9C}, POPF = {(byte) 0x9D};

    /**
     * APX's EVEX forms with a memory operand against legacy twins run natively: NDD with a memory source
     * ({@code add d, [rbx + k], s} = {@code movzx/mov d, [rbx + k]; add d, s}), NF read-modify-write (the twin between
     * PUSHF and POPF, so RFLAGS must come out as it went in), CFCMOV loads (= CMOV) and stores (= a MOV jumped over
     * when the condition is false), SETcc.ZU to memory, and NDD shifts of a memory source.
     */
    @Test
    void apxEvexMemoryForms() {
        for (int size : new int[]{1, 2, 4, 8}) {
            int pp = size == 2 ? 1 : 0;
            boolean w = size == 8;
            for (int i = 0; i < CASES; i++) {
                int d = reg(), src;
                do {
                    src = reg();
                } while (src == d || size == 1 && src == 5); // mem() has no REX for BPL: byte twins keep to registers both read alike
                int disp = random.nextInt(64);
                long[] offs = offsets();
                for (int op = 0; op < 7; op++) {
                    long defined = op == 1 || op == 4 || op == 6 ? ALL & ~AF : ALL;
                    int opMr = (op << 3) | (size == 1 ? 0 : 1);
                    for (boolean nf : op == 2 || op == 3 ? new boolean[]{false} : new boolean[]{false, true}) {
                        byte[] ndd = new Asm().evexMem(4, pp, w, true, nf, d, opMr, src, 3, -1, 0, disp).bytes();
                        byte[] twin = concat(load(size, d, disp), registerForm(size, new int[]{opMr}, src, d, true, 0, 0));
                        check((nf ? "{nf} " : "") + "alu" + op + " ndd r" + 8 * size + ", m, r", ndd, defined, offs, random.nextInt(64), random.nextLong(),
                                -1, 0, nf ? concat(PUSHF, twin, POPF) : twin);
                        if (nf) {
                            byte[] rmw = new Asm().evexMem(4, pp, w, false, true, 0, opMr, src, 3, -1, 0, disp).bytes();
                            check("{nf} alu" + op + " m" + 8 * size + ", r", rmw, ALL, offs, random.nextInt(64), random.nextLong(),
                                    -1, 0, concat(PUSHF, mem(size, new int[]{opMr}, src, disp, 0, 0), POPF));
                        }
                    }
                }
                int count = 1 + random.nextInt(8 * size - 1);
                int shift = new int[]{0, 1, 4, 5, 7}[random.nextInt(5)];
                check("shift/" + shift + " ndd r" + 8 * size + ", m, imm", new Asm().evexMem(4, pp, w, true, false, d, size == 1 ? 0xC0 : 0xC1, shift, 3, -1, 0, disp)
                                .immediate(count, 1).bytes(), count == 1 ? ALL & ~AF : shift <= 1 ? CF : CF | ZF | SF | PF, offs, 0, random.nextLong(),
                        -1, 0, concat(load(size, d, disp), registerForm(size, new int[]{size == 1 ? 0xC0 : 0xC1}, shift, d, true, count, 1)));
                int cc = random.nextInt(16);
                check("setcc.zu m8", new Asm().evexMem(4, 3, false, true, false, 0, 0x40 | cc, 0, 3, -1, 0, disp).bytes(), ALL, offs,
                        0, random.nextLong(), -1, 0, mem(1, new int[]{0x0F, 0x90 | cc}, 0, disp, 0, 0));
                if (size >= 2) {
                    check("cfcmovcc r" + 8 * size + ", m", new Asm().evexMem(4, pp, w, false, false, 0, 0x40 | cc, d, 3, -1, 0, disp).bytes(), ALL, offs,
                            0, random.nextLong(), -1, 0, mem(size, new int[]{0x0F, 0x40 | cc}, d, disp, 0, 0));
                    byte[] store = mem(size, new int[]{0x89}, src, disp, 0, 0);
                    check("cfcmovcc m" + 8 * size + ", r", new Asm().evexMem(4, pp, w, false, true, 0, 0x40 | cc, src, 3, -1, 0, disp).bytes(), ALL, offs,
                            0, random.nextLong(), -1, 0, concat(new byte[]{(byte) (0x70 | (cc ^ 1)), (byte) store.length}, store));
                }
            }
        }
    }

    /**
     * ENTER runs on a stack inside the buffer: RBP = RSI (the enclosing frame), XCHG RSP, RDI around it, so RDI comes
     * back as the new RSP. The frame pointers it pushes are addresses, different natively and on the core, so the
     * sequence turns them into differences before the buffers are compared: the pushed RBP less RSI, the pushed
     * frame pointer less the new RSP, and RBP less RSI (for 16-bit, BP less SI, sign-extended). PUSHF/POPF around those
     * SUBs keep the flags as ENTER left them: it changes none, so all of them must match.
     */
    @Test
    void enterWithNestingLevels() {
        for (int size : new int[]{8, 2}) {
            for (int level : new int[]{0, 1, 2, 3, 31}) {
                for (int i = 0; i < CASES; i++) {
                    int alloc = random.nextInt(3000);
                    int levelByte = level + (random.nextBoolean() ? 0 : 32 * random.nextInt(8)); // imm8 is taken mod 32
                    String o16 = size == 2 ? "66 " : "";
                    String code = "48 89 f5 | 48 87 fc | " + o16 + String.format("c8 %02x %02x %02x | ", alloc & 0xFF, alloc >>> 8, levelByte)
                            + "48 87 fc | 9c | "
                            + (level > 0 ? (size == 2 ? "66" : "48") + " 29 bf " + le32(alloc) + "| " : "") // the pushed frame pointer
                            + (size == 2 ? "66" : "48") + " 29 b7 " + le32(alloc + size * level) // the pushed RBP
                            + "| 48 29 f5" + (size == 2 ? " | 48 0f bf ed" : "") + " | 9d"; // sub rbp, rsi (movsx rbp, bp); popf
                    long[] offs = {256, 1024 + random.nextInt(1024), 5000 + random.nextInt(1024)};
                    checkSequence("enter (o" + 8 * size + ", level " + level + ")", code, ALL, offs, random.nextInt(64), random.nextLong());
                }
            }
        }
    }

    @Test
    void enterWith16BitOperandsReplacesOnlyBp() {
        for (int i = 0; i < CASES; i++) {
            int alloc = random.nextInt(3000);
            // RBP random (level 0 reads nothing through it); after ENTER, RBP >> 16 is what was left of the old RBP (the
            // SHR between PUSHF and POPF, so the flags compared are ENTER's: unchanged)
            String code = String.format("48 87 fc | 66 c8 %02x %02x 00 | 48 87 fc | 9c | 48 c1 ed 10 | 9d", alloc & 0xFF, alloc >>> 8);
            checkSequence("enter (o16, level 0): RBP[63:16] kept", code, ALL, new long[]{256, 1024, 5000 + random.nextInt(1024)},
                    random.nextInt(64), random.nextLong());
        }
    }

    @Test
    void xlatReadsTheTableAtRbxPlusAl() {
        for (int i = 0; i < CASES * 4; i++) {
            check("xlat", new byte[]{(byte) 0xD7}, ALL, offsets(), random.nextInt(64), random.nextLong());
        }
    }

    private static String le32(int v) {
        return String.format("%02x %02x %02x %02x ", v & 0xFF, (v >>> 8) & 0xFF, (v >>> 16) & 0xFF, v >>> 24);
    }
    /** POP to memory addressed through RSP computes the address after RSP moved (SDM, POP); RSP is RDI, in the buffer. */
    @Test
    void popToMemoryAddressesThroughTheIncrementedRsp() {
        for (String form : new String[]{"8f 04 24", "8f 44 24 08", "8f 44 24 f0", "8f 04 64", "66 8f 44 24 02", "66 8f 04 24"}) {
            for (int i = 0; i < CASES; i++) {
                checkOnBufferStack("pop", form, 1024);
            }
        }
    }

    /** 16-bit PUSH/POP (66 prefix) move RSP by 2 and touch 2 bytes; POP r16 keeps bits 63:16. RSP is RDI, in the buffer. */
    @Test
    void sixteenBitPushAndPop() {
        String[] forms = {"66 50", "66 51", "66 55", "66 41 57", "66 58", "66 5a", "66 41 59", "66 6a 85", "66 68 34 f2",
                "66 ff 73 10", "66 8f 43 22", "50 | 66 58", "66 50 | 58"};
        for (String form : forms) {
            for (int i = 0; i < CASES; i++) {
                checkOnBufferStack("push/pop", form, 512 + random.nextInt(2048));
            }
        }
    }

    /** {@code form} with RSP in the buffer (XCHG RSP, RDI around it, so RDI comes back as the new RSP) and RBX at {@code rbx}. */
    private static void checkOnBufferStack(String name, String form, long rbx) {
        long[] offs = {rbx, 1024, 3000 + random.nextInt(2048)};
        checkSequence(name + " [" + form + "]", "48 87 fc | " + form + " | 48 87 fc", ALL, offs, random.nextInt(64), random.nextLong());
    }
}
