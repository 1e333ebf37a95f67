package io.jkvm.devices;

import io.jkvm.x86.InterruptSource;

/**
 * The PC's two cascaded 8259A programmable interrupt controllers: the master at ports 0x20/0x21 (IRQ0-7), the
 * slave at 0xA0/0xA1 (IRQ8-15) on the master's IRQ2. Modelled as the 8259A datasheet describes them: the ICW1-ICW4
 * initialisation sequence, the mask register (OCW1), EOI, specific EOI and priority rotation (OCW2), IRR/ISR reads,
 * poll and special mask mode (OCW3), fully nested and special fully nested mode, automatic EOI, edge- and
 * level-triggered inputs. An edge-triggered request must still be asserted at the acknowledge cycle, as the
 * datasheet requires: one withdrawn before it is answered with the spurious vector (IRQ7's, or IRQ15's on the slave).
 * One lock covers both chips; the INTR listener is told of every change of the master's output under it.
 */
public final class Pic8259 implements InterruptSource, Persist<Pic8259.State> {
    /** One chip's registers and modes, as the datasheet names them. */
    public record ChipState(int irr, int isr, int imr, int lines, int vectorBase, int lowestPriority, int icw3, int initStep,
                            boolean icw4Expected, boolean single, boolean levelTriggered, boolean autoEoi,
                            boolean rotateOnAutoEoi, boolean specialFullyNested, boolean readIsr, boolean poll,
                            boolean specialMask) {
        void check(String chip) {
            for (int v : new int[]{irr, isr, imr, lines, icw3}) {
                if (v < 0 || v > 0xFF) {
                    throw new IllegalArgumentException("PIC " + chip + ": a register holds 0x" + Integer.toHexString(v)
                            + ", more than 8 bits");
                }
            }
            if ((vectorBase & ~0xF8) != 0 || lowestPriority < 0 || lowestPriority > 7 || (initStep != 0 && (initStep < 2 || initStep > 4))) {
                throw new IllegalArgumentException("PIC " + chip + ": vector base 0x" + Integer.toHexString(vectorBase)
                        + ", lowest priority " + lowestPriority + ", init step " + initStep + " are not an 8259A's");
            }
        }
    }

    /** Both chips and the INTR output. */
    public record State(ChipState master, ChipState slave, boolean intr) {
    }
    public static final int MASTER_PORT = 0x20;
    public static final int SLAVE_PORT = 0xA0;
    public static final int PORTS = 2;
    private static final int CASCADE_IRQ = 2;

    /** One 8259A. */
    private static final class Chip {
        int irr, isr, imr;
        int lines;               // input levels as the devices drive them
        int vectorBase;
        int lowestPriority = 7;  // priority rotation: the IR after this one has the highest priority
        int icw3;                // master: which inputs have slaves; slave: its ID on the master
        int initStep;            // 0: operating; 2, 3, 4: the ICW expected next on the odd port
        boolean icw4Expected, single, levelTriggered, autoEoi, rotateOnAutoEoi, specialFullyNested;
        boolean readIsr, poll, specialMask;

        /** Rank of an input under the current rotation: 0 is the highest priority. */
        int rank(int irq) {
            return (irq - lowestPriority - 1) & 7;
        }

        /** The highest-priority input whose bit is set in {@code bits}, or -1. */
        int highest(int bits) {
            for (int i = 0; i < 8; i++) {
                int irq = (lowestPriority + 1 + i) & 7;
                if ((bits & (1 << irq)) != 0) {
                    return irq;
                }
            }
            return -1;
        }

        /**
         * The input this chip would present to the CPU now, or -1: the highest-priority unmasked request above
         * every input in service (in special mask mode, masked in-service inputs do not block; in special fully
         * nested mode a cascade input in service does not block its own slave's further requests).
         */
        int request(boolean master) {
            int requested = highest(irr & ~imr);
            if (requested < 0) {
                return -1;
            }
            int blocking = specialMask ? isr & ~imr : isr;
            if (master && specialFullyNested && (icw3 & (1 << requested)) != 0) {
                blocking &= ~(1 << requested); // the slave ranks its own further requests
            }
            int inService = highest(blocking);
            return inService < 0 || rank(requested) < rank(inService) ? requested : -1;
        }

