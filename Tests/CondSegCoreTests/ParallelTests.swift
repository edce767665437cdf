// ParallelTests.swift — the chunking rule of parallelChunks, in its closure form and its allocation-free state form:
// every index runs exactly once, chunk i of n is count·i/n ..< count·(i+1)/n whatever the thread count, and a job
// started inside another job runs inline on its caller;
// thousands of jobs back to back (and from two threads at once) each run every chunk exactly once.

import CondSegCore
import XCTest

final class ParallelTests: XCTestCase {
    /// Records (chunk, range) pairs from any thread.
    final class Record: @unchecked Sendable {
        private let lock = NSLock()
        private(set) var pairs: [(Int, Range<Int>)] = []
        func add(_ chunk: Int, _ range: Range<Int>) { lock.lock(); pairs.append((chunk, range)); lock.unlock() }
        var sorted: [(Int, Range<Int>)] { pairs.sorted { $0.0 < $1.0 } }
    }

    func expectedChunks(_ count: Int, _ threads: Int) -> [(Int, Range<Int>)] {
        let n = max(1, min(threads, count))
        return (0..<n).compactMap { i in
            let b = count * i / n, e = count * (i + 1) / n
            return b < e ? (i, b..<e) : nil
        }
    }

    func testStateFormCoversEveryIndexOnceWithTheClosureFormsChunks() {
        for count in [0, 1, 2, 5, 100, 1001] {
            for threads in 1...4 {
                let viaState = Record(), viaClosure = Record()
                var hits = [Int](repeating: 0, count: count)
                hits.withUnsafeMutableBufferPointer { h in
                    parallelChunks(count, threads: threads, state: (h.baseAddress!, viaState)) { s, chunk, range in
                        s.1.add(chunk, range)
                        for i in range { s.0[i] += 1 }   // chunks are disjoint: no race
                    }
                }
                parallelChunksIndexed(count, threads: threads) { chunk, range in viaClosure.add(chunk, range) }
                XCTAssertEqual(hits, [Int](repeating: 1, count: count), "count \(count) threads \(threads)")
                let expected = expectedChunks(count, threads)
                for record in [viaState, viaClosure] {
                    XCTAssertEqual(record.sorted.map(\.0), expected.map(\.0), "count \(count) threads \(threads)")
                    XCTAssertEqual(record.sorted.map(\.1), expected.map(\.1), "count \(count) threads \(threads)")
                }
            }
        }
    }

    func testNestedJobsRunInlineAndComplete() {
        let total = 8, inner = 50
        var sums = [Int](repeating: 0, count: total)
        sums.withUnsafeMutableBufferPointer { s in
            parallelChunks(total, threads: 2, state: s.baseAddress!) { out, _, outer in
                for k in outer {
                    var local = [Int](repeating: 0, count: inner)
                    local.withUnsafeMutableBufferPointer { l in
                        parallelChunks(inner, threads: 2, state: l.baseAddress!) { p, _, range in
                            for i in range { p[i] = i }
                        }
                    }
                    out[k] = local.reduce(0, +)
                }
            }
        }
        XCTAssertEqual(sums, [Int](repeating: inner * (inner - 1) / 2, count: total))
    }

    /// Many jobs back to back, with chunk counts and chunk lengths that change from job to job (so the workers are
    /// sometimes still finishing one job, sometimes watching for the next, sometimes asleep): every chunk of every
    /// job runs exactly once and within its own job, and while two threads start jobs at once each job still
    /// completes (the one that finds the pool taken runs inline).
    func testBackToBackJobsRunEveryChunkOnceInItsOwnJob() {
        let jobs = 3000, slots = 8
        var hits = [Int](repeating: 0, count: jobs * slots)
        hits.withUnsafeMutableBufferPointer { h in
            for job in 0..<jobs {
                let threads = 2 + job % 3, count = 1 + job % 7
                let spin = job % 5 == 0 ? 20_000 : (job % 5 == 1 ? 0 : 300)
                parallelChunks(count, threads: threads, state: (h.baseAddress! + job * slots, spin)) { s, _, range in
                    var x = 0
                    for i in 0..<s.1 { x &+= i }   // uneven work
                    for i in range { s.0[i] += 1 + (x == -1 ? 1 : 0) }
                }
                if job % 500 == 499 { usleep(2_000) }   // let the workers fall asleep now and then
            }
        }
        for job in 0..<jobs {
            let count = 1 + job % 7
            let row = Array(hits[(job * slots)..<(job * slots + slots)])
            XCTAssertEqual(row, (0..<slots).map { $0 < count ? 1 : 0 }, "job \(job)")
        }

        let perThread = 400
        let results = UnsafeMutablePointer<Int>.allocate(capacity: 2 * perThread)
        results.initialize(repeating: 0, count: 2 * perThread)
        defer { results.deallocate() }
        nonisolated(unsafe) let shared = results
        DispatchQueue.concurrentPerform(iterations: 2) { caller in
            for job in 0..<perThread {
                var sum = [Int](repeating: 0, count: 4)
                sum.withUnsafeMutableBufferPointer { p in
                    parallelChunks(100, threads: 4, state: p.baseAddress!) { out, chunk, range in
                        for i in range { out[chunk] += i }
                    }
                }
                shared[caller * perThread + job] = sum.reduce(0, +)
            }
        }
        XCTAssertEqual(Array(UnsafeBufferPointer(start: results, count: 2 * perThread)),
                       [Int](repeating: 4950, count: 2 * perThread))
    }
}
