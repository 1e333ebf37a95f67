package io.jkvm.api;

import io.jkvm.linux.HostRandom;

import java.io.IOException;
import java.net.ConnectException;
import java.net.StandardProtocolFamily;
import java.net.UnixDomainSocketAddress;
import java.nio.channels.ServerSocketChannel;
import java.nio.channels.SocketChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.HexFormat;

/**
 * A listening Unix domain socket at a path that only its owner can connect to, from the first instant: it is bound
 * inside a fresh 0700 directory beside the path, made 0600 there, and only then linked to the path.
 *
 * @param channel the listening socket
 * @param path    where clients connect
 * @param fileKey the socket file's identity (device and inode), so closing deletes only this socket's file
 */
record OwnerOnlySocket(ServerSocketChannel channel, Path path, Object fileKey) {
    /** sun_path holds 108 bytes with the terminating NUL. */
    static final int MAX_PATH_BYTES = 107;
    private static final int S_IFMT = 0170000;
    private static final int S_IFSOCK = 0140000;
    private static final String PRIVATE_DIR_PREFIX = ".jkvm-";
    private static final int PRIVATE_DIR_EXTRA = ("/" + PRIVATE_DIR_PREFIX + "000000/s").length();

    /**
     * Listens at {@code path}, replacing a stale socket there (one nobody listens on). Refuses, with one line naming
     * the path and the fix, a path whose directory is missing, that exists and is not a socket, or where something
     * listens.
     */
    static OwnerOnlySocket bind(Path requested) {
        Path path = requested.toAbsolutePath().normalize();
        Path dir = path.getParent();
        if (dir == null || path.getFileName() == null) {
            throw new ApiException("the API socket path " + requested + " names no file: give a path such as /run/jkvm/vm.sock");
        }
        int bytes = path.toString().getBytes(StandardCharsets.UTF_8).length;
        int dirBytes = dir.toString().getBytes(StandardCharsets.UTF_8).length;
        if (bytes > MAX_PATH_BYTES || dirBytes + PRIVATE_DIR_EXTRA > MAX_PATH_BYTES) {
            throw new ApiException("the API socket path " + path + " is too long for a Unix socket (at most "
                    + MAX_PATH_BYTES + " bytes, and its directory at most " + (MAX_PATH_BYTES - PRIVATE_DIR_EXTRA)
                    + "): choose a shorter one");
        }
        if (!Files.isDirectory(dir)) {
            throw new ApiException("the directory " + dir + " of the API socket does not exist: create it first");
        }
        removeIfStale(path);
        Path privateDir = createPrivateDir(dir);
        Path bound = privateDir.resolve("s");
        ServerSocketChannel channel = null;
        try {
            channel = ServerSocketChannel.open(StandardProtocolFamily.UNIX);
            channel.bind(UnixDomainSocketAddress.of(bound));
            Files.setPosixFilePermissions(bound, PosixFilePermissions.fromString("rw-------"));
            publish(bound, path);
            Object key = Files.readAttributes(path, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS).fileKey();
            return new OwnerOnlySocket(channel, path, key);
        } catch (IOException | RuntimeException e) {
            closeQuietly(channel);
            if (e instanceof ApiException a) {
                throw a;
            }
            throw new ApiException("cannot listen at " + path + ": " + message(e), e);
        } finally {
            try {
                Files.deleteIfExists(bound);
                Files.deleteIfExists(privateDir);
            } catch (IOException e) {
                // best effort: the directory is private and empty at worst; the socket itself is in place
            }
        }
    }

    /** Stops listening and deletes the socket file, unless another socket has taken its path since. */
    void close() {
        closeQuietly(channel);
        try {
            Object now = Files.readAttributes(path, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS).fileKey();
            if (now != null && now.equals(fileKey)) {
                Files.deleteIfExists(path);
            }
        } catch (IOException e) {
            // already gone, or no longer ours to delete
        }
    }

    private static void removeIfStale(Path path) {
        int mode;
        try {
            mode = (Integer) Files.getAttribute(path, "unix:mode", LinkOption.NOFOLLOW_LINKS);
        } catch (NoSuchFileException e) {
            return;
        } catch (IOException e) {
            throw new ApiException("cannot look at " + path + ": " + message(e) + ": choose another API socket path", e);
        }
        if ((mode & S_IFMT) != S_IFSOCK) {
            throw new ApiException(path + " exists and is not a socket: remove it or choose another API socket path");
        }
        boolean listening;
        try (SocketChannel probe = SocketChannel.open(UnixDomainSocketAddress.of(path))) {
            listening = probe.isConnected();
        } catch (ConnectException refused) {
            listening = false; // nobody listens: a socket left by a VM that ended without closing it
        } catch (IOException e) {
            throw new ApiException(path + " is a socket jkvm cannot connect to (" + message(e)
                    + "): remove it or choose another API socket path", e);
        }
        if (listening) {
            throw new ApiException(path + " is in use: a running jkvm (or another program) listens there; stop it or choose another API socket path");
        }
        try {
            Files.deleteIfExists(path);
        } catch (IOException e) {
            throw new ApiException("cannot remove the stale socket " + path + " (" + message(e) + "): remove it or choose another API socket path", e);
        }
    }

    private static Path createPrivateDir(Path dir) {
        for (int attempt = 0; ; attempt++) {
            Path candidate = dir.resolve(PRIVATE_DIR_PREFIX + HexFormat.of().toHexDigits(HostRandom.nextInt()).substring(2));
            try {
                return Files.createDirectory(candidate, PosixFilePermissions.asFileAttribute(PosixFilePermissions.fromString("rwx------")));
            } catch (FileAlreadyExistsException e) {
                if (attempt == 16) {
                    throw new ApiException("cannot create a private directory in " + dir + ": every name taken", e);
                }
            } catch (IOException e) {
                throw new ApiException("cannot create the API socket in " + dir + " (" + message(e)
                        + "): choose a directory you can write", e);
            }
        }
    }

    /** Gives the socket its public name without ever replacing a file that appeared there meanwhile. */
    private static void publish(Path bound, Path path) throws IOException {
        try {
            Files.createLink(path, bound);
        } catch (FileAlreadyExistsException e) {
            throw new ApiException(path + " appeared while jkvm set up its socket there: remove it or choose another API socket path", e);
        } catch (IOException | UnsupportedOperationException e) {
            Files.move(bound, path); // a file system without hard links: rename, which refuses an existing target too
        }
    }

    private static void closeQuietly(ServerSocketChannel channel) {
        if (channel != null) {
            try {
                channel.close();
            } catch (IOException e) {
                // closing a listening socket only fails on a bad descriptor: nothing is left to release
            }
        }
    }

    private static String message(Exception e) {
        String m = e.getMessage();
        String reason = e instanceof java.nio.file.FileSystemException f && f.getReason() != null ? f.getReason() : m;
        return ControlCommands.oneLine(reason == null ? e.getClass().getSimpleName() : reason);
    }
}
