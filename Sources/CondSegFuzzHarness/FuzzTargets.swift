// FuzzTargets.swift — what each fuzz target feeds to the runtime's parsers, in one library so that the libFuzzer
// executables (Fuzz/Targets/*, built only with CONDSEG_FUZZ=1) and the test suite's corpus replay
// (Tests/CondSegFuzzHarnessTests) run exactly the same code. Every entry point takes untrusted bytes and must
// either accept them or throw a described error: a trap, an out-of-bounds access (AddressSanitizer) or a hang is
// a bug. Where a parser has an exact inverse, the target also checks the round trip and traps when it fails, so
// that a silent misreading is found as surely as a crash.

import CondSegCapture
import CondSegCore
import CondSegImage
import CondSegInterop
import CondSegRuntime
import Foundation

/// One fuzzed parser.
public enum FuzzTarget: String, CaseIterable, Sendable {
    /// The safetensors reader (header JSON, dtypes, offsets, values) and every typed accessor.
    case safetensors
    /// Model construction from a parsed file: configuration from metadata or inferred from shapes, the graph,
    /// the shape audit, the model and, for quantized files, the embedded calibration and int8 weights.
    case model
    /// The calibration table text format, with a write-and-read-back check.
    case calibrationTable = "calibration-table"
    /// PNG and JPEG decoding (colour and gray) through ImageCodec.
    case image
    /// YUV4MPEG2 replay: the stream header and the frames read from the file.
    case y4m
    /// The image-folder replay source, with the fuzzed bytes as the folder's one image.
    case folderReplay = "folder-replay"
    /// V4L2 frame conversion: any pixel format, width, height, stride and byte count.
    case frameConversion = "frame-conversion"
    /// The zip reader PyTorch checkpoints go through: end records (ZIP64 included), the central directory, local
    /// headers and each stored entry's CRC-32.
    case zip
    /// A whole PyTorch checkpoint (zip, then the restricted unpickler, then each tensor gathered from its storage);
    /// an input that does not start like a zip archive goes to the restricted unpickler alone.
    case checkpoint
}

/// What a target did with one input.
public enum FuzzOutcome: Equatable, Sendable {
    /// The input was read as valid.
    case accepted
    /// The input was refused with an error (which is printed by the replay tests when asked).
    case rejected(String)
}

/// Entry points for the fuzz targets.
public enum FuzzHarness {
    /// Runs `target` on one input.
    public static func run(_ target: FuzzTarget, _ data: UnsafeRawBufferPointer) -> FuzzOutcome {
        let bytes = [UInt8](data)
        do {
            switch target {
            case .safetensors: try safetensors(bytes)
            case .model: try model(bytes)
            case .calibrationTable: try calibrationTable(bytes)
            case .image: try image(bytes)
            case .y4m: try y4m(bytes)
            case .folderReplay: try folderReplay(bytes)
            case .frameConversion: try frameConversion(bytes)
            case .zip: try zip(bytes)
            case .checkpoint: try checkpoint(bytes)
            }
            return .accepted
        } catch {
            return .rejected("\(error)")
        }
    }

    /// Runs `target` on bytes held in an array (the replay tests).
    public static func run(_ target: FuzzTarget, bytes: [UInt8]) -> FuzzOutcome {
        bytes.withUnsafeBytes { run(target, $0) }
    }

    // MARK: Targets

    static func safetensors(_ bytes: [UInt8]) throws {
        let file = try SafeTensorsFile(bytes: bytes, name: "fuzz.safetensors")
        for name in file.names {
            let entry = try file.entry(name)
            let count = entry.shape.reduce(1, *)
            switch entry.dtype {
            case .i8:
                let n = try file.int8s(name).count
                check(n == count, "int8 count")
            case .u8:
                let n = try file.uint8s(name).count
                check(n == count, "uint8 count")
            case .i32:
                let n = try file.int32s(name).count
                check(n == count, "int32 count")
            case .i64:
                let n = try file.int64s(name).count
                check(n == count, "int64 count")
            default:
                if entry.dtype.isFloatingPoint {
                    let values = try file.floats(name)
                    check(values.count == count, "float count")
                    check(values.allSatisfy { $0.isFinite }, "a non-finite value passed validation")
                } else {
                    let n = try file.rawBytes(name).count
                check(n == entry.byteCount, "raw byte count")
                }
            }
        }
    }

    static func model(_ bytes: [UInt8]) throws {
        let file = try SafeTensorsFile(bytes: bytes, name: "fuzz.safetensors")
        let config = try ModelConfig(file: file)
        let graph = GraphCache.shared.graph(for: config)
        _ = ConDSegModel.audit(file: file, config: config, graph: graph)
        if QuantizedModelFile.isQuantized(file) {
            _ = try QuantizedModelFile.summary(of: file)
        } else {
            _ = try ConDSegModel(file: file)
        }
    }

