package io.jkvm.emu;

import io.jkvm.x86.Msrs;

/**
 * KVM's paravirtual clock (kvmclock, Documentation/virt/kvm/x86/msr.rst) as the core gives it, where the model's CPUID
 * has KVM_FEATURE_CLOCKSOURCE2: the guest writes a guest-physical address to MSR_KVM_SYSTEM_TIME_NEW (bit 0: enable)
 * and the core puts a pvclock_vcpu_time_info there, from which the guest turns its TSC into nanoseconds; to
 * MSR_KVM_WALL_CLOCK_NEW, and the core puts the wall-clock time at which that clock read 0. The clock is the TSC as
 * the guest never changed it (less IA32_TSC_ADJUST), in nanoseconds, plus the VM's offset (a snapshot's or the other
 * backend's clock, {@link #setOffset}): the same on every vCPU whatever each one's TSC offset, so one publication
 * stays right for as long as the TSC rate does, and the structure says so (PVCLOCK_TSC_STABLE_BIT).
 */
final class KvmClock {
    static final int WALL_CLOCK_NEW = Msrs.KVM_WALL_CLOCK_NEW, SYSTEM_TIME_NEW = Msrs.KVM_SYSTEM_TIME_NEW;
    /** CPUID.0x40000001:EAX bit 3, KVM_FEATURE_CLOCKSOURCE2: the MSRs above. */
    static final int FEATURE_BIT = Msrs.KVM_FEATURE_CLOCKSOURCE2;
    private static final long NANOS_PER_SECOND = 1_000_000_000L;

    private KvmClock() {
    }

    /** Whether {@code msr} is kvmclock's and the model offers it (the same test decides the state record's MSRs). */
    static boolean handles(Core c, int msr) {
        return (msr == WALL_CLOCK_NEW || msr == SYSTEM_TIME_NEW) && Msrs.hasKvmClock(c.cpuid);
    }

    static long read(Core c, int msr) {
        return msr == WALL_CLOCK_NEW ? c.kvmWallClock : c.kvmSystemTime;
    }

    static void write(Core c, int msr, long value) {
        if (msr == WALL_CLOCK_NEW) {
            c.kvmWallClock = value;
            publishWallClock(c, value);
        } else {
            c.kvmSystemTime = value;
            if ((value & 1) != 0) {
                publishTimeInfo(c, value & ~1L);
            }
        }
    }

    /** The scale pvclock applies to a TSC delta: ns = ((delta << shift, or >> -shift) * mul) >> 32. */
    record Scale(int shift, long mul) {
        long nanos(long ticks) {
            long d = shift >= 0 ? ticks << shift : ticks >>> -shift;
            return Math.unsignedMultiplyHigh(d, mul) << 32 | (d * mul) >>> 32; // the 96-bit product's bits 32-95
        }
    }

    /** The scale for a TSC of {@code khz}: mul in [2^31, 2^32), as precise as 32 bits allow. */
    static Scale scale(long khz) {
        long ratio = (NANOS_PER_SECOND << 32) / (khz * 1000); // 2^32 ns per tick; 1e9 << 32 fits in 63 bits
        int shift = 0;
        long mul = ratio;
        while (mul >= 1L << 32) {
            shift++;
            mul = ratio >>> shift;
        }
        while (mul < 1L << 31 && shift > -31) {
            shift--;
            mul = ratio << -shift;
        }
        return new Scale(shift, mul);
    }

    /** PVCLOCK_TSC_STABLE_BIT: every vCPU's structure gives the same clock. */
    static final int TSC_STABLE = 1;

    /** The clock at TSC value {@code tsc} of this vCPU. */
    private static long nanosAt(Core c, long tsc) {
        return scale(c.tsc.khz()).nanos(tsc - c.tsc.adjust()) + c.kvmClockOffset;
    }

    /** The clock now. */
    static long now(Core c) {
        return nanosAt(c, c.tsc.read());
    }

    /** Makes the clock read 0 at host time {@code hostNanos} (System.nanoTime): the machine's creation, as KVM's does. */
    static void zeroAt(Core c, long hostNanos) {
        setOffset(c, c.kvmClockOffset - nanosAt(c, c.tsc.at(hostNanos)));
    }

    /**
     * Moves the clock's zero by {@code offset} nanoseconds from the TSC's (every vCPU of a VM gets the same, so they
     * keep one clock), and publishes it again where the guest asked for it.
     */
    static void setOffset(Core c, long offset) {
        c.kvmClockOffset = offset;
        if ((c.kvmSystemTime & 1) != 0) {
            publishTimeInfo(c, c.kvmSystemTime & ~1L);
        }
    }

    /** struct pvclock_vcpu_time_info at {@code gpa}: version odd while it changes, then even. */
    private static void publishTimeInfo(Core c, long gpa) {
        if (!c.isRam(gpa, 32)) {
            return; // as KVM: an address outside RAM gets nothing
        }
        long tsc = c.tsc.read();
        Scale s = scale(c.tsc.khz());
        publish(c, gpa, () -> {
            c.physWrite(gpa + 8, 8, tsc);              // tsc_timestamp
            c.physWrite(gpa + 16, 8, nanosAt(c, tsc)); // system_time
            c.physWrite(gpa + 24, 4, s.mul());         // tsc_to_system_mul
            c.physWrite(gpa + 28, 1, s.shift());       // tsc_shift
            c.physWrite(gpa + 29, 1, TSC_STABLE);      // flags
        });
    }

    /** Writes a pvclock structure's fields at {@code gpa} between an odd version and the even one after it. */
    private static void publish(Core c, long gpa, Runnable fields) {
        int changing = (c.ram.getInt(gpa) + 1) | 1; // a reader that sees it odd, or changed, reads again
        c.physWrite(gpa, 4, changing);
        fields.run();
        c.physWrite(gpa, 4, changing + 1);
    }

    /** struct pvclock_wall_clock at {@code gpa}: the wall-clock time when the clock read 0. */
    private static void publishWallClock(Core c, long gpa) {
        if (!c.isRam(gpa, 12)) {
            return;
        }
        long boot = System.currentTimeMillis() * 1_000_000 - nanosAt(c, c.tsc.read());
        publish(c, gpa, () -> {
            c.physWrite(gpa + 4, 4, boot / NANOS_PER_SECOND);
            c.physWrite(gpa + 8, 4, boot % NANOS_PER_SECOND);
        });
    }
}
