// Parallel.swift — the one way this package splits loops over threads: contiguous chunks of an index range,
// one per thread, so the same index always lands in the same chunk and results do not depend on scheduling.
// The chunks run on a small pool of persistent worker threads (like pthreadpool in XNNPACK/ncnn): handing out a
// job allocates nothing in the state form (`parallelChunks(_:threads:state:_:)`, used by the int8 executor's
// per-frame ops); the closure form still costs one allocation per call (Swift boxes the non-escaping closure to
// share it with the workers), which is fine outside per-frame paths. DispatchQueue.concurrentPerform allocated
// about a thousand times per frame of the int8 executor at 2 threads (benchmarks/allocations.sh).

import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Runs `body(range)` over `0..<count` split into at most `threads` contiguous chunks, in parallel.
/// With one thread (or one item) it runs inline. Chunk `i` of `n` is `count·i/n ..< count·(i+1)/n`.
public func parallelChunks(_ count: Int, threads: Int, _ body: (Range<Int>) -> Void) {
    parallelChunksIndexed(count, threads: threads) { _, range in body(range) }
}

/// `parallelChunks` that also passes the chunk's index (0..<n), e.g. to pick a per-thread scratch buffer.
public func parallelChunksIndexed(_ count: Int, threads: Int, _ body: (Int, Range<Int>) -> Void) {
    let chunks = max(1, min(threads, count))
    if chunks == 1 {
        if count > 0 { body(0, 0..<count) }
        return
    }
    WorkerPool.shared.run(chunks) { chunk in
        let begin = count * chunk / chunks, end = count * (chunk + 1) / chunks
        if begin < end { body(chunk, begin..<end) }
    }
}

/// `parallelChunksIndexed` for per-frame paths that must not allocate. The work's inputs travel in `state` (copied
/// onto this stack frame and read by every chunk) and `body` must capture nothing: a capture-free closure is a plain
/// function pointer, where a capturing closure, or any closure handed to `parallelChunks`, costs a heap allocation
/// per call (Swift boxes a non-escaping closure to pass it to another thread). `benchmarks/allocations.sh` shows a
/// capture that slipped in.
@inlinable
public func parallelChunks<State>(_ count: Int, threads: Int, state: State,
                                  _ body: @escaping (State, Int, Range<Int>) -> Void) {
    let chunks = max(1, min(threads, count))
    if chunks == 1 {
        if count > 0 { body(state, 0, 0..<count) }
        return
    }
    var job = StatefulJob(state: state, body: body, count: count, chunks: chunks)
    withUnsafeMutablePointer(to: &job) { pointer in
        WorkerPool.shared.run(chunks, context: UnsafeRawPointer(pointer), invoke: StatefulJob<State>.invoke)
    }
}

/// One `parallelChunks(_:threads:state:_:)` call: its state, body and split.
@usableFromInline
struct StatefulJob<State> {
    @usableFromInline let state: State
    @usableFromInline let body: (State, Int, Range<Int>) -> Void
    @usableFromInline let count: Int
    @usableFromInline let chunks: Int

    @inlinable
    init(state: State, body: @escaping (State, Int, Range<Int>) -> Void, count: Int, chunks: Int) {
        self.state = state; self.body = body; self.count = count; self.chunks = chunks
    }

    /// Runs chunk `chunk` of the job at `context`.
    @inlinable
    static func invoke(_ context: UnsafeRawPointer, _ chunk: Int) {
        let job = context.assumingMemoryBound(to: StatefulJob<State>.self)
        let count = job.pointee.count, chunks = job.pointee.chunks
        let begin = count * chunk / chunks, end = count * (chunk + 1) / chunks
        if begin < end { job.pointee.body(job.pointee.state, chunk, begin..<end) }
    }
}

