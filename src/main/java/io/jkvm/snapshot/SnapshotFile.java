package io.jkvm.snapshot;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.jkvm.x86.CpuModel;
import io.jkvm.x86.VcpuState;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.SequencedMap;
import java.util.zip.CRC32C;

/**
 * The snapshot file (docs/snapshot-format.md): "JKVMSNAP", a version, then sections (machine, CPU model, one per
 * vCPU, one per device), each a kind, a length, JSON with named fields and a CRC32C. Guest RAM is a second file
 * beside it, sparse, named in the machine section, so a restore maps it instead of reading it. Both are written to
 * temporary files, synced, and renamed into place, the state file last: a crash or a full disk leaves the previous
 * snapshot whole.
 */
public final class SnapshotFile {
    private SnapshotFile() {
    }

    static final byte[] MAGIC = "JKVMSNAP".getBytes(StandardCharsets.US_ASCII);
    public static final int VERSION = 1;
    static final int MACHINE = 1, CPU = 2, VCPU = 3, DEVICE = 4;
    /** No section is larger: a vCPU is some kilobytes, the CPU model less. */
    static final int MAX_SECTION = 16 << 20;
    static final long MAX_FILE = 64L << 20;

    /** A snapshot read and checked: its state, and the file holding guest RAM with the checksum it must have. */
    public record Snapshot(Path file, MachineState state, Path memoryFile, long memoryChecksum) {
    }

    /** Writes {@code state} and guest RAM as the snapshot {@code file}, atomically; on failure nothing is replaced. */
    public static void write(Path file, MachineState state, GuestRam memory) {
        Path dir = file.toAbsolutePath().getParent();
        if (dir == null || !Files.isDirectory(dir)) {
            throw new SnapshotException("cannot write snapshot " + file + ": its directory does not exist");
        }
        String name = file.getFileName().toString();
        String memoryName = name + ".mem-" + HexFormat.of().toHexDigits(io.jkvm.linux.HostRandom.nextLong());
        Path memoryTmp = dir.resolve("." + memoryName + ".tmp");
        Path memoryFile = dir.resolve(memoryName);
        Path stateTmp = dir.resolve("." + name + ".tmp-" + HexFormat.of().toHexDigits(io.jkvm.linux.HostRandom.nextLong()));
        boolean stateInPlace = false;
        try {
            long checksum;
            try (FileChannel ch = FileChannel.open(memoryTmp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
                checksum = memory.writeSparse(ch);
                if (ch.size() < memory.size()) {
                    ch.write(ByteBuffer.allocate(1), memory.size() - 1); // the file's length is guest RAM's
                }
                ch.force(true);
            }
            byte[] bytes = encode(state, memoryName, checksum);
            try (FileChannel ch = FileChannel.open(stateTmp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE)) {
                ByteBuffer b = ByteBuffer.wrap(bytes);
                while (b.hasRemaining()) {
                    ch.write(b);
                }
                ch.force(true);
            }
            Files.move(memoryTmp, memoryFile, StandardCopyOption.ATOMIC_MOVE);
            Files.move(stateTmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            stateInPlace = true;
            try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
                d.force(true);
            }
            removeOtherMemoryFiles(dir, name, memoryName);
        } catch (IOException e) {
            throw new SnapshotException("cannot write snapshot " + file + " (" + reason(e) + "): free some space or choose another "
                    + "directory; the previous snapshot, if any, is as it was", e);
        } finally {
            deleteQuietly(memoryTmp);
            deleteQuietly(stateTmp);
            if (!stateInPlace) {
                deleteQuietly(memoryFile);
            }
        }
    }

    private static void removeOtherMemoryFiles(Path dir, String name, String keep) throws IOException {
        try (DirectoryStream<Path> old = Files.newDirectoryStream(dir, name + ".mem-*")) {
            for (Path p : old) {
                if (!p.getFileName().toString().equals(keep)) {
                    deleteQuietly(p);
                }
            }
        }
    }

    static byte[] encode(MachineState state, String memoryName, long checksum) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        List<byte[]> sections = new ArrayList<>();
        List<Integer> kinds = new ArrayList<>();
        ObjectNode machine = StateJson.MAPPER.createObjectNode();
        machine.put("memorySize", state.memorySize());
        machine.put("tscKhz", state.tscKhz());
        if (state.kvmClock() >= 0) {
            machine.put("kvmClock", state.kvmClock());
        }
        machine.put("memoryFile", memoryName);
        machine.put("memoryChecksum", checksum);
        machine.put("vcpus", state.vcpus().size());
        machine.put("devices", state.devices().size());
        kinds.add(MACHINE);
        sections.add(json(machine));
        kinds.add(CPU);
        sections.add(json(StateJson.cpuModel(state.cpu())));
        for (int id = 0; id < state.vcpus().size(); id++) {
            kinds.add(VCPU);
            sections.add(json(StateJson.vcpu(id, state.vcpus().get(id))));
        }
        state.devices().forEach((id, s) -> {
            kinds.add(DEVICE);
            sections.add(json(StateJson.device(id, s)));
        });
        out.writeBytes(MAGIC);
        out.writeBytes(le32(VERSION));
        out.writeBytes(le32(sections.size()));
        for (int i = 0; i < sections.size(); i++) {
            byte[] payload = sections.get(i);
            CRC32C crc = new CRC32C();
            crc.update(payload);
            out.writeBytes(le32(kinds.get(i)));
            out.writeBytes(le32(payload.length));
            out.writeBytes(payload);
            out.writeBytes(le32((int) crc.getValue()));
        }
        return out.toByteArray();
    }

