package io.jkvm.testing;

import io.jkvm.emu.EmulatedVcpu;
import io.jkvm.linux.HostCpu;
import io.jkvm.machine.GuestMemory;
import io.jkvm.machine.LongModeBoot;
import io.jkvm.x86.CpuFeature;
import io.jkvm.x86.CpuModel;
import io.jkvm.x86.VcpuExit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The two sides of an oracle test: the host CPU, and a software-core vCPU in long mode with code at 0x100000. */
public final class OracleCore implements AutoCloseable {
    /** Every oracle's random seed: fixed in CI, a fresh one each round of scripts/fuzz-core (-Djkvm.oracle.seed). */
    public static final long SEED = Long.getLong("jkvm.oracle.seed", 0x6A6B766DL);
    /** Where {@link #load} puts the code, and RIP when the registers are set. */
    public static final long CODE = 0x100000;

    /** Random cases per instruction form: {@code ciDefault} in CI, what scripts/fuzz-core asks for (-Djkvm.oracle.cases) in long runs. */
    public static int casesPerForm(int ciDefault) {
        return Integer.getInteger("jkvm.oracle.cases", ciDefault);
    }

    public final NativeCpu host = new NativeCpu();
    public final GuestMemory memory = GuestMemory.allocate(4L << 20);
    public final EmulatedVcpu core;
    private final String name;
    private final java.util.Set<String> forms = new java.util.LinkedHashSet<>();
    private int cases;
    /** What {@link #load} put at CODE: its length in bytes (without the HLT) and how many instructions. */
    private int loadedLength, loadedInstructions;

    /** The features {@link #hostRuns} was asked about, whether the host CPU has each, and the forms it had to skip. */
    private final java.util.Map<CpuFeature, Boolean> hostFeatures = new java.util.EnumMap<>(CpuFeature.class);
    private final java.util.Set<String> skippedForms = new java.util.TreeSet<>();

    /** {@code name} heads the coverage line printed on close: "NAME oracle: N forms, M cases". */
    public OracleCore(String name, String cpu) {
        this.name = name;
        CpuModel model;
        model = CpuModel.parse(cpu, HostModel.cpuid(), HostCpu.mxcsrMask());
        LongModeBoot.writeTables(memory);
        core = new EmulatedVcpu(0, memory.mapping(), model);
        core.setSpecialRegisters(LongModeBoot.specialRegisters(core.specialRegisters(), model.cpuid().hasXsave()));
    }

    /** Puts {@code instructions}, one after another, followed by HLT at {@link #CODE}. */
    public void load(byte[]... instructions) {
        byte[] code = Asm.concat(Asm.concat(instructions), new byte[]{(byte) 0xF4});
        memory.write(CODE, code, 0, code.length);
        loadedLength = code.length - 1;
        loadedInstructions = instructions.length;
    }

    /**
     * Runs the loaded code on the core and asserts that it stopped at the HLT after it, having retired each loaded
     * instruction once: with RIP just past that HLT, the core took every instruction to be as long as its encoding.
     */
    public void runLoaded(String where) {
        long retiredBefore = core.instructions();
        VcpuExit exit = core.run();
        assertTrue(exit instanceof VcpuExit.Hlt, () -> where + ": the core stopped with " + exit);
        long retired = core.instructions() - retiredBefore, rip = core.registers().rip();
        assertEquals(loadedInstructions, retired, () -> where + ": the core retired " + retired + " instructions before the HLT, not "
                + loadedInstructions);
        assertEquals(CODE + loadedLength + 1, rip, () -> where + ": RIP 0x" + Long.toHexString(rip) + " after the HLT, not 0x"
                + Long.toHexString(CODE + loadedLength + 1) + " (code at 0x" + Long.toHexString(CODE) + ", " + loadedLength + " bytes, then the HLT)");
    }

    /** The core's GPRs from {@code gprs} (by encoding number; RSP is the stack at 0x200000 whatever gprs[4] holds), RIP at the loaded code. */
    public void setRegisters(long[] gprs, long rflags) {
        core.setRegisters(io.jkvm.x86.Registers.byEncoding(gprs, CODE, rflags).withRsp(0x200000));
    }

