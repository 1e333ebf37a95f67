package io.jkvm.linux;

import io.jkvm.linux.uapi.Uapi;
import io.jkvm.linux.uapi.sock_filter;
import io.jkvm.linux.uapi.sock_fprog;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.util.List;

/** no_new_privs and seccomp(2) filters: the kernel's side of the sandbox, for the whole process at once. */
public final class Seccomp {
    private Seccomp() {
    }

    /** One classic BPF instruction (struct sock_filter): jt and jf are forward jumps of 0 to 255 instructions. */
    public record Instruction(int code, int jt, int jf, int k) {
        public Instruction {
            if (jt < 0 || jt > 255 || jf < 0 || jf > 255) {
                throw new IllegalArgumentException("a BPF jump reaches 255 instructions at most: " + jt + ", " + jf);
            }
        }
    }

    /** PR_SET_NO_NEW_PRIVS on the calling thread: no execve can grant privileges again (the filter carries it to the others). */
    public static void setNoNewPrivileges() {
        prctl(Uapi.PR_SET_NO_NEW_PRIVS(), 1, "prctl(PR_SET_NO_NEW_PRIVS)");
    }

    /** PR_GET_NO_NEW_PRIVS of the calling thread. */
    public static boolean noNewPrivileges() {
        return prctl(Uapi.PR_GET_NO_NEW_PRIVS(), 0, "prctl(PR_GET_NO_NEW_PRIVS)") == 1;
    }

    /**
     * Installs {@code program} on every thread of the process (SECCOMP_FILTER_FLAG_TSYNC, which sets no_new_privs on
     * them too); threads made later inherit it. Needs no_new_privs on the calling thread first. It cannot be removed.
     */
    public static void installOnAllThreads(List<Instruction> program) {
        if (program.isEmpty() || program.size() > 4096) {
            throw new IllegalArgumentException("a seccomp program has 1 to 4096 instructions, not " + program.size());
        }
        MemorySegment state = Libc.callState();
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment fprog = encode(program, arena);
            long r = Libc.syscall(state, Uapi.SYS_seccomp(), Uapi.SECCOMP_SET_MODE_FILTER(),
                    Uapi.SECCOMP_FILTER_FLAG_TSYNC(), fprog.address());
            if (r < 0) {
                throw new LinuxException("seccomp(SECCOMP_SET_MODE_FILTER, TSYNC)", Libc.errno(state));
            }
            if (r > 0) { // TSYNC names the thread it could not synchronise
                throw new LinuxException("seccomp(SECCOMP_SET_MODE_FILTER, TSYNC): thread " + r + " has another filter",
                        Uapi.EPERM());
            }
        } catch (LinuxException e) {
            throw e;
        } catch (Throwable t) {
            throw Libc.linkageBroken(t);
        }
    }

    /**
     * What {@link #installOnAllThreads} does short of the system call: {@code program} encoded, no_new_privs read. The
     * process stays as it was; the start-up cache's training run makes these classes ready this way.
     */
    public static void rehearseInstall(List<Instruction> program) {
        try (Arena arena = Arena.ofConfined()) {
            encode(program, arena);
        }
        noNewPrivileges();
    }

    /** A struct's bytes as little-endian longs, at any alignment. */
    private static final ValueLayout.OfLong PACKED = ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /**
     * {@code program} as the kernel takes it: a sock_fprog in {@code arena} pointing at its sock_filter array. Each
     * struct (little-endian on x86-64) is packed into longs at its fields' offsets and copied at once: a launch runs
     * this once, on its critical path, where the structs' accessors would first make their var handles (10 ms).
     */
    static MemorySegment encode(List<Instruction> program, Arena arena) {
        if (sock_filter.sizeof() != Long.BYTES) {
            throw new IllegalStateException("struct sock_filter is " + sock_filter.sizeof() + " bytes, not 8");
        }
        long[] packed = new long[program.size()];
        for (int i = 0; i < packed.length; i++) {
            Instruction in = program.get(i);
            packed[i] = (in.code() & 0xFFFFL) << 8 * sock_filter.code$offset() | (in.jt() & 0xFFL) << 8 * sock_filter.jt$offset()
                    | (in.jf() & 0xFFL) << 8 * sock_filter.jf$offset() | (in.k() & 0xFFFFFFFFL) << 8 * sock_filter.k$offset();
        }
        MemorySegment filter = arena.allocate(sock_filter.layout(), program.size());
        MemorySegment.copy(packed, 0, filter, PACKED, 0, packed.length);
        if (sock_fprog.sizeof() != 2 * Long.BYTES || sock_fprog.len$offset() >= Long.BYTES || sock_fprog.filter$offset() != Long.BYTES) {
            throw new IllegalStateException("struct sock_fprog is not a u16 length then a pointer at 8");
        }
        long[] header = {(program.size() & 0xFFFFL) << 8 * sock_fprog.len$offset(), filter.address()};
        MemorySegment fprog = arena.allocate(sock_fprog.layout());
        MemorySegment.copy(header, 0, fprog, PACKED, 0, header.length);
        return fprog;
    }

    private static int prctl(int option, long arg, String what) {
        MemorySegment state = Libc.callState();
        int r = (int) Libc.syscall(state, Uapi.SYS_prctl(), option, arg, 0);
        if (r < 0) {
            throw new LinuxException(what, Libc.errno(state));
        }
        return r;
    }
}
