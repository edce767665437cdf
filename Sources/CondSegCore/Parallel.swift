// Parallel.swift — the one way this package splits loops over threads: contiguous chunks of an index range,
// one per thread, so the same index always lands in the same chunk order and results do not depend on
// scheduling.

import Dispatch

/// Runs `body(range)` over `0..<count` split into at most `threads` contiguous chunks, in parallel.
/// With one thread (or one item) it runs inline.
@inlinable
public func parallelChunks(_ count: Int, threads: Int, _ body: (Range<Int>) -> Void) {
    let chunks = max(1, min(threads, count))
    if chunks == 1 {
        if count > 0 { body(0..<count) }
        return
    }
    DispatchQueue.concurrentPerform(iterations: chunks) { chunk in
        let begin = count * chunk / chunks
        let end = count * (chunk + 1) / chunks
        if begin < end { body(begin..<end) }
    }
}
