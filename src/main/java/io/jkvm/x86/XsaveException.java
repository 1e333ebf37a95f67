package io.jkvm.x86;

/** An XSAVE buffer, layout or XCR0 value that cannot be used as asked; the message names the component and the fix. */
public final class XsaveException extends RuntimeException {
    public XsaveException(String message) {
        super(message);
    }
}
