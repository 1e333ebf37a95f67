package io.jkvm.linux;

/** An ioctl request number with the name it has in the UAPI headers, so failures can name it. */
public record Ioctl(String name, long number) {
}
