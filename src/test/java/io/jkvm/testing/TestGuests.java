package io.jkvm.testing;

import java.net.URISyntaxException;
import java.net.URL;
import java.nio.file.Path;

/** The guests under src/test/guests, assembled by the build into target/test-classes/guests. */
public final class TestGuests {
    private TestGuests() {
    }

    /** {@code name} is a file name such as "halt.elf" or "hello_flat.bin". */
    public static Path path(String name) {
        URL url = TestGuests.class.getResource("/guests/" + name);
        if (url == null) {
            throw new IllegalStateException("test guest " + name + " was not built: run the tests through Maven (scripts/test)");
        }
        try {
            return Path.of(url.toURI());
        } catch (URISyntaxException e) {
            throw new IllegalStateException(e);
        }
    }
}
