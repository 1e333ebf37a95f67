package io.jkvm.x86;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/** The cases of the kernel's xcr0_cpuid_test.c, plus a value outside the supported mask. */
class Xcr0RulesTest {
    private static final long ALL = 0x1FFFFFL; // everything up to APX "supported", so only the pairing rules bite

    private static String why(long xcr0) {
        return Xcr0Rules.violation(xcr0, ALL).orElse("ok");
    }

    @Test
    void validCombinations() {
        for (long ok : new long[]{0x1, 0x3, 0x7, 0xE7, 0x1B, 0x600E7, 0x800E7, 0x8_02E7}) {
            assertEquals("ok", why(ok), Long.toHexString(ok));
        }
    }

    @Test
    void x87IsAlwaysSet() {
        assertEquals("XCR0 bit 0 (x87) must always be set", why(0x2));
    }

    @Test
    void avxNeedsSse() {
        assertEquals("XCR0 enables AVX (bit 2) without SSE (bit 1)", why(0x5));
    }

    @Test
    void avx512IsAllOrNoneAndNeedsYmm() {
        assertTrue(why(0x27).contains("only some of the AVX-512 components"));
        assertTrue(why(0x67).contains("only some of the AVX-512 components"));
        assertEquals("XCR0 enables AVX-512 (bits 5-7) without AVX (bit 2)", why(0xE3));
    }

    @Test
    void mpxAndAmxAreBothOrNeither() {
        assertTrue(why(0xB).contains("MPX"));
        assertTrue(why(0x13).contains("MPX"));
        assertTrue(why(0x20003).contains("AMX"));
        assertTrue(why(0x40003).contains("AMX"));
    }

    @Test
    void apxNeverWithMpx() {
        assertEquals("XCR0 enables APX (bit 19) together with MPX (bits 3-4): they share state and exclude each other", why(0x8001B));
    }

    @Test
    void unsupportedBitsAreRefusedByName() {
        XsaveException e = assertThrows(XsaveException.class, () -> Xcr0Rules.check(0x80003, 0xE7));
        assertEquals("XCR0 bit 19 (APX (R16-R31)) is not supported by this CPU (supported XCR0 0xe7)", e.getMessage());
    }
}
