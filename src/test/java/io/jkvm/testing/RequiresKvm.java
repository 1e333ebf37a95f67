package io.jkvm.testing;

import java.lang.annotation.ElementType;
import java.lang.annotation.Retention;
import java.lang.annotation.RetentionPolicy;
import java.lang.annotation.Target;
import org.junit.jupiter.api.extension.ExtendWith;

/**
 * A test that needs the host's /dev/kvm. On a host without the device it is reported as skipped with the reason
 * (scripts/test counts these apart), where it would otherwise fail at the open; with the device it runs, and a
 * device that is there but refuses it still fails the test.
 */
@Target({ElementType.TYPE, ElementType.METHOD})
@Retention(RetentionPolicy.RUNTIME)
@ExtendWith(KvmDeviceCondition.class)
public @interface RequiresKvm {
}
