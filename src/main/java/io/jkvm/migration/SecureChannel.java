package io.jkvm.migration;

import io.jkvm.linux.HostRandom;

import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.EOFException;
import java.io.IOException;
import java.net.Socket;
import java.net.SocketTimeoutException;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.GeneralSecurityException;
import java.security.MessageDigest;

/**
 * The migration stream's channel. Both ends hold a pre-shared key; the handshake exchanges fresh nonces and derives a
 * key per direction from them (HMAC-SHA256), and every message after it is sealed with AES-256-GCM under that key with
 * its sequence number as the nonce. So a stranger on the network can neither read guest memory nor inject state, a
 * sender without the key is refused at its first message (before any state is read), and a replayed, reordered or
 * cut-off stream fails its tag. Frames: a 4-byte length, then the sealed type byte and payload.
 */
final class SecureChannel implements AutoCloseable {
    static final byte[] MAGIC = "JKVMMIG1".getBytes(StandardCharsets.US_ASCII);
    static final int VERSION = 1;
    /** No message is larger: memory goes in batches of at most 1 MiB of pages. */
    static final int MAX_FRAME = 4 << 20;
    private static final int NONCE = 32, TAG_BITS = 128;
    private static final String AUTHENTICATION_FAILED = "the stream fails authentication";

    /** One message: its type and payload. */
    record Message(int type, byte[] payload) {
    }

    private final Socket socket;
    private final DataInputStream in;
    private final DataOutputStream out;
    private final FrameCipher sealer, opener;
    private long sent, received;
    /** The frame being read: one buffer for the whole migration, grown to the largest frame seen. */
    private byte[] frame = new byte[1 << 16];
    /** The message being sealed: its type byte and payload, in one buffer for the whole migration. */
    private byte[] plain = new byte[1 << 16];

    private SecureChannel(Socket socket, DataInputStream in, DataOutputStream out, byte[] sendKey, byte[] receiveKey) {
        this.socket = socket;
        this.in = in;
        this.out = out;
        FrameCipher s = FrameCipher.of(sendKey, true);
        try {
            this.opener = FrameCipher.of(receiveKey, false);
        } catch (RuntimeException e) {
            s.close();
            throw e;
        }
        this.sealer = s;
    }

    /** The sending end (the migration's source). */
    static SecureChannel client(Socket socket, byte[] key) throws IOException {
        return handshake(socket, key, true);
    }

    /** The receiving end (the destination); a peer without the key is a {@link MigrationException}, nothing read after. */
    static SecureChannel server(Socket socket, byte[] key) throws IOException {
        return handshake(socket, key, false);
    }

    private static SecureChannel handshake(Socket socket, byte[] key, boolean client) throws IOException {
        DataInputStream in = new DataInputStream(new java.io.BufferedInputStream(socket.getInputStream(), 1 << 16));
        DataOutputStream out = new DataOutputStream(new java.io.BufferedOutputStream(socket.getOutputStream(), 1 << 16));
        byte[] mine = new byte[NONCE];
        HostRandom.fill(mine);
        out.write(MAGIC);
        out.writeInt(VERSION);
        out.write(mine);
        out.flush();
        byte[] magic = new byte[MAGIC.length];
        in.readFully(magic);
        if (!MessageDigest.isEqual(magic, MAGIC)) {
            throw new MigrationException("the peer is not a jkvm migration stream");
        }
        int version = in.readInt();
        if (version != VERSION) {
            throw new MigrationException("the peer speaks migration version " + version + ", this jkvm " + VERSION
                    + ": migrate between the same jkvm versions");
        }
        byte[] theirs = new byte[NONCE];
        in.readFully(theirs);
        byte[] clientNonce = client ? mine : theirs, serverNonce = client ? theirs : mine;
        byte[] prk = hmac(key, concat("jkvm migration v1".getBytes(StandardCharsets.US_ASCII), clientNonce, serverNonce));
        byte[] toServer = hmac(prk, "client to server".getBytes(StandardCharsets.US_ASCII));
        byte[] toClient = hmac(prk, "server to client".getBytes(StandardCharsets.US_ASCII));
        SecureChannel c = client ? new SecureChannel(socket, in, out, toServer, toClient)
                : new SecureChannel(socket, in, out, toClient, toServer);
        try {
            // Each side proves it holds the key before anything else is sent or read
            c.send(MessageType.HELLO, new byte[0]);
            Message hello;
            try {
                hello = c.receive();
            } catch (MigrationException e) {
                if (!e.getMessage().startsWith(AUTHENTICATION_FAILED)) {
                    throw e; // the connection dropped or timed out: not a question of the key
                }
                throw new MigrationException("the peer does not hold the migration key (its first message fails authentication)");
            }
            if (hello.type() != MessageType.HELLO) {
                throw new MigrationException("the peer's handshake is out of order");
            }
            return c;
        } catch (IOException | RuntimeException e) {
            c.closeCiphers();
            throw e;
        }
    }

