package io.jkvm.sandbox;

import io.jkvm.linux.Seccomp.Instruction;
import io.jkvm.linux.uapi.Uapi;

import java.util.ArrayList;
import java.util.List;

/**
 * Compiles the allowlist to a seccomp program: a call from another architecture (or the x32 ABI) kills the process;
 * each entry is tested in the table's order, with its arguments when its rule has some; anything else fails with
 * EPERM. Every jump is short and forward: an entry's test skips its own instructions only.
 */
final class FilterProgram {
    private FilterProgram() {
    }

    /** Offsets in struct seccomp_data. */
    static final int NR = 0, ARCH = 4, ARGS = 16;
    /** x32 system calls are x86-64 ones with this bit: the same numbers with other meanings. */
    static final int X32_SYSCALL_BIT = 0x4000_0000;

    static final int LOAD_WORD = Uapi.BPF_LD() | Uapi.BPF_W() | Uapi.BPF_ABS();
    static final int JUMP_IF_EQUAL = Uapi.BPF_JMP() | Uapi.BPF_JEQ() | Uapi.BPF_K();
    static final int JUMP_IF_BITS = Uapi.BPF_JMP() | Uapi.BPF_JSET() | Uapi.BPF_K();
    static final int RETURN = Uapi.BPF_RET() | Uapi.BPF_K();

    static final int ALLOW = Uapi.SECCOMP_RET_ALLOW();
    static final int KILL = Uapi.SECCOMP_RET_KILL_PROCESS();

    static int fail(int errno) {
        return Uapi.SECCOMP_RET_ERRNO() | (errno & 0xffff);
    }

    static List<Instruction> compile(List<SyscallAllowlist.Entry> entries) {
        List<Instruction> p = new ArrayList<>();
        p.add(new Instruction(LOAD_WORD, 0, 0, ARCH));
        p.add(new Instruction(JUMP_IF_EQUAL, 1, 0, Uapi.AUDIT_ARCH_X86_64()));
        p.add(new Instruction(RETURN, 0, 0, KILL));
        p.add(new Instruction(LOAD_WORD, 0, 0, NR));
        p.add(new Instruction(JUMP_IF_BITS, 0, 1, X32_SYSCALL_BIT));
        p.add(new Instruction(RETURN, 0, 0, KILL));
        int eperm = fail(Uapi.EPERM());
        for (SyscallAllowlist.Entry e : entries) {
            List<Instruction> body = new ArrayList<>(); // runs with the call's number in A; ends in a return
            switch (e.rule()) {
                case SyscallRule.Always a -> body.add(new Instruction(RETURN, 0, 0, ALLOW));
                case SyscallRule.Fails f -> body.add(new Instruction(RETURN, 0, 0, fail(f.errno())));
                case SyscallRule.ArgumentHasBits b -> {
                    body.add(new Instruction(LOAD_WORD, 0, 0, argument(b.index())));
                    body.add(new Instruction(JUMP_IF_BITS, 0, 1, b.mask()));
                    body.add(new Instruction(RETURN, 0, 0, ALLOW));
                    body.add(new Instruction(RETURN, 0, 0, eperm));
                }
                case SyscallRule.ArgumentIsZero z -> {
                    body.add(new Instruction(LOAD_WORD, 0, 0, argument(z.index())));
                    body.add(new Instruction(JUMP_IF_EQUAL, 0, 3, 0));
                    body.add(new Instruction(LOAD_WORD, 0, 0, argument(z.index()) + 4));
                    body.add(new Instruction(JUMP_IF_EQUAL, 0, 1, 0));
                    body.add(new Instruction(RETURN, 0, 0, ALLOW));
                    body.add(new Instruction(RETURN, 0, 0, eperm));
                }
                case SyscallRule.ArgumentIn in -> {
                    body.add(new Instruction(LOAD_WORD, 0, 0, argument(in.index())));
                    for (long v : in.values()) {
                        body.add(new Instruction(JUMP_IF_EQUAL, 0, 1, (int) v));
                        body.add(new Instruction(RETURN, 0, 0, ALLOW));
                    }
                    body.add(new Instruction(RETURN, 0, 0, eperm));
                }
            }
            p.add(new Instruction(JUMP_IF_EQUAL, 0, body.size(), e.number()));
            p.addAll(body);
        }
        p.add(new Instruction(RETURN, 0, 0, eperm));
        return p;
    }

    /** The low 32 bits of argument {@code index} (x86-64 is little-endian); ioctl requests and flags fit in them. */
    private static int argument(int index) {
        return ARGS + 8 * index;
    }
}
