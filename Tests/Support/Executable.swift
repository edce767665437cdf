// Executable.swift — finds the `condseg` executable built with the tests, for the tests that run it as a user
// would (exit statuses, --version, the installed layout, compare's JSON).

import Foundation

/// The `condseg` executable of this build: $CONDSEG_TEST_BINARY when set (to run the tests against another
/// build), else the one beside the test bundle or a few folders above it.
public func condsegExecutable() throws -> String {
    if let other = ProcessInfo.processInfo.environment["CONDSEG_TEST_BINARY"], !other.isEmpty { return other }
    var dir = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
    var searched: [String] = []
    for _ in 0..<4 {
        let candidate = dir.appendingPathComponent("condseg").path
        searched.append(candidate)
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        dir = dir.deletingLastPathComponent()
    }
    throw FixtureMissing(path: "condseg executable (build it: swift build --product condseg); looked at \(searched.joined(separator: ", "))")
}
