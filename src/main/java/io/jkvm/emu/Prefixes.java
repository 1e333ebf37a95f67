package io.jkvm.emu;

/**
 * The legacy prefixes before an opcode (or before its REX/REX2/VEX/EVEX), scanned once for every decoding path: the
 * 64-bit interpreter, the legacy-mode interpreter and the block decoder read them from this record. Which prefixes
 * count where is theirs to say (in 64-bit mode only FS and GS override a segment).
 *
 * @param next        the first byte that is not a legacy prefix
 * @param length      how many prefix bytes came before it
 * @param operandSize a 66 prefix
 * @param addressSize a 67 prefix
 * @param lock        an F0 prefix
 * @param rep         the last F2 or F3, or 0
 * @param segment     the segment register ({@link SegmentLoads#ES} ... {@link SegmentLoads#GS}) of the last segment
 *                    prefix, or -1
 * @param fsOrGs      {@link SegmentLoads#FS} or {@link SegmentLoads#GS} for the last 64 or 65 prefix, or -1
 * @param tooLong     fifteen prefixes came before any opcode: the instruction would be longer than 15 bytes (#GP)
 */
record Prefixes(int next, int length, boolean operandSize, boolean addressSize, boolean lock, int rep, int segment,
                int fsOrGs, boolean tooLong) {
    /** The longest an instruction may be, in bytes (SDM Vol. 2A, 2.3.11). */
    static final int MAX_LENGTH = 15;

    /** Reads prefixes from {@code in} up to the first other byte; stops at the fifteenth prefix, {@link #tooLong()}. */
    static Prefixes scan(InstructionBytes in) {
        boolean o16 = false, a32 = false, lock = false;
        int rep = 0, segment = -1, fsOrGs = -1;
        for (int length = 0; ; length++) {
            int b = in.next();
            int sreg = switch (b) {
                case 0x26 -> SegmentLoads.ES;
                case 0x2E -> SegmentLoads.CS;
                case 0x36 -> SegmentLoads.SS;
                case 0x3E -> SegmentLoads.DS;
                case 0x64 -> SegmentLoads.FS;
                case 0x65 -> SegmentLoads.GS;
                default -> -1;
            };
            if (sreg >= 0) {
                segment = sreg;
                if (sreg >= SegmentLoads.FS) {
                    fsOrGs = sreg;
                }
            } else if (b == 0x66) {
                o16 = true;
            } else if (b == 0x67) {
                a32 = true;
            } else if (b == 0xF0) {
                lock = true;
            } else if (b == 0xF2 || b == 0xF3) {
                rep = b;
            } else {
                return new Prefixes(b, length, o16, a32, lock, rep, segment, fsOrGs, false);
            }
            if (length + 1 == MAX_LENGTH) { // a sixteenth byte at least: the opcode
                return new Prefixes(-1, length + 1, o16, a32, lock, rep, segment, fsOrGs, true);
            }
        }
    }

    // Equality written out, as Instruction's (LaunchRecordEqualityTest).

    @Override
    public boolean equals(Object o) {
        return o instanceof Prefixes p && next == p.next && length == p.length && operandSize == p.operandSize
                && addressSize == p.addressSize && lock == p.lock && rep == p.rep && segment == p.segment
                && fsOrGs == p.fsOrGs && tooLong == p.tooLong;
    }

    @Override
    public int hashCode() {
        int h = next;
        h = 31 * h + length;
        h = 31 * h + Boolean.hashCode(operandSize);
        h = 31 * h + Boolean.hashCode(addressSize);
        h = 31 * h + Boolean.hashCode(lock);
        h = 31 * h + rep;
        h = 31 * h + segment;
        h = 31 * h + fsOrGs;
        return 31 * h + Boolean.hashCode(tooLong);
    }
}
