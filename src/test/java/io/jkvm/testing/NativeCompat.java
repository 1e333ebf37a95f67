package io.jkvm.testing;

import io.jkvm.linux.Mapping;

import java.io.ByteArrayOutputStream;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

import static io.jkvm.testing.NativeCpu.emit;
import static io.jkvm.testing.NativeCpu.imm32;

/**
 * The host CPU as an oracle for 32-bit code: instruction bytes run natively in a 32-bit code segment of this
 * process (Linux's __USER32_CS, 0x23, reached by a far call from 64-bit code) between a prologue that loads EAX-EDI
 * but ESP and EFLAGS from a state block and an epilogue that stores them back. Code, block and stack all lie below
 * 4 GiB (Mapping.anonymousExecutableLow), where 32-bit code can reach them; signals are blocked while the stack is
 * not the thread's.
 */
public final class NativeCompat implements AutoCloseable {
    /** Linux's 32-bit user code segment: a flat 32-bit segment every x86-64 kernel with IA-32 emulation has. */
    private static final int USER32_CS = 0x23;
    private static final int CODE64 = 0, CODE32 = 0x1000, BLOCK = 0x2000, STACK_TOP = 0x8000;
    /** Block offsets: EAX..EDI at 4n (ESP's slot unused), EFLAGS, the far pointer, the host RSP, DS and ES, signal sets. */
    private static final int FLAGS = 32, FAR_POINTER = 40, HOST_RSP = 48, SAVED_DS = 56, SAVED_ES = 58, ALL_SIGNALS = 64,
            SAVED_SIGNALS = 72;

    private final Mapping low = Mapping.anonymousExecutableLow(STACK_TOP, "32-bit native oracle");
    private final MemorySegment memory = low.segment();
    private final long base = low.address();
    private final MethodHandle call = Linker.nativeLinker().downcallHandle(memory, FunctionDescriptor.ofVoid());

    public record Result(long[] gprs, long eflags) {
    }

    /**
     * Whether this process can run 32-bit code: LAR on __USER32_CS finds a present, 32-bit, non-64-bit user code
     * segment. A kernel booted with ia32_emulation=off (or one without IA-32 emulation) leaves it out of the GDT, and
     * a far call to it would end the JVM with a #GP taken while signals are blocked.
     */
    public static boolean hostRuns32BitCode() {
        try (Mapping code = Mapping.anonymousExecutableLow(4096, "LAR probe")) {
            byte[] lar = {0x31, (byte) 0xC0, 0x0F, 0x02, (byte) 0xC7, (byte) 0xC3}; // xor eax, eax; lar eax, edi; ret
            MemorySegment.copy(lar, 0, code.segment(), ValueLayout.JAVA_BYTE, 0, lar.length);
            MethodHandle probe = Linker.nativeLinker().downcallHandle(code.segment(),
                    FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.JAVA_INT));
            int rights = (int) probe.invokeExact(USER32_CS);
            int present = 1 << 15, dpl3 = 3 << 13, codeSegment = 3 << 11, longMode = 1 << 21, defaultSize32 = 1 << 22;
            int expected = present | dpl3 | codeSegment | defaultSize32;
            return (rights & (expected | longMode)) == expected;
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
    }

