package io.jkvm.linux;

import io.jkvm.linux.crypto.LibCrypto;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * AES-256-GCM (12-byte nonce, 16-byte tag) from OpenSSL's libcrypto through EVP: hardware AES from the first byte,
 * where the JDK's own AES-GCM runs at tens of MB/s until its JIT has compiled it, which a migration of a few hundred
 * frames never reaches. One context per key and direction; its methods hold its lock, so a close from another
 * thread waits for the message under way instead of freeing the context beneath it.
 */
public final class OpenSslAesGcm implements AutoCloseable {
    public static final int NONCE_BYTES = 12, TAG_BYTES = 16;

    private final Arena arena = Arena.ofShared();
    private final MemorySegment ctx;
    private final boolean sealing;
    private final MemorySegment nonce, length, tag;
    private MemorySegment buffer, aadBuffer;
    private boolean closed;

    private OpenSslAesGcm(byte[] key, boolean sealing) {
        if (key.length != 32) {
            throw new IllegalArgumentException("AES-256 takes a 32-byte key, not " + key.length);
        }
        this.sealing = sealing;
        this.nonce = arena.allocate(NONCE_BYTES);
        this.length = arena.allocate(ValueLayout.JAVA_INT);
        this.tag = arena.allocate(TAG_BYTES);
        this.buffer = arena.allocate(1 << 16);
        this.aadBuffer = arena.allocate(16);
        MemorySegment c = LibCrypto.EVP_CIPHER_CTX_new();
        if (c.equals(MemorySegment.NULL)) {
            arena.close();
            throw new IllegalStateException("libcrypto could not make a cipher context (out of memory)");
        }
        this.ctx = c;
        MemorySegment k = arena.allocateFrom(ValueLayout.JAVA_BYTE, key);
        MemorySegment none = MemorySegment.NULL;
        boolean ok = false;
        try {
            ok = (sealing
                    ? LibCrypto.EVP_EncryptInit_ex(ctx, LibCrypto.EVP_aes_256_gcm(), none, k, none)
                    : LibCrypto.EVP_DecryptInit_ex(ctx, LibCrypto.EVP_aes_256_gcm(), none, k, none)) == 1
                    && LibCrypto.EVP_CIPHER_CTX_ctrl(ctx, LibCrypto.EVP_CTRL_GCM_SET_IVLEN(), NONCE_BYTES, none) == 1;
        } finally {
            k.fill((byte) 0);
            if (!ok) {
                close();
            }
        }
        if (!ok) {
            throw new IllegalStateException("libcrypto refused AES-256-GCM");
        }
    }

    /** Why libcrypto.so.3 cannot be used here, or null when it can. */
    public static String unavailable() {
        return Probe.WHY;
    }

    private static final class Probe {
        static final String WHY = probe();

        private static String probe() {
            try {
                LibCrypto.EVP_aes_256_gcm();
                return null;
            } catch (LinkageError | IllegalArgumentException e) { // no libcrypto.so.3, or one without EVP's AES-GCM
                Throwable why = e.getCause() != null ? e.getCause() : e;
                return "libcrypto.so.3 cannot be loaded (" + why.getMessage() + ")";
            }
        }
    }

    /** A context that seals under {@code key}. */
    public static OpenSslAesGcm sealing(byte[] key) {
        return new OpenSslAesGcm(key, true);
    }

    /** A context that opens what was sealed under {@code key}. */
    public static OpenSslAesGcm opening(byte[] key) {
        return new OpenSslAesGcm(key, false);
    }

