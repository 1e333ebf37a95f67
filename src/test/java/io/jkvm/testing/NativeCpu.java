package io.jkvm.testing;

import io.jkvm.linux.Mapping;
import io.jkvm.x86.CpuFeature;

import java.io.ByteArrayOutputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * The host CPU as an oracle: runs instruction bytes natively between a prologue that loads every GPR but RSP and
 * RFLAGS from a state block and an epilogue that stores them back. The bytes must not branch or fault, and must leave
 * RSP where they found it: it points at the state block, and they may push up to {@link #STACK} bytes below it.
 */
public final class NativeCpu implements AutoCloseable {
    /**
     * State block slots (8 bytes each): GPR n at n (RSP's slot unused), RFLAGS at 16, the host RSP at 17; XMM0-15 at
     * byte 256; MXCSRs at 512 and 516; the signal sets at 528 (all blocked) and 536 (the thread's own, saved).
     */
    private static final int FLAGS = 16, HOST_RSP = 17, XMM = 256, MXCSR = 512, HOST_MXCSR = 516, ALL_SIGNALS = 528,
            SAVED_SIGNALS = 536, FX = 1024, HOST_FX = 1536, BLOCK = 2048;
    /** The oracle's own stack below the block: twins push there (PUSHF/POPF), never into malloc's chunk header. */
    public static final int STACK = 4096;

    private final Mapping code = Mapping.anonymousExecutable(1 << 16, "native oracle code");
    private final Arena arena = Arena.ofShared();
    private final MemorySegment stackAndBlock = arena.allocate(STACK + BLOCK, 64);
    private final MemorySegment block = stackAndBlock.asSlice(STACK);
    private final MethodHandle call = Linker.nativeLinker().downcallHandle(
            code.segment(), FunctionDescriptor.ofVoid(ValueLayout.ADDRESS));

    public record Result(long[] gprs, long rflags, long[] xmm, int mxcsr) {
    }

    /** A run with the whole FXSAVE state: the GPRs, RFLAGS and the 512-byte image FXSAVE64 stored after the bytes. */
    public record FxResult(long[] gprs, long rflags, byte[] fxsave) {
    }

    /**
     * Runs {@code insn} with the x87, MMX and SSE state FXRSTOR64 loads from {@code fxsave} (512 bytes), the host's
     * own saved around it. The image must hold no unmasked x87 or SSE exception, raised or pending: the bytes may
     * raise one, but no waiting x87 instruction may follow it (a #MF would be a SIGFPE in the JVM).
     */
    public FxResult runFx(byte[] insn, long[] gprs, long rflags, byte[] fxsave) {
        block.asSlice(FX, 512).copyFrom(MemorySegment.ofArray(fxsave.clone()));
        Result r = run(insn, gprs, rflags, new long[32], 0x1F80, true);
        return new FxResult(r.gprs(), r.rflags(), block.asSlice(FX, 512).toArray(ValueLayout.JAVA_BYTE));
    }

    /**
     * A data buffer instruction bytes may address natively (pass its address in a register). Tests that point RSP
     * into it (ENTER, 16-bit PUSH/POP) could take a signal there: 64 KiB of its own below it hold the signal frame.
     */
    private final MemorySegment data = arena.allocate((1 << 16) + 8192, 4096).asSlice(1 << 16, 8192);

    public long dataAddress() {
        return data.address();
    }

    /** The {@code length} bytes just below the state block: what the last run pushed, for the stack's own test. */
    public byte[] stackTop(int length) {
        return stackAndBlock.asSlice(STACK - length, length).toArray(ValueLayout.JAVA_BYTE);
    }

    public void setData(byte[] bytes) {
        MemorySegment.copy(bytes, 0, data, ValueLayout.JAVA_BYTE, 0, bytes.length);
    }

    public byte[] data(int length) {
        return data.asSlice(0, length).toArray(ValueLayout.JAVA_BYTE);
    }

    /** Runs {@code insn} with GPRs {@code gprs} (16, by encoding number; RSP ignored) and the arithmetic flags of {@code rflags}. */
    public Result run(byte[] insn, long[] gprs, long rflags) {
        return run(insn, gprs, rflags, new long[32], 0x1F80);
    }

    public Result run(byte[] insn, long[] gprs, long rflags, long[] xmm) {
        return run(insn, gprs, rflags, xmm, 0x1F80);
    }

    /**
     * As above, with XMM0-15 ({@code xmm[2n]} low quadword, {@code [2n+1]} high) and MXCSR loaded and stored too;
     * the host's MXCSR is put back afterwards. Keep every MXCSR exception masked: an unmasked one would SIGFPE the JVM.
     */
    public Result run(byte[] insn, long[] gprs, long rflags, long[] xmm, int mxcsr) {
        return run(insn, gprs, rflags, xmm, mxcsr, false);
    }

    private Result run(byte[] insn, long[] gprs, long rflags, long[] xmm, int mxcsr, boolean fx) {
        ByteArrayOutputStream c = new ByteArrayOutputStream();
        emit(c, 0x53, 0x55, 0x41, 0x54, 0x41, 0x55, 0x41, 0x56, 0x41, 0x57); // push rbx, rbp, r12-r15
        // Signals blocked while RSP is not the thread's stack (the state block, or a test's buffer): a handler run
        // there would write its frame over whatever lies below and find a stack pointer HotSpot does not know.
        emit(c, 0x57); // push rdi: the block, for the epilogue
        emit(c, 0x48, 0x89, 0xFB); // mov rbx, rdi
        emit(c, 0xB8, 14, 0, 0, 0); // mov eax, rt_sigprocmask
        emit(c, 0x31, 0xFF); // xor edi, edi: SIG_BLOCK
        emit(c, 0x48, 0x8D, 0xB3);
        imm32(c, ALL_SIGNALS); // lea rsi, [rbx + ALL_SIGNALS]
        emit(c, 0x48, 0x8D, 0x93);
        imm32(c, SAVED_SIGNALS); // lea rdx, [rbx + SAVED_SIGNALS]
        emit(c, 0x41, 0xBA, 8, 0, 0, 0); // mov r10d, 8
        emit(c, 0x0F, 0x05); // syscall
        emit(c, 0x48, 0x89, 0xDF); // mov rdi, rbx
        emit(c, 0x48, 0x89, 0xA7);
        imm32(c, HOST_RSP * 8); // mov [rdi + 0x88], rsp
        emit(c, 0x48, 0x89, 0xFC); // mov rsp, rdi
        emit(c, 0x48, 0x8D, 0xA4, 0x24);
        imm32(c, FLAGS * 8); // lea rsp, [rsp + 0x80]
        emit(c, 0x9D); // popfq
        emit(c, 0x48, 0x8D, 0xA4, 0x24);
        imm32(c, -(FLAGS * 8 + 8)); // lea rsp, [rsp - 0x88]
        if (fx) {
            emit(c, 0x48, 0x0F, 0xAE, 0x84, 0x24);
            imm32(c, HOST_FX); // fxsave64 [rsp + HOST_FX]
            emit(c, 0x48, 0x0F, 0xAE, 0x8C, 0x24);
            imm32(c, FX); // fxrstor64 [rsp + FX]
        } else {
            for (int n = 0; n < 16; n++) {
                movXmmMem(c, n, true);
            }
            emit(c, 0x0F, 0xAE, 0x9C, 0x24);
            imm32(c, HOST_MXCSR); // stmxcsr [rsp + 516]
            emit(c, 0x0F, 0xAE, 0x94, 0x24);
            imm32(c, MXCSR); // ldmxcsr [rsp + 512]
        }
        for (int n = 0; n < 16; n++) {
            if (n != 4) {
                movRegMem(c, n, true);
            }
        }
        c.write(insn, 0, insn.length);
        if (fx) {
            emit(c, 0x48, 0x0F, 0xAE, 0x84, 0x24);
            imm32(c, FX); // fxsave64 [rsp + FX]
            emit(c, 0x48, 0x0F, 0xAE, 0x8C, 0x24);
            imm32(c, HOST_FX); // fxrstor64 [rsp + HOST_FX]
        } else {
            emit(c, 0x0F, 0xAE, 0x9C, 0x24);
            imm32(c, MXCSR); // stmxcsr [rsp + 512]
            emit(c, 0x0F, 0xAE, 0x94, 0x24);
            imm32(c, HOST_MXCSR); // ldmxcsr [rsp + 516]
            for (int n = 0; n < 16; n++) {
                movXmmMem(c, n, false);
            }
        }
        for (int n = 0; n < 16; n++) {
            if (n != 4) {
                movRegMem(c, n, false);
            }
        }
        emit(c, 0x48, 0x8D, 0xA4, 0x24);
        imm32(c, FLAGS * 8 + 8); // lea rsp, [rsp + 0x88]
        emit(c, 0x9C); // pushfq -> slot 16
        emit(c, 0x48, 0x8D, 0xA4, 0x24);
        imm32(c, -(FLAGS * 8)); // lea rsp, [rsp - 0x80]
        emit(c, 0x48, 0x8B, 0xA4, 0x24);
        imm32(c, HOST_RSP * 8); // mov rsp, [rsp + 0x88]
        emit(c, 0x5B); // pop rbx: the block
        emit(c, 0xB8, 14, 0, 0, 0); // mov eax, rt_sigprocmask
        emit(c, 0xBF, 2, 0, 0, 0); // mov edi, SIG_SETMASK
        emit(c, 0x48, 0x8D, 0xB3);
        imm32(c, SAVED_SIGNALS); // lea rsi, [rbx + SAVED_SIGNALS]
        emit(c, 0x31, 0xD2); // xor edx, edx
        emit(c, 0x41, 0xBA, 8, 0, 0, 0); // mov r10d, 8
        emit(c, 0x0F, 0x05); // syscall: the thread's signals as they were
        emit(c, 0x41, 0x5F, 0x41, 0x5E, 0x41, 0x5D, 0x41, 0x5C, 0x5D, 0x5B, 0xC3); // pop r15-r12, rbp, rbx; ret
        byte[] bytes = c.toByteArray();
        code.write(0, bytes, 0, bytes.length);
        for (int n = 0; n < 16; n++) {
            block.setAtIndex(ValueLayout.JAVA_LONG, n, gprs[n]);
        }
        block.setAtIndex(ValueLayout.JAVA_LONG, FLAGS, (rflags & 0x8D5L) | 0x202L);
        for (int i = 0; i < 32; i++) {
            block.set(ValueLayout.JAVA_LONG, XMM + 8L * i, xmm[i]);
        }
        block.set(ValueLayout.JAVA_INT, MXCSR, mxcsr & ~0x1F80 | 0x1F80); // all exceptions masked
        block.set(ValueLayout.JAVA_LONG, ALL_SIGNALS, -1L);
        try {
            call.invokeExact(block);
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
        long[] out = new long[16];
        for (int n = 0; n < 16; n++) {
            out[n] = n == 4 ? gprs[4] : block.getAtIndex(ValueLayout.JAVA_LONG, n);
        }
        long[] xout = new long[32];
        for (int i = 0; i < 32; i++) {
            xout[i] = block.get(ValueLayout.JAVA_LONG, XMM + 8L * i);
        }
        return new Result(out, block.getAtIndex(ValueLayout.JAVA_LONG, FLAGS), xout, block.get(ValueLayout.JAVA_INT, MXCSR));
    }

    /** CPUID {@code leaf}, {@code subleaf} as the host CPU itself answers it (run natively, not KVM's table): EAX, EBX, ECX, EDX. */
    public long[] cpuid(int leaf, int subleaf) {
        long[] g = new long[16];
        g[0] = leaf & 0xFFFFFFFFL;
        g[1] = subleaf & 0xFFFFFFFFL;
        long[] out = run(new byte[]{0x0F, (byte) 0xA2}, g, 0).gprs();
        return new long[]{out[0], out[3], out[1], out[2]};
    }

    /** Whether the host CPU's own CPUID enumerates {@code f} (its leaf within the host's range, and the bit set). */
    public boolean has(CpuFeature f) {
        long maxLeaf = cpuid(f.leaf() & 0x8000_0000, 0)[0]; // leaf 0 or 0x80000000: the last basic or extended leaf
        if (Integer.compareUnsigned(f.leaf(), (int) maxLeaf) > 0) {
            return false;
        }
        return (cpuid(f.leaf(), f.subleaf())[f.register().ordinal()] >>> f.bit() & 1) != 0;
    }

    /** mov r64, [rsp + 8n] (load) or mov [rsp + 8n], r64 (store). */
    private static void movRegMem(ByteArrayOutputStream c, int n, boolean load) {
        emit(c, 0x48 | ((n & 8) != 0 ? 4 : 0), load ? 0x8B : 0x89, 0x44 | ((n & 7) << 3), 0x24, 8 * n);
    }

    /** movdqu xmmN, [rsp + 256 + 16N] (load) or movdqu [rsp + 256 + 16N], xmmN (store). */
    private static void movXmmMem(ByteArrayOutputStream c, int n, boolean load) {
        c.write(0xF3);
        if (n >= 8) {
            c.write(0x44);
        }
        emit(c, 0x0F, load ? 0x6F : 0x7F, 0x84 | ((n & 7) << 3), 0x24);
        imm32(c, XMM + 16 * n);
    }

    static void emit(ByteArrayOutputStream c, int... bytes) {
        for (int b : bytes) {
            c.write(b);
        }
    }

    static void imm32(ByteArrayOutputStream c, int v) {
        for (int i = 0; i < 4; i++) {
            c.write(v >>> (8 * i));
        }
    }

    @Override
    public void close() {
        code.close();
        arena.close();
    }
}