    public NativeCompat() {
        if (base + STACK_TOP > 0x1_0000_0000L) {
            throw new IllegalStateException("the oracle's memory is at 0x" + Long.toHexString(base) + ", above 4 GiB");
        }
        ByteArrayOutputStream c = new ByteArrayOutputStream();
        emit(c, 0x53, 0x55, 0x41, 0x54, 0x41, 0x55, 0x41, 0x56, 0x41, 0x57); // push rbx, rbp, r12-r15
        emit(c, 0xBB);
        imm32(c, block(0)); // mov ebx, block
        emit(c, 0xB8, 14, 0, 0, 0, 0x31, 0xFF); // mov eax, rt_sigprocmask; xor edi, edi (SIG_BLOCK)
        emit(c, 0x48, 0x8D, 0x73, ALL_SIGNALS, 0x48, 0x8D, 0x53, SAVED_SIGNALS); // lea rsi, [rbx + all]; lea rdx, [rbx + saved]
        emit(c, 0x41, 0xBA, 8, 0, 0, 0, 0x0F, 0x05); // mov r10d, 8; syscall
        emit(c, 0x48, 0x89, 0x63, HOST_RSP); // mov [rbx + HOST_RSP], rsp
        emit(c, 0x8C, 0xD8, 0x66, 0x89, 0x43, SAVED_DS); // mov eax, ds; mov [rbx + SAVED_DS], ax
        emit(c, 0x8C, 0xC0, 0x66, 0x89, 0x43, SAVED_ES); // mov eax, es; mov [rbx + SAVED_ES], ax
        emit(c, 0xBC);
        imm32(c, (int) (base + STACK_TOP)); // mov esp, stack top
        emit(c, 0xFF, 0x1D);
        imm32(c, BLOCK + FAR_POINTER - (CODE64 + c.size() + 4)); // call far [rip + m16:32]: into the 32-bit code
        emit(c, 0xBB);
        imm32(c, block(0)); // mov ebx, block
        emit(c, 0x48, 0x8B, 0x63, HOST_RSP); // mov rsp, [rbx + HOST_RSP]
        emit(c, 0x66, 0x8B, 0x43, SAVED_DS, 0x8E, 0xD8); // mov ax, [rbx + SAVED_DS]; mov ds, ax
        emit(c, 0x66, 0x8B, 0x43, SAVED_ES, 0x8E, 0xC0); // mov ax, [rbx + SAVED_ES]; mov es, ax
        emit(c, 0xB8, 14, 0, 0, 0, 0xBF, 2, 0, 0, 0); // mov eax, rt_sigprocmask; mov edi, SIG_SETMASK
        emit(c, 0x48, 0x8D, 0x73, SAVED_SIGNALS, 0x31, 0xD2); // lea rsi, [rbx + saved]; xor edx, edx
        emit(c, 0x41, 0xBA, 8, 0, 0, 0, 0x0F, 0x05); // mov r10d, 8; syscall
        emit(c, 0x41, 0x5F, 0x41, 0x5E, 0x41, 0x5D, 0x41, 0x5C, 0x5D, 0x5B, 0xC3); // pop r15-r12, rbp, rbx; ret
        byte[] stub = c.toByteArray();
        MemorySegment.copy(stub, 0, memory, ValueLayout.JAVA_BYTE, CODE64, stub.length);
        memory.set(ValueLayout.JAVA_INT_UNALIGNED, BLOCK + FAR_POINTER, (int) (base + CODE32));
        memory.set(ValueLayout.JAVA_SHORT_UNALIGNED, BLOCK + FAR_POINTER + 4, (short) USER32_CS);
        memory.set(ValueLayout.JAVA_LONG_UNALIGNED, BLOCK + ALL_SIGNALS, -1L);
    }

    private int block(int offset) {
        return (int) (base + BLOCK + offset);
    }

    /**
     * Runs {@code insn} in 32-bit code with EAX-EDI from {@code gprs} (by encoding number; ESP is the oracle's) and
     * the arithmetic flags, DF and IF of {@code eflags}; returns the registers (zero-extended) and EFLAGS after it.
     */
    public Result run(byte[] insn, long[] gprs, long eflags) {
        ByteArrayOutputStream c = new ByteArrayOutputStream();
        emit(c, 0x8C, 0xD0, 0x8E, 0xD8, 0x8E, 0xC0); // mov eax, ss; mov ds, eax; mov es, eax: the process's data segment
        emit(c, 0xFF, 0x35);
        imm32(c, block(FLAGS)); // push dword [flags]
        emit(c, 0x9D); // popfd
        for (int n = 0; n < 8; n++) {
            if (n != 4) {
                emit(c, 0x8B, 0x05 | n << 3);
                imm32(c, block(4 * n)); // mov r32, [block + 4n]
            }
        }
        c.write(insn, 0, insn.length);
        for (int n = 0; n < 8; n++) {
            if (n != 4) {
                emit(c, 0x89, 0x05 | n << 3);
                imm32(c, block(4 * n)); // mov [block + 4n], r32
            }
        }
        emit(c, 0x9C, 0x8F, 0x05);
        imm32(c, block(FLAGS)); // pushfd; pop dword [flags]
        emit(c, 0xCB); // retf: back to 64-bit code
        byte[] code = c.toByteArray();
        MemorySegment.copy(code, 0, memory, ValueLayout.JAVA_BYTE, CODE32, code.length);
        for (int n = 0; n < 8; n++) {
            memory.set(ValueLayout.JAVA_INT_UNALIGNED, BLOCK + 4L * n, (int) gprs[n]);
        }
        memory.set(ValueLayout.JAVA_INT_UNALIGNED, BLOCK + FLAGS, (int) ((eflags & 0x8D5L) | 0x202L));
        try {
            call.invokeExact();
        } catch (Throwable t) {
            throw new AssertionError(t);
        }
        long[] out = new long[8];
        for (int n = 0; n < 8; n++) {
            out[n] = n == 4 ? gprs[4] : memory.get(ValueLayout.JAVA_INT_UNALIGNED, BLOCK + 4L * n) & 0xFFFFFFFFL;
        }
        return new Result(out, memory.get(ValueLayout.JAVA_INT_UNALIGNED, BLOCK + FLAGS) & 0xFFFFFFFFL);
    }

    @Override
    public void close() {
        low.close();
    }
}
