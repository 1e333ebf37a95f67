package io.jkvm.snapshot;

import io.jkvm.x86.CpuModel;
import io.jkvm.x86.VcpuState;

import java.util.List;
import java.util.SequencedMap;

/**
 * A stopped machine's state besides the bytes of guest RAM: its CPU model, each vCPU's record (by id, in order),
 * each device's record by device id, and the rate its TSC counted at (kHz; 0: unknown). What a snapshot holds, and
 * what a migration sends at its end.
 */
public record MachineState(CpuModel cpu, long memorySize, List<VcpuState> vcpus, SequencedMap<String, Record> devices,
                           long tscKhz) {
    public MachineState {
        vcpus = List.copyOf(vcpus);
        devices = java.util.Collections.unmodifiableSequencedMap(new java.util.LinkedHashMap<>(devices));
    }
}