    /**
     * Reads and checks a snapshot: magic, version, every section's length and CRC, every field; device records by
     * the types {@code deviceTypes} gives for their ids (an id it does not know is an error); the memory file's
     * presence and size. The memory's checksum is checked when it is mapped ({@link #requireMemoryIntact}).
     */
    public static Snapshot read(Path file, java.util.function.Function<String, Class<? extends Record>> deviceTypes) {
        Decoded d = decode(file.toString(), readBounded(file), deviceTypes);
        try {
            Path memoryFile = memoryFile(file, StateJson.text(d.machine(), "memoryFile"), d.state().memorySize());
            return new Snapshot(file, d.state(), memoryFile, StateJson.number(d.machine(), "memoryChecksum"));
        } catch (SnapshotException e) {
            throw new SnapshotException(file + ": " + e.getMessage(), e);
        }
    }

    /** The state the sections hold, and the machine section (which names the memory file and its checksum). */
    public record Decoded(MachineState state, JsonNode machine) {
    }

    /** The state file format without its memory file: what a migration sends at its end. */
    public static byte[] encodeState(MachineState state) {
        return encode(state, "", 0);
    }

    /** Reads state-file bytes ({@code file} says whose, in messages): every check of {@link #read} but the memory file's. */
    public static Decoded decode(String file, byte[] bytes, java.util.function.Function<String, Class<? extends Record>> deviceTypes) {
        ByteBuffer in = ByteBuffer.wrap(bytes).order(ByteOrder.LITTLE_ENDIAN);
        if (bytes.length < 16 || !java.util.Arrays.equals(bytes, 0, 8, MAGIC, 0, 8)) {
            throw new SnapshotException(file + " is not a jkvm snapshot (it does not start with JKVMSNAP)");
        }
        int version = in.getInt(8);
        if (version != VERSION) {
            throw new SnapshotException(file + " is a version " + Integer.toUnsignedString(version) + " snapshot; this jkvm reads version "
                    + VERSION + ": restore it with the jkvm that wrote it");
        }
        int count = in.getInt(12);
        int at = 16;
        JsonNode machine = null;
        CpuModel cpu = null;
        List<JsonNode> vcpus = new ArrayList<>();
        SequencedMap<String, Record> devices = new LinkedHashMap<>();
        for (int i = 0; i < count; i++) {
            if (bytes.length - at < 8) {
                throw new SnapshotException(file + " is truncated: it ends before section " + i + " of " + count);
            }
            int kind = in.getInt(at);
            int length = in.getInt(at + 4);
            if (length < 0 || length > MAX_SECTION || bytes.length - at - 8 < (long) length + 4) {
                throw new SnapshotException(file + " is truncated or corrupt: section " + i + " claims " + Integer.toUnsignedString(length)
                        + " bytes");
            }
            CRC32C crc = new CRC32C();
            crc.update(bytes, at + 8, length);
            if ((int) crc.getValue() != in.getInt(at + 8 + length)) {
                throw new SnapshotException(file + " is corrupt: section " + i + " (" + kindName(kind) + ") fails its CRC32C");
            }
            JsonNode json = parse(file, i, bytes, at + 8, length);
            try {
                switch (kind) {
                    case MACHINE -> machine = json;
                    case CPU -> cpu = StateJson.cpuModel(json);
                    case VCPU -> vcpus.add(json);
                    case DEVICE -> {
                        String id = StateJson.text(json, "id");
                        Class<? extends Record> type = deviceTypes.apply(id);
                        if (type == null) {
                            throw new SnapshotException("device '" + id + "' is not one this jkvm's machine has");
                        }
                        devices.put(id, StateJson.deviceState(json, type));
                    }
                    default -> throw new SnapshotException("section kind " + kind + " is unknown to this jkvm");
                }
            } catch (SnapshotException e) {
                throw new SnapshotException(file + ": section " + i + " (" + kindName(kind) + "): " + e.getMessage(), e);
            }
            at += 8 + length + 4;
        }
        if (at != bytes.length) {
            throw new SnapshotException(file + " is corrupt: " + (bytes.length - at) + " bytes follow its last section");
        }
        if (machine == null || cpu == null || vcpus.isEmpty()) {
            throw new SnapshotException(file + " is incomplete: it lacks its " + (machine == null ? "machine" : cpu == null ? "CPU model" : "vCPU")
                    + " section");
        }
        try {
            List<VcpuState> states = new ArrayList<>();
            for (int i = 0; i < vcpus.size(); i++) {
                VcpuState s = StateJson.vcpu(vcpus.get(i), cpu);
                if (StateJson.integer(vcpus.get(i), "id") != i) {
                    throw new SnapshotException("vCPU sections are out of order at " + i);
                }
                states.add(s);
            }
            long memorySize = StateJson.number(machine, "memorySize");
            JsonNode tsc = machine.get("tscKhz");
            long tscKhz = tsc == null ? 0 : StateJson.number(machine, "tscKhz");
            long kvmClock = machine.get("kvmClock") == null ? -1 : StateJson.number(machine, "kvmClock");
            if (machine.get("kvmClock") != null && kvmClock < 0) {
                throw new SnapshotException("its kvmClock " + kvmClock + " is negative");
            }
            return new Decoded(new MachineState(cpu, memorySize, states, devices, tscKhz, kvmClock), machine);
        } catch (SnapshotException e) {
            throw new SnapshotException(file + ": " + e.getMessage(), e);
        }
    }

