// FixtureSupport.swift — locating the golden fixtures copied into Tests/Fixtures/ and comparing tensors.

import CondSegCore
import Foundation
import XCTest

/// Absolute path of a file under Tests/Fixtures/ (fails the test with the searched path when absent).
func fixturePath(_ relative: String, file: StaticString = #filePath, line: UInt = #line) throws -> String {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures")
    let path = root.appendingPathComponent(relative).path
    guard FileManager.default.fileExists(atPath: path) else {
        throw FixtureMissing(path: path)
    }
    return path
}

/// Thrown (so the test fails) when a fixture file is not where the tests expect it.
struct FixtureMissing: Error, CustomStringConvertible {
    let path: String
    var description: String { "fixture not found: looked for \(path)" }
}

/// The repository's root folder (for models/ and samples/).
let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

/// Largest absolute difference and the magnitude (max |expected|) of two equally long arrays.
func maxAbsDiff(_ a: [Float], _ b: [Float]) -> (diff: Float, magnitude: Float) {
    precondition(a.count == b.count, "length \(a.count) vs \(b.count)")
    var d: Float = 0, m: Float = 0
    for i in 0..<a.count {
        d = max(d, abs(a[i] - b[i]))
        m = max(m, abs(b[i]))
    }
    return (d, m)
}
