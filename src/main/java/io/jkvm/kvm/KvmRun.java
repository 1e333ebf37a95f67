package io.jkvm.kvm;

import io.jkvm.linux.Mapping;
import io.jkvm.linux.uapi.Uapi;
import io.jkvm.linux.uapi.kvm_run;
import io.jkvm.x86.VcpuExit;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The vCPU's mmap'ed kvm_run region, decoded into typed exits. Offsets are taken from the generated layout
 * once; the two data views are reused, so decoding an exit allocates only the exit record.
 */
final class KvmRun {
    private static final long EXIT_REASON = kvm_run.exit_reason$offset();
    private static final long IMMEDIATE_EXIT = kvm_run.immediate_exit$offset();
    private static final long REQUEST_INTERRUPT_WINDOW = kvm_run.request_interrupt_window$offset();
    private static final long READY_FOR_INJECTION = kvm_run.ready_for_interrupt_injection$offset();
    private static final long IO = kvm_run.io$offset();
    private static final long IO_DIRECTION = IO + kvm_run.io.direction$offset();
    private static final long IO_SIZE = IO + kvm_run.io.size$offset();
    private static final long IO_PORT = IO + kvm_run.io.port$offset();
    private static final long IO_COUNT = IO + kvm_run.io.count$offset();
    private static final long IO_DATA_OFFSET = IO + kvm_run.io.data_offset$offset();
    private static final long MMIO = kvm_run.mmio$offset();
    private static final long MMIO_ADDRESS = MMIO + kvm_run.mmio.phys_addr$offset();
    private static final long MMIO_DATA = MMIO + kvm_run.mmio.data$offset();
    private static final long MMIO_LEN = MMIO + kvm_run.mmio.len$offset();
    private static final long MMIO_IS_WRITE = MMIO + kvm_run.mmio.is_write$offset();
    private static final long INTERNAL = kvm_run.internal$offset();
    private static final long INTERNAL_SUBERROR = INTERNAL + kvm_run.internal.suberror$offset();
    private static final long INTERNAL_NDATA = INTERNAL + kvm_run.internal.ndata$offset();
    private static final long INTERNAL_DATA = INTERNAL + kvm_run.internal.data$offset();
    private static final long EVENT = kvm_run.system_event$offset();
    private static final long EVENT_TYPE = EVENT + kvm_run.system_event.type$offset();
    private static final long EVENT_NDATA = EVENT + kvm_run.system_event.ndata$offset();
    private static final long EVENT_DATA = EVENT + kvm_run.system_event.data$offset();
    private static final long FAIL_REASON = kvm_run.fail_entry$offset() + kvm_run.fail_entry.hardware_entry_failure_reason$offset();
    private static final long FAIL_CPU = kvm_run.fail_entry$offset() + kvm_run.fail_entry.cpu$offset();
    private static final long HW_REASON = kvm_run.hw$offset() + kvm_run.hw.hardware_exit_reason$offset();

    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED;
    private static final ValueLayout.OfInt U32 = ValueLayout.JAVA_INT_UNALIGNED;
    private static final ValueLayout.OfLong U64 = ValueLayout.JAVA_LONG_UNALIGNED;

    private final Mapping mapping;
    private final MemorySegment run;
    private final PortData portData = new PortData();
    private final MmioData mmioData = new MmioData();

    KvmRun(Mapping mapping) {
        this.mapping = mapping;
        this.run = mapping.segment();
    }

    void setImmediateExit(boolean on) {
        run.set(ValueLayout.JAVA_BYTE, IMMEDIATE_EXIT, on ? (byte) 1 : (byte) 0);
    }

    boolean immediateExit() {
        return run.get(ValueLayout.JAVA_BYTE, IMMEDIATE_EXIT) != 0;
    }

    /** Asks KVM_RUN to exit (KVM_EXIT_IRQ_WINDOW_OPEN) as soon as the guest can take an interrupt. */
    void setRequestInterruptWindow(boolean on) {
        run.set(ValueLayout.JAVA_BYTE, REQUEST_INTERRUPT_WINDOW, on ? (byte) 1 : (byte) 0);
    }

    /** Set by KVM on every return: KVM_INTERRUPT now would be delivered at the next entry (IF set, no shadow, none queued). */
    boolean readyForInterruptInjection() {
        return run.get(ValueLayout.JAVA_BYTE, READY_FOR_INJECTION) != 0;
    }

