package io.jkvm.devices;

import java.io.IOException;
import java.io.OutputStream;
import java.io.UncheckedIOException;
import java.util.ArrayDeque;

/**
 * A 16550A UART (COM1 at 0x3F8). Transmitted bytes go to the output (the machine buffers it); the transmitter is
 * always empty. Received bytes, from the console or looped back (MCR.LOOP), wait in a FIFO of at most 4096 until
 * the guest reads RBR; one that finds it full is dropped and sets the overrun error (LSR.OE) until LSR is read. The interrupt output (IRQ4 on a PC) is
 * raised while IIR names a cause IER enables: received data available, or the transmitter holding register empty.
 */
public final class Serial16550 implements Device, Persist<Serial16550.State> {
    /** The registers, the interrupt latch and the receive FIFO's bytes in order. */
    public record State(int ier, int lcr, int mcr, int fcr, int scr, int divisor, boolean thrEmptyPending, boolean overrun,
                        byte[] received) {
        public State {
            received = received.clone();
        }

        @Override
        public byte[] received() {
            return received.clone();
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof State s && ier == s.ier && lcr == s.lcr && mcr == s.mcr && fcr == s.fcr && scr == s.scr
                    && divisor == s.divisor && thrEmptyPending == s.thrEmptyPending && overrun == s.overrun
                    && java.util.Arrays.equals(received, s.received);
        }

        @Override
        public int hashCode() {
            return java.util.Objects.hash(ier, lcr, mcr, fcr, scr, divisor, thrEmptyPending, overrun) * 31
                    + java.util.Arrays.hashCode(received);
        }
    }
    public static final int COM1 = 0x3F8;
    public static final int REGISTERS = 8;
    /** COM1's line on the PIC. */
    public static final int IRQ = 4;

    private static final int IER_RX = 0x01;
    private static final int IER_THRE = 0x02;
    private static final int LCR_DLAB = 0x80;
    private static final int MCR_LOOPBACK = 0x10;
    private static final int LSR_DATA_READY = 0x01;
    private static final int LSR_OVERRUN = 0x02;
    private static final int LSR_THR_EMPTY = 0x20;
    private static final int LSR_TRANSMITTER_EMPTY = 0x40;
    private static final int IIR_NONE = 0x01;
    private static final int IIR_THR_EMPTY = 0x02;
    private static final int IIR_RX_DATA = 0x04;
    private static final int IIR_FIFO_ENABLED = 0xC0;
    private static final int RX_FIFO_LIMIT = 4096;

    private final OutputStream out;
    private final InterruptLine irq;
    private final ArrayDeque<Byte> rx = new ArrayDeque<>();
    private int ier;
    private int lcr = 0x03; // 8N1
    private int mcr;
    private int fcr;
    private int scr;
    private int divisor = 12; // 9600 baud
    private boolean thrEmptyPending = true;
    private boolean overrun;

    public Serial16550(OutputStream out, InterruptLine irq) {
        this.out = out;
        this.irq = irq;
    }

    /** Queues a byte from the console for the guest; dropped when the guest has not read the last 4096. */
    public synchronized void receive(byte b) {
        if (enqueue(b)) {
            updateInterrupt();
            notifyAll();
        }
    }

    /** Adds a received byte; false, with the overrun error set, when the FIFO is full. */
    private boolean enqueue(byte b) {
        if (rx.size() >= RX_FIFO_LIMIT) {
            overrun = true;
            return false;
        }
        rx.addLast(b);
        return true;
    }

    private int readLsr() {
        int lsr = LSR_THR_EMPTY | LSR_TRANSMITTER_EMPTY | (rx.isEmpty() ? 0 : LSR_DATA_READY) | (overrun ? LSR_OVERRUN : 0);
        overrun = false; // reading LSR clears the error bits
        return lsr;
    }

    @Override
    public synchronized State save() {
        byte[] fifo = new byte[rx.size()];
        int i = 0;
        for (byte b : rx) {
            fifo[i++] = b;
        }
        return new State(ier, lcr, mcr, fcr, scr, divisor, thrEmptyPending, overrun, fifo);
    }

