package io.jkvm.machine;

import io.jkvm.devices.virtio.VirtioMmio;
import io.jkvm.kvm.Vm;
import io.jkvm.linux.EventFd;

import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicLong;

/**
 * The virtio devices of a kernel's machine while KVM's in-kernel irqchip runs it: a driver's QueueNotify write is an
 * ioeventfd (one per queue, matched on the queue's index), which KVM signals with no exit to jkvm, and each device's
 * interrupt line is an irqfd with a resampler (raised by a signal, held until the guest's EOI, raised again then if
 * the device still has interrupt status), so neither takes a vCPU thread or an ioctl per change. One thread waits on
 * all of them. {@link #close()} takes every registration back, for the vCPUs leaving KVM.
 */
final class KernelDeviceEvents implements AutoCloseable {
    /** A virtio device at MMIO address {@code base}, its line on GSI {@code gsi}. */
    record Slot(VirtioMmio device, long base, int gsi) {
    }

    private record Notify(Slot slot, int queue, EventFd event) {
    }

    private record Line(Slot slot, EventFd raise, EventFd resample) {
    }

    private final Vm vm;
    private final List<Notify> notifies = new ArrayList<>();
    private final List<Line> lines = new ArrayList<>();
    private final EventFd stop = EventFd.create("kernel device events: stop");
    private final AtomicLong notified = new AtomicLong();
    private final Thread thread;

    /** Registers every queue and line of {@code slots} with {@code vm}; one line if KVM refuses any (none is left then). */
    KernelDeviceEvents(Vm vm, List<Slot> slots) {
        this.vm = vm;
        try {
            for (Slot s : slots) {
                for (int q = 0; q < s.device().queueCount(); q++) {
                    Notify n = new Notify(s, q, EventFd.create(s.device().name() + " queue " + q));
                    notifies.add(n);
                    vm.ioEventFd(s.base() + VirtioMmio.QUEUE_NOTIFY, 4, q, n.event(), true);
                }
                Line l = new Line(s, EventFd.create(s.device().name() + " irqfd"), EventFd.create(s.device().name() + " resample"));
                lines.add(l);
                vm.irqFd(l.raise(), s.gsi(), l.resample(), true);
            }
        } catch (RuntimeException e) {
            unregister();
            stop.close();
            throw new MachineException("cannot give KVM the virtio devices' notifications and interrupt lines"
                    + " (KVM_IOEVENTFD, KVM_IRQFD): " + e.getMessage(), e);
        }
        thread = Thread.ofPlatform().daemon().name("kernel-device-events").start(this::serve);
    }

    /** The device in slot {@code slot} (of the list given) raises its line; a lowered line drops at the guest's EOI. */
    void line(int slot, boolean raised) {
        if (raised) {
            lines.get(slot).raise().signal();
        }
    }

    /** How many queue notifications came by ioeventfd so far. */
    long notified() {
        return notified.get();
    }

    private void serve() {
        List<EventFd> watched = new ArrayList<>();
        watched.add(stop);
        notifies.forEach(n -> watched.add(n.event()));
        lines.forEach(l -> watched.add(l.resample()));
        while (true) {
            long ready = EventFd.awaitAny(watched);
            if ((ready & 1) != 0) {
                return;
            }
            for (int i = 0; i < notifies.size(); i++) {
                Notify n = notifies.get(i);
                if ((ready & (1L << (1 + i))) != 0 && n.event().take() != 0) {
                    notified.incrementAndGet();
                    n.slot().device().kick(n.queue());
                }
            }
            for (int i = 0; i < lines.size(); i++) {
                Line l = lines.get(i);
                if ((ready & (1L << (1 + notifies.size() + i))) != 0 && l.resample().take() != 0
                        && l.slot().device().interruptPending()) {
                    l.raise().signal(); // the guest's EOI lowered it while the device still has status: level-triggered
                }
            }
        }
    }

    private void unregister() {
        for (Notify n : notifies) {
            try {
                vm.ioEventFd(n.slot().base() + VirtioMmio.QUEUE_NOTIFY, 4, n.queue(), n.event(), false);
            } catch (RuntimeException e) {
                // not registered (the constructor failed on it), or the VM is gone: nothing left to take back
            }
            n.event().close();
        }
        for (Line l : lines) {
            try {
                vm.irqFd(l.raise(), l.slot().gsi(), null, false);
            } catch (RuntimeException e) {
                // as above
            }
            l.raise().close();
            l.resample().close();
        }
        notifies.clear();
        lines.clear();
    }

    /** Stops the thread and takes every registration back: the devices' notifications and lines are jkvm's again. */
    @Override
    public void close() {
        stop.signal();
        Threads.joinUninterruptibly(thread);
        unregister();
        stop.close();
    }
}
