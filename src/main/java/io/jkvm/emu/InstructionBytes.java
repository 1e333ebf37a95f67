package io.jkvm.emu;

/** Where a decoder takes an instruction's bytes from: the interpreter's fetch through the MMU, or a block's page. */
interface InstructionBytes {
    /** The next byte of the instruction, 0-255. */
    int next();

    /** The next {@code size} bytes as a little-endian value. */
    default long nextUnsigned(int size) {
        long v = 0;
        for (int i = 0; i < size; i++) {
            v |= (long) next() << (8 * i);
        }
        return v;
    }

    /** The next {@code size} bytes as a little-endian value, sign-extended. */
    default long nextSigned(int size) {
        int shift = 64 - 8 * size;
        return (nextUnsigned(size) << shift) >> shift;
    }
}