    static func calibrationTable(_ bytes: [UInt8]) throws {
        guard let text = String(bytes: bytes, encoding: .utf8) else {
            throw FuzzInputError("not UTF-8")
        }
        let table = try CalibrationTable.parse(text, file: "fuzz.table.txt")
        let again: CalibrationTable
        do { again = try CalibrationTable.parse(table.text, file: "written") } catch {
            fatalError("a table that parsed does not read back after writing: \(error)")
        }
        if again != table {
            let first = table.text.split(separator: "\n", omittingEmptySubsequences: false)
            let second = again.text.split(separator: "\n", omittingEmptySubsequences: false)
            let line = (0..<min(first.count, second.count)).first { first[$0] != second[$0] } ?? min(first.count, second.count)
            fatalError("fuzz property failed: table changed in a write/read round trip at written line \(line + 1): "
                       + "'\(line < first.count ? first[line] : "")' became '\(line < second.count ? second[line] : "")'")
        }
        check(again.text == table.text, "table text changed in a second round trip")
    }

    static func image(_ bytes: [UInt8]) throws {
        var failures: [String] = []
        for gray in [false, true] {
            do {
                let decoded = gray ? try ImageCodec.decodeGray(data: bytes, name: "fuzz-image")
                                   : try ImageCodec.decodeRGB(data: bytes, name: "fuzz-image")
                check(decoded.width > 0 && decoded.height > 0, "decoded an empty image")
                check(decoded.pixels.count == decoded.width * decoded.height * decoded.channels, "pixel count")
                check(decoded.channels == (gray ? 1 : 3), "channel count")
            } catch {
                failures.append("\(error)")
            }
        }
        if failures.count == 2 { throw FuzzInputError(failures[0]) }
    }

    static func y4m(_ bytes: [UInt8]) throws {
        let path = try ScratchFiles.shared.write(bytes, name: "fuzz.y4m")
        let source = Y4MSource(path: path, paced: false, loop: false)
        defer { source.stop() }
        let format = try source.start()
        var frames = 0
        // A frame's size is fixed by the header, so a bounded number of reads covers every path.
        for _ in 0..<8 {
            switch try source.next(timeoutMilliseconds: 0) {
            case .frame(let frame, _):
                check(frame.format.width == format.width && frame.format.height == format.height, "frame size changed")
                _ = try FrameConversion.rgb(frame)
                frames += 1
            case .endOfStream, .corrupt:
                return
            case .timeout, .formatChanged:
                fatalError("a y4m file produced a timeout or format change")
            }
        }
    }

    static func folderReplay(_ bytes: [UInt8]) throws {
        // The first byte chooses the file's extension (the source lists by extension, decodes by content).
        let extensions = ["png", "jpg", "jpeg", "PNG", "JPG"]
        let name = "frame." + extensions[Int(bytes.first ?? 0) % extensions.count]
        let folder = try ScratchFiles.shared.folder(with: Array(bytes.dropFirst()), name: name)
        let source = ImageFolderSource(folder: folder, framesPerSecond: 30, paced: false, loop: false)
        defer { source.stop() }
        let format = try source.start()
        check(format.pixelFormat == .rgb24, "folder replay format")
        switch try source.next(timeoutMilliseconds: 0) {
        case .frame(let frame, _):
            try FrameConversion.validate(frame)
            _ = try FrameConversion.modelInput(frame, size: 32, bgr: true, scale: 1.0 / 255.0)
        case .corrupt(let reason):
            throw FuzzInputError(reason)
        default:
            fatalError("a folder with one image gave no frame")
        }
    }

    /// Layout of the input: byte 0 pixel format, 1 encoding flags, 2…5 width, 6…9 height, 10…13 bytes per
    /// line (0 = the format's natural stride), 14 model input size; the rest are the frame's bytes.
    /// Sizes are 32-bit as V4L2 reports them, so arithmetic on driver values is fuzzed too.
    static func frameConversion(_ bytes: [UInt8]) throws {
        guard bytes.count >= 15 else { throw FuzzInputError("shorter than the 15-byte frame description") }
        func u32(_ at: Int) -> Int {
            Int(bytes[at]) | Int(bytes[at + 1]) << 8 | Int(bytes[at + 2]) << 16 | Int(bytes[at + 3]) << 24
        }
        let formats = PixelFormat.allCases
        let pixelFormat = formats[Int(bytes[0]) % formats.count]
        let encoding = YCbCrEncoding(bt709: bytes[1] & 1 != 0, fullRange: bytes[1] & 2 != 0)
        let stride = u32(10)
        let format = FrameFormat(pixelFormat: pixelFormat, width: u32(2), height: u32(6),
                                 bytesPerLine: stride == 0 ? nil : stride, encoding: encoding)
        let frame = Frame(format: format, bytes: Array(bytes[15...]), captureTimeNanos: 0, sequence: 0, label: "fuzz")
        let size = 16 * (1 + Int(bytes[14] % 4))
        let input = try FrameConversion.modelInput(frame, size: size, bgr: bytes[1] & 4 != 0, scale: 1.0 / 255.0)
        check(input.count == 3 * size * size, "model input size")
        let rgb = try FrameConversion.rgb(frame)
        check(rgb.pixels.count == rgb.width * rgb.height * 3, "rgb size")
    }

