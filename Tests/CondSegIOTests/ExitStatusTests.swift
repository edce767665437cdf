// ExitStatusTests.swift — the exit-status contract: fixed numbers, one status per kind of error, and one
// "error: FILE: what is wrong" line per problem with no Foundation rendering of an NSError.

import CondSegIO
import Foundation
import XCTest

final class ExitStatusTests: XCTestCase {
    func testTheNumbersAreTheContract() {
        XCTAssertEqual(ExitStatus.allCases.map(\.rawValue), [0, 1, 2, 3, 4, 5, 70])
        let table = ExitStatus.table.split(separator: "\n").map(String.init)
        XCTAssertEqual(table.count, ExitStatus.allCases.count)
        for (line, status) in zip(table, ExitStatus.allCases) {
            XCTAssertTrue(line.trimmingCharacters(in: .whitespaces).hasPrefix("\(status.rawValue) "), line)
        }
    }

    func testEachErrorKindHasItsStatus() {
        XCTAssertEqual(ErrorReport.status(for: InputError(path: "a.png", problem: "bad")), .input)
        XCTAssertEqual(ErrorReport.status(for: OutputError(path: "b.png", problem: "bad")), .output)
        XCTAssertEqual(ErrorReport.status(for: UsageError("--x must be 1")), .usage)
        XCTAssertEqual(ErrorReport.status(for: ProblemList(.device, problems: ["/dev/video9: gone"])), .device)
        struct Unexpected: Error {}
        XCTAssertEqual(ErrorReport.status(for: Unexpected()), .internalError)
    }

    func testLinesAreOnePerProblemWithTheLowercasePrefix() {
        XCTAssertEqual(ErrorReport.lines(for: InputError(path: "a.png", problem: "empty file (0 bytes)")),
                       ["error: a.png: empty file (0 bytes)"])
        XCTAssertEqual(ErrorReport.lines(for: ProblemList(.output, problems: ["x: one", "y: two"])),
                       ["error: x: one", "error: y: two"])
    }

    func testFoundationFileErrorsBecomePathAndReason() {
        let exists = NSError(domain: NSCocoaErrorDomain, code: 516, userInfo: [
            NSFilePathErrorKey: "/tmp/out.png",
            NSUnderlyingErrorKey: NSError(domain: NSPOSIXErrorDomain, code: Int(EEXIST)),
        ])
        let (status, lines) = ErrorReport.report(exists)
        XCTAssertEqual(status, .output)
        XCTAssertEqual(lines, ["error: /tmp/out.png: File exists"])
        let missing = NSError(domain: NSCocoaErrorDomain, code: 260, userInfo: [NSFilePathErrorKey: "/tmp/in.png"])
        XCTAssertEqual(ErrorReport.report(missing).status, .input)
        XCTAssertEqual(ErrorReport.report(missing).lines, ["error: /tmp/in.png: no such file or folder"])
        for line in ErrorReport.lines(for: exists) + ErrorReport.lines(for: missing) {
            XCTAssertFalse(line.contains("Domain") || line.contains("NSCocoa"), line)
        }
    }
}