/// Persistent worker threads that run the chunks of one job at a time. The calling thread runs chunks too.
/// A job started while another is running (a nested call, or a second thread) runs inline on its caller, so
/// nothing can deadlock; results are the same, only without the extra threads.
///
/// Hand-off: a job is published in one atomic word (its generation and the next chunk to hand out), and chunks are
/// claimed from that word by compare-and-swap. A worker that has just finished a job watches the word for a short
/// while (`spinNanoseconds`) before it sleeps on a condition variable, and the caller likewise watches the count of
/// finished chunks before it sleeps: a frame runs about a hundred jobs, often less than a millisecond apart, and
/// waking a sleeping thread took tens of microseconds each time (longer than many small jobs). Waiting that long
/// costs nothing on a core that would idle anyway; a worker that finds no job sleeps and wakes as before.
public final class WorkerPool: @unchecked Sendable {
    /// The process-wide pool (grows to the largest thread count asked for, minus the caller).
    public static let shared = WorkerPool()

    /// How long a worker keeps watching for the next job, and the caller for the last chunk, before sleeping.
    static let spinNanoseconds: UInt64 = 200_000

    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let wake = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private let finished = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    /// Workers started (guarded by mutex).
    private var workerCount = 0
    /// Workers asleep on `wake` (guarded by mutex).
    private var sleepers = 0
    /// Whether the caller sleeps on `finished` (guarded by mutex).
    private var callerSleeping = false
    /// Set while a job holds the pool.
    private let busy = Atomic<Bool>(false)
    /// The current job: generation in the high 32 bits, its chunk count in the next 16, the next chunk to hand out
    /// in the low 16.
    private let ticket = Atomic<UInt64>(0)
    /// Chunks of the current job that have finished.
    private let done = Atomic<Int>(0)
    /// The job's body. A class property of the concrete function type: assigning a closure to it allocates
    /// nothing (an Optional or generic slot would wrap it in a heap-allocated reabstraction thunk).
    private final class JobBox {
        var body: (Int) -> Void = WorkerPool.idle
        /// A context job (`run(_:context:invoke:)`): invoke(context, chunk).
        var invoke: (UnsafeRawPointer, Int) -> Void = WorkerPool.idleInvoke
        var context: UnsafeRawPointer?
    }
    private static let idle: (Int) -> Void = { _ in }
    private static let idleInvoke: (UnsafeRawPointer, Int) -> Void = { _, _ in }
    private let box = JobBox()

    private init() {
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(wake, nil)
        pthread_cond_init(finished, nil)
    }

    /// Runs `body(0)…body(chunks − 1)`, each exactly once, on the workers and the calling thread; returns when
    /// all have finished.
    public func run(_ chunks: Int, _ body: (Int) -> Void) {
        guard claim(chunks) else {
            for i in 0..<chunks { body(i) }
            return
        }
        withoutActuallyEscaping(body) { escapable in
            box.body = escapable
            box.context = nil
            runClaimedJob(chunks)
        }
    }

    /// Runs `invoke(context, 0)…invoke(context, chunks − 1)` like `run(_:_:)`. Nothing is allocated when `invoke`
    /// is a capture-free function (the closure form must box its closure to share it with the workers).
    public func run(_ chunks: Int, context: UnsafeRawPointer, invoke: @escaping (UnsafeRawPointer, Int) -> Void) {
        guard claim(chunks) else {
            for i in 0..<chunks { invoke(context, i) }
            return
        }
        box.invoke = invoke
        box.context = context
        runClaimedJob(chunks)
    }

    /// Takes the pool for one job and makes sure it has `chunks − 1` workers; false (pool untouched) when another
    /// job holds it (or the job has more chunks than a ticket counts), so the caller runs its chunks inline.
    private func claim(_ chunks: Int) -> Bool {
        guard chunks <= 0xFFFF, busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged else { return false }
        if workerCount < chunks - 1 {
            pthread_mutex_lock(mutex)
            while workerCount < chunks - 1 { startWorker() }
            pthread_mutex_unlock(mutex)
        }
        return true
    }