    static func zip(_ bytes: [UInt8]) throws {
        let archive = try ZipArchive(bytes: bytes, file: "fuzz.zip")
        var refusals: [String] = []
        for entry in archive.entries {
            check(archive.entry(entry.name) != nil, "an entry is not found by its own name")
            do {
                let data = try archive.data(of: entry)
                check(data.count == entry.uncompressedSize, "entry data length differs from its recorded size")
                check(CRC32.checksum(data) == entry.crc32, "entry data returned with a CRC-32 that does not match")
            } catch {
                refusals.append("\(error)")
            }
        }
        // An archive whose every entry is refused is refused (an archive with no entry is accepted).
        if !refusals.isEmpty && refusals.count == archive.entries.count { throw FuzzInputError(refusals[0]) }
    }

    static func checkpoint(_ bytes: [UInt8]) throws {
        guard ZipArchive.looksLikeZip(bytes) else {
            // Not a zip archive: the bytes are a pickle for the restricted unpickler on its own.
            _ = try RestrictedUnpickler(bytes: bytes[...], file: "fuzz.pkl").read()
            return
        }
        let checkpoint = try PyTorchCheckpoint(bytes: bytes, file: "fuzz.pth")
        var shapes: [String: [Int]] = [:]
        for tensor in checkpoint.tensors {
            let count = tensor.shape.reduce(1, *)
            check(tensor.bytes.count == count * tensor.type.elementSize, "tensor bytes do not match its shape")
            shapes[tensor.name] = tensor.shape
        }
        check(shapes.count == checkpoint.tensors.count, "a tensor name appears twice")
        // What `condseg import` does next with the shapes (a configuration, or a described refusal).
        _ = try? ModelConfig.inferred(from: shapes, file: "fuzz.pth")
    }

    // MARK: Support

    /// Traps with `what` when `condition` fails: a property the parser promises did not hold.
    static func check(_ condition: Bool, _ what: String) {
        if !condition { fatalError("fuzz property failed: \(what)") }
    }
}

/// The last graphs built, by configuration: building one is most of a model input's cost, and most mutations
/// keep the configuration. (Graph construction from a configuration is still fuzzed on every new one.)
final class GraphCache: @unchecked Sendable {
    static let shared = GraphCache()
    private var graphs: [(ModelConfig, Graph)] = []

    func graph(for config: ModelConfig) -> Graph {
        if let hit = graphs.first(where: { $0.0 == config }) { return hit.1 }
        let graph = Graph.conDSeg(config)
        graphs.append((config, graph))
        if graphs.count > 8 { graphs.removeFirst() }
        return graph
    }
}

/// An input the harness itself refuses before any parser sees it.
struct FuzzInputError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// One private scratch folder per process (in /dev/shm when it exists) for the targets whose parsers read
/// from paths; each input overwrites the previous one.
final class ScratchFiles: @unchecked Sendable {
    static let shared = ScratchFiles()
    let root: String

    private init() {
        let base = FileManager.default.fileExists(atPath: "/dev/shm") ? "/dev/shm" : NSTemporaryDirectory()
        root = "\(base)/condseg-fuzz-\(getpid())"
        try? FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        atexit { try? FileManager.default.removeItem(atPath: ScratchFiles.shared.root) }
    }

    /// Writes `bytes` to a file called `name` in the scratch folder and returns its path.
    func write(_ bytes: [UInt8], name: String) throws -> String {
        let path = "\(root)/\(name)"
        guard FileManager.default.createFile(atPath: path, contents: Data(bytes)) else {
            throw FuzzInputError("cannot write the scratch file \(path)")
        }
        return path
    }

    /// A folder holding exactly one file, `name`, with `bytes`; returns the folder's path.
    func folder(with bytes: [UInt8], name: String) throws -> String {
        let folder = "\(root)/folder"
        try? FileManager.default.removeItem(atPath: folder)
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
        guard FileManager.default.createFile(atPath: "\(folder)/\(name)", contents: Data(bytes)) else {
            throw FuzzInputError("cannot write the scratch file \(folder)/\(name)")
        }
        return folder
    }
}
