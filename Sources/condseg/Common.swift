// Common.swift — what every subcommand shares: the --model/--threads options, the --size option (running a model
// at another input size), finding the bundled default model and models and tables given by name, progress lines on
// stderr, JSON on stdout, and turning library errors into one-line messages.

import ArgumentParser
import CondSegCore
import CondSegIO
import CondSegRuntime
import Foundation

/// Which executor runs the network (commands that run inference: segment, eval, bench, live, compare).
struct EngineOptions: ParsableArguments {
    @Option(name: .long, help: "Executor: fast (optimised; float32, or int8 NHWC with --calibration or a quantized model) or reference (the oracle: the float reference, with the exact int8 convolutions plugged in for int8).")
    var engine: ExecutorKind = .fast
}

/// The help of every --model option.
let modelOptionHelp: ArgumentHelp = "Weight file (.safetensors), or the NAME of a bundled model (NAME.safetensors, searched for in the folders named next). Default: $CONDSEG_MODEL, else condseg-r18w64-kvasir.safetensors in share/condseg/ beside an installed bin/condseg, else in the repository's models/ (looked for from the binary's folder upwards, then under the current folder)."

/// The help of every --calibration option that runs the int8 path.
let calibrationOptionHelp: ArgumentHelp = "Calibration table: run the int8 path (a quantized --model needs none). A file, or the NAME of a bundled table (calibration/NAME.table.txt or share/condseg/NAME.table.txt)."

/// The --size option of the commands that run a model (segment, eval, bench, calibrate, compare, live, inspect):
/// the square input size to run at instead of the one the model file records, checked the same way everywhere.
struct SizeOptions: ParsableArguments {
    @Option(name: .long, parsing: .unconditional, help: ArgumentHelp(
        "Run the model at N×N instead of the size its file records: a positive multiple of the network's stride (\(Graph.conDSegInputStride)), at most \(ModelConfig.maximumInputSize).",
        valueName: "N"))
    var size: String?

    func validate() throws { _ = try inputSize() }

    /// The size asked for, or nil for the model file's own; a usage error naming the option, the value and the rule.
    func inputSize() throws -> Int? {
        try size.map { try parseInputSize($0, meaning: "the model runs at N×N") }
    }
}

/// Parses the value of a --size N option (the square size a model runs at, or is made for in `train`/`init`; also
/// `live --fake-input-size`, the size the test segmenter stands in for):
/// a usage error naming the option, the value and the rule (ModelConfig.inputSizeProblem) for anything else.
/// `meaning` says what N is, e.g. "the model runs at N×N"; a WxH value points at --capture-size where video is
/// captured (`captureHint`). The option is read as text (with unconditional
/// parsing) so that `--size -32` and `--size abc` reach these messages instead of ArgumentParser's own.
func parseInputSize(_ size: String, option: String = "--size", meaning: String, captureHint: Bool = true) throws -> Int {
    let text = size.trimmingCharacters(in: .whitespaces)
    if text.lowercased().contains("x") {
        let hint = captureHint ? "; the size of captured video is --capture-size WxH" : ""
        throw ValidationError("\(option) takes one number N (\(meaning)), not \"\(size)\"\(hint)")
    }
    guard let value = Int(text) else {
        // A run of digits too long for an Int is a number, only far too large: say so, with the rule.
        let digits = text.hasPrefix("-") || text.hasPrefix("+") ? text.dropFirst() : Substring(text)
        if !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }) {
            let problem = ModelConfig.inputSizeProblem(text.hasPrefix("-") ? -1 : Int.max) ?? "is out of range"
            throw ValidationError("\(option) \(text) \(problem)")
        }
        throw ValidationError("\(option) must be a whole number N (\(meaning)), not \"\(size)\"")
    }
    if let problem = ModelConfig.inputSizeProblem(value) { throw ValidationError("\(option) \(value) \(problem)") }
    return value
}

/// The help of the --size option of `train` and `init` (the size a model is made for).
func madeForSizeHelp(_ defaultText: String) -> ArgumentHelp {
    ArgumentHelp("Input size N the model is made for (N×N, recorded as condseg.input_size): a positive multiple of the network's stride (\(Graph.conDSegInputStride)), at most \(ModelConfig.maximumInputSize) (default: \(defaultText)).",
                 valueName: "N")
}

/// Options for choosing the model and the threads it runs on.
struct ModelOptions: ParsableArguments {
    @Option(name: .long, help: modelOptionHelp)
    var model: String?

    @Option(name: .long, parsing: .unconditional, help: "Threads for inference, 1-256.")
    var threads: Int = 2

    func validate() throws {
        guard threads >= 1 && threads <= 256 else { throw ValidationError("--threads must be between 1 and 256") }
    }

    /// The model path: --model (a path, or a bundled model's name), else $CONDSEG_MODEL, else the bundled default.
    func modelPath() throws -> String {
        if let model { return try BundledFiles.model(model) }
        return try defaultModelPath()
    }

