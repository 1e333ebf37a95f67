package io.jkvm.x86;

/**
 * What a vCPU is doing between instructions (the SDM's activity state, KVM's mp_state): running, stopped in HLT
 * until an interrupt wakes it, or stopped after INIT until a STARTUP IPI starts it (the SDM's wait-for-SIPI state,
 * KVM's INIT_RECEIVED). A vCPU saved in HLT must resume in HLT, not after it as a spurious wake-up would.
 */
public enum Activity {
    ACTIVE,
    HALTED,
    WAIT_FOR_SIPI
}
