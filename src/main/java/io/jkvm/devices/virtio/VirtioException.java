package io.jkvm.devices.virtio;

/** A driver broke the virtio protocol (a ring or request no device could serve): the device needs a reset. */
public final class VirtioException extends RuntimeException {
    public VirtioException(String message) {
        super(message);
    }
}
