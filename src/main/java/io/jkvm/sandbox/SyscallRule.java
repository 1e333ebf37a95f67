package io.jkvm.sandbox;

import java.util.List;

/** What the filter does with one system call. */
sealed interface SyscallRule {
    /** Allowed with any arguments. */
    record Always() implements SyscallRule {
    }

    /** Allowed when the low 32 bits of argument {@code index} are one of {@code values}; else EPERM. */
    record ArgumentIn(int index, List<Long> values) implements SyscallRule {
        public ArgumentIn {
            values = List.copyOf(values);
        }
    }

    /** Allowed when argument {@code index} has every bit of {@code mask} set; else EPERM. */
    record ArgumentHasBits(int index, int mask) implements SyscallRule {
    }

    /** Allowed when argument {@code index} is 0 (all 64 bits: a null pointer); else EPERM. */
    record ArgumentIsZero(int index) implements SyscallRule {
    }

    /** Refused with {@code errno} (not EPERM: a caller that falls back on it, as glibc on ENOSYS). */
    record Fails(int errno) implements SyscallRule {
    }
}
