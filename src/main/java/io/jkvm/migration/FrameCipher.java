package io.jkvm.migration;

import io.jkvm.linux.OpenSslAesGcm;

import javax.crypto.AEADBadTagException;
import javax.crypto.Cipher;
import javax.crypto.spec.GCMParameterSpec;
import javax.crypto.spec.SecretKeySpec;
import java.security.GeneralSecurityException;

/**
 * AES-256-GCM for one direction of a {@link SecureChannel} (12-byte nonce, 16-byte tag): libcrypto's where it loads,
 * since the JDK's runs interpreted for the first second or so of a migration (tens of MB/s), else the JDK's. Both
 * produce the same bytes, so the two ends need not agree on which they use.
 */
sealed interface FrameCipher extends AutoCloseable permits FrameCipher.OpenSsl, FrameCipher.Jdk {
    /** The ciphertext of {@code plain[0, length)} followed by its tag. */
    byte[] seal(byte[] nonce, byte[] aad, byte[] plain, int length);

    /** The plaintext of {@code sealed[0, length)} (ciphertext and tag), or null when the tag does not match. */
    byte[] open(byte[] nonce, byte[] aad, byte[] sealed, int length);

    @Override
    void close();

    /** The fastest cipher here for sealing ({@code sealing}) or opening under {@code key}. */
    static FrameCipher of(byte[] key, boolean sealing) {
        if (OpenSslAesGcm.unavailable() == null) {
            try {
                return new OpenSsl(key, sealing);
            } catch (IllegalStateException e) {
                // libcrypto loaded but refused the cipher: the JDK's seals the same bytes
            }
        }
        return new Jdk(key, sealing);
    }

    /** Which implementation {@link #of} picks here, in words (for --trace). */
    static String description() {
        String why = OpenSslAesGcm.unavailable();
        return why == null ? "AES-256-GCM from libcrypto" : "AES-256-GCM from the JDK: " + why;
    }

    record OpenSsl(OpenSslAesGcm gcm) implements FrameCipher {
        OpenSsl(byte[] key, boolean sealing) {
            this(sealing ? OpenSslAesGcm.sealing(key) : OpenSslAesGcm.opening(key));
        }

        @Override
        public byte[] seal(byte[] nonce, byte[] aad, byte[] plain, int length) {
            return gcm.seal(nonce, aad, plain, 0, length);
        }

        @Override
        public byte[] open(byte[] nonce, byte[] aad, byte[] sealed, int length) {
            return gcm.open(nonce, aad, sealed, 0, length);
        }

        @Override
        public void close() {
            gcm.close();
        }
    }

    record Jdk(SecretKeySpec key, boolean sealing) implements FrameCipher {
        Jdk(byte[] key, boolean sealing) {
            this(new SecretKeySpec(key, "AES"), sealing);
        }

        @Override
        public byte[] seal(byte[] nonce, byte[] aad, byte[] plain, int length) {
            return crypt(Cipher.ENCRYPT_MODE, nonce, aad, plain, length);
        }

        @Override
        public byte[] open(byte[] nonce, byte[] aad, byte[] sealed, int length) {
            try {
                return crypt(Cipher.DECRYPT_MODE, nonce, aad, sealed, length);
            } catch (TagMismatch e) {
                return null;
            }
        }

        private byte[] crypt(int mode, byte[] nonce, byte[] aad, byte[] data, int length) {
            try {
                Cipher gcm = Cipher.getInstance("AES/GCM/NoPadding");
                gcm.init(mode, key, new GCMParameterSpec(OpenSslAesGcm.TAG_BYTES * 8, nonce));
                gcm.updateAAD(aad);
                return gcm.doFinal(data, 0, length);
            } catch (AEADBadTagException e) {
                throw new TagMismatch();
            } catch (GeneralSecurityException e) {
                throw new MigrationException("the migration cipher failed: " + e.getMessage());
            }
        }

        @Override
        public void close() {
        }

        private static final class TagMismatch extends RuntimeException {
            TagMismatch() {
                super(null, null, false, false);
            }
        }
    }
}