    /// The float model, run at `size` when given (else at the size its file records).
    func loadModel(size: Int? = nil) throws -> ConDSegModel {
        let model = try ConDSegModel.load(path: modelPath(), inputSize: size)
        noteInferredConfiguration(model)
        return model
    }
}

/// Models and calibration tables given by name: `--model NAME` and `--calibration NAME` look where the default
/// model is looked for (DefaultModel.candidates), for NAME.safetensors in models/ (or share/condseg/ of an
/// installed tree) and NAME.table.txt in calibration/ (or share/condseg/).
enum BundledFiles {
    /// `value` itself when it is an existing path or has a `/`; else the first bundled NAME.safetensors.
    static func model(_ value: String) throws -> String {
        try resolve(value, suffix: ".safetensors", folder: "models", what: "model", option: "--model")
    }

    /// `value` itself when it is an existing path or has a `/`; else the first bundled NAME.table.txt.
    static func calibration(_ value: String) throws -> String {
        try resolve(value, suffix: ".table.txt", folder: "calibration", what: "calibration table", option: "--calibration")
    }

    /// An empty value (`--model ""`, often an unset shell variable) is a usage error naming `option`.
    static func resolve(_ value: String, suffix: String, folder: String, what: String, option: String) throws -> String {
        if value.isEmpty { throw ValidationError("\(option) is empty: give a \(what) file or the NAME of a bundled \(what)") }
        if value.contains("/") || FileManager.default.fileExists(atPath: value) { return value }
        let fileName = value.hasSuffix(suffix) ? value : value + suffix
        let searched = DefaultModel.candidates(fileName: fileName, folder: folder, executable: DefaultModel.executablePath(),
                                               currentDirectory: FileManager.default.currentDirectoryPath)
        if let found = searched.first(where: { FileManager.default.fileExists(atPath: $0) }) { return found }
        throw InputError(path: value, problem: "no such file, and no bundled \(what) of that name (looked in \(searched.joined(separator: ", ")))")
    }
}

/// Finding the bundled default model when no --model is given.
enum DefaultModel {
    static let fileName = "condseg-r18w64-kvasir.safetensors"

    /// $CONDSEG_MODEL, else the first existing file of `candidates`. CONDSEG_MODEL set but empty is a usage error
    /// rather than taken as unset: it is most often a variable that was meant to hold a path.
    static func path() throws -> String {
        if let env = ProcessInfo.processInfo.environment["CONDSEG_MODEL"] {
            if env.isEmpty {
                throw ValidationError("$CONDSEG_MODEL is set but empty: give a model file or the NAME of a bundled model, or unset it for the default")
            }
            // A bundled model's name works here as with --model; the error says where the value came from.
            do { return try BundledFiles.model(env) } catch let error as InputError {
                throw InputError(path: "\(error.path) (from $CONDSEG_MODEL)", problem: error.problem)
            }
        }
        let searched = candidates(fileName: fileName, folder: "models", executable: executablePath(),
                                  currentDirectory: FileManager.default.currentDirectoryPath)
        if let found = searched.first(where: { FileManager.default.fileExists(atPath: $0) }) { return found }
        throw ValidationError("no default model found (looked in \(searched.joined(separator: ", "))); pass --model FILE or set CONDSEG_MODEL")
    }

    /// Where a bundled file (the default model: `fileName` in `models/`) may be, in order: `PREFIX/share/condseg/`
    /// of an installed tree (the executable is `PREFIX/bin/condseg`, see scripts/install.sh), then `folder/` in the
    /// executable's folder and the five folders above it (a build inside the repository, e.g.
    /// `.build/release/condseg`), then `folder/` under the current folder. `executable` should be the real path
    /// (symlinks resolved).
    static func candidates(fileName: String = DefaultModel.fileName, folder: String = "models", executable: String,
                           currentDirectory: String) -> [String] {
        let binFolder = URL(fileURLWithPath: executable).deletingLastPathComponent()
        var paths = [binFolder.deletingLastPathComponent().appendingPathComponent("share/condseg/\(fileName)").path]
        var dir = binFolder
        for _ in 0..<6 {
            paths.append(dir.appendingPathComponent("\(folder)/\(fileName)").path)
            dir = dir.deletingLastPathComponent()
        }
        paths.append(URL(fileURLWithPath: currentDirectory).appendingPathComponent("\(folder)/\(fileName)").path)
        var seen = Set<String>()
        return paths.filter { seen.insert($0).inserted }
    }

    /// The running executable's real path: /proc/self/exe (right also when condseg was found through PATH or a
    /// symlink), else argv[0] with symlinks resolved.
    static func executablePath() -> String {
        if let path = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") { return path }
        return URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().path
    }
}

