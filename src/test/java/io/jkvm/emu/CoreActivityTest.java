package io.jkvm.emu;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The cores over one RAM, as their epochs see them: one for each vCPU id, however often a vCPU is remade on the core
 * (each move to it); another core's stores are ruled out while it has slept since the last epoch, and its stores over
 * decoded code while it stored over none and had given up its direct stores to every page that got code.
 */
class CoreActivityTest {
    @Test
    void aVcpuRemadeOnTheCoreTakesItsOldCoresPlace() {
        CoreActivity.Cores cores = new CoreActivity.Cores();
        cores.join().isVcpu(0);
        for (int move = 0; move < 100; move++) {
            cores.join().isVcpu(1);
        }
        assertEquals(2, cores.count(), "vCPU 0's core and vCPU 1's latest");
    }

    @Test
    void anotherCoreMayHaveStoredUnlessItSleptSinceTheEpoch() {
        CoreActivity.Cores cores = new CoreActivity.Cores();
        CoreActivity self = cores.join(), other = cores.join();
        self.isVcpu(0);
        other.isVcpu(1);
        assertTrue(self.othersMayHaveStored(), "before the first epoch");
        self.epochBegins();
        assertTrue(self.othersMayHaveStored(), "the other was awake at the epoch");
        other.sleeps();
        self.epochBegins();
        assertFalse(self.othersMayHaveStored(), "asleep at the epoch and since");
        other.wakes();
        other.sleeps();
        assertTrue(self.othersMayHaveStored(), "it woke in between, though asleep again");
        self.epochBegins();
        assertFalse(self.othersMayHaveStored());
        cores.join().isVcpu(1); // vCPU 1 remade (a move): a new core, awake
        assertTrue(self.othersMayHaveStored(), "the set changed since the epoch");
    }

    @Test
    void anotherCoresStoresOverCodeAreRuledOutOnlyOnceItAcknowledgedEveryPageThatGotCode() {
        CoreActivity.Cores cores = new CoreActivity.Cores();
        CoreActivity self = cores.join(), other = cores.join();
        self.isVcpu(0);
        other.isVcpu(1);
        assertTrue(self.othersMayHaveChangedCode(), "the first check");
        assertFalse(self.othersMayHaveChangedCode(), "nothing since");
        self.codePageAdded();
        assertEquals(-1, self.marksToAcknowledge(), "a core has seen its own mark");
        assertTrue(self.othersMayHaveChangedCode(), "a page got code: the other may have stored there directly");
        assertTrue(self.othersMayHaveChangedCode(), "the other has not acknowledged it");
        long marks = other.marksToAcknowledge();
        assertEquals(1, marks);
        other.acknowledged(marks);
        assertTrue(self.othersMayHaveChangedCode(), "it had not at the last check: it may have stored directly before");
        assertFalse(self.othersMayHaveChangedCode(), "acknowledged since the last check");
        other.storedOverOthersCode();
        assertTrue(self.othersMayHaveChangedCode(), "a store over code");
        assertFalse(self.othersMayHaveChangedCode());
        other.codePageAdded();
        assertTrue(self.othersMayHaveChangedCode(), "the other's own page got code");
        assertFalse(self.othersMayHaveChangedCode(), "it has seen its own mark; this core's own view does not count");
        self.codePageAdded(); // this core had not seen the other's mark: the other has not seen this one
        other.sleeps();
        assertTrue(self.othersMayHaveChangedCode(), "a page got code");
        assertFalse(self.othersMayHaveChangedCode(), "the other, asleep, stores nothing until it wakes and "
                + "acknowledges the marks");
    }
}
