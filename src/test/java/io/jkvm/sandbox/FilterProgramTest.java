package io.jkvm.sandbox;

import io.jkvm.linux.Seccomp.Instruction;
import io.jkvm.linux.uapi.Uapi;
import org.junit.jupiter.api.Test;

import java.util.HashSet;
import java.util.List;
import java.util.Set;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The seccomp program jkvm installs, run on a classic-BPF evaluator written here from the kernel's rules (loads of
 * struct seccomp_data words, forward jumps, returns): what it answers for the calls a running jkvm makes and for the
 * ones a compromised jkvm would want.
 */
class FilterProgramTest {
    private static final List<Instruction> PROGRAM = Sandbox.program();
    private static final int X86_64 = Uapi.AUDIT_ARCH_X86_64();
    private static final int I386 = 0x40000003; // AUDIT_ARCH_I386
    private static final int EPERM = FilterProgram.fail(Uapi.EPERM());

    /** What the program returns for a call: seccomp_data's nr, arch and the low words of args[0..5]. */
    static int decide(List<Instruction> program, int arch, int nr, long... args) {
        int a = 0;
        int pc = 0;
        while (true) {
            assertTrue(pc < program.size(), "the program runs off its end at " + pc);
            Instruction in = program.get(pc);
            if (in.code() == FilterProgram.LOAD_WORD) {
                int off = in.k();
                if (off == FilterProgram.NR) {
                    a = nr;
                } else if (off == FilterProgram.ARCH) {
                    a = arch;
                } else {
                    int index = (off - FilterProgram.ARGS) / 8;
                    boolean high = (off - FilterProgram.ARGS) % 8 == 4;
                    assertTrue(off >= FilterProgram.ARGS && (off - FilterProgram.ARGS) % 4 == 0 && index < 6, "a load at " + off);
                    long arg = index < args.length ? args[index] : 0;
                    a = (int) (high ? arg >>> 32 : arg);
                }
                pc++;
            } else if (in.code() == FilterProgram.JUMP_IF_EQUAL) {
                pc += 1 + (a == in.k() ? in.jt() : in.jf());
            } else if (in.code() == FilterProgram.JUMP_IF_BITS) {
                pc += 1 + ((a & in.k()) != 0 ? in.jt() : in.jf());
            } else if (in.code() == FilterProgram.RETURN) {
                return in.k();
            } else {
                throw new AssertionError("an instruction the filter does not use: " + Integer.toHexString(in.code()));
            }
        }
    }

    private static int decide(int nr, long... args) {
        return decide(PROGRAM, X86_64, nr, args);
    }

    @Test
    void theCallsOfARunningJkvmAreAllowed() {
        assertEquals(FilterProgram.ALLOW, decide(Uapi.SYS_read(), 0));
        assertEquals(FilterProgram.ALLOW, decide(Uapi.SYS_futex(), 0));
        assertEquals(FilterProgram.ALLOW, decide(Uapi.SYS_mmap(), 0));
        assertEquals(FilterProgram.ALLOW, decide(Uapi.SYS_exit_group(), 0));
        assertEquals(FilterProgram.ALLOW, decide(Uapi.SYS_ioctl(), 9, Uapi.KVM_RUN()));
        assertEquals(FilterProgram.ALLOW, decide(Uapi.SYS_ioctl(), 9, Uapi.KVM_SET_XSAVE()));
        assertEquals(FilterProgram.ALLOW, decide(Uapi.SYS_ioctl(), 0, 0x5402)); // TCSETS: the console back to cooked mode
        assertEquals(FilterProgram.ALLOW, decide(Uapi.SYS_clone(), Uapi.CLONE_THREAD() | 0x3d0f00));
        assertEquals(FilterProgram.ALLOW, decide(Uapi.SYS_prctl(), Uapi.PR_SET_NAME()));
        assertEquals(FilterProgram.ALLOW, decide(Uapi.SYS_prlimit64(), 0, 3, 0, 0x7f00_0000_1000L), "reading RLIMIT_STACK");
    }

    @Test
    void whatACompromisedJkvmWouldWantFailsWithEperm() {
        for (int nr : new int[] {Uapi.SYS_openat(), Uapi.SYS_open(), Uapi.SYS_execve(), Uapi.SYS_execveat(), Uapi.SYS_ptrace(),
                Uapi.SYS_mount(), Uapi.SYS_socket(), Uapi.SYS_connect(), Uapi.SYS_bind(), Uapi.SYS_unlink(), Uapi.SYS_setuid(),
                Uapi.SYS_unshare(), Uapi.SYS_bpf(), Uapi.SYS_process_vm_writev(), Uapi.SYS_kexec_load(), Uapi.SYS_seccomp(),
                Uapi.SYS_memfd_create(), Uapi.SYS_fork(), Uapi.SYS_vfork()}) {
            assertEquals(EPERM, decide(nr, 0), "system call " + nr);
        }
        assertEquals(EPERM, decide(Uapi.SYS_ioctl(), 0, 0x5412), "TIOCSTI: typing into the terminal");
        assertEquals(EPERM, decide(Uapi.SYS_ioctl(), 9, Uapi.KVM_CREATE_VM() + 1), "a KVM ioctl jkvm never issues");
        assertEquals(EPERM, decide(Uapi.SYS_clone(), 0x11), "clone without CLONE_THREAD: a new process");
        assertEquals(EPERM, decide(Uapi.SYS_prctl(), Uapi.PR_SET_NO_NEW_PRIVS()), "prctl other than a thread's name");
        assertEquals(FilterProgram.fail(Uapi.ENOSYS()), decide(Uapi.SYS_clone3(), 0), "clone3: glibc falls back on clone");
        assertEquals(EPERM, decide(Uapi.SYS_prlimit64(), 0, 7, 0x7f00_0000_1000L), "prlimit64 setting a limit");
        assertEquals(EPERM, decide(Uapi.SYS_prlimit64(), 0, 7, 0x1_0000_0000L), "a pointer whose low half is zero is not null");
    }

    @Test
    void anotherArchitectureOrTheX32AbiKillsTheProcess() {
        assertEquals(FilterProgram.KILL, decide(PROGRAM, I386, 3));
        assertEquals(FilterProgram.KILL, decide(PROGRAM, X86_64, FilterProgram.X32_SYSCALL_BIT | Uapi.SYS_read()));
    }

    @Test
    void everyEntryIsOneSystemCallOnce() {
        Set<Integer> numbers = new HashSet<>();
        for (SyscallAllowlist.Entry e : SyscallAllowlist.entries(Sandbox.ioctls())) {
            assertTrue(numbers.add(e.number()), "listed twice: " + e.name());
            assertTrue(!e.why().isBlank(), "every entry says why: " + e.name());
            int expected = e.rule() instanceof SyscallRule.Fails f ? FilterProgram.fail(f.errno()) : FilterProgram.ALLOW;
            long[] args = switch (e.rule()) {
                case SyscallRule.ArgumentIn in -> argsWith(in.index(), in.values().getFirst());
                case SyscallRule.ArgumentHasBits b -> argsWith(b.index(), b.mask());
                case SyscallRule.ArgumentIsZero z -> new long[6];
                default -> new long[0];
            };
            assertEquals(expected, decide(e.number(), args), e.name());
        }
        assertTrue(PROGRAM.size() <= 4096, "a seccomp program has 4096 instructions at most: " + PROGRAM.size());
    }

    private static long[] argsWith(int index, long value) {
        long[] args = new long[6];
        args[index] = value;
        return args;
    }
}
