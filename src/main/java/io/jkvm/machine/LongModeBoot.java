package io.jkvm.machine;

import io.jkvm.x86.ControlBits;
import io.jkvm.x86.DescriptorTable;
import io.jkvm.x86.Registers;
import io.jkvm.x86.Segment;
import io.jkvm.x86.SpecialRegisters;

import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.LongBuffer;

/**
 * The guest entry contract: 64-bit long mode at CPL0 with a flat GDT and identity-mapped 2 MiB pages, built in
 * a reserved region below 1 MiB that loaders never overwrite.
 *
 * <pre>
 *   0x1000  GDT: null, 0x08 code64, 0x10 data, 0x18 TSS (16 bytes); TSS body at 0x1800
 *           (for a Linux kernel's 64-bit entry, as its boot protocol asks: 0x10 code64, 0x18 data, 0x20 TSS)
 *   0x2000  PML4
 *   0x3000  PDPT
 *   0x4000  page directories, one per GiB mapped (at least 4: the first 4 GiB are always mapped)
 * </pre>
 */
public final class LongModeBoot {
    public static final long GDT = 0x1000;
    public static final long TSS = 0x1800;
    public static final long PML4 = 0x2000;
    public static final long PDPT = 0x3000;
    public static final long PAGE_DIRECTORIES = 0x4000;
    public static final int CODE_SELECTOR = 0x08;
    public static final int DATA_SELECTOR = 0x10;
    public static final int TSS_SELECTOR = 0x18;

    /** Where the GDT's code, data and TSS descriptors are. */
    public record Selectors(int code, int data, int tss) {
    }

    /** The flat image contract's selectors. */
    public static final Selectors FLAT = new Selectors(CODE_SELECTOR, DATA_SELECTOR, TSS_SELECTOR);
    /** The Linux boot protocol's: CS = __BOOT_CS (0x10), DS, ES and SS = __BOOT_DS (0x18). */
    public static final Selectors LINUX = new Selectors(0x10, 0x18, 0x20);
    public static final long GIB = 1L << 30;
    /** The largest RAM this layout maps: its page directories must end below 1 MiB. */
    public static final long MAX_RAM = 128 * GIB;
    private static final long TSS_LIMIT = 0x67;

    private LongModeBoot() {
    }

    /** First byte past the reserved boot region for a guest of {@code ramSize} bytes. */
    public static long reservedEnd(long ramSize) {
        return PAGE_DIRECTORIES + directories(ramSize) * 0x1000L;
    }

    public static long reservedStart() {
        return GDT;
    }

    private static long directories(long ramSize) {
        return Math.max(4, (ramSize + GIB - 1) / GIB);
    }

    /** Writes the GDT (the flat contract's selectors), TSS and page tables into guest memory. */
    public static void writeTables(GuestMemory memory) {
        writeTables(memory, FLAT);
    }

    /** Writes the GDT with its descriptors at {@code selectors}, the TSS and the page tables into guest memory. */
    public static void writeTables(GuestMemory memory, Selectors selectors) {
        memory.zero(GDT, reservedEnd(memory.size()) - GDT);
        memory.writeLong(GDT + selectors.code(), 0x00AF_9B00_0000_FFFFL); // G, L, P, DPL0, code exec/read, accessed (as Linux writes its GDT: no CPU need write it, and every load finds type 0xB)
        memory.writeLong(GDT + selectors.data(), 0x00CF_9300_0000_FFFFL); // G, D/B, P, DPL0, data read/write, accessed
        long tssLow = TSS_LIMIT | ((TSS & 0xFF_FFFFL) << 16) | (0x8BL << 40) | (((TSS >>> 24) & 0xFF) << 56);
        memory.writeLong(GDT + selectors.tss(), tssLow); // busy 64-bit TSS
        memory.writeLong(GDT + selectors.tss() + 8, TSS >>> 32);

        long pageFlags = ControlBits.PTE_PRESENT | ControlBits.PTE_WRITABLE;
        memory.writeLong(PML4, PDPT | pageFlags);
        long dirs = directories(memory.size());
        // each directory's 512 entries in one write: this runs once a launch, in the JVM's interpreter, where 2,048
        // stores one by one through guest memory's checks took 2.7-3.3 ms (1.2 ms this way)
        byte[] directory = new byte[0x1000];
        LongBuffer entries = ByteBuffer.wrap(directory).order(ByteOrder.LITTLE_ENDIAN).asLongBuffer();
        for (long d = 0; d < dirs; d++) {
            long pd = PAGE_DIRECTORIES + d * 0x1000;
            memory.writeLong(PDPT + d * 8, pd | pageFlags);
            for (int e = 0; e < 512; e++) {
                entries.put(e, d * GIB + e * (2L << 20) | pageFlags | ControlBits.PTE_LARGE);
            }
            memory.write(pd, directory, 0, directory.length);
        }
    }