    int exitReason() {
        return run.get(U32, EXIT_REASON);
    }

    /** Decodes the exit KVM_RUN just reported. */
    VcpuExit decode() {
        int reason = exitReason();
        if (reason == Uapi.KVM_EXIT_IO()) {
            int size = run.get(ValueLayout.JAVA_BYTE, IO_SIZE);
            portData.begin(run.get(U64, IO_DATA_OFFSET), size);
            return new VcpuExit.Io(run.get(ValueLayout.JAVA_BYTE, IO_DIRECTION) == Uapi.KVM_EXIT_IO_OUT(),
                    Short.toUnsignedInt(run.get(U16, IO_PORT)), size, run.get(U32, IO_COUNT), portData);
        } else if (reason == Uapi.KVM_EXIT_MMIO()) {
            int length = run.get(U32, MMIO_LEN);
            mmioData.length = length;
            return new VcpuExit.Mmio(run.get(U64, MMIO_ADDRESS), length,
                    run.get(ValueLayout.JAVA_BYTE, MMIO_IS_WRITE) != 0, mmioData);
        } else if (reason == Uapi.KVM_EXIT_HLT()) {
            return new VcpuExit.Hlt();
        } else if (reason == Uapi.KVM_EXIT_SHUTDOWN()) {
            return new VcpuExit.Shutdown();
        } else if (reason == Uapi.KVM_EXIT_INTR()) {
            return new VcpuExit.Interrupted();
        } else if (reason == Uapi.KVM_EXIT_INTERNAL_ERROR()) {
            return new VcpuExit.InternalError(run.get(U32, INTERNAL_SUBERROR),
                    longs(INTERNAL_DATA, run.get(U32, INTERNAL_NDATA)));
        } else if (reason == Uapi.KVM_EXIT_SYSTEM_EVENT()) {
            return new VcpuExit.SystemEvent(run.get(U32, EVENT_TYPE), longs(EVENT_DATA, run.get(U32, EVENT_NDATA)));
        } else if (reason == Uapi.KVM_EXIT_FAIL_ENTRY()) {
            return new VcpuExit.FailEntry(run.get(U64, FAIL_REASON), run.get(U32, FAIL_CPU));
        }
        return new VcpuExit.Unknown(reason, run.get(U64, HW_REASON));
    }

    private long[] longs(long offset, int count) {
        int n = Math.clamp(count, 0, 16);
        long[] out = new long[n];
        MemorySegment.copy(run, U64, offset, out, 0, n);
        return out;
    }

    void close() {
        mapping.close();
    }

    /** The bytes an IN/OUT moves, inside kvm_run at data_offset. */
    private final class PortData implements VcpuExit.AccessData {
        private long offset;
        private int size;

        void begin(long offset, int size) {
            this.offset = offset;
            this.size = size;
        }

        @Override
        public long get(int index) {
            long at = offset + (long) index * size;
            return switch (size) {
                case 1 -> Byte.toUnsignedLong(run.get(ValueLayout.JAVA_BYTE, at));
                case 2 -> Short.toUnsignedLong(run.get(U16, at));
                default -> Integer.toUnsignedLong(run.get(U32, at));
            };
        }

        @Override
        public void set(int index, long value) {
            long at = offset + (long) index * size;
            switch (size) {
                case 1 -> run.set(ValueLayout.JAVA_BYTE, at, (byte) value);
                case 2 -> run.set(U16, at, (short) value);
                default -> run.set(U32, at, (int) value);
            }
        }
    }

    /** The up to 8 data bytes of an MMIO access, little-endian. */
    private final class MmioData implements VcpuExit.AccessData {
        private int length;

        @Override
        public long get(int index) {
            long v = 0;
            for (int i = 0; i < length; i++) {
                v |= Byte.toUnsignedLong(run.get(ValueLayout.JAVA_BYTE, MMIO_DATA + i)) << (8 * i);
            }
            return v;
        }

        @Override
        public void set(int index, long value) {
            for (int i = 0; i < length; i++) {
                run.set(ValueLayout.JAVA_BYTE, MMIO_DATA + i, (byte) (value >>> (8 * i)));
            }
        }
    }
}
