package io.jkvm.machine;

import java.nio.file.Path;
import java.util.Optional;

/** {@code --kernel FILE [--append ARGS] [--initrd FILE] [--device pc-testdev]}: a kernel booted as a boot loader would. */
public record KernelConfig(Path kernel, String append, Optional<Path> initrd, boolean pcTestDevice) {
}
