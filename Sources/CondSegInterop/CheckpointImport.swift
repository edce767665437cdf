// CheckpointImport.swift — turns a PyTorch checkpoint (or a safetensors file without `condseg.*` metadata) into a
// condseg model file: the `module.` prefix of a DataParallel save removed, BatchNorm's `num_batches_tracked`
// counters kept as int64 (as condseg's own files keep them; inference does not read them), the auxiliary head's
// tensors dropped unless asked to keep them (the uncertainty branch `decouple_layer.cbr_uc` is kept, as in the
// bundled model),
// the configuration inferred from the tensor shapes (ConfigInference.swift) and written as `condseg.*` metadata.
// Tensor bytes are copied unchanged (float32, float16 and bfloat16 keep their type), so a checkpoint saved from a
// condseg model imports to the same tensors bit for bit.

import CondSegCore
import CondSegIO
import Foundation

/// What `import` assumes for the values the weights do not record (nil: the release value).
public struct ImportAssumptions: Sendable {
    public var inputSize: Int?
    public var channelOrder: ChannelOrder?
    public var scaleText: String?
    public init(inputSize: Int? = nil, channelOrder: ChannelOrder? = nil, scaleText: String? = nil) {
        self.inputSize = inputSize; self.channelOrder = channelOrder; self.scaleText = scaleText
    }
}

/// The result of an import: the file's bytes (already validated as a ConDSeg model) and what was done.
public struct ImportedModel: Sendable {
    public let writer: SafeTensorsWriter
    public let config: ModelConfig
    /// One line per thing the user should know (wrapper key, prefix, dropped tensors, inferred configuration).
    public let notes: [String]
    public let tensorCount: Int
}

/// One tensor read from the source file.
struct SourceTensor {
    var name: String
    /// The safetensors type it maps to (nil for types a model cannot hold).
    var dtype: DType?
    /// Its type as the source names it, for messages.
    var torchType: String
    var shape: [Int]
    var bytes: [UInt8]
}