    /** Special registers for 64-bit mode at CPL0, with OSXSAVE when the guest CPU has XSAVE. */
    public static SpecialRegisters specialRegisters(SpecialRegisters reset, boolean xsave) {
        return specialRegisters(reset, xsave, FLAT);
    }

    /** Special registers for 64-bit mode at CPL0 on a GDT with {@code selectors}, with OSXSAVE when the guest CPU has XSAVE. */
    public static SpecialRegisters specialRegisters(SpecialRegisters reset, boolean xsave, Selectors selectors) {
        Segment data = Segment.flatData(selectors.data());
        long cr0 = ControlBits.CR0_PE | ControlBits.CR0_MP | ControlBits.CR0_ET | ControlBits.CR0_NE
                | ControlBits.CR0_WP | ControlBits.CR0_AM | ControlBits.CR0_PG;
        long cr4 = ControlBits.CR4_PAE | ControlBits.CR4_OSFXSR | ControlBits.CR4_OSXMMEXCPT
                | (xsave ? ControlBits.CR4_OSXSAVE : 0);
        long efer = ControlBits.EFER_LME | ControlBits.EFER_LMA | ControlBits.EFER_NXE;
        return new SpecialRegisters(Segment.flatCode64(selectors.code()), data, data, data, data, data,
                Segment.tss64(selectors.tss(), TSS, (int) TSS_LIMIT), Segment.unusableLdt(),
                new DescriptorTable(GDT, selectors.tss() + 16 - 1), new DescriptorTable(0, 0),
                cr0, 0, PML4, cr4, 0, efer, reset.apicBase(), new long[4]);
    }

    /**
     * Puts {@code vcpu} in 64-bit mode at CPL0 over the tables {@link #writeTables} wrote, with {@code registers}: the
     * special registers, XCR0 (with XSAVE), MSRs; what a flat image's entry and a Linux kernel's 64-bit entry share.
     */
    public static void enter(io.jkvm.x86.VirtualCpu vcpu, boolean xsave, Registers registers) {
        enter(vcpu, xsave, registers, FLAT);
    }

    /** {@link #enter(io.jkvm.x86.VirtualCpu, boolean, Registers)} on a GDT with {@code selectors}. */
    public static void enter(io.jkvm.x86.VirtualCpu vcpu, boolean xsave, Registers registers, Selectors selectors) {
        vcpu.setSpecialRegisters(specialRegisters(vcpu.specialRegisters(), xsave, selectors));
        if (xsave) {
            vcpu.setXcr0(xcr0());
        }
        vcpu.setRegisters(registers);
        vcpu.setMsrs(msrs());
    }

    /** Registers at entry: RIP at the image's entry, RSP at the 16-byte-aligned top of RAM, all else 0. */
    public static Registers registers(long entry, long ramSize) {
        return Registers.zero().withRip(entry).withRsp(ramSize & ~0xFL);
    }

    /** The MSRs set at entry, on either backend alike: MISC_ENABLE with fast strings on, as firmware leaves it. */
    public static java.util.Map<Integer, Long> msrs() {
        return java.util.Map.of(io.jkvm.x86.Msrs.IA32_MISC_ENABLE, 1L);
    }

    /** XCR0 at entry: x87 and SSE. */
    public static long xcr0() {
        return ControlBits.XCR0_X87 | ControlBits.XCR0_SSE;
    }
}