    /** Seals {@code in[off, off+len)} with {@code aad}: returns the ciphertext followed by the tag. */
    public synchronized byte[] seal(byte[] nonceBytes, byte[] aad, byte[] in, int off, int len) {
        require(sealing, "seal");
        MemorySegment data = staged(nonceBytes, in, off, len, len + TAG_BYTES);
        boolean ok = LibCrypto.EVP_EncryptInit_ex(ctx, MemorySegment.NULL, MemorySegment.NULL, MemorySegment.NULL, nonce) == 1
                && addAad(aad, true)
                && LibCrypto.EVP_EncryptUpdate(ctx, data, length, data, len) == 1
                && LibCrypto.EVP_EncryptFinal_ex(ctx, data.asSlice(len), length) == 1
                && LibCrypto.EVP_CIPHER_CTX_ctrl(ctx, LibCrypto.EVP_CTRL_GCM_GET_TAG(), TAG_BYTES, tag) == 1;
        if (!ok) {
            throw new IllegalStateException("libcrypto failed to seal a message");
        }
        MemorySegment.copy(tag, 0, data, len, TAG_BYTES);
        return data.asSlice(0, len + TAG_BYTES).toArray(ValueLayout.JAVA_BYTE);
    }

    /** Opens {@code in[off, off+len)} (ciphertext and tag) with {@code aad}: the plaintext, or null when the tag fails. */
    public synchronized byte[] open(byte[] nonceBytes, byte[] aad, byte[] in, int off, int len) {
        require(!sealing, "open");
        if (len < TAG_BYTES) {
            return null;
        }
        int plain = len - TAG_BYTES;
        MemorySegment data = staged(nonceBytes, in, off, len, len);
        MemorySegment.copy(data, plain, tag, 0, TAG_BYTES);
        boolean ok = LibCrypto.EVP_DecryptInit_ex(ctx, MemorySegment.NULL, MemorySegment.NULL, MemorySegment.NULL, nonce) == 1
                && addAad(aad, false)
                && LibCrypto.EVP_DecryptUpdate(ctx, data, length, data, plain) == 1
                && LibCrypto.EVP_CIPHER_CTX_ctrl(ctx, LibCrypto.EVP_CTRL_GCM_SET_TAG(), TAG_BYTES, tag) == 1
                && LibCrypto.EVP_DecryptFinal_ex(ctx, data.asSlice(plain), length) == 1; // 0: the tag does not match
        return ok ? data.asSlice(0, plain).toArray(ValueLayout.JAVA_BYTE) : null;
    }

    private boolean addAad(byte[] aad, boolean seal) {
        if (aad.length == 0) {
            return true;
        }
        if (aadBuffer.byteSize() < aad.length) {
            aadBuffer = arena.allocate(aad.length);
        }
        MemorySegment a = aadBuffer;
        MemorySegment.copy(aad, 0, a, ValueLayout.JAVA_BYTE, 0, aad.length);
        return (seal ? LibCrypto.EVP_EncryptUpdate(ctx, MemorySegment.NULL, length, a, aad.length)
                : LibCrypto.EVP_DecryptUpdate(ctx, MemorySegment.NULL, length, a, aad.length)) == 1;
    }

    /** The nonce in place and {@code in}'s bytes in the native buffer, grown to at least {@code room} bytes. */
    private MemorySegment staged(byte[] nonceBytes, byte[] in, int off, int len, int room) {
        if (nonceBytes.length != NONCE_BYTES) {
            throw new IllegalArgumentException("AES-GCM here takes a 12-byte nonce, not " + nonceBytes.length);
        }
        MemorySegment.copy(nonceBytes, 0, nonce, ValueLayout.JAVA_BYTE, 0, NONCE_BYTES);
        if (buffer.byteSize() < room) {
            buffer = arena.allocate(Math.max(room, buffer.byteSize() * 2));
        }
        MemorySegment.copy(in, off, buffer, ValueLayout.JAVA_BYTE, 0, len);
        return buffer;
    }

    private void require(boolean right, String what) {
        if (closed) {
            throw new IllegalStateException("this AES-GCM context is closed");
        }
        if (!right) {
            throw new IllegalStateException("this AES-GCM context cannot " + what + ": it was made for the other direction");
        }
    }

    /** Frees the context; a second close does nothing. */
    @Override
    public synchronized void close() {
        if (!closed) {
            closed = true;
            LibCrypto.EVP_CIPHER_CTX_free(ctx);
            buffer.fill((byte) 0); // the last message's plaintext: guest memory
            arena.close();
        }
    }
}
