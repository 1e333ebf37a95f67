package io.jkvm.emu;

import io.jkvm.testing.EmuVm;
import io.jkvm.testing.TestGuests;
import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.lang.reflect.Modifier;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The decoded tier's forms ({@link DecodedForm}): the frequent shapes get forms of their own, every form gets the
 * interpreter's results in blocks and compiled (decoded_forms.S, block_forms.S), and every form class is reached by
 * one of those guests, so a form added later is compared with the interpreter too.
 */
class DecodedFormsTest {

    @Test
    void theFrequentShapesHaveFormsOfTheirOwn() {
        assertForm(DecodedArithmetic.AddRegisters.class, "4801c8");         // add rax, rcx
        assertForm(DecodedArithmetic.AddRegisters.class, "01c8");           // add eax, ecx
        assertForm(DecodedArithmetic.SubRegisters.class, "4829d8");         // sub rax, rbx
        assertForm(DecodedArithmetic.CmpRegisters.class, "39c8");           // cmp eax, ecx
        assertForm(DecodedArithmetic.XorRegisters.class, "31c0");           // xor eax, eax
        assertForm(DecodedArithmetic.AndRegisters.class, "4c21c0");         // and rax, r8
        assertForm(DecodedArithmetic.OrRegisters.class, "09c8");           // or eax, ecx
        assertForm(DecodedArithmetic.AluRegisters.class, "4811c8");         // adc rax, rcx
        assertForm(DecodedArithmetic.AddRegisters.class, "4c03c9");         // add r9, rcx (03 /r)
        assertForm(DecodedArithmetic.AddImm.class, "4883c005");             // add rax, 5
        assertForm(DecodedArithmetic.CmpImm.class, "83f803");               // cmp eax, 3
        assertForm(DecodedArithmetic.AndImm.class, "4883e4f0");             // and rsp, -16
        assertForm(DecodedArithmetic.CmpMemoryImm.class, "807e0180");       // cmp byte [rsi + 1], 0x80
        assertForm(DecodedArithmetic.AluImmToRm.class, "80660180");         // and byte [rsi + 1], 0x80
        assertForm(DecodedArithmetic.TestMemoryImm.class, "f6460141");      // test byte [rsi + 1], 0x41
        assertForm(DecodedArithmetic.AluToRm.class, "00d8");                // add al, bl
        assertForm(DecodedArithmetic.FromMemory.class, "480346f8");         // add rax, [rsi - 8]
        assertForm(DecodedArithmetic.AluFromRm.class, "0256f8");            // add dl, [rsi - 8]
        assertForm(DecodedArithmetic.TestRegisters.class, "4885c8");        // test rax, rcx
        assertForm(DecodedArithmetic.Test.class, "84e0");                   // test al, ah
        assertForm(DecodedMoves.RegReg64.class, "4889c8");                    // mov rax, rcx
        assertForm(DecodedMoves.RegReg32.class, "89c8");                      // mov eax, ecx
        assertForm(DecodedMoves.Load64.class, "488b4608");                    // mov rax, [rsi + 8]
        assertForm(DecodedMoves.Load32.class, "8b0d00100000");                // mov ecx, [rip + 0x1000]
        assertForm(DecodedMoves.Store64.class, "48894608");                   // mov [rsi + 8], rax
        assertForm(DecodedMoves.RegImm.class, "b805000000");                // mov eax, 5
        assertForm(DecodedMoves.StoreImm.class, "48c70605000000");          // mov qword [rsi], 5
        assertForm(DecodedMoves.ToRm.class, "8806");                        // mov [rsi], al
        assertForm(DecodedMoves.Lea.class, "488d4c8840");                   // lea rcx, [rax + rcx * 4 + 0x40]
        assertForm(DecodedMoves.LoadZeroExtended.class, "0fb606");          // movzx eax, byte [rsi]
        assertForm(DecodedMoves.Push.class, "53");                          // push rbx
        assertForm(DecodedMoves.Pop.class, "415f");                         // pop r15
        assertForm(DecodedMoves.Nop.class, "0f1f440000");                   // nop dword [rax + rax + 0]
        assertForm(DecodedBranches.JccZero.class, "7405");                      // je +5
        assertForm(DecodedBranches.JccLessOrEqual.class, "7f05");           // jg +5
        assertForm(DecodedBranches.JccCarry.class, "0f8300010000");         // jae +0x100
        assertForm(DecodedMoves.Store32.class, "894608");                   // mov [rsi + 8], eax
        assertForm(DecodedArithmetic.ShiftRegisterByImm.class, "48c1e003"); // shl rax, 3
        assertForm(DecodedArithmetic.ShiftRegisterByImm.class, "c1c807");   // ror eax, 7
        assertForm(DecodedArithmetic.Shift.class, "48d3e0");                // shl rax, cl
        assertForm(DecodedArithmetic.Shift.class, "c0e003");                // shl al, 3
        assertForm(DecodedBranches.Jmp.class, "e900010000");                // jmp +0x100
        assertForm(DecodedBranches.Call.class, "e800010000");               // call +0x100
        assertForm(DecodedBranches.Ret.class, "c3");
        // the interpreter's run inside a block saves the flags itself: its form is not wrapped to save them again
        BlockOp rep = BlockDecoder.reduce(HexFormat.of().parseHex("f3aa90909090")); // rep stosb
        assertTrue(rep.flagsBeforeStore(), "rep stosb runs in the interpreter, which may set flags before a store");
        assertEquals(DecodedForm.Interpreted.class, DecodedForm.of(rep).getClass());
    }

