package io.jkvm.testing;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.extension.ConditionEvaluationResult;
import org.junit.jupiter.api.extension.ExecutionCondition;
import org.junit.jupiter.api.extension.ExtensionContext;

/** Runs a {@link RequiresKvm} test only where /dev/kvm exists. */
public final class KvmDeviceCondition implements ExecutionCondition {
    /** The reason a skipped test gives; scripts/test counts the skips that carry it. */
    public static final String NO_DEVICE = "needs /dev/kvm, which this host lacks (run on a host with KVM)";

    @Override
    public ConditionEvaluationResult evaluateExecutionCondition(ExtensionContext context) {
        return hostHasKvm() ? ConditionEvaluationResult.enabled("/dev/kvm is there")
                : ConditionEvaluationResult.disabled(NO_DEVICE);
    }

    /** Whether the device file exists; whether it opens is the test's to find out. */
    public static boolean hostHasKvm() {
        return Files.exists(Path.of("/dev/kvm"));
    }
}
