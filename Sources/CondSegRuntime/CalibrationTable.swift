// CalibrationTable.swift — the calibration table: one quantization record per activation tensor (a graph value that a
// convolution reads), in a human-editable text file headed by the model's SHA-256, the calibration method and
// the images it came from. The int8 executors read it (`--calibration TABLE`); `condseg calibrate` writes it;
// `condseg quantize` embeds it in the deployable file.
//
// Format (one record per line; `#` starts a comment; header lines are `# key: value`):
//   # condseg calibration table
//   # tool: condseg 0.1.0
//   # model_sha256: 3f5a…
//   # method: percentile 99.99
//   # images: 100
//   # list: calib.txt
//   # images_sha256: …            (SHA-256 of the image names joined by "\n")
//   # image_names: a,b,c,…
//   # date: 2026-11-26T21:00:00Z
//   # weight_bits: 7              (only for 7- or 6-bit weights; a table without the line has 8-bit weights)
//   # input_size: 256             (the square size the images ran at; a table without it: the model file's size)
//   <tensor> <scale> <zero_point> <int8|float> [# comment]
// A record flagged `float` makes every convolution reading that tensor run in float32 (hand edits welcome).
// `weight_bits` is how the weights of the int8 convolutions are quantized with this table: 8 (−127…127), 7
// (−63…63, which lets the AVX2 kernel use vpmaddubsw, exactly) or 6 (−31…31, which lets it sum two vpmaddubsw in
// int16 before widening, exactly). Every kernel computes the same bits for the same table.
// `input_size` matters because activation ranges depend on the input size: a table run at another size still
// works, but its ranges may not fit (the tools warn).

import CondSegCore
import CondSegIO
import Foundation

/// Asymmetric uint8 quantization of one activation tensor: real = scale · (q − zeroPoint), q ∈ 0…255.
public struct ActivationQuantization: Sendable, Equatable {
    public var scale: Float
    public var zeroPoint: Int32

    public init(scale: Float, zeroPoint: Int32) {
        self.scale = scale
        self.zeroPoint = zeroPoint
    }

    /// The quantization covering [low, high], widened to include 0 (so zero is exact and padding is the zero
    /// point); a degenerate range gets a tiny positive scale.
    public init(low: Float, high: Float) {
        let lo = min(low, 0), hi = max(high, 0)
        let span = hi - lo
        guard span.isFinite, span > 1e-30 else {
            self.init(scale: 1e-8, zeroPoint: 0)
            return
        }
        let scale = span / 255
        let zp = (-lo / scale).rounded(.toNearestOrEven)
        self.init(scale: scale, zeroPoint: Int32(max(0, min(255, zp))))
    }

    /// q = clamp(rint(x · (1/scale)) + zeroPoint, 0, 255), the rounding of the C kernels (NaN gives 0).
    @inline(__always)
    public func quantize(_ x: Float) -> UInt8 {
        let v = (x * (1 / scale)).rounded(.toNearestOrEven)
        guard !v.isNaN else { return 0 }
        let q = v + Float(zeroPoint)
        return UInt8(max(0, min(255, q)))
    }

    /// scale · (q − zeroPoint).
    @inline(__always)
    public func dequantize(_ q: UInt8) -> Float { Float(Int32(q) - zeroPoint) * scale }

    /// Smallest and largest representable real values.
    public var range: ClosedRange<Float> { dequantize(0)...dequantize(255) }
}

/// Whether the convolutions reading a tensor run in int8 or stay float32.
public enum TensorPrecision: String, Sendable, Equatable {
    case int8
    case float
}

/// One line of the table.
public struct CalibrationEntry: Sendable, Equatable {
    /// The tensor's unique value name (`Graph.valueNames`).
    public var name: String
    public var quantization: ActivationQuantization
    public var precision: TensorPrecision
    /// Free text after `#` (why a layer is float, the observed range, refinement factor…).
    public var comment: String

    public init(name: String, quantization: ActivationQuantization, precision: TensorPrecision, comment: String = "") {
        self.name = name
        self.quantization = quantization
        self.precision = precision
        self.comment = comment
    }
}

/// Errors reading or applying a calibration table: one line naming the file and the problem.
public struct CalibrationTableError: Error, CustomStringConvertible, Equatable {
    public let file: String
    public let problem: String
    public init(file: String, problem: String) { self.file = file; self.problem = problem }
    public var description: String { "\(file): \(problem)" }
}

