// Handoff.swift: the bounded hand-offs between the pipeline's threads. Each holds at most one item per
// kind: a new item replaces the waiting one (latest wins), so a slow consumer makes the pipeline drop
// frames instead of queueing them, and memory never grows with the run's length.
import Foundation

/// A single-item, latest-wins hand-off between two threads.
final class LatestSlot<Item>: @unchecked Sendable {
    private let condition = NSCondition()
    private var item: Item?
    private var closed = false
    private var consumerBusy = false

    /// Puts an item, returning the one it replaced (a dropped item) if any.
    @discardableResult
    func put(_ newItem: Item) -> Item? {
        condition.lock(); defer { condition.unlock() }
        let replaced = item
        item = newItem
        condition.broadcast()
        return replaced
    }

    /// Waits for an item; nil once the slot is closed and empty. The consumer counts as busy until it
    /// calls `finishedItem()` or takes again.
    func take() -> Item? {
        condition.lock(); defer { condition.unlock() }
        consumerBusy = false
        condition.broadcast()
        while item == nil && !closed { condition.wait() }
        let taken = item
        item = nil
        consumerBusy = taken != nil
        condition.broadcast()
        return taken
    }

    /// The consumer is done with the item it took.
    func finishedItem() {
        condition.lock(); defer { condition.unlock() }
        consumerBusy = false
        condition.broadcast()
    }

    /// Removes the waiting item, if any, and returns it.
    @discardableResult
    func clear() -> Item? {
        condition.lock(); defer { condition.unlock() }
        let removed = item
        item = nil
        condition.broadcast()
        return removed
    }

    /// Waits until the consumer has taken the waiting item and finished with it (back-pressure for
    /// unpaced replays), or until `stopped()` is true / the slot is closed.
    func waitUntilIdle(stopped: () -> Bool) {
        condition.lock(); defer { condition.unlock() }
        while (item != nil || consumerBusy) && !closed && !stopped() {
            _ = condition.wait(until: Date(timeIntervalSinceNow: 0.05))
        }
    }

    /// Wakes the consumer for the last time: `take` returns what is left, then nil.
    func close() {
        condition.lock(); defer { condition.unlock() }
        closed = true
        condition.broadcast()
    }
}

/// A stop request that sleeping threads can wait on.
public final class StopFlag: @unchecked Sendable {
    private let condition = NSCondition()
    private var stopped = false
    public init() {}

    public var isSet: Bool {
        condition.lock(); defer { condition.unlock() }
        return stopped
    }

    public func set() {
        condition.lock(); defer { condition.unlock() }
        stopped = true
        condition.broadcast()
    }

    /// Sleeps up to `seconds`; returns true if the stop was requested meanwhile.
    @discardableResult
    public func sleep(seconds: Double) -> Bool {
        let deadline = Date(timeIntervalSinceNow: seconds)
        condition.lock(); defer { condition.unlock() }
        while !stopped && condition.wait(until: deadline) {}
        return stopped
    }
}

/// A value behind a lock.
final class Locked<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Value
    init(_ value: Value) { self.value = value }
    func read() -> Value { lock.lock(); defer { lock.unlock() }; return value }
    @discardableResult
    func mutate<Result>(_ body: (inout Value) -> Result) -> Result {
        lock.lock(); defer { lock.unlock() }
        return body(&value)
    }
}
