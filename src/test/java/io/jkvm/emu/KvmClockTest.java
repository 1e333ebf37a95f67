package io.jkvm.emu;

import io.jkvm.testing.EmuVm;
import io.jkvm.x86.CpuModel;
import io.jkvm.x86.CpuidEntry;
import io.jkvm.x86.Registers;
import org.junit.jupiter.api.Test;

import java.util.HexFormat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * kvmclock on the software core (Documentation/virt/kvm/x86/msr.rst): with KVM_FEATURE_CLOCKSOURCE2 in the model, a
 * guest that writes MSR_KVM_SYSTEM_TIME_NEW and MSR_KVM_WALL_CLOCK_NEW finds a pvclock_vcpu_time_info and a
 * pvclock_wall_clock at the addresses it gave, and the nanoseconds they give follow the TSC; without the feature bit
 * both MSRs are #GP, as on a CPU that has no such MSRs.
 */
class KvmClockTest {
    private static final long TIME_INFO = 0x200000, WALL_CLOCK = 0x200040;

    /** The core's own model with KVM's signature leaves and, when {@code kvmclock}, KVM_FEATURE_CLOCKSOURCE2. */
    private static CpuModel model(boolean kvmclock) {
        try (EmuVm base = new EmuVm(new byte[]{(byte) 0xF4})) {
            var table = base.model.cpuid()
                    .with(new CpuidEntry(0x4000_0000, 0, 0, 0x4000_0001, 0x4B4D564B, 0x564B4D56, 0x4D)) // "KVMKVMKVM"
                    .with(new CpuidEntry(0x4000_0001, 0, 0, kvmclock ? 1 << KvmClock.FEATURE_BIT : 0, 0, 0, 0));
            return new CpuModel(base.model.spec(), table, base.model.mxcsrMask());
        }
    }

    // mov ecx, 0x4b564d01; mov eax, TIME_INFO | 1; xor edx, edx; wrmsr; mov ecx, 0x4b564d00; mov eax, WALL_CLOCK; wrmsr;
    // mov ecx, 0x4b564d01; rdmsr; mov ebx, eax; rdtsc into RAX; out 0x90, al; hlt
    private static final String GUEST = "b9 01 4d 56 4b b8 01 00 20 00 31 d2 0f 30"
            + "b9 00 4d 56 4b b8 40 00 20 00 0f 30"
            + "b9 01 4d 56 4b 0f 32 89 c3"
            + "0f 31 48 c1 e2 20 48 09 d0 e6 90 f4";

    @Test
    void aGuestFindsItsClockWhereItAskedAndItFollowsTheTsc() {
        long wallBefore = System.currentTimeMillis();
        try (EmuVm vm = new EmuVm(model(true), HexFormat.of().parseHex(GUEST.replace(" ", "")))) {
            vm.nextOut(0x90);
            Registers r = vm.vcpu.registers();
            long tscAfter = r.rax();
            assertEquals(TIME_INFO | 1, r.rbx(), "RDMSR gives back what WRMSR wrote");

            int version = vm.memory.mapping().getInt(TIME_INFO);
            long tscStamp = vm.memory.mapping().getLong(TIME_INFO + 8);
            long systemTime = vm.memory.mapping().getLong(TIME_INFO + 16);
            long mul = vm.memory.mapping().getInt(TIME_INFO + 24) & 0xFFFFFFFFL;
            int shift = vm.memory.mapping().getByte(TIME_INFO + 28);
            assertTrue(version != 0 && version % 2 == 0, "published, not being changed: version " + version);
            assertEquals(1, vm.memory.mapping().getByte(TIME_INFO + 29) & 1,
                    "PVCLOCK_TSC_STABLE_BIT: every vCPU's clock is the same, as KVM_FEATURE_CLOCKSOURCE_STABLE_BIT promises");
            assertTrue(tscStamp > 0 && tscStamp <= tscAfter, "stamped with the TSC of the WRMSR");
            long nanosAfter = systemTime + new KvmClock.Scale(shift, mul).nanos(tscAfter - tscStamp);
            long khz = vm.vcpu.tscKhz();
            long expected = java.math.BigInteger.valueOf(tscAfter).multiply(java.math.BigInteger.valueOf(1_000_000))
                    .divide(java.math.BigInteger.valueOf(khz)).longValueExact(); // the clock is the TSC in nanoseconds
            assertTrue(Math.abs(nanosAfter - expected) <= 2, "the guest's arithmetic gives " + nanosAfter + " ns, the TSC " + expected);

            int wallVersion = vm.memory.mapping().getInt(WALL_CLOCK);
            long bootSeconds = vm.memory.mapping().getInt(WALL_CLOCK + 4) & 0xFFFFFFFFL;
            long bootNanos = vm.memory.mapping().getInt(WALL_CLOCK + 8);
            assertTrue(wallVersion != 0 && wallVersion % 2 == 0);
            assertTrue(bootNanos >= 0 && bootNanos < 1_000_000_000L);
            long wallNowMillis = bootSeconds * 1000 + bootNanos / 1_000_000 + nanosAfter / 1_000_000;
            assertTrue(wallNowMillis >= wallBefore - 1000 && wallNowMillis <= System.currentTimeMillis() + 1000,
                    "the wall clock plus the clock is the time now: " + wallNowMillis + " against " + wallBefore);
        }
    }