/// The bundled default model's path; not finding it is a missing input (exit status 4), not a usage error.
/// An empty $CONDSEG_MODEL stays a usage error (exit status 2).
func defaultModelPath() throws -> String {
    if ProcessInfo.processInfo.environment["CONDSEG_MODEL"]?.isEmpty == true { return try DefaultModel.path() }
    do { return try DefaultModel.path() } catch let error as ValidationError {
        throw InputError(path: DefaultModel.fileName, problem: error.message)
    }
}

/// Prints (stderr) what was inferred when the model file has no `condseg.*` metadata.
func noteInferredConfiguration(_ model: ConDSegModel) {
    if let note = model.configurationNote { printError("note: \(note)") }
}

/// "1 thread", "2 threads".
func threadsText(_ count: Int) -> String { count == 1 ? "1 thread" : "\(count) threads" }

/// A progress line on stderr that rewrites itself on a terminal and prints every 10% otherwise.
struct Progress {
    let label: String
    let total: Int
    let isTerminal = isatty(2) != 0
    private var lastDecile = -1

    init(_ label: String, total: Int) { self.label = label; self.total = total }

    mutating func update(_ done: Int, detail: String = "") {
        let percent = total > 0 ? done * 100 / total : 100
        let suffix = detail.isEmpty ? "" : " \(detail)"   // no trailing space without a detail
        if isTerminal {
            writeStandardError("\r\(label) \(done)/\(total) (\(percent)%)\(suffix)\u{1B}[K")
            if done == total { writeStandardError("\n") }
        } else if percent / 10 != lastDecile || done == total {
            lastDecile = percent / 10
            writeStandardError("\(label) \(done)/\(total) (\(percent)%)\(suffix)\n")
        }
    }
}

/// Writes a line to stderr.
func printError(_ text: String) {
    writeStandardError(text + "\n")
}

/// Prints a JSON object (sorted keys) on stdout.
func printJSON(_ object: Any) throws {
    let data = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys])
    print(String(decoding: data, as: UTF8.self))
}

/// Formats a number with a fixed count of decimals (Foundation-free String(format:) stand-in).
func fixed(_ value: Double, _ decimals: Int) -> String {
    String(format: "%.\(decimals)f", value)
}

extension ModelOptions {
    /// Loads the engine: a quantized model file runs int8 directly; a float model runs float, or int8 with
    /// `calibration` (a table made for that model: a path or a bundled table's name). `size` (from SizeOptions)
    /// runs it at size×size instead of the size its file records; running a table at another size than it was
    /// calibrated at prints a warning.
    func loadEngine(calibration: String?, engine: ExecutorKind, size: Int? = nil) throws -> LoadedEngine {
        do {
            let loaded = try LoadedEngine.load(modelPath: modelPath(), calibration: calibration.map(BundledFiles.calibration),
                                               kind: engine, threads: threads, inputSize: size)
            if let note = loaded.configurationNote { printError("note: \(note)") }
            if let warning = loaded.sizeWarning { printError(warning) }
            return loaded
        } catch let error as EngineChoiceError {
            throw ValidationError(error.description)
        }
    }
}

extension ExecutorKind: ExpressibleByArgument {}

extension ModelConfig {
    /// This configuration with the command line's --encoder/--width/--mid/--size applied (each when given), after
    /// checking that the encoder is known, the width divides among the heads and the size is a positive multiple
    /// of 16 (`train`, `bench --train`).
    func overridden(encoder: String?, width: Int?, mid: Int?, size: Int?) throws -> ModelConfig {
        var config = self
        if let encoder {
            guard let kind = EncoderKind(rawValue: encoder.lowercased()) else {
                throw ValidationError("--encoder must be resnet18, resnet34 or resnet50, not \(encoder)")
            }
            config.encoder = kind
        }
        if let width {
            guard width >= 1 else { throw ValidationError("--width must be a positive number (got \(width))") }
            config.width = width
        }
        if let mid {
            guard mid >= 1 else { throw ValidationError("--mid must be a positive number (got \(mid))") }
            config.mid = mid
        }
        if let size {
            if let problem = ModelConfig.inputSizeProblem(size) { throw ValidationError("--size \(size) \(problem)") }
            config.inputSize = size
        }
        guard config.width % config.heads == 0 else { throw ValidationError("--width must be divisible by \(config.heads)") }
        return config
    }
}

/// The transform of the path options (`--data`, `--out`): refuses the empty string, which a shell gives for an unset
/// variable (`--out "$DIR"`) and which would otherwise mean the current folder.
func nonEmptyPath(_ text: String) throws -> String {
    guard !text.isEmpty else { throw ValidationError("the path is empty: give a file or folder") }
    return text
}

/// The transform of the device options (`--device`, `--v4l2-out`): refuses the empty string (an unset variable in
/// `--device "$CAMERA"`), saying what they want (ArgumentParser's message names the option).
func nonEmptyDevice(_ text: String) throws -> String {
    guard !text.isEmpty else { throw ValidationError("the device path is empty: give a video device such as /dev/video0") }
    return text
}
