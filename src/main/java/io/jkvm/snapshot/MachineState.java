package io.jkvm.snapshot;

import io.jkvm.x86.CpuModel;
import io.jkvm.x86.VcpuState;

import java.util.List;
import java.util.SequencedMap;

/**
 * A stopped machine's state besides the bytes of guest RAM: its CPU model, each vCPU's record (by id, in order),
 * each device's record by device id, the rate its TSC counted at (kHz; 0: unknown), and its kvmclock (the VM-wide
 * clock the guest's pvclock structures give, in nanoseconds; -1: not recorded). What a snapshot holds, and what a
 * migration sends at its end.
 */
public record MachineState(CpuModel cpu, long memorySize, List<VcpuState> vcpus, SequencedMap<String, Record> devices,
                           long tscKhz, long kvmClock) {
    public MachineState {
        vcpus = List.copyOf(vcpus);
        devices = java.util.Collections.unmodifiableSequencedMap(new java.util.LinkedHashMap<>(devices));
    }

    /** A state without a recorded kvmclock. */
    public MachineState(CpuModel cpu, long memorySize, List<VcpuState> vcpus, SequencedMap<String, Record> devices, long tscKhz) {
        this(cpu, memorySize, vcpus, devices, tscKhz, -1);
    }
}
