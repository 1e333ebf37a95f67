package io.jkvm.linux;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The host processor asked directly: CPUID and FXSAVE run natively from a page of machine code, so what the CPU
 * model takes from the host (the vendor, MXCSR_MASK) is known with or without /dev/kvm; and LOCK CMPXCHG16B, which
 * Java has no 16-byte compare-and-swap for, on guest RAM ({@link Mapping#compareAndExchange16}).
 */
public final class HostCpu {
    private HostCpu() {
    }

    /** cpuid(leaf in EDI, subleaf in ESI, int[4] out in RDX): EAX, EBX, ECX, EDX stored in order. */
    private static final byte[] CPUID = {
            0x53,                                   // push rbx (callee-saved, CPUID writes it)
            0x49, (byte) 0x89, (byte) 0xD0,         // mov r8, rdx (CPUID writes RDX)
            (byte) 0x89, (byte) 0xF8,               // mov eax, edi
            (byte) 0x89, (byte) 0xF1,               // mov ecx, esi
            0x0F, (byte) 0xA2,                      // cpuid
            0x41, (byte) 0x89, 0x00,                // mov [r8], eax
            0x41, (byte) 0x89, 0x58, 0x04,          // mov [r8+4], ebx
            0x41, (byte) 0x89, 0x48, 0x08,          // mov [r8+8], ecx
            0x41, (byte) 0x89, 0x50, 0x0C,          // mov [r8+12], edx
            0x5B,                                   // pop rbx
            (byte) 0xC3};                           // ret
    /** fxsave(512-byte, 16-aligned area in RDI). */
    private static final byte[] FXSAVE = {0x0F, (byte) 0xAE, 0x07, (byte) 0xC3};
    private static final int FXSAVE_AT = 64;
    /**
     * lock cmpxchg16b [RDI] with RDX:RAX from the four quadwords at RSI (expected low, high, new low, high; the new in
     * RCX:RBX), RDX:RAX stored back over the expected: what the 16 bytes held, the expected when they were swapped.
     */
    private static final byte[] CMPXCHG16B = {
            0x53,                                   // push rbx (callee-saved)
            0x49, (byte) 0x89, (byte) 0xF1,         // mov r9, rsi
            0x49, (byte) 0x8B, 0x01,                // mov rax, [r9]
            0x49, (byte) 0x8B, 0x51, 0x08,          // mov rdx, [r9+8]
            0x49, (byte) 0x8B, 0x59, 0x10,          // mov rbx, [r9+16]
            0x49, (byte) 0x8B, 0x49, 0x18,          // mov rcx, [r9+24]
            (byte) 0xF0, 0x48, 0x0F, (byte) 0xC7, 0x0F, // lock cmpxchg16b [rdi]
            0x49, (byte) 0x89, 0x01,                // mov [r9], rax
            0x49, (byte) 0x89, 0x51, 0x08,          // mov [r9+8], rdx
            0x5B,                                   // pop rbx
            (byte) 0xC3};                           // ret
    private static final int CMPXCHG16B_AT = 128;

    static final class Code {
        static final Mapping PAGE = load();
        /** Each stub takes up to three longs (a pointer as its address), through syscall(2)'s shape: no link of its own. */
        static final MemorySegment CPUID_CALL = PAGE.segment(), FXSAVE_CALL = PAGE.segment().asSlice(FXSAVE_AT),
                CMPXCHG16B_CALL = PAGE.segment().asSlice(CMPXCHG16B_AT);

        private static Mapping load() {
            Mapping page = Mapping.anonymousExecutable(4096, "host CPUID/FXSAVE/CMPXCHG16B code");
            MemorySegment.copy(CPUID, 0, page.segment(), ValueLayout.JAVA_BYTE, 0, CPUID.length);
            MemorySegment.copy(FXSAVE, 0, page.segment(), ValueLayout.JAVA_BYTE, FXSAVE_AT, FXSAVE.length);
            MemorySegment.copy(CMPXCHG16B, 0, page.segment(), ValueLayout.JAVA_BYTE, CMPXCHG16B_AT, CMPXCHG16B.length);
            return page;
        }
    }

    /** EAX, EBX, ECX, EDX of CPUID leaf {@code leaf}, subleaf {@code subleaf}, on the CPU this thread runs on. */
    public static int[] cpuid(int leaf, int subleaf) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(16, 8);
            Libc.call(Code.CPUID_CALL, Libc.callState(), leaf, subleaf, out.address());
            return out.toArray(ValueLayout.JAVA_INT);
        }
    }

    /** Whether the host has CMPXCHG16B (CPUID.1:ECX[13]); every CPU with VMX or SVM does. */
    public static boolean hasCmpxchg16b() {
        return Cx16.PRESENT;
    }

    private static final class Cx16 {
        static final boolean PRESENT = (cpuid(1, 0)[2] & 1 << 13) != 0;
    }

    /** LOCK CMPXCHG16B at host {@code address} (16-aligned), its operands at {@code operands} as the stub takes them. */
    static void compareExchange16(long address, long operands) {
        Libc.call(Code.CMPXCHG16B_CALL, Libc.callState(), address, operands, 0);
    }

    /** The 512-byte FXSAVE image of this thread's x87/SSE state. */
    public static byte[] fxsave() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment area = a.allocate(512, 64);
            Libc.call(Code.FXSAVE_CALL, Libc.callState(), area.address(), 0, 0);
            return area.toArray(ValueLayout.JAVA_BYTE);
        }
    }

    /** MXCSR_MASK as this CPU's FXSAVE reports it (bytes 28-31); 0 there means the architectural default 0xFFBF. */
    public static int mxcsrMask() {
        return Mask.VALUE;
    }

    private static final class Mask {
        static final int VALUE = fromFxsave();
    }

    private static int fromFxsave() {
        byte[] image = fxsave();
        int mask = (image[28] & 0xFF) | (image[29] & 0xFF) << 8 | (image[30] & 0xFF) << 16 | (image[31] & 0xFF) << 24;
        return mask == 0 ? 0xFFBF : mask;
    }
}
