package io.jkvm.x86;

import java.util.Optional;

/**
 * Which XCR0 values a CPU accepts (SDM vol. 1 13.3, and what the kernel's xcr0_cpuid_test.c checks). Shared by
 * both backends: a guest XSETBV that breaks a rule takes #GP, a host-side set is refused with the message.
 */
public final class Xcr0Rules {
    private Xcr0Rules() {
    }

    private static final long X87 = 1L;
    private static final long SSE = 1L << 1;
    private static final long YMM = 1L << 2;
    private static final long MPX = (1L << 3) | (1L << 4);
    private static final long AVX512 = (1L << 5) | (1L << 6) | (1L << 7);
    private static final long AMX = (1L << 17) | (1L << 18);
    private static final long APX = 1L << 19;

    /** Why {@code xcr0} is not a valid value for a CPU supporting {@code supported}, or empty when it is. */
    public static Optional<String> violation(long xcr0, long supported) {
        if ((xcr0 & X87) == 0) {
            return Optional.of("XCR0 bit 0 (x87) must always be set");
        }
        long unsupported = xcr0 & ~supported;
        if (unsupported != 0) {
            int bit = Long.numberOfTrailingZeros(unsupported);
            return Optional.of(String.format("XCR0 bit %d (%s) is not supported by this CPU (supported XCR0 0x%x)",
                    bit, XsaveComponent.nameOf(bit), supported));
        }
        if ((xcr0 & YMM) != 0 && (xcr0 & SSE) == 0) {
            return Optional.of("XCR0 enables AVX (bit 2) without SSE (bit 1)");
        }
        if ((xcr0 & AVX512) != 0 && (xcr0 & AVX512) != AVX512) {
            return Optional.of("XCR0 enables only some of the AVX-512 components (bits 5-7): all or none");
        }
        if ((xcr0 & AVX512) != 0 && (xcr0 & YMM) == 0) {
            return Optional.of("XCR0 enables AVX-512 (bits 5-7) without AVX (bit 2)");
        }
        if ((xcr0 & MPX) != 0 && (xcr0 & MPX) != MPX) {
            return Optional.of("XCR0 enables only one of the MPX components (bits 3-4): both or neither");
        }
        if ((xcr0 & AMX) != 0 && (xcr0 & AMX) != AMX) {
            return Optional.of("XCR0 enables only one of the AMX components (bits 17-18): both or neither");
        }
        if ((xcr0 & APX) != 0 && (xcr0 & MPX) != 0) {
            return Optional.of("XCR0 enables APX (bit 19) together with MPX (bits 3-4): they share state and exclude each other");
        }
        return Optional.empty();
    }

    /** Throws {@link XsaveException} with the rule {@code xcr0} breaks. */
    public static void check(long xcr0, long supported) {
        violation(xcr0, supported).ifPresent(m -> {
            throw new XsaveException(m);
        });
    }
}