/// A calibration table: header facts and one record per activation tensor, in graph order.
public struct CalibrationTable: Sendable, Equatable {
    public var toolVersion: String
    public var modelSHA256: String
    /// "minmax", "percentile 99.99", "entropy" (plus refinement notes).
    public var method: String
    public var imageCount: Int
    /// The list file the images came from ("" when a folder was used whole).
    public var listFile: String
    /// SHA-256 of the image names joined by "\n".
    public var imagesSHA256: String
    public var imageNames: [String]
    /// ISO 8601 date of the calibration.
    public var date: String
    /// Bits of the int8 convolution weights: 8 (−127…127), 7 (−63…63) or 6 (−31…31).
    public var weightBits: Int = 8
    /// The square input size the calibration images ran at; nil for tables written before it was recorded (they
    /// were made at the model file's own input size).
    public var inputSize: Int? = nil
    /// Extra header facts (`# key: value` lines with other keys), in file order.
    public var notes: [(String, String)]
    public var entries: [CalibrationEntry]
    /// The line of each tensor's record in the file it was parsed from (for errors found later; not compared).
    var recordLines: [String: Int] = [:]

    public init(toolVersion: String, modelSHA256: String, method: String, imageNames: [String], listFile: String,
                date: String, entries: [CalibrationEntry], notes: [(String, String)] = [], weightBits: Int = 8) {
        self.toolVersion = toolVersion
        self.modelSHA256 = modelSHA256
        self.method = method
        self.imageCount = imageNames.count
        self.listFile = listFile
        self.imagesSHA256 = SHA256.hex(Array(imageNames.joined(separator: "\n").utf8))
        self.imageNames = imageNames
        self.date = date
        self.entries = entries
        self.notes = notes
        self.weightBits = weightBits
    }

    public static func == (a: CalibrationTable, b: CalibrationTable) -> Bool {
        a.toolVersion == b.toolVersion && a.modelSHA256 == b.modelSHA256 && a.method == b.method
            && a.imageCount == b.imageCount && a.listFile == b.listFile && a.imagesSHA256 == b.imagesSHA256
            && a.imageNames == b.imageNames && a.date == b.date && a.entries == b.entries && a.weightBits == b.weightBits
            && a.inputSize == b.inputSize
            && a.notes.map { $0.0 + "\u{0}" + $0.1 } == b.notes.map { $0.0 + "\u{0}" + $0.1 }
    }

    /// The record of tensor `name`, if any.
    public func entry(_ name: String) -> CalibrationEntry? { entries.first { $0.name == name } }

    /// Replaces (or appends) a record.
    public mutating func set(_ entry: CalibrationEntry) {
        if let i = entries.firstIndex(where: { $0.name == entry.name }) { entries[i] = entry } else { entries.append(entry) }
    }