    @Override
    public synchronized void restore(State s) {
        for (int v : new int[]{s.ier(), s.lcr(), s.mcr(), s.fcr(), s.scr()}) {
            if (v < 0 || v > 0xFF) {
                throw new IllegalArgumentException("UART: a register holds 0x" + Integer.toHexString(v) + ", more than 8 bits");
            }
        }
        if (s.divisor() < 0 || s.divisor() > 0xFFFF || s.received().length > RX_FIFO_LIMIT) {
            throw new IllegalArgumentException("UART: divisor " + s.divisor() + " or " + s.received().length
                    + " bytes received are more than a 16550 holds (16 bits, " + RX_FIFO_LIMIT + " bytes)");
        }
        ier = s.ier();
        lcr = s.lcr();
        mcr = s.mcr();
        fcr = s.fcr();
        scr = s.scr();
        divisor = s.divisor();
        thrEmptyPending = s.thrEmptyPending();
        overrun = s.overrun();
        rx.clear();
        for (byte b : s.received()) {
            rx.addLast(b);
        }
        updateInterrupt();
    }

    /** Whether the UART is asking for an interrupt now. */
    public synchronized boolean interruptPending() {
        return interruptId() != IIR_NONE;
    }

    @Override
    public synchronized long read(long offset, int size) {
        boolean dlab = (lcr & LCR_DLAB) != 0;
        return switch ((int) offset) {
            case 0 -> dlab ? divisor & 0xFF : readRbr();
            case 1 -> dlab ? (divisor >>> 8) & 0xFF : ier;
            case 2 -> readIir();
            case 3 -> lcr;
            case 4 -> mcr;
            case 5 -> readLsr();
            case 6 -> (mcr & MCR_LOOPBACK) != 0 ? (mcr & 0x0F) << 4 : 0xB0; // DCD, DSR, CTS asserted
            case 7 -> scr;
            default -> 0xFF;
        };
    }

    private int readRbr() {
        Byte b = rx.pollFirst();
        updateInterrupt();
        return b == null ? 0 : b & 0xFF;
    }

    private int readIir() {
        int id = interruptId();
        if (id == IIR_THR_EMPTY) {
            thrEmptyPending = false; // reading IIR acknowledges a THR-empty interrupt
            updateInterrupt();
        }
        return id | ((fcr & 1) != 0 ? IIR_FIFO_ENABLED : 0);
    }

    private int interruptId() {
        if ((ier & IER_RX) != 0 && !rx.isEmpty()) {
            return IIR_RX_DATA;
        }
        if ((ier & IER_THRE) != 0 && thrEmptyPending) {
            return IIR_THR_EMPTY;
        }
        return IIR_NONE;
    }

    @Override
    public synchronized void write(long offset, int size, long value) {
        int v = (int) (value & 0xFF);
        boolean dlab = (lcr & LCR_DLAB) != 0;
        switch ((int) offset) {
            case 0 -> {
                if (dlab) {
                    divisor = (divisor & 0xFF00) | v;
                } else {
                    thrEmptyPending = false; // writing THR clears THRE; the byte leaves at once, so it rises again: one edge per byte
                    updateInterrupt();
                    transmit(v);
                }
            }
            case 1 -> {
                if (dlab) {
                    divisor = (divisor & 0x00FF) | (v << 8);
                } else {
                    ier = v & 0x0F;
                    thrEmptyPending = true; // enabling THRE interrupts fires one at once: the transmitter is empty
                }
            }
            case 2 -> {
                fcr = v;
                if ((v & 0x02) != 0) {
                    rx.clear();
                }
            }
            case 3 -> lcr = v;
            case 4 -> mcr = v & 0x1F;
            case 7 -> scr = v;
            default -> { } // LSR and MSR are read-only
        }
        updateInterrupt();
    }

    private void transmit(int b) {
        thrEmptyPending = true;
        if ((mcr & MCR_LOOPBACK) != 0) {
            enqueue((byte) b);
            return;
        }
        try {
            out.write(b);
        } catch (IOException e) {
            throw new UncheckedIOException("serial console output failed", e);
        }
    }

    private void updateInterrupt() {
        irq.set(interruptId() != IIR_NONE);
    }
}