    @Test
    void theScaleTurnsTicksIntoNanosecondsAtEveryRate() {
        for (long khz : new long[]{1_000_000, 2_100_000, 3_000_000, 2_999_999, 100_000, 4_500_000}) {
            KvmClock.Scale s = KvmClock.scale(khz);
            assertTrue(s.mul() >= 1L << 31 && s.mul() < 1L << 32, khz + " kHz: mul " + s.mul());
            for (long ticks : new long[]{0, 1, 1000, 123_456_789_012L, 1L << 50}) {
                double exact = ticks * 1e6 / khz;
                long got = s.nanos(ticks);
                assertTrue(Math.abs(got - exact) <= 1 + exact * 1e-9, khz + " kHz, " + ticks + " ticks: " + got + " ns, not " + exact);
            }
        }
    }

    @Test
    void withoutTheFeatureBitTheMsrsAreNotThere() {
        // the same WRMSR, with an IDT whose #GP handler reports the vector
        try (EmuVm vm = new EmuVm(model(false), HexFormat.of().parseHex(GUEST.replace(" ", "")))) {
            ExceptionsTest.installIdt(vm);
            assertEquals(13, vm.nextOut(0x90), "#GP on WRMSR to MSR_KVM_SYSTEM_TIME_NEW");
            assertEquals(0, vm.memory.mapping().getInt(TIME_INFO), "nothing published");
        }
    }

    /**
     * The VM's clock zero (a snapshot's kvmclock, or the other backend's): an offset moves what the clock reads, and
     * the structure the guest asked for is published again with it, so the guest's own arithmetic gives the new time.
     */
    @Test
    void anOffsetMovesTheClockAndIsPublishedAgain() {
        try (EmuVm vm = new EmuVm(model(true), HexFormat.of().parseHex(GUEST.replace(" ", "")))) {
            vm.nextOut(0x90);
            long before = vm.vcpu.kvmClock();
            long offset = 7_000_000_000_000L; // the clock another backend had: about two hours ahead
            vm.vcpu.setKvmClockOffset(offset);
            assertEquals(offset, vm.vcpu.kvmClockOffset());
            long after = vm.vcpu.kvmClock();
            assertTrue(after - before >= offset && after - before < offset + 1_000_000_000L,
                    "the clock moved by the offset: " + before + " then " + after);
            long tscStamp = vm.memory.mapping().getLong(TIME_INFO + 8);
            long systemTime = vm.memory.mapping().getLong(TIME_INFO + 16);
            long mul = vm.memory.mapping().getInt(TIME_INFO + 24) & 0xFFFFFFFFL;
            int shift = vm.memory.mapping().getByte(TIME_INFO + 28);
            long tsc = vm.vcpu.saveState().msrs().get(io.jkvm.x86.Msrs.IA32_TSC);
            long guestReads = systemTime + new KvmClock.Scale(shift, mul).nanos(tsc - tscStamp);
            assertTrue(Math.abs(guestReads - vm.vcpu.kvmClock()) < 1_000_000_000L,
                    "the guest's pvclock gives the moved clock: " + guestReads + " against " + vm.vcpu.kvmClock());
            assertTrue(guestReads > offset, "the structure was published again with the offset");
        }
    }

    /**
     * A snapshot, a migration or a handoff carries the clock: the state record has both MSRs, and restoring it into
     * a fresh vCPU publishes the clock again where the guest asked, without the guest writing the MSR again.
     */
    @Test
    void theStateRecordCarriesTheClock() {
        io.jkvm.x86.VcpuState saved;
        try (EmuVm vm = new EmuVm(model(true), HexFormat.of().parseHex(GUEST.replace(" ", "")))) {
            vm.nextOut(0x90);
            saved = vm.vcpu.saveState();
        }
        assertEquals(TIME_INFO | 1, saved.msrs().get(io.jkvm.x86.Msrs.KVM_SYSTEM_TIME_NEW));
        assertEquals(WALL_CLOCK, saved.msrs().get(io.jkvm.x86.Msrs.KVM_WALL_CLOCK_NEW));
        try (EmuVm fresh = new EmuVm(model(true), new byte[]{(byte) 0xF4})) {
            assertEquals(0, fresh.memory.mapping().getInt(TIME_INFO), "a fresh machine: nothing published yet");
            fresh.vcpu.restoreState(saved);
            int version = fresh.memory.mapping().getInt(TIME_INFO);
            assertTrue(version != 0 && version % 2 == 0, "published by the restore: version " + version);
            long tscStamp = fresh.memory.mapping().getLong(TIME_INFO + 8);
            long tsc = fresh.vcpu.saveState().msrs().get(io.jkvm.x86.Msrs.IA32_TSC);
            assertTrue(tscStamp > 0 && tscStamp <= tsc, "stamped with the restored TSC, " + tscStamp + " against " + tsc);
            assertTrue(fresh.memory.mapping().getInt(WALL_CLOCK) != 0, "the wall clock published again");
        }
        try (EmuVm vm = new EmuVm(model(false), new byte[]{(byte) 0xF4})) {
            var msrs = vm.vcpu.saveState().msrs();
            assertTrue(!msrs.containsKey(io.jkvm.x86.Msrs.KVM_SYSTEM_TIME_NEW) && !msrs.containsKey(io.jkvm.x86.Msrs.KVM_WALL_CLOCK_NEW),
                    "a model without kvmclock carries neither MSR: " + msrs.keySet());
        }
    }
}