    void send(int type, byte[] payload) throws IOException {
        send(type, payload, payload.length);
    }

    /** Sends {@code payload[0, used)} as one message of {@code type}. */
    void send(int type, byte[] payload, int used) throws IOException {
        int length = 1 + used + TAG_BITS / 8;
        if (length > MAX_FRAME) {
            throw new MigrationException("a migration message of " + length + " bytes is over the " + MAX_FRAME + "-byte limit");
        }
        if (plain.length < 1 + used) {
            plain = new byte[1 + used];
        }
        plain[0] = (byte) type;
        System.arraycopy(payload, 0, plain, 1, used);
        byte[] sealed = sealer.seal(nonce(sent++), aad(length), plain, 1 + used);
        out.writeInt(length);
        out.write(sealed);
        out.flush();
    }

    /** The next message; an end of stream, a frame over the limit or a failed tag is a {@link MigrationException}. */
    Message receive() throws IOException {
        int length;
        try {
            length = in.readInt();
        } catch (EOFException e) {
            throw new MigrationException("the connection closed in the middle of the migration");
        } catch (SocketTimeoutException e) {
            throw new MigrationException("the peer sent nothing for " + socket.getSoTimeout() / 1000 + " s");
        }
        if (length < 1 + TAG_BITS / 8 || length > MAX_FRAME) {
            throw new MigrationException("the stream is corrupt (a frame of " + Integer.toUnsignedString(length) + " bytes)");
        }
        if (frame.length < length) {
            frame = new byte[Math.max(length, Math.min(MAX_FRAME, frame.length * 2))];
        }
        try {
            in.readFully(frame, 0, length);
        } catch (EOFException e) {
            throw new MigrationException("the connection closed in the middle of a message");
        }
        byte[] plain = opener.open(nonce(received++), aad(length), frame, length);
        if (plain == null) {
            throw new MigrationException(AUTHENTICATION_FAILED + " (a wrong key, or data changed on the way)");
        }
        return new Message(plain[0] & 0xFF, java.util.Arrays.copyOfRange(plain, 1, plain.length));
    }

    /** A message's nonce: its sequence number in this direction (each direction has its own key). */
    private static byte[] nonce(long sequence) {
        return ByteBuffer.allocate(12).putInt(0).putLong(sequence).array();
    }

    /** A message's associated data: its frame length, so a frame cannot be cut or padded unnoticed. */
    private static byte[] aad(int length) {
        return ByteBuffer.allocate(4).putInt(length).array();
    }

    private void closeCiphers() {
        sealer.close();
        opener.close();
    }

    private static byte[] hmac(byte[] key, byte[] data) {
        try {
            Mac mac = Mac.getInstance("HmacSHA256");
            mac.init(new SecretKeySpec(key, "HmacSHA256"));
            return mac.doFinal(data);
        } catch (GeneralSecurityException e) {
            throw new MigrationException("HMAC-SHA256 is not available: " + e.getMessage());
        }
    }

    private static byte[] concat(byte[]... parts) {
        java.io.ByteArrayOutputStream b = new java.io.ByteArrayOutputStream();
        for (byte[] p : parts) {
            b.writeBytes(p);
        }
        return b.toByteArray();
    }

    @Override
    public void close() {
        closeCiphers();
        try {
            socket.close();
        } catch (IOException e) {
            // closing a broken connection: nothing more to say
        }
    }
}