    private static void assertForm(Class<? extends DecodedForm> form, String hex) {
        BlockOp d = BlockDecoder.reduce(HexFormat.of().parseHex(hex + "90909090"));
        assertNotNull(d, hex + " is not decoded");
        DecodedForm made = DecodedForm.of(d);
        // one that sets the flags before a store that may fault saves them first, in a form around its own
        assertEquals(d.flagsBeforeStore(), made instanceof DecodedForm.SavingFlags, hex + " saves the flags before it runs");
        assertEquals(form, (made instanceof DecodedForm.SavingFlags saving ? saving.form : made).getClass(), hex);
        assertEquals(hex.length() / 2, made.length, hex);
    }

    @Test
    void everyFormGetsTheInterpretersResultsInBlocksAndCompiled() throws IOException {
        byte[] code = Files.readAllBytes(TestGuests.path("decoded_forms.bin"));
        // the guest's last quad: the flags the manuals leave undefined after a form, folded
        List<Long> interpreter = CompiledGuests.runToHltInEachSetting(code,
                vm -> List.of(vm.memory.readLong(EmuVm.CODE + code.length - 8)));
        assertNotEquals(0, interpreter.get(0), "the undefined flags, folded");
        assertEquals(0, interpreter.get(1 + 14), "R14: the guest ran all its rounds");
        assertNotEquals(0, interpreter.get(1 + 15), "R15: what the forms left, folded");
    }

    @Test
    void theGuestsReachEveryFormClass() throws IOException {
        Set<String> reached = new TreeSet<>();
        for (String guest : List.of("decoded_forms.bin", "block_forms.bin")) {
            reached.addAll(formsOf(Files.readAllBytes(TestGuests.path(guest))));
        }
        Set<String> all = new TreeSet<>();
        Stream.of(DecodedForm.class, DecodedArithmetic.class, DecodedMoves.class, DecodedBranches.class)
                .flatMap(c -> Stream.of(c.getDeclaredClasses()))
                .filter(c -> DecodedForm.class.isAssignableFrom(c) && !Modifier.isAbstract(c.getModifiers()))
                .forEach(c -> all.add(c.getSimpleName()));
        // reached by their own tests: SSE (CompiledSseTest), locked instructions (CompiledLockedTest, LockedMemoryTest),
        // the interpreter's forms inside blocks, SWAPGS, CLAC and STAC (InterpretedInBlocksTest) and the rotates a block's
        // later instructions make quiet (CompiledShiftTest: the sweep here sees no blocks)
        all.removeAll(Set.of("Sse", "Locked", "Interpreted", "SwapGs", "AcFlag", "QuietShiftRegister"));
        all.removeAll(reached);
        assertEquals(Set.of(), all, "form classes neither guest runs");
    }

    /**
     * The simple names of the form classes of {@code code}'s instructions, swept one after the other from its start to
     * the UD2 that ends the guest's code (its data follows).
     */
    private static List<String> formsOf(byte[] code) {
        List<String> names = new ArrayList<>();
        int at = 0;
        while (true) {
            byte[] rest = java.util.Arrays.copyOfRange(code, at, Math.min(code.length, at + 16));
            Instruction insn = InstructionDecoder.BLOCKS.decode(new InstructionBytes() {
                int pos;

                @Override
                public int next() {
                    return rest[pos++] & 0xFF;
                }
            });
            if (insn.map() == 1 && insn.opcode() == 0x0B) {
                return names; // UD2
            }
            BlockOp d = BlockDecoder.reduce(rest);
            if (d != null) {
                DecodedForm form = DecodedForm.of(d);
                names.add(form.getClass().getSimpleName());
                if (form instanceof DecodedForm.SavingFlags saving) {
                    names.add(saving.form.getClass().getSimpleName());
                }
            }
            at += insn.length();
        }
    }
}
