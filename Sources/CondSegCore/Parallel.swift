// Parallel.swift — the one way this package splits loops over threads: contiguous chunks of an index range,
// one per thread, so the same index always lands in the same chunk and results do not depend on scheduling.
// The chunks run on a small pool of persistent worker threads (like pthreadpool in XNNPACK/ncnn): handing out a
// job allocates nothing, where DispatchQueue.concurrentPerform allocated on every call (about a thousand
// allocations per frame of the int8 executor at 2 threads, measured with benchmarks/allocations.sh).

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
    private final class JobBox { var body: (Int) -> Void = WorkerPool.idle }
    private static let idle: (Int) -> Void = { _ in }
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
        pthread_mutex_lock(mutex)
        if busy {
            pthread_mutex_unlock(mutex)
            for i in 0..<chunks { body(i) }
            return
        }
        busy = true
        while workerCount < chunks - 1 { startWorker() }
        withoutActuallyEscaping(body) { escapable in
            box.body = escapable
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
            hasJob = false
        }
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
            box.body(chunk)
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
