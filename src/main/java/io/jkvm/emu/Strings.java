package io.jkvm.emu;

/** The string instructions: MOVS, STOS, LODS, CMPS and SCAS with REP, REPE and REPNE; INS and OUTS one port access per exit. */
final class Strings {
    private Strings() {
    }

    /**
     * INS and OUTS (6C-6F): one port access per exit; under REP, RIP stays at the instruction until RCX runs out, so
     * the next run does the next iteration (and an interrupt can come between two, as on hardware). INS checks that
     * its store can be made before the port is read, so a fault never follows a read the device has already answered.
     */
    static void stringIo(Core c, int b) {
        int size = (b & 1) == 0 ? 1 : c.opSize == 8 ? 4 : c.opSize;
        int port = (int) (c.r[2] & 0xFFFF);
        c.requirePortAccess(port, size);
        long step = (c.flagBits & Core.DF) != 0 ? -size : size;
        long addressMask = c.offsetMask();
        boolean repeat = c.rep != 0;
        if (repeat && (c.r[1] & addressMask) == 0) {
            c.done();
            return;
        }
        boolean last = !repeat || (c.r[1] & addressMask) == 1;
        if (b <= 0x6D) {
            long target = c.extraLinear(c.r[7] & addressMask, size, true);
            c.checkAlignment(target, size);
            c.checkWritable(target, size);
            c.r[7] = addressed(c.r[7], step, addressMask);
            countDown(c, repeat, addressMask, last);
            c.pendingInToMemory = true;
            c.pendingInAddress = target;
            c.io.in(port, size); // ends the run: the machine answers, the next run stores the value (completeIn)
        } else {
            long value = c.read(c.dataLinear(c.r[6] & addressMask, size, false), size);
            c.r[6] = addressed(c.r[6], step, addressMask);
            countDown(c, repeat, addressMask, last);
            c.io.out(port, size, value);
            if (!last) {
                throw new Core.Stop(Core.Reason.IO); // the machine takes this iteration's OUT before the next is made
            }
        }
    }

    /**
     * REP STOS or REP MOVS, forward with 64-bit addresses: the elements up to the first page end (the source's or the
     * target's), stored at once, when both pages take a run ({@link MemoryAccess#runWriteAddress}: RAM with no decoded
     * code, no dirty log and no data breakpoint, translated for this CPL, the kernel's copies to and from user pages
     * too). The source is translated before the target, as the first element reads before it stores, so a fault is
     * that element's. False when none were stored: the element goes through the full path, which faults or exits. A
     * copy onto its own source a few bytes on goes in runs of that distance, so each element still reads what the
     * ones before it wrote.
     */
    private static boolean bulkRun(Core c, int b, int size) {
        boolean moves = b <= 0xA5;
        long source = moves ? c.dataLinear(c.r[6], size, false) : 0;
        long target = c.extraLinear(c.r[7], size, true);
        long room = (0x1000 - (target & 0xFFF)) / size;
        if (moves) {
            room = Math.min(room, (0x1000 - (source & 0xFFF)) / size);
        }
        if (room == 0) {
            return false; // an element across a page end: the full path reaches its two pages
        }
        long from = moves ? c.runReadAddress(source) : 0;
        long to = from < 0 ? -1 : c.runWriteAddress(target);
        if (to < 0) {
            return false;
        }
        if (moves && to > from && to - from < room * size) {
            room = (to - from) / size;
        }
        long n = Long.compareUnsigned(c.r[1], room) < 0 ? c.r[1] : room;
        if (n == 0) {
            return false; // onto the element it reads
        }
        if (moves) {
            c.ram.copyAt(from, to, n * size);
            c.r[6] += n * size;
        } else {
            c.ram.fillAt(to, n, size, c.reg(0, size));
        }
        c.r[7] += n * size;
        c.r[1] -= n;
        c.bulkStringRuns++;
        return true;
    }

    /** A string register moved by {@code step} within the address size: SI, DI and CX keep the bits above them. */
    static long addressed(long register, long step, long addressMask) {
        if (addressMask == 0xFFFF) {
            return (register & ~0xFFFFL) | ((register + step) & 0xFFFF);
        }
        return addressMask == -1L ? register + step : (register + step) & addressMask;
    }

    /** After one INS/OUTS iteration: RCX counts down under REP; the instruction retires with its last iteration. */
    static void countDown(Core c, boolean repeat, long addressMask, boolean last) {
        if (repeat) {
            c.r[1] = addressed(c.r[1], -1, addressMask);
        }
        if (last) {
            c.done();
        }
    }

    static void strings(Core c, int b) {
        int size = (b & 1) == 0 ? 1 : c.opSize;
        long step = (c.flagBits & Core.DF) != 0 ? -size : size;
        long m = c.offsetMask(); // CX, SI and DI; ECX, ESI and EDI; or the 64-bit registers, by the address size
        boolean repeat = c.rep != 0;
        boolean bulk = repeat && m == -1L && step > 0 && b <= 0xAB && (b <= 0xA5 || b >= 0xAA);
        while (!repeat || (c.r[1] & m) != 0) {
            if (bulk && bulkRun(c, b, size)) {
                continue;
            }
            boolean fromSource = b <= 0xA7 || b == 0xAC || b == 0xAD, toTarget = b != 0xAC && b != 0xAD;
            long source = fromSource ? c.dataLinear(c.r[6] & m, size, false) : 0;
            long target = toTarget ? c.extraLinear(c.r[7] & m, size, b <= 0xA5 || b == 0xAA || b == 0xAB) : 0;
            switch (b) {
                case 0xA4, 0xA5 -> {
                    c.write(target, size, c.read(source, size));
                    c.r[6] = addressed(c.r[6], step, m);
                    c.r[7] = addressed(c.r[7], step, m);
                }
                case 0xAA, 0xAB -> {
                    c.write(target, size, c.reg(0, size));
                    c.r[7] = addressed(c.r[7], step, m);
                }
                case 0xAC, 0xAD -> {
                    c.setReg(0, size, c.read(source, size));
                    c.r[6] = addressed(c.r[6], step, m);
                }
                case 0xA6, 0xA7 -> {
                    Arithmetic.aluOp(c, 7, c.read(source, size), c.read(target, size), size);
                    c.r[6] = addressed(c.r[6], step, m);
                    c.r[7] = addressed(c.r[7], step, m);
                }
                default -> { // SCAS
                    Arithmetic.aluOp(c, 7, c.reg(0, size), c.read(target, size), size);
                    c.r[7] = addressed(c.r[7], step, m);
                }
            }
            if (!repeat) {
                break;
            }
            c.r[1] = addressed(c.r[1], -1, m);
            if (b == 0xA6 || b == 0xA7 || b == 0xAE || b == 0xAF) {
                boolean zf = c.condition(4);
                if ((c.rep == 0xF3 && !zf) || (c.rep == 0xF2 && zf)) {
                    break;
                }
            }
            if (c.mmioCount != 0 && (c.r[1] & m) != 0) {
                return; // an iteration that reached a device ends here, RIP still at the REP (as an interrupt would)
            }
        }
        c.done();
    }
}
