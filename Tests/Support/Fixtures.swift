// Fixtures.swift — shared by every test target: locating Tests/Fixtures/ and the repository root (tests
// never read the shared folder beside the checkout: a user's clone does not have it), and comparing float arrays.

import Foundation

/// Thrown (so the test fails) when a fixture file is not where the tests expect it.
public struct FixtureMissing: Error, CustomStringConvertible {
    public let path: String
    public init(path: String) { self.path = path }
    public var description: String { "fixture not found: looked for \(path)" }
}

/// The repository's root folder (for models/, samples/ and Tests/Fixtures/).
public let repositoryRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent()

/// Absolute path of a file under Tests/Fixtures/; throws `FixtureMissing` naming the path when absent.
public func fixturePath(_ relative: String) throws -> String {
    let path = repositoryRoot.appendingPathComponent("Tests/Fixtures/\(relative)").path
    guard FileManager.default.fileExists(atPath: path) else { throw FixtureMissing(path: path) }
    return path
}

/// Largest absolute difference of two equally long arrays, and the magnitude (max |expected|).
public func maxAbsDiff(_ actual: [Float], _ expected: [Float]) -> (diff: Float, magnitude: Float) {
    precondition(actual.count == expected.count, "length \(actual.count) vs \(expected.count)")
    var d: Float = 0, m: Float = 0
    for i in 0..<actual.count {
        d = max(d, abs(actual[i] - expected[i]))
        m = max(m, abs(expected[i]))
    }
    return (d, m)
}