        void setLine(int irq, boolean high) {
            int bit = 1 << irq;
            boolean was = (lines & bit) != 0;
            if (high) {
                lines |= bit;
                if (!was || levelTriggered) {
                    irr |= bit;
                }
            } else {
                lines &= ~bit;
                irr &= ~bit; // withdrawn: the datasheet asks inputs to stay high until acknowledged
            }
        }

        /** A slave's INT output is a level the master samples: it requests for as long as the slave does. */
        void setCascade(int irq, boolean high) {
            int bit = 1 << irq;
            lines = high ? lines | bit : lines & ~bit;
            irr = high ? irr | bit : irr & ~bit;
        }

        /** The acknowledge cycle of the selected input: out of IRR, into ISR unless in automatic EOI mode. */
        void acknowledge(int irq) {
            int bit = 1 << irq;
            if (!levelTriggered) {
                irr &= ~bit;
            }
            if (autoEoi) {
                if (rotateOnAutoEoi) {
                    lowestPriority = irq;
                }
            } else {
                isr |= bit;
            }
        }

        void writeCommand(int v) {
            if ((v & 0x10) != 0) { // ICW1
                levelTriggered = (v & 0x08) != 0;
                single = (v & 0x02) != 0;
                icw4Expected = (v & 0x01) != 0;
                imr = 0;
                isr = 0;
                irr = levelTriggered ? lines : 0; // the edge-sense circuit is reset: a line already high needs a new edge
                lowestPriority = 7;
                specialMask = false;
                readIsr = false;
                poll = false;
                autoEoi = false;
                rotateOnAutoEoi = false;
                specialFullyNested = false;
                initStep = 2;
            } else if ((v & 0x08) == 0) { // OCW2
                int level = v & 7;
                switch (v >>> 5) {
                    case 0 -> rotateOnAutoEoi = false;
                    case 4 -> rotateOnAutoEoi = true;
                    case 1, 5 -> { // non-specific EOI (and rotate): the highest-priority input in service
                        int irq = highest(isr);
                        if (irq >= 0) {
                            isr &= ~(1 << irq);
                            if ((v >>> 5) == 5) {
                                lowestPriority = irq;
                            }
                        }
                    }
                    case 3 -> isr &= ~(1 << level);
                    case 7 -> {
                        isr &= ~(1 << level);
                        lowestPriority = level;
                    }
                    case 6 -> lowestPriority = level;
                    default -> { } // 2: no operation
                }
            } else { // OCW3
                if ((v & 0x40) != 0) {
                    specialMask = (v & 0x20) != 0;
                }
                if ((v & 0x02) != 0) {
                    readIsr = (v & 0x01) != 0;
                }
                poll = (v & 0x04) != 0;
            }
        }

        void writeData(int v) {
            switch (initStep) {
                case 2 -> {
                    vectorBase = v & 0xF8;
                    initStep = single ? (icw4Expected ? 4 : 0) : 3;
                }
                case 3 -> {
                    icw3 = v;
                    initStep = icw4Expected ? 4 : 0;
                }
                case 4 -> {
                    autoEoi = (v & 0x02) != 0;
                    specialFullyNested = (v & 0x10) != 0;
                    initStep = 0;
                }
                default -> imr = v; // OCW1
            }
        }
    }

    private final Chip master = new Chip();
    private final Chip slave = new Chip();
    /** The master's INTR output, told of every change. */
    private final InterruptLine output;
    private boolean intr;

    public Pic8259(InterruptLine output) {
        this.output = output;
    }

    /** Drives input {@code irq} (0-15) to a level, as the device wired to it does. */
    public synchronized void setIrq(int irq, boolean high) {
        if (irq < 0 || irq > 15) {
            throw new IllegalArgumentException("the 8259A pair has IRQ0-15, not IRQ" + irq);
        }
        if (irq == CASCADE_IRQ) {
            throw new IllegalArgumentException("IRQ2 carries the slave 8259A's output: wire the device to IRQ9 instead");
        }
        if (irq < 8) {
            master.setLine(irq, high);
        } else {
            slave.setLine(irq - 8, high);
        }
        update();
    }

