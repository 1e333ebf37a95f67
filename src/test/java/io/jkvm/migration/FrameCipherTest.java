package io.jkvm.migration;

import io.jkvm.linux.OpenSslAesGcm;
import org.junit.jupiter.api.Test;

import java.util.HexFormat;
import java.util.Random;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

/** The stream's two AES-256-GCM implementations: libcrypto's and the JDK's agree byte for byte and refuse tampering alike. */
class FrameCipherTest {
    private static final HexFormat HEX = HexFormat.of();

    @Test
    void libcryptoLoadsOnTheseMachines() {
        assertNull(OpenSslAesGcm.unavailable(), "Debian's libssl3 gives libcrypto.so.3");
        assertEquals("AES-256-GCM from libcrypto", FrameCipher.description());
    }

    /** The GCM specification's test case 14: AES-256, zero key and nonce, one zero block. */
    @Test
    void bothGiveTheSpecificationsAnswer() {
        byte[] key = new byte[32], nonce = new byte[12], plain = new byte[16];
        byte[] expected = HEX.parseHex("cea7403d4d606b6e074ec5d3baf39d18" + "d0d1c8a799996bf0265b98b5d48ab919");
        for (FrameCipher sealer : new FrameCipher[]{new FrameCipher.OpenSsl(key, true), new FrameCipher.Jdk(key, true)}) {
            try (sealer) {
                assertEquals(HEX.formatHex(expected), HEX.formatHex(sealer.seal(nonce, new byte[0], plain, 16)), sealer.getClass().getSimpleName());
            }
        }
    }

    @Test
    void eachOpensWhatTheOtherSealed() {
        Random random = new Random(19);
        byte[] key = new byte[32];
        random.nextBytes(key);
        try (FrameCipher sslSeal = new FrameCipher.OpenSsl(key, true); FrameCipher jdkSeal = new FrameCipher.Jdk(key, true);
             FrameCipher sslOpen = new FrameCipher.OpenSsl(key, false); FrameCipher jdkOpen = new FrameCipher.Jdk(key, false)) {
            for (int length : new int[]{0, 1, 15, 16, 17, 4097, 300_000, 1 << 20}) { // the native buffer grows past 64 KiB
                byte[] plain = new byte[length + 5];
                random.nextBytes(plain);
                byte[] nonce = new byte[12], aad = {1, 2, 3, 4};
                random.nextBytes(nonce);
                byte[] a = sslSeal.seal(nonce, aad, plain, length), b = jdkSeal.seal(nonce, aad, plain, length);
                assertArrayEquals(a, b, "the same ciphertext and tag for " + length + " bytes");
                assertEquals(length + 16, a.length);
                byte[] wanted = java.util.Arrays.copyOf(plain, length);
                assertArrayEquals(wanted, jdkOpen.open(nonce, aad, a, a.length));
                assertArrayEquals(wanted, sslOpen.open(nonce, aad, b, b.length));
            }
        }
    }

    @Test
    void aChangedByteNonceOrLengthFailsTheTagInBoth() {
        byte[] key = new byte[32];
        key[0] = 9;
        byte[] nonce = new byte[12], aad = {0, 0, 1, 0};
        byte[] plain = new byte[4096];
        new Random(5).nextBytes(plain);
        try (FrameCipher seal = new FrameCipher.OpenSsl(key, true);
             FrameCipher sslOpen = new FrameCipher.OpenSsl(key, false); FrameCipher jdkOpen = new FrameCipher.Jdk(key, false)) {
            byte[] sealed = seal.seal(nonce, aad, plain, plain.length);
            for (FrameCipher open : new FrameCipher[]{sslOpen, jdkOpen}) {
                String who = open.getClass().getSimpleName();
                for (int at : new int[]{0, 2000, sealed.length - 1}) { // a data byte, and the tag's last
                    byte[] changed = sealed.clone();
                    changed[at] ^= 0x40;
                    assertNull(open.open(nonce, aad, changed, changed.length), who + ": byte " + at + " changed");
                }
                byte[] otherNonce = nonce.clone();
                otherNonce[11] = 1;
                assertNull(open.open(otherNonce, aad, sealed, sealed.length), who + ": a replayed message under the next nonce");
                assertNull(open.open(nonce, new byte[]{0, 0, 0, 9}, sealed, sealed.length), who + ": another frame length");
                assertNull(open.open(nonce, aad, sealed, sealed.length - 1), who + ": a cut frame");
                assertArrayEquals(plain, open.open(nonce, aad, sealed, sealed.length), who + ": still opens the real one after");
            }
        }
    }

    @Test
    void aContextServesOneDirectionAndClosesOnce() {
        OpenSslAesGcm opening = OpenSslAesGcm.opening(new byte[32]);
        assertThrows(IllegalStateException.class, () -> opening.seal(new byte[12], new byte[0], new byte[1], 0, 1));
        opening.close();
        opening.close(); // a second close frees nothing twice
        assertThrows(IllegalStateException.class, () -> opening.open(new byte[12], new byte[0], new byte[16], 0, 16));
        assertThrows(IllegalArgumentException.class, () -> OpenSslAesGcm.sealing(new byte[16]));
    }
}
