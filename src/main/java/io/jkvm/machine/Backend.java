package io.jkvm.machine;

/** Which vCPU implementation runs the guest. */
public enum Backend {
    /** KVM when the host runs every feature the guest CPU model has, else the software core. */
    AUTO,
    KVM,
    EMULATOR
}
