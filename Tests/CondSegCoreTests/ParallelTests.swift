// ParallelTests.swift — the chunking rule of parallelChunks, in its closure form and its allocation-free state form:
// every index runs exactly once, chunk i of n is count·i/n ..< count·(i+1)/n whatever the thread count, and a job
// started inside another job runs inline on its caller.

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
}
