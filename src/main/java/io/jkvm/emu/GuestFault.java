package io.jkvm.emu;

/** An exception the guest takes (#UD, #GP, #PF...): thrown out of an instruction, delivered through the IDT. */
final class GuestFault extends RuntimeException {
    static final int DE = 0, DB = 1, BP = 3, OF = 4, BR = 5, UD = 6, NM = 7, DF = 8, TS = 10, NP = 11, SS = 12,
            GP = 13, PF = 14, MF = 16, AC = 17, XM = 19;

    final int vector;
    final int errorCode;
    final boolean hasErrorCode;

    GuestFault(int vector, int errorCode, boolean hasErrorCode) {
        super(null, null, false, false); // no stack trace: faults are control flow here
        this.vector = vector;
        this.errorCode = errorCode;
        this.hasErrorCode = hasErrorCode;
    }

    static GuestFault of(int vector) {
        return new GuestFault(vector, 0, false);
    }

    static GuestFault withCode(int vector, int code) {
        return new GuestFault(vector, code, true);
    }
}