    /// The table as text (see the file header for the format). Scales are written with the shortest decimal
    /// that reads back to the same Float, so a round trip is exact.
    public var text: String {
        var lines = ["# condseg calibration table",
                     "# tool: condseg \(toolVersion)",
                     "# model_sha256: \(modelSHA256)",
                     "# method: \(method)",
                     "# images: \(imageCount)",
                     "# list: \(listFile)",
                     "# images_sha256: \(imagesSHA256)",
                     "# image_names: \(imageNames.joined(separator: ","))",
                     "# date: \(date)"]
        if weightBits != 8 { lines.append("# weight_bits: \(weightBits)") }   // 8-bit tables keep their old text
        if let inputSize { lines.append("# input_size: \(inputSize)") }
        for (key, value) in notes { lines.append("# \(key): \(value)") }
        lines.append("# columns: tensor scale zero_point int8|float [# comment]; `float` keeps the convolutions reading it in float32")
        let width = (entries.map(\.name.count).max() ?? 0) + 2
        for e in entries {
            // Padded in Characters, as `width` is counted (Foundation's padding counts UTF-16 units).
            var line = e.name + String(repeating: " ", count: max(1, width - e.name.count))
            line += "\(e.quantization.scale) \(e.quantization.zeroPoint) \(e.precision.rawValue)"
            if !e.comment.isEmpty { line += "  # \(e.comment)" }
            lines.append(line)
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// Parses table text; `file` names the source in errors.
    public static func parse(_ text: String, file: String) throws -> CalibrationTable {
        var header: [String: String] = [:]
        var notes: [(String, String)] = []
        var entries: [CalibrationEntry] = []
        var seen = Set<String>()
        var headerLines: [String: Int] = [:], recordLines: [String: Int] = [:]   // line numbers, for errors
        let known: Set<String> = ["tool", "model_sha256", "method", "images", "list", "images_sha256", "image_names", "date", "columns", "weight_bits", "input_size"]
        // Lines end with LF, CRLF or CR (a table edited on another system); Swift reads CRLF as one Character.
        for (index, raw) in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty { continue }
            if line.hasPrefix("#") {
                let body = line.dropFirst().trimmingCharacters(in: .whitespaces)
                if let colon = body.firstIndex(of: ":") {
                    let key = String(body[..<colon]).trimmingCharacters(in: .whitespaces)
                    let value = String(body[body.index(after: colon)...]).trimmingCharacters(in: .whitespaces)
                    if !key.isEmpty, !key.contains(" ") {
                        if known.contains(key) {
                            // Two lines for one setting (a hand edit that appended a new value): which one counts
                            // would be a guess, so it is an error naming both lines.
                            if let first = headerLines[key] {
                                throw CalibrationTableError(file: file, problem: "line \(index + 1): '# \(key):' appears twice (first on line \(first))")
                            }
                            header[key] = value; headerLines[key] = index + 1
                        } else { notes.append((key, value)) }
                    }
                }
                continue
            }
            var content = line
            var comment = ""
            // A comment starts at a '#' after whitespace ("name#2" is a tensor name).
            if let hash = line.indices.first(where: { line[$0] == "#" && $0 > line.startIndex
                                                      && line[line.index(before: $0)].isWhitespace }) {
                content = String(line[..<hash]).trimmingCharacters(in: .whitespaces)
                comment = String(line[line.index(after: hash)...]).trimmingCharacters(in: .whitespaces)
            }
            let fields = content.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            let where_ = "line \(index + 1)"
            guard fields.count == 4 else {
                throw CalibrationTableError(file: file, problem: "\(where_): expected 'tensor scale zero_point int8|float', got '\(content)'")
            }
            guard let scale = Float(fields[1]), scale.isFinite, scale > 0 else {
                let why = Double(fields[1]).map { $0.isFinite && $0 > 0 } == true
                    ? "is outside the float32 range (a positive number from \(Float.leastNonzeroMagnitude) to \(Float.greatestFiniteMagnitude))"
                    : "is not a positive number"
                throw CalibrationTableError(file: file, problem: "\(where_): scale '\(fields[1])' of \(fields[0]) \(why)")
            }
            guard let zp = Int32(fields[2]), (0...255).contains(zp) else {
                throw CalibrationTableError(file: file, problem: "\(where_): zero point '\(fields[2])' of \(fields[0]) is not an integer 0…255")
            }
            guard let precision = TensorPrecision(rawValue: fields[3].lowercased()) else {
                throw CalibrationTableError(file: file, problem: "\(where_): flag '\(fields[3])' of \(fields[0]) is neither int8 nor float")
            }
            guard seen.insert(fields[0]).inserted else {
                throw CalibrationTableError(file: file, problem: "\(where_): tensor \(fields[0]) is listed twice")
            }
            recordLines[fields[0]] = index + 1
            entries.append(CalibrationEntry(name: fields[0], quantization: ActivationQuantization(scale: scale, zeroPoint: zp),
                                            precision: precision, comment: comment))
        }
        guard let sha = header["model_sha256"] else {
            throw CalibrationTableError(file: file, problem: "no '# model_sha256:' header line (is this a condseg calibration table?)")
        }
        guard sha.count == 64, sha.allSatisfy(\.isHexDigit) else {
            throw CalibrationTableError(file: file, problem: "line \(headerLines["model_sha256"] ?? 0): '# model_sha256: \(sha)' is not a SHA-256 (64 hexadecimal digits)")
        }
        guard !entries.isEmpty else { throw CalibrationTableError(file: file, problem: "the table has no tensor lines") }
        var tool = header["tool"] ?? ""
        if tool.hasPrefix("condseg") { tool = String(tool.dropFirst("condseg".count)).trimmingCharacters(in: .whitespaces) }
        // Each name is trimmed, as the whole value is: a space at the end of the last name (or the start of the
        // first) cannot survive a line that is read trimmed, so no name keeps one, and the text round-trips.
        let names = (header["image_names"] ?? "").split(separator: ",")
            .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        var table = CalibrationTable(toolVersion: tool, modelSHA256: sha, method: header["method"] ?? "",
                                     imageNames: names, listFile: header["list"] ?? "", date: header["date"] ?? "",
                                     entries: entries, notes: notes)
        table.recordLines = recordLines
        if let count = header["images"].flatMap({ Int($0) }) { table.imageCount = count }
        if let bits = header["weight_bits"] {
            guard let value = Int(bits), Int8ConvWeights.supportedBits.contains(value) else {
                throw CalibrationTableError(file: file, problem: "weight_bits '\(bits)' is not 6, 7 or 8")
            }
            table.weightBits = value
        }
        if let text = header["input_size"] {
            guard let value = Int(text), ModelConfig.inputSizeProblem(value) == nil else {
                throw CalibrationTableError(file: file, problem: "input_size '\(text)' is not a positive multiple of \(Graph.conDSegInputStride) up to \(ModelConfig.maximumInputSize)")
            }
            table.inputSize = value
        }
        if let hash = header["images_sha256"], !hash.isEmpty { table.imagesSHA256 = hash }
        return table
    }

    /// Reads and parses a table file.
    public static func load(path: String) throws -> CalibrationTable {
        let bytes: [UInt8]
        do { bytes = try InputFile.read(path, what: "the calibration table") } catch {
            throw CalibrationTableError(file: path, problem: error.problem)
        }
        guard let text = String(bytes: bytes, encoding: .utf8) else {
            throw CalibrationTableError(file: path, problem: "not UTF-8 text")
        }
        return try parse(text, file: path)
    }

    /// Writes the table atomically (temporary file in the same folder, then rename).
    public func write(to path: String) throws {
        try AtomicFile.write(text, to: path)
    }

    /// Throws unless the table was made for the model with SHA-256 `sha256` (from `model`, named in the error).
    public func check(modelSHA256 sha256: String, model: String, file: String) throws {
        guard sha256 == modelSHA256 else {
            throw CalibrationTableError(file: file, problem: "made for the model with SHA-256 \(modelSHA256), but \(model) has SHA-256 \(sha256); calibrate this model (condseg calibrate)")
        }
    }

    /// The warning to print when this table runs at `runSize`×`runSize` but was calibrated at another size
    /// (`inputSize`, else `modelSize`, the size the model file records), or nil when the sizes agree. The advice
    /// depends on what the user has: a table file beside a float model can be calibrated again at this size; the
    /// table inside a quantized model file (`embedded`) cannot, so that file is either run at its recorded size or
    /// made again by `quantize` from the float model and a table calibrated at this size.
    public func sizeWarning(runSize: Int, modelSize: Int, file: String, embedded: Bool = false) -> String? {
        let calibrated = inputSize ?? modelSize
        guard calibrated != runSize else { return nil }
        let advice = embedded
            ? "; run this file at its own size (without --size, or --size \(calibrated)), or quantize the float model again from a table calibrated at \(runSize) (condseg calibrate --size \(runSize), then condseg quantize)"
            : " (calibrate at this size with condseg calibrate --size \(runSize))"
        return "warning: \(file): calibrated at \(calibrated)×\(calibrated) but running at \(runSize)×\(runSize): its activation ranges may not fit\(advice)"
    }

    /// Throws unless every tensor a convolution of `graph` reads has a record and every record names a tensor of
    /// `graph` (names as in `Graph.valueNames`): a hand-edited line with a misspelt name would otherwise change nothing.
    public func check(graph: Graph, file: String) throws {
        let names = graph.valueNames
        let byName = Set(entries.map(\.name))
        let known = Set(names)
        if let stray = entries.first(where: { !known.contains($0.name) }) {
            let line = recordLines[stray.name].map { "line \($0): " } ?? ""
            throw CalibrationTableError(file: file, problem: "\(line)a record names tensor \(stray.name), which this model's graph does not have (a misspelt name, or a table of another model)")
        }
        for node in graph.nodes {
            guard case .conv = node.kind else { continue }
            let input = names[node.inputs[0]]
            if !byName.contains(input) {
                throw CalibrationTableError(file: file, problem: "no record for tensor \(input) (read by \(names[node.id])); the table does not match this model's graph")
            }
        }
    }
}
