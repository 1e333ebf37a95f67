package io.jkvm.x86;

/**
 * What a vCPU is doing between instructions (the SDM's activity state, KVM's mp_state): running, or stopped in HLT
 * until an interrupt wakes it. A vCPU saved in HLT must resume in HLT, not after it as a spurious wake-up would.
 */
public enum Activity {
    ACTIVE,
    HALTED
}
