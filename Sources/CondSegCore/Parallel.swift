// Parallel.swift — the one way this package splits loops over threads: contiguous chunks of an index range,
// one per thread, so the same index always lands in the same chunk and results do not depend on scheduling.
// The chunks run on a small pool of persistent worker threads (like pthreadpool in XNNPACK/ncnn): handing out a
// job allocates nothing in the state form (`parallelChunks(_:threads:state:_:)`, used by the int8 executor's
// per-frame ops); the closure form still costs one allocation per call (Swift boxes the non-escaping closure to
// share it with the workers), which is fine outside per-frame paths. DispatchQueue.concurrentPerform allocated
// about a thousand times per frame of the int8 executor at 2 threads (benchmarks/allocations.sh).

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
public final class WorkerPool: @unchecked Sendable {
    /// The process-wide pool (grows to the largest thread count asked for, minus the caller).
    public static let shared = WorkerPool()

    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let wake = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private let finished = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private var workerCount = 0
    // The current job (guarded by mutex).
    private var busy = false
    private var generation = 0
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
    private var hasJob = false
    private var chunkCount = 0
    private var nextChunk = 0
    private var running = 0

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
    /// job holds it, so the caller runs its chunks inline. On true the mutex stays held for `runClaimedJob`.
    private func claim(_ chunks: Int) -> Bool {
        pthread_mutex_lock(mutex)
        if busy {
            pthread_mutex_unlock(mutex)
            return false
        }
        busy = true
        while workerCount < chunks - 1 { startWorker() }
        return true
    }

    /// With the pool claimed (mutex held) and the job's body or context set in `box`: hands out the chunks, works
    /// on them too, waits for the workers, then clears the job and releases the pool and the mutex.
    private func runClaimedJob(_ chunks: Int) {
        hasJob = true
        chunkCount = chunks
        nextChunk = 0
        running = 0
        generation &+= 1
        pthread_cond_broadcast(wake)
        pthread_mutex_unlock(mutex)
        work()
        pthread_mutex_lock(mutex)
        while nextChunk < chunkCount || running > 0 { pthread_cond_wait(finished, mutex) }
        box.body = WorkerPool.idle
        box.invoke = WorkerPool.idleInvoke
        box.context = nil
        hasJob = false
        busy = false
        pthread_mutex_unlock(mutex)
    }

    /// Takes chunks of the current job until none is left (called without the mutex held).
    private func work() {
        pthread_mutex_lock(mutex)
        while hasJob && nextChunk < chunkCount {
            let chunk = nextChunk
            nextChunk += 1
            running += 1
            pthread_mutex_unlock(mutex)
            if let context = box.context { box.invoke(context, chunk) } else { box.body(chunk) }
            pthread_mutex_lock(mutex)
            running -= 1
        }
        if nextChunk >= chunkCount && running == 0 { pthread_cond_broadcast(finished) }
        pthread_mutex_unlock(mutex)
    }

    private func workerLoop() {
        var seen = 0
        pthread_mutex_lock(mutex)
        seen = generation
        while true {
            while generation == seen { pthread_cond_wait(wake, mutex) }
            seen = generation
            pthread_mutex_unlock(mutex)
            work()
            pthread_mutex_lock(mutex)
        }
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