    @Override
    public synchronized State save() {
        return new State(save(master), save(slave), intr);
    }

    private static ChipState save(Chip c) {
        return new ChipState(c.irr, c.isr, c.imr, c.lines, c.vectorBase, c.lowestPriority, c.icw3, c.initStep,
                c.icw4Expected, c.single, c.levelTriggered, c.autoEoi, c.rotateOnAutoEoi, c.specialFullyNested,
                c.readIsr, c.poll, c.specialMask);
    }

    /** Loads both chips, then tells the INTR listener the restored output level. */
    @Override
    public synchronized void restore(State s) {
        s.master().check("master");
        s.slave().check("slave");
        restore(master, s.master());
        restore(slave, s.slave());
        intr = s.intr();
        output.set(intr);
        update();
    }

    private static void restore(Chip c, ChipState s) {
        c.irr = s.irr();
        c.isr = s.isr();
        c.imr = s.imr();
        c.lines = s.lines();
        c.vectorBase = s.vectorBase();
        c.lowestPriority = s.lowestPriority();
        c.icw3 = s.icw3();
        c.initStep = s.initStep();
        c.icw4Expected = s.icw4Expected();
        c.single = s.single();
        c.levelTriggered = s.levelTriggered();
        c.autoEoi = s.autoEoi();
        c.rotateOnAutoEoi = s.rotateOnAutoEoi();
        c.specialFullyNested = s.specialFullyNested();
        c.readIsr = s.readIsr();
        c.poll = s.poll();
        c.specialMask = s.specialMask();
    }

    /** Whether INTR is asserted now. */
    public synchronized boolean requesting() {
        return intr;
    }

    @Override
    public synchronized int acknowledge() {
        int vector = select();
        update();
        return vector;
    }

    /** The INTA cycle on the pair: the master answers, or hands the cycle to the slave on its cascade input. */
    private int select() {
        int irq = master.request(true);
        if (irq < 0) {
            return master.vectorBase + 7;
        }
        master.acknowledge(irq);
        if (!master.single && (master.icw3 & (1 << irq)) != 0) {
            int slaveIrq = slave.request(false);
            if (slaveIrq < 0) {
                return slave.vectorBase + 7;
            }
            slave.acknowledge(slaveIrq);
            return slave.vectorBase + slaveIrq;
        }
        return master.vectorBase + irq;
    }

    /** OCW3's poll command: the next read answers 0x80 | the highest request, taken into service, or 0. */
    private static int poll(Chip chip, boolean isMaster) {
        int irq = chip.request(isMaster);
        if (irq < 0) {
            return 0;
        }
        chip.acknowledge(irq);
        return 0x80 | irq;
    }

    /** Propagates the slave's output to the master's cascade input, then the master's to INTR. */
    private void update() {
        master.setCascade(CASCADE_IRQ, slave.request(false) >= 0);
        boolean now = master.request(true) >= 0;
        if (now != intr) {
            intr = now;
            output.set(now);
        }
    }

    /** The master's ports, 0x20 (command, IRR/ISR) and 0x21 (data, IMR). */
    public Device masterPorts() {
        return ports(master);
    }

    /** The slave's ports, 0xA0 and 0xA1. */
    public Device slavePorts() {
        return ports(slave);
    }

    private Device ports(Chip chip) {
        return new Device() {
            @Override
            public long read(long offset, int size) {
                synchronized (Pic8259.this) {
                    if (chip.poll) {
                        chip.poll = false;
                        int answer = poll(chip, chip == master);
                        update();
                        return answer;
                    }
                    if (offset == 1) {
                        return chip.imr;
                    }
                    return chip.readIsr ? chip.isr : chip.irr;
                }
            }

            @Override
            public void write(long offset, int size, long value) {
                synchronized (Pic8259.this) {
                    if (offset == 0) {
                        chip.writeCommand((int) value & 0xFF);
                    } else {
                        chip.writeData((int) value & 0xFF);
                    }
                    update();
                }
            }
        };
    }
}
