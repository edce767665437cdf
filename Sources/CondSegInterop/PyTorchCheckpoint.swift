// PyTorchCheckpoint.swift — a `torch.save` checkpoint read without Python: the zip archive (ZipReader.swift), its
// `data.pkl` read by the restricted unpickler (Unpickler.swift), each tensor's strided view gathered from its
// storage record into contiguous little-endian bytes (big-endian archives, as recorded in their `byteorder`
// entry, are byte-swapped). Then the state_dict is found: the top-level dict itself, or a dict under a wrapping
// key such as "state_dict" or "model" (which key was used is reported). The legacy pre-zip format and TorchScript
// archives are recognised and refused with a message saying how to re-save the file.

import CondSegCore
import Foundation

/// One tensor of a checkpoint, contiguous, little-endian.
public struct CheckpointTensor: Sendable, Equatable {
    public let name: String
    public let type: TorchStorageType
    public let shape: [Int]
    /// Row-major little-endian element bytes.
    public let bytes: [UInt8]
}

/// The tensors of a PyTorch checkpoint.
public struct PyTorchCheckpoint: Sendable {
    /// The path the checkpoint was read from.
    public let file: String
    /// The state_dict's tensors, in the pickle's order.
    public let tensors: [CheckpointTensor]
    /// The key of the top-level dict the state_dict was found under, or nil when the file is the state_dict.
    public let wrapperKey: String?
    /// Whether the archive recorded big-endian storages (converted to little-endian).
    public let bigEndian: Bool

    /// Most bytes that views larger than their storage (expanded tensors) may add, over a whole checkpoint.
    public static let maximumExpansion = 256 << 20

    /// Keys tried, in order, when the top-level dict wraps the state_dict.
    public static let wrapperKeys = ["state_dict", "model_state_dict", "model", "net", "network", "module", "weights", "ema", "model_ema"]

    /// Reads `path`; errors name it.
    public init(path: String) throws {
        try self.init(bytes: try readFileBytes(path), file: path)
    }