    /** Loads XMM0-15 ({@code x[2n]} low quadword, {@code x[2n+1]} high) and MXCSR into the core, through the state record. */
    public void setXmm(long[] x, int mxcsr) {
        io.jkvm.x86.VcpuState s = core.saveState();
        io.jkvm.x86.XsaveArea area = s.xsave().setMxcsr(mxcsr);
        for (int i = 0; i < 16; i++) {
            byte[] b = new byte[16];
            for (int k = 0; k < 8; k++) {
                b[k] = (byte) (x[2 * i] >>> (8 * k));
                b[8 + k] = (byte) (x[2 * i + 1] >>> (8 * k));
            }
            area.setXmm(i, b);
        }
        core.restoreState(s.withXsave(area).withActivity(io.jkvm.x86.Activity.ACTIVE)); // see setEgprs
    }

    /**
     * Loads R16-R31 ({@code e[0]} = R16) into the core, through the state record. The record is put back ACTIVE: the
     * last case ended in HLT, so it says HALTED, and restored as it is the vCPU would wait in HLT, not run the next case.
     */
    public void setEgprs(long[] e) {
        io.jkvm.x86.VcpuState s = core.saveState();
        core.restoreState(s.withXsave(s.xsave().setApx(new io.jkvm.x86.ApxState(e))).withActivity(io.jkvm.x86.Activity.ACTIVE));
    }

    /** Loads the 512-byte FXSAVE region (x87, MXCSR, XMM0-15) into the core, through the state record. */
    public void setLegacyRegion(byte[] fxsave) {
        io.jkvm.x86.VcpuState s = core.saveState();
        byte[] image = s.xsave().toBytes();
        System.arraycopy(fxsave, 0, image, 0, 512);
        System.arraycopy(s.xsave().toBytes(), 28, image, 28, 4); // MXCSR_MASK is the CPU's, not the image's
        io.jkvm.x86.XsaveArea area = io.jkvm.x86.XsaveArea.of(s.xsave().layout(), image).setXstateBv(s.xsave().xstateBv() | 3);
        core.restoreState(s.withXsave(area).withActivity(io.jkvm.x86.Activity.ACTIVE));
    }

    /** The core's FXSAVE region now. */
    public byte[] legacyRegion() {
        return java.util.Arrays.copyOf(core.saveState().xsave().toBytes(), 512);
    }

    /** XMM0-15 of a saved state, as 32 quadwords. */
    public static long[] xmm(io.jkvm.x86.VcpuState s) {
        long[] x = new long[32];
        for (int i = 0; i < 16; i++) {
            byte[] b = s.xsave().xmm(i);
            for (int k = 0; k < 8; k++) {
                x[2 * i] |= (b[k] & 0xFFL) << (8 * k);
                x[2 * i + 1] |= (b[8 + k] & 0xFFL) << (8 * k);
            }
        }
        return x;
    }

    /** A random GPR number other than RSP (the oracle keeps RSP for its own stack). */
    public static int randomGpr(java.util.Random random) {
        int r;
        do {
            r = random.nextInt(16);
        } while (r == 4);
        return r;
    }

    /**
     * Whether the host CPU can run {@code form} natively: whether its own CPUID has every one of {@code needs}. A form
     * it cannot run is recorded as skipped, for the line printed on close.
     */
    public boolean hostRuns(String form, CpuFeature... needs) {
        boolean runs = true;
        for (CpuFeature f : needs) {
            runs &= hostFeatures.computeIfAbsent(f, host::has);
        }
        if (!runs) {
            skippedForms.add(form);
        }
        return runs;
    }

    /** Records one checked case of an instruction form, for the coverage line. */
    public void counted(String form) {
        forms.add(form);
        cases++;
    }

    public int forms() {
        return forms.size();
    }

    /** Cases checked so far, for a test to assert how many it ran. */
    public int cases() {
        return cases;
    }

    /** The features asked about that the host CPU has (or lacks), by QEMU name. */
    private String hostFeatureNames(boolean present) {
        return String.join(", ", hostFeatures.entrySet().stream().filter(e -> e.getValue() == present).map(e -> e.getKey().qemuName()).toList());
    }

    @Override
    public void close() {
        System.out.println(name + " oracle: " + forms.size() + " instruction forms, " + cases + " cases checked against the host CPU");
        if (!hostFeatures.isEmpty()) { // said every time: a form skipped for want of a feature is never silent
            System.out.println(name + " oracle: " + skippedForms.size() + " instruction forms skipped natively" + (skippedForms.isEmpty()
                    ? ", the host CPU has every feature they need (" + hostFeatureNames(true) + ")"
                    : ": the host CPU lacks " + hostFeatureNames(false) + " (" + String.join(", ", skippedForms) + ")"));
        }
        host.close();
        memory.close();
    }
}
