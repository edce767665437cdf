// Config.swift — the configuration of a ConDSeg network (encoder, widths, heads, input size, preprocessing),
// read from and written to the `condseg.*` metadata of a safetensors weight file (docs/architecture.md).
// A file without metadata has its configuration inferred from its tensor shapes (ConfigInference.swift).

import Foundation

/// Which torchvision-style ResNet the encoder is (layer0…layer3 only).
public enum EncoderKind: String, Sendable, CaseIterable {
    case resnet18, resnet34, resnet50

    /// Blocks in layer1, layer2, layer3.
    public var blockCounts: [Int] {
        switch self {
        case .resnet18: return [2, 2, 2]
        case .resnet34, .resnet50: return [3, 4, 6]
        }
    }
    /// Whether the blocks are Bottleneck (expansion 4) rather than BasicBlock.
    public var isBottleneck: Bool { self == .resnet50 }
    /// Output channels of layer0, layer1, layer2, layer3.
    public var stageChannels: [Int] {
        isBottleneck ? [64, 256, 512, 1024] : [64, 64, 128, 256]
    }
}

/// Order of the colour channels the network expects.
public enum ChannelOrder: String, Sendable {
    case bgr, rgb
}

/// Errors about a configuration: bad metadata values or an unsupported combination.
public struct ConfigError: Error, CustomStringConvertible, Equatable {
    public let file: String
    public let problem: String
    public init(file: String, problem: String) { self.file = file; self.problem = problem }
    public var description: String { "\(file): \(problem)" }
}

/// Everything that shapes a ConDSeg network and its input preprocessing.
public struct ModelConfig: Sendable, Equatable {
    public var encoder: EncoderKind
    /// Decoder width W (channels of every decoder feature map).
    public var width: Int
    /// Middle channels M of the semantic-information-decoupling branches.
    public var mid: Int
    /// Attention heads of the CDFA window attention.
    public var heads: Int
    /// Square input size the model was trained at (a multiple of 16).
    public var inputSize: Int
    public var channelOrder: ChannelOrder
    /// Multiplier from 8-bit pixel values to network input, e.g. 1/255.
    public var scale: Float
    /// The scale as written in the metadata (kept so a re-export writes the same text).
    public var scaleText: String
    /// CDFA window size k (fixed at 3 by the release).
    public var window: Int { 3 }

    public init(encoder: EncoderKind, width: Int, mid: Int, heads: Int, inputSize: Int,
                channelOrder: ChannelOrder = .bgr, scaleText: String = "1/255") {
        self.encoder = encoder
        self.width = width
        self.mid = mid
        self.heads = heads
        self.inputSize = inputSize
        self.channelOrder = channelOrder
        self.scaleText = scaleText
        self.scale = ModelConfig.parseScale(scaleText) ?? 1.0 / 255.0
    }

    /// Largest decoder width W, middle width M or head count a configuration may state.
    public static let maximumWidth = 4096
    /// Largest square input size a configuration may state (4096: 16.7 Mpixel, beyond 4K video).
    public static let maximumInputSize = 4096

    /// Why `size` cannot be the square input side a ConDSeg network runs at, or nil when it can: it must be a
    /// positive multiple of the network's stride (`Graph.conDSegInputStride`, 16) and at most `maximumInputSize`.
    public static func inputSizeProblem(_ size: Int) -> String? {
        let stride = Graph.conDSegInputStride
        guard size > 0, size % stride == 0, size <= maximumInputSize else {
            return "must be a positive multiple of \(stride) (the network's stride) and at most \(maximumInputSize)"
        }
        return nil
    }

    /// The authors' release configuration: ResNet-50, W 128, M 512, 4 heads, 256×256, BGR, /255.
    public static let release = ModelConfig(encoder: .resnet50, width: 128, mid: 512, heads: 4, inputSize: 256)

    /// True when the network expects BGR input (the release, OpenCV load order).
    public var channelOrderBGR: Bool { channelOrder == .bgr }

    /// Reads the configuration from `condseg.*` metadata. Absent keys take the release values;
    /// present keys must parse and be consistent, else a `ConfigError` naming the key.
    public init(metadata: [String: String], file: String) throws {
        var config = ModelConfig.release
        func int(_ key: String, min: Int, max: Int) throws -> Int? {
            guard let text = metadata[key] else { return nil }
            guard let value = Int(text.trimmingCharacters(in: .whitespaces)), value >= min, value <= max else {
                throw ConfigError(file: file, problem: "metadata \(key) = '\(text)' is not an integer in \(min)…\(max)")
            }
            return value
        }
        if let text = metadata["condseg.encoder"] {
            guard let kind = EncoderKind(rawValue: text.lowercased()) else {
                throw ConfigError(file: file, problem: "metadata condseg.encoder = '\(text)' is not one of resnet18, resnet34, resnet50")
            }
            config.encoder = kind
        }
        // Upper bounds: far beyond any model this runtime can run, small enough that no shape product overflows.
        if let v = try int("condseg.width", min: 1, max: ModelConfig.maximumWidth) { config.width = v }
        if let v = try int("condseg.mid", min: 1, max: ModelConfig.maximumWidth) { config.mid = v }
        if let v = try int("condseg.heads", min: 1, max: ModelConfig.maximumWidth) { config.heads = v }
        if let v = try int("condseg.input_size", min: 16, max: ModelConfig.maximumInputSize) { config.inputSize = v }
        if let text = metadata["condseg.channel_order"] {
            guard let order = ChannelOrder(rawValue: text.lowercased()) else {
                throw ConfigError(file: file, problem: "metadata condseg.channel_order = '\(text)' is not bgr or rgb")
            }
            config.channelOrder = order
        }
        if let text = metadata["condseg.scale"] {
            guard let scale = ModelConfig.parseScale(text), scale > 0, scale.isFinite else {
                throw ConfigError(file: file, problem: "metadata condseg.scale = '\(text)' is not a positive number or fraction like 1/255")
            }
            config.scale = scale
            config.scaleText = text
        }
        guard config.inputSize % 16 == 0 else {
            throw ConfigError(file: file, problem: "input size \(config.inputSize) is not a multiple of 16")
        }
        guard config.width % config.heads == 0 else {
            throw ConfigError(file: file, problem: "width \(config.width) is not divisible by heads \(config.heads)")
        }
        self = config
    }

    /// The `condseg.*` metadata that describes this configuration.
    public var metadata: [String: String] {
        [
            "condseg.encoder": encoder.rawValue,
            "condseg.width": String(width),
            "condseg.mid": String(mid),
            "condseg.heads": String(heads),
            "condseg.input_size": String(inputSize),
            "condseg.channel_order": channelOrder.rawValue,
            "condseg.scale": scaleText,
        ]
    }

    /// Parses "0.0039…" or a fraction "1/255".
    static func parseScale(_ text: String) -> Float? {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        if parts.count == 2, let num = Double(parts[0].trimmingCharacters(in: .whitespaces)),
           let den = Double(parts[1].trimmingCharacters(in: .whitespaces)), den != 0 {
            return Float(num / den)
        }
        if parts.count == 1, let value = Double(text.trimmingCharacters(in: .whitespaces)) { return Float(value) }
        return nil
    }
}

extension ModelConfig: CustomStringConvertible {
    public var description: String {
        "\(encoder.rawValue), width \(width), mid \(mid), heads \(heads), input \(inputSize)×\(inputSize), \(channelOrder.rawValue.uppercased()), scale \(scaleText)"
    }
}
