package io.jkvm.snapshot;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.jkvm.x86.CpuModel;

import java.io.IOException;

/** What a machine is, before its state: guest RAM's size, its vCPUs and CPU model (a migration's first word). */
public record MachineShape(CpuModel cpu, long memorySize, int vcpus) {
    public byte[] toJson() {
        ObjectNode n = StateJson.MAPPER.createObjectNode();
        n.put("memorySize", memorySize);
        n.put("vcpus", vcpus);
        n.set("cpu", StateJson.cpuModel(cpu));
        try {
            return StateJson.MAPPER.writeValueAsBytes(n);
        } catch (IOException e) {
            throw new SnapshotException("cannot encode the machine: " + e.getMessage(), e);
        }
    }

    /** Reads {@link #toJson()}'s bytes; anything malformed is one line. */
    public static MachineShape fromJson(byte[] bytes) {
        JsonNode n;
        try {
            n = StateJson.MAPPER.readTree(bytes);
        } catch (IOException e) {
            throw new SnapshotException("the machine description is not JSON");
        }
        if (n == null || !n.isObject()) {
            throw new SnapshotException("the machine description is not a JSON object");
        }
        return new MachineShape(StateJson.cpuModel(StateJson.require(n, "cpu")), StateJson.number(n, "memorySize"),
                StateJson.integer(n, "vcpus"));
    }
}