public enum CheckpointImport {
    /// Builds the model file for the checkpoint or safetensors file at `path`. `keepAuxiliary` keeps the auxiliary
    /// head's tensors (training only). Errors name `path`.
    public static func run(path: String, keepAuxiliary: Bool, assumptions: ImportAssumptions) throws -> ImportedModel {
        var notes: [String] = []
        var tensors: [SourceTensor] = []
        var sourceMetadata: [String: String] = [:]
        let head = try readFileBytes(path)
        if ZipArchive.looksLikeZip(head) || (head.count >= 3 && head[0] == 0x80 && head[1] == 0x02 && head[2] == 0x8A) {
            let checkpoint = try PyTorchCheckpoint(bytes: head, file: path)
            if let key = checkpoint.wrapperKey { notes.append("\(path): the state_dict is under the key '\(key)' of the checkpoint's dict") }
            if checkpoint.bigEndian { notes.append("\(path): big-endian storages, converted to little-endian") }
            for t in checkpoint.tensors {
                let dtype: DType?
                switch t.type {
                case .float: dtype = .f32
                case .half: dtype = .f16
                case .bfloat16: dtype = .bf16
                case .long: dtype = .i64
                default: dtype = nil
                }
                tensors.append(SourceTensor(name: t.name, dtype: dtype, torchType: t.type.dtypeName, shape: t.shape, bytes: t.bytes))
            }
        } else {
            // A safetensors file is an 8-byte length then its JSON header; anything else is neither format.
            let json = head.dropFirst(8).first { $0 != 0x20 && $0 != 0x09 && $0 != 0x0A && $0 != 0x0D }
            guard head.count > 8, json == UInt8(ascii: "{") else {
                throw InputError(path: path, problem: "not a PyTorch checkpoint (a torch.save zip archive) or a safetensors file")
            }
            let file = try SafeTensorsFile(bytes: head, name: path)
            sourceMetadata = file.metadata
            for name in file.names {
                let entry = file.entries[name]!
                tensors.append(SourceTensor(name: name, dtype: entry.dtype, torchType: entry.dtype.rawValue, shape: entry.shape,
                                            bytes: try file.rawBytes(name)))
            }
        }

        // DataParallel / DistributedDataParallel saves prefix every key with "module.".
        if !tensors.isEmpty, tensors.allSatisfy({ $0.name.hasPrefix("module.") }) {
            for k in tensors.indices { tensors[k].name = String(tensors[k].name.dropFirst("module.".count)) }
            notes.append("\(path): removed the 'module.' prefix (a DataParallel save) from \(tensors.count) tensor names")
        }
        var seen = Set<String>()
        for t in tensors where !seen.insert(t.name).inserted {
            throw InputError(path: path, problem: "tensor '\(t.name)' appears twice (after removing the 'module.' prefix)")
        }

        var shapes: [String: [Int]] = [:]
        for t in tensors { shapes[t.name] = t.shape }
        var config: ModelConfig
        if ModelConfig.hasConfigurationMetadata(sourceMetadata) {
            config = try ModelConfig(metadata: sourceMetadata, file: path)
            notes.append("\(path): configuration from its condseg.* metadata: \(config)")
            let ignored = [assumptions.inputSize.map { _ in "--input-size" }, assumptions.channelOrder.map { _ in "--channel-order" },
                           assumptions.scaleText.map { _ in "--scale" }].compactMap { $0 }
            if !ignored.isEmpty {
                notes.append("\(ignored.joined(separator: ", ")) ignored: \(path) records its configuration (run it at another size with --size N)")
            }
        } else {
            config = try ModelConfig.inferred(from: shapes, file: path)
            if let size = assumptions.inputSize { config.inputSize = size }
            if let order = assumptions.channelOrder { config.channelOrder = order }
            if let scale = assumptions.scaleText {
                config = ModelConfig(encoder: config.encoder, width: config.width, mid: config.mid, heads: config.heads,
                                     inputSize: config.inputSize, channelOrder: config.channelOrder, scaleText: scale)
            }
            notes.append("inferred from the tensor shapes: \(config.encoder.rawValue), width \(config.width), mid \(config.mid), heads \(config.heads); input \(config.inputSize)×\(config.inputSize), \(config.channelOrder.rawValue.uppercased()), scale \(config.scaleText) (\(assumptions.inputSize == nil && assumptions.channelOrder == nil && assumptions.scaleText == nil ? "release values: the weights do not record them" : "as given or the release values"))")
        }

        let full = Graph.conDSeg(config, auxiliaryHead: true)
        var auxiliary = full.parameters(role: .auxiliaryHead)
        for name in auxiliary where name.hasSuffix(".running_mean") {
            auxiliary.insert(String(name.dropLast("running_mean".count)) + "num_batches_tracked")
        }
        let present = tensors.filter { auxiliary.contains($0.name) }
        if !present.isEmpty {
            if keepAuxiliary {
                notes.append("kept \(present.count) tensors of the auxiliary head (--keep-aux)")
            } else {
                tensors.removeAll { auxiliary.contains($0.name) }
                notes.append("dropped \(present.count) tensors of the auxiliary head (training only; --keep-aux keeps them)")
            }
        }
        let counters = tensors.filter { $0.name.hasSuffix(".num_batches_tracked") }
        if !counters.isEmpty {
            notes.append("\(path): kept \(counters.count) BatchNorm num_batches_tracked counters as int64 (inference does not read them)")
        }
        let unknown = tensors.filter { full.parameters[$0.name] == nil && !$0.name.hasSuffix(".num_batches_tracked") }.map(\.name)
        if !unknown.isEmpty {
            notes.append("kept \(unknown.count) tensors that ConDSeg does not read: \(unknown.prefix(5).joined(separator: ", "))\(unknown.count > 5 ? ", …" : "")")
        }

        var writer = SafeTensorsWriter(metadata: config.metadata)
        for t in tensors {
            let counter = t.name.hasSuffix(".num_batches_tracked") && t.dtype == .i64
            guard let dtype = t.dtype, dtype.isFloatingPoint || counter else {
                throw InputError(path: path, problem: "tensor '\(t.name)' is \(t.torchType); a model holds float32, float16 or bfloat16 tensors")
            }
            do { try writer.add(t.name, dtype: dtype, rawBytes: t.bytes, shape: t.shape) } catch {
                throw InputError(path: path, problem: "tensor '\(t.name)': \(error.problem)")
            }
        }
        // The result must load as a ConDSeg model of that configuration (every tensor present, right shapes).
        do {
            let file = try SafeTensorsFile(bytes: writer.serialize(), name: path)
            let model = try ConDSegModel(file: file)
            if keepAuxiliary && !present.isEmpty { _ = try model.graph(auxiliaryHead: true) }
        } catch let error as WeightsError {
            throw InputError(path: path, problem: error.tensor.map { "tensor '\($0)': " + error.problem } ?? error.problem)
        }
        return ImportedModel(writer: writer, config: config, notes: notes, tensorCount: tensors.count)
    }
}

extension CheckpointError: StatusError {
    /// A checkpoint that cannot be read (or is refused) is an invalid input.
    public var exitStatus: ExitStatus { .input }
}
