// ExitStatus.swift — the error and exit-status contract of condseg: which status each kind of failure ends the
// process with, the errors that carry a status, and the one-line-per-problem report the command line prints.
// Every library error type declares its status here by conforming to `StatusError`, so the mapping is one
// function (`ErrorReport.report`) that a test can reach without running the program.

import Foundation

/// How a condseg process ended. The values are a contract with scripts and CI: they do not change.
public enum ExitStatus: Int32, CaseIterable, Sendable {
    /// Everything asked for was done.
    case success = 0
    /// The work ran, and a check it was asked to make failed (a `compare` threshold was broken).
    case checkFailed = 1
    /// The command line is wrong (unknown option, missing or malformed value, options that do not go together).
    case usage = 2
    /// The video device was given up on (missing, failing, or gone longer than --give-up-after).
    case device = 3
    /// An input file or folder is missing, unreadable or invalid (image, model, table, data set, list).
    case input = 4
    /// An output cannot be written (folder missing or read-only, a folder where a file is expected, or it would
    /// replace an input or another output of the same run); also a run that otherwise succeeded whose result on
    /// stdout could not be written whole (a closed pipe, a full disk).
    case output = 5
    /// A failure that none of the above describes: a bug in condseg.
    case internalError = 70

    /// One line saying what the status means (the table in `condseg --help` and the README).
    public var meaning: String {
        switch self {
        case .success: return "success"
        case .checkFailed: return "a gate or threshold failed (compare)"
        case .usage: return "usage error (the command line is wrong)"
        case .device: return "the video device was given up on"
        case .input: return "an input file is missing, unreadable or invalid"
        case .output: return "an output cannot be written or would replace an input, or stdout was lost"
        case .internalError: return "an unexpected internal failure (a bug: please report it)"
        }
    }

    /// The table of statuses, one "  N  meaning" line each.
    public static var table: String {
        allCases.map { "  \(String($0.rawValue).padding(toLength: 3, withPad: " ", startingAt: 0)) \($0.meaning)" }
            .joined(separator: "\n")
    }
}

/// An error that knows the exit status it stands for. Its `problems` are the lines reported, each naming the file
/// (or device, or option) and what is wrong.
public protocol StatusError: Error, CustomStringConvertible {
    /// The exit status this error ends the process with.
    var exitStatus: ExitStatus { get }
    /// One line per problem, "FILE: what is wrong" (without the "error: " prefix). Default: `[description]`.
    var problems: [String] { get }
}

extension StatusError {
    public var problems: [String] { [description] }
}

/// An input that cannot be used: "PATH: problem".
public struct InputError: StatusError, Equatable, Sendable {
    public let path: String
    public let problem: String
    public init(path: String, problem: String) { self.path = path; self.problem = problem }
    public var description: String { "\(path): \(problem)" }
    public var exitStatus: ExitStatus { .input }
}

/// An output that cannot be written: "PATH: problem".
public struct OutputError: StatusError, Equatable, Sendable {
    public let path: String
    public let problem: String
    public init(path: String, problem: String) { self.path = path; self.problem = problem }
    public var description: String { "\(path): \(problem)" }
    public var exitStatus: ExitStatus { .output }
}

/// A wrong command line found after parsing (a value out of range, options that conflict).
public struct UsageError: StatusError, Equatable, Sendable {
    public let message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
    public var exitStatus: ExitStatus { .usage }
}

/// Several problems of one kind found at once (e.g. every output that would collide), reported one per line.
public struct ProblemList: StatusError, Equatable, Sendable {
    public let exitStatus: ExitStatus
    public let problems: [String]
    public init(_ status: ExitStatus, problems: [String]) { self.exitStatus = status; self.problems = problems }
    public var description: String { problems.joined(separator: "\n") }
}

/// Turns any error into the exit status and the stderr lines of the contract.
public enum ErrorReport {
    /// The status for `error`: its own for a `StatusError`; for Foundation file errors, input or output by the
    /// kind of operation; anything else is an internal error.
    public static func status(for error: Error) -> ExitStatus {
        if let error = error as? StatusError { return error.exitStatus }
        let ns = error as NSError
        if ns.domain == NSCocoaErrorDomain {
            // Foundation numbers read failures 256…511 and write failures 512…1023.
            if (512..<1024).contains(ns.code) { return .output }
            return .input
        }
        if ns.domain == NSPOSIXErrorDomain { return .input }
        return .internalError
    }

    /// The stderr lines for `error`: "error: FILE: what is wrong", one per problem, never Foundation's own
    /// rendering of an NSError (its file path and the system's reason are used instead).
    public static func lines(for error: Error) -> [String] {
        let problems: [String]
        if let error = error as? StatusError {
            problems = error.problems
        } else {
            problems = [plainDescription(of: error)]
        }
        return problems.map { "error: " + $0 }
    }

    /// Status and lines together.
    public static func report(_ error: Error) -> (status: ExitStatus, lines: [String]) {
        (status(for: error), lines(for: error))
    }

    /// One line for an error that is not a `StatusError`: for a Foundation file error "PATH: system reason",
    /// else the error's own description on one line.
    static func plainDescription(of error: Error) -> String {
        let ns = error as NSError
        if ns.domain == NSCocoaErrorDomain || ns.domain == NSPOSIXErrorDomain {
            let path = (ns.userInfo[NSFilePathErrorKey] as? String)
                ?? (ns.userInfo[NSURLErrorKey] as? URL)?.path
            var reason: String?
            if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError, underlying.domain == NSPOSIXErrorDomain {
                reason = String(cString: strerror(Int32(underlying.code)))
            } else if ns.domain == NSPOSIXErrorDomain {
                reason = String(cString: strerror(Int32(ns.code)))
            }
            let text = reason ?? cocoaReason(ns.code)
            return path.map { "\($0): \(text)" } ?? text
        }
        let text = "\(error)"
        return text.split(separator: "\n").joined(separator: "; ")
    }

    /// Words for Foundation's file error codes when no system reason is attached.
    static func cocoaReason(_ code: Int) -> String {
        switch code {
        case 4, 260: return "no such file or folder"
        case 257, 513: return "permission denied"
        case 516: return "already exists"
        case 640: return "no space left on the device"
        case 642: return "read-only file system"
        default: return code < 512 ? "cannot read" : "cannot write"
        }
    }
}
