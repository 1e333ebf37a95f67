package io.jkvm.x86;

/**
 * One vCPU, whichever backend runs it (KVM or the software core): the machine drives both through this.
 * One thread runs it at a time; {@link #requestExit()} may come from any thread.
 */
public interface VirtualCpu {
    int id();

    /** The frequency its time-stamp counter counts at, in kHz (0: unknown). */
    long tscKhz();

    /**
     * Makes its time-stamp counter count at {@code khz} kHz; false (rate unchanged) where it cannot. Call it before
     * {@link #restoreState}: the counter's value may jump at the change (KVM keeps its offset, not its value).
     */
    boolean setTscKhz(long khz);

    /** Counts at {@code khz} unless it does already (0: unknown, nothing to take); false where it keeps its own rate. */
    default boolean takeTscRate(long khz) {
        return khz <= 0 || khz == tscKhz() || setTscKhz(khz);
    }

    /** Runs guest code until the next exit. */
    VcpuExit run();

    /** Makes a run in progress (or the next) return {@link VcpuExit.Interrupted}; holds until cleared. */
    void requestExit();

    void clearExitRequest();

    /** Connects the interrupt controller whose INTR output this vCPU follows (the bootstrap processor's LINT0). */
    void connectInterrupts(InterruptSource controller);

    /**
     * The controller's INTR output changed; any thread may call this. A raised line is taken at the next
     * instruction boundary where RFLAGS.IF allows it, and wakes a HLT.
     */
    void setInterruptLine(boolean raised);

    Registers registers();

    void setRegisters(Registers registers);

    SpecialRegisters specialRegisters();

    void setSpecialRegisters(SpecialRegisters registers);

    /** Sets XCR0, refusing a value the architecture's rules or this vCPU's CPU model do not allow. */
    void setXcr0(long xcr0);

    /** Writes MSRs as the machine (not the guest) does, refusing one this vCPU does not have. */
    void setMsrs(java.util.Map<Integer, Long> values);

    /** The whole architectural state, for snapshots and moving the vCPU between backends. */
    VcpuState saveState();

    void restoreState(VcpuState state);
}