    /** After mapping: the memory file holds what the snapshot wrote ({@code checksum} of its pages), or it is named corrupt. */
    public static void requireMemoryIntact(Snapshot s, long checksum) {
        if (checksum != s.memoryChecksum()) {
            throw new SnapshotException("the guest memory file " + s.memoryFile() + " of snapshot " + s.file()
                    + " is corrupt (its checksum differs): take the snapshot again");
        }
    }

    private static Path memoryFile(Path file, String name, long size) {
        if (name.contains("/") || name.startsWith(".") || name.isEmpty()) {
            throw new SnapshotException("the memory file name '" + name + "' is not a file beside the snapshot");
        }
        Path p = file.toAbsolutePath().resolveSibling(name);
        try {
            if (!Files.isRegularFile(p) || Files.size(p) != size) {
                throw new SnapshotException("its guest memory file " + p + " is missing or not " + size
                        + " bytes: copy it beside the snapshot with the snapshot");
            }
        } catch (IOException e) {
            throw new SnapshotException("cannot read its guest memory file " + p + " (" + reason(e) + ")");
        }
        return p;
    }

    private static byte[] readBounded(Path file) {
        try {
            if (!Files.isRegularFile(file)) {
                throw new SnapshotException(Files.exists(file) ? file + " is not a regular file: pass a snapshot file"
                        : "snapshot " + file + " does not exist: pass the file a snapshot was written to");
            }
            if (Files.size(file) > MAX_FILE) {
                throw new SnapshotException(file + " is " + Files.size(file) + " bytes, more than a snapshot's state file can be: it is not one");
            }
            return Files.readAllBytes(file);
        } catch (NoSuchFileException e) {
            throw new SnapshotException("snapshot " + file + " does not exist: pass the file a snapshot was written to");
        } catch (IOException e) {
            throw new SnapshotException("cannot read snapshot " + file + " (" + reason(e) + ")");
        }
    }

    private static JsonNode parse(String file, int section, byte[] bytes, int at, int length) {
        try {
            JsonNode n = StateJson.MAPPER.readTree(bytes, at, length);
            if (n == null || !n.isObject()) {
                throw new SnapshotException(file + " is corrupt: section " + section + " is not a JSON object");
            }
            return n;
        } catch (IOException e) {
            throw new SnapshotException(file + " is corrupt: section " + section + " is not JSON");
        }
    }

    private static String kindName(int kind) {
        return switch (kind) {
            case MACHINE -> "machine";
            case CPU -> "CPU model";
            case VCPU -> "vCPU";
            case DEVICE -> "device";
            default -> "kind " + kind;
        };
    }

    private static byte[] json(ObjectNode n) {
        try {
            return StateJson.MAPPER.writerWithDefaultPrettyPrinter().writeValueAsBytes(n);
        } catch (IOException e) {
            throw new SnapshotException("cannot encode the snapshot: " + e.getMessage(), e);
        }
    }

    private static byte[] le32(int v) {
        return ByteBuffer.allocate(4).order(ByteOrder.LITTLE_ENDIAN).putInt(v).array();
    }

    private static String reason(IOException e) {
        if (e instanceof java.nio.file.AccessDeniedException) {
            return "permission denied";
        }
        return e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
    }

    private static void deleteQuietly(Path p) {
        try {
            Files.deleteIfExists(p);
        } catch (IOException e) {
            // a leftover temporary file is harmless: the state file never names it
        }
    }
}