    /// With the pool claimed and the job's body or context set in `box`: publishes the job, works on its chunks
    /// too, waits for the workers to finish theirs, then clears the job and releases the pool.
    private func runClaimedJob(_ chunks: Int) {
        done.store(0, ordering: .relaxed)
        let generation = ((ticket.load(ordering: .relaxed) >> 32) &+ 1) & 0xFFFF_FFFF
        ticket.store(generation << 32 | UInt64(chunks) << 16, ordering: .sequentiallyConsistent)
        pthread_mutex_lock(mutex)
        if sleepers > 0 { pthread_cond_broadcast(wake) }
        pthread_mutex_unlock(mutex)
        work(generation: generation)
        if done.load(ordering: .acquiring) < chunks {
            let start = Self.now()
            while done.load(ordering: .acquiring) < chunks && Self.now() &- start < Self.spinNanoseconds {}
            if done.load(ordering: .acquiring) < chunks {
                pthread_mutex_lock(mutex)
                callerSleeping = true
                while done.load(ordering: .acquiring) < chunks { pthread_cond_wait(finished, mutex) }
                callerSleeping = false
                pthread_mutex_unlock(mutex)
            }
        }
        box.body = WorkerPool.idle
        box.invoke = WorkerPool.idleInvoke
        box.context = nil
        busy.store(false, ordering: .releasing)
    }

    /// Claims and runs chunks of job `generation` until none is left. A chunk is claimed only while the ticket
    /// still carries that generation, so a late worker can never take a chunk of a later job for this one.
    private func work(generation: UInt64) {
        while true {
            var current = ticket.load(ordering: .acquiring)
            var chunk = 0, chunks = 0
            while true {
                guard current >> 32 == generation else { return }
                chunk = Int(current & 0xFFFF)
                chunks = Int((current >> 16) & 0xFFFF)
                guard chunk < chunks else { return }
                let (exchanged, original) = ticket.compareExchange(expected: current, desired: current + 1,
                                                                   ordering: .acquiringAndReleasing)
                if exchanged { break }
                current = original
            }
            if let context = box.context { box.invoke(context, chunk) } else { box.body(chunk) }
            let finishedChunks = done.add(1, ordering: .acquiringAndReleasing).newValue
            if finishedChunks == chunks {
                pthread_mutex_lock(mutex)
                if callerSleeping { pthread_cond_broadcast(finished) }
                pthread_mutex_unlock(mutex)
                return
            }
        }
    }

    private func workerLoop() {
        var seen: UInt64 = 0
        while true {
            // Watch for the next job for a while, then sleep until one is published.
            var generation = ticket.load(ordering: .acquiring) >> 32
            if generation == seen {
                let start = Self.now()
                while generation == seen && Self.now() &- start < Self.spinNanoseconds {
                    generation = ticket.load(ordering: .acquiring) >> 32
                }
            }
            if generation == seen {
                pthread_mutex_lock(mutex)
                sleepers += 1
                while true {
                    generation = ticket.load(ordering: .sequentiallyConsistent) >> 32
                    if generation != seen { break }
                    pthread_cond_wait(wake, mutex)
                }
                sleepers -= 1
                pthread_mutex_unlock(mutex)
            }
            seen = generation
            work(generation: generation)
        }
    }

    /// Monotonic clock in nanoseconds (a vDSO call: no system call).
    private static func now() -> UInt64 {
        var t = timespec()
        clock_gettime(CLOCK_MONOTONIC, &t)
        return UInt64(t.tv_sec) &* 1_000_000_000 &+ UInt64(t.tv_nsec)
    }

    /// Starts one worker (called with the mutex held).
    private func startWorker() {
        var thread = pthread_t()
        let context = Unmanaged.passUnretained(self).toOpaque()
        let status = pthread_create(&thread, nil, { context in
            Unmanaged<WorkerPool>.fromOpaque(context!).takeUnretainedValue().workerLoop()
            return nil
        }, context)
        precondition(status == 0, "cannot start a worker thread (pthread_create: \(status))")
        pthread_detach(thread)
        workerCount += 1
    }
}