    /// Reads a checkpoint held in memory; `file` names it in errors.
    public init(bytes: [UInt8], file: String) throws(CheckpointError) {
        self.file = file
        func fail(_ problem: String) -> CheckpointError { CheckpointError(file: file, problem: problem) }
        guard ZipArchive.looksLikeZip(bytes) else {
            if bytes.count >= 3, bytes[0] == 0x80, bytes[1] == 0x02, bytes[2] == 0x8A {
                throw fail("a legacy (pre-zip, torch < 1.6 or _use_new_zipfile_serialization=False) checkpoint, which is not supported; re-save it with a current torch: torch.save(torch.load(f), 'new.pth')")
            }
            throw fail("not a PyTorch checkpoint (not a zip archive as torch.save writes)")
        }
        let zip = try ZipArchive(bytes: bytes, file: file)
        guard let pickleEntry = zip.entries.first(where: { $0.name == "data.pkl" || $0.name.hasSuffix("/data.pkl") }) else {
            if zip.entries.contains(where: { $0.name.hasSuffix("constants.pkl") || $0.name.contains("/code/") }) {
                throw fail("a TorchScript archive (torch.jit.save), not a state_dict; save model.state_dict() with torch.save")
            }
            throw fail("zip archive without data.pkl: not a torch.save checkpoint")
        }
        let prefix = String(pickleEntry.name.dropLast("data.pkl".count))
        var bigEndian = false
        if let order = zip.entry(prefix + "byteorder") {
            let text = String(decoding: try zip.data(of: order), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            guard text == "little" || text == "big" else { throw fail("byteorder entry says '\(text)', not little or big") }
            bigEndian = text == "big"
        }
        self.bigEndian = bigEndian
        let root = try RestrictedUnpickler(bytes: try zip.data(of: pickleEntry), file: file).read()

        // The state_dict: a dict whose values are all tensors.
        func tensorDict(_ value: PickleValue) -> PickleContainer? {
            guard case .dict(let dict) = value, !dict.entries.isEmpty else { return nil }
            for entry in dict.entries {
                guard case .string = entry.key, case .tensor = entry.value else { return nil }
            }
            return dict
        }
        var chosen: PickleContainer?
        var key: String?
        if let dict = tensorDict(root) {
            chosen = dict
        } else if case .dict(let top) = root {
            for candidate in PyTorchCheckpoint.wrapperKeys {
                if let value = top.value(forKey: candidate), let dict = tensorDict(value) { chosen = dict; key = candidate; break }
            }
            if chosen == nil {
                let found = top.entries.compactMap { entry -> (String, PickleContainer)? in
                    guard case .string(let k) = entry.key, let dict = tensorDict(entry.value) else { return nil }
                    return (k, dict)
                }
                if found.count == 1 { key = found[0].0; chosen = found[0].1 }
            }
            if chosen == nil {
                let keys = top.entries.compactMap { entry -> String? in if case .string(let k) = entry.key { return k } else { return nil } }
                throw fail("no state_dict found: the top-level dict has keys [\(keys.joined(separator: ", "))] and none (or more than one) holds a dict of tensors")
            }
        } else {
            throw fail("the pickle holds a \(root.kindName), not a state_dict (a dict of tensors)")
        }
        wrapperKey = key

        var storages: [String: ArraySlice<UInt8>] = [:]
        var tensors: [CheckpointTensor] = []
        // Tensors may share a storage, so their total is bounded separately: the imported model must fit a
        // weights file anyway.
        var totalBytes = 0
        var expansionLeft = PyTorchCheckpoint.maximumExpansion
        var seen = Set<String>()
        for entry in chosen!.entries {
            guard case .string(let name) = entry.key, case .tensor(let t) = entry.value else { continue }
            guard seen.insert(name).inserted else { throw fail("tensor '\(name)' appears twice in the state_dict") }
            let data: ArraySlice<UInt8>
            if let cached = storages[t.storage.key] {
                data = cached
            } else {
                guard let record = zip.entry(prefix + "data/" + t.storage.key) else {
                    throw fail("tensor '\(name)': storage record data/\(t.storage.key) is missing from the archive")
                }
                data = try zip.data(of: record)
                storages[t.storage.key] = data
            }
            let tensor = try PyTorchCheckpoint.gather(t, name: name, storage: data, bigEndian: bigEndian,
                                                      expansionLeft: expansionLeft, file: file)
            expansionLeft -= max(0, tensor.bytes.count - data.count)
            totalBytes += tensor.bytes.count
            guard totalBytes <= SafeTensorsFile.maximumFileSize else {
                throw fail("the tensors add up to more than \(SafeTensorsFile.maximumFileSize >> 30) GiB, the largest model file accepted")
            }
            tensors.append(tensor)
        }
        self.tensors = tensors
    }

    /// The contiguous little-endian bytes of a strided view of `storage`.
    static func gather(_ t: TorchTensorReference, name: String, storage: ArraySlice<UInt8>, bigEndian: Bool,
                       expansionLeft: Int = maximumExpansion, file: String) throws(CheckpointError) -> CheckpointTensor {
        func fail(_ problem: String) -> CheckpointError { CheckpointError(file: file, problem: "tensor '\(name)': \(problem)") }
        let size = t.storage.type.elementSize
        let (declaredBytes, tooMany) = t.storage.count.multipliedReportingOverflow(by: size)
        guard !tooMany, storage.count >= declaredBytes else {
            throw fail("storage data/\(t.storage.key) has \(storage.count) bytes, fewer than its \(t.storage.count) \(t.storage.type.dtypeName) elements")
        }
        let available = storage.count / size
        var count = 1
        var lastIndex = t.offset
        for (dim, stride) in zip(t.shape, t.strides) {
            let (c, o1) = count.multipliedReportingOverflow(by: dim)
            guard !o1 else { throw fail("shape \(t.shape) is too large") }
            count = c
            if dim > 0 {
                let (reach, o2) = (dim - 1).multipliedReportingOverflow(by: stride)
                let (last, o3) = lastIndex.addingReportingOverflow(reach)
                guard !o2, !o3 else { throw fail("strides \(t.strides) are too large") }
                lastIndex = last
            }
        }
        guard count == 0 || lastIndex < available else {
            throw fail("view (offset \(t.offset), shape \(t.shape), strides \(t.strides)) reaches past its storage of \(available) elements")
        }
        // A view larger than its storage repeats elements (an expanded tensor, stride 0), so a few bytes of file
        // could ask for any amount of memory: what views add beyond their storages is bounded per checkpoint.
        let (outputBytes, o4) = count.multipliedReportingOverflow(by: size)
        guard !o4, outputBytes <= storage.count + expansionLeft else {
            throw fail("view (shape \(t.shape), strides \(t.strides)) is larger than its storage of \(available) elements by more than the \(PyTorchCheckpoint.maximumExpansion >> 20) MiB expanded tensors may add in all")
        }
        var out = [UInt8](repeating: 0, count: outputBytes)
        if count > 0 {
            // Odometer over the shape; contiguous runs of the innermost dimension are copied at once when dense.
            let rank = t.shape.count
            var index = [Int](repeating: 0, count: rank)
            var element = 0
            let innerDense = rank == 0 || t.strides[rank - 1] == 1
            let inner = rank == 0 ? 1 : t.shape[rank - 1]
            out.withUnsafeMutableBufferPointer { dst in
                storage.withUnsafeBufferPointer { src in
                    while element < count {
                        var source = t.offset
                        for d in 0..<rank { source += index[d] * t.strides[d] }
                        if innerDense {
                            let n = inner * size
                            for k in 0..<n { dst[element * size + k] = src[source * size + k] }
                            element += inner
                        } else {
                            for k in 0..<size { dst[element * size + k] = src[source * size + k] }
                            element += 1
                        }
                        // Advance the odometer (the innermost dimension as a whole when it was copied as a run).
                        var d = rank - (innerDense ? 2 : 1)
                        while d >= 0 {
                            index[d] += 1
                            if index[d] < t.shape[d] { break }
                            index[d] = 0
                            d -= 1
                        }
                    }
                }
            }
            if bigEndian && size > 1 {
                for e in 0..<count { out[(e * size)..<((e + 1) * size)].reverse() }
            }
        }
        return CheckpointTensor(name: name, type: t.storage.type, shape: t.shape, bytes: out)
    }
}

/// The whole file at `path` (errors name it: missing, unreadable, a folder).
func readFileBytes(_ path: String) throws -> [UInt8] {
    var isFolder: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isFolder) else {
        throw CheckpointError(file: path, problem: "no such file")
    }
    guard !isFolder.boolValue else { throw CheckpointError(file: path, problem: "is a folder, not a checkpoint file") }
    guard let data = FileManager.default.contents(atPath: path) else {
        throw CheckpointError(file: path, problem: "cannot be read (permission denied?)")
    }
    return [UInt8](data)
}
