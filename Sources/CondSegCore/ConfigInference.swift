// ConfigInference.swift — the configuration of a weight file that carries no `condseg.*` metadata (a PyTorch
// export of the authors' release, or any state_dict saved without it), read from the tensor shapes: the encoder
// from its residual blocks, the decoder width from the CDFA value projection, the middle width from the
// decoupling branch, the heads from the attention logits. The input size, channel order and pixel scale leave no
// trace in the weights: they take the release values, and the note says so.

extension ModelConfig {
    /// Whether `metadata` has any `condseg.*` key; if so the configuration is read from it, else inferred.
    public static func hasConfigurationMetadata(_ metadata: [String: String]) -> Bool {
        let keys = ModelConfig.release.metadata.keys
        return metadata.keys.contains { keys.contains($0) }
    }

    /// The configuration of `file`: its `condseg.*` metadata when present (absent keys take the release values),
    /// else `inferred(from:)` its tensor shapes.
    public init(file: SafeTensorsFile) throws {
        if ModelConfig.hasConfigurationMetadata(file.metadata) {
            self = try ModelConfig(metadata: file.metadata, file: file.name)
        } else {
            self = try ModelConfig.inferred(from: file)
        }
    }

    /// The configuration the tensor shapes of `file` describe (see `inferred(from:file:)`).
    public static func inferred(from file: SafeTensorsFile) throws -> ModelConfig {
        var shapes: [String: [Int]] = [:]
        for (name, entry) in file.entries { shapes[name] = entry.shape }
        return try inferred(from: shapes, file: file.name)
    }

    /// The configuration that tensors of these shapes (names as in the authors' state_dict) belong to:
    /// - encoder: Bottleneck blocks (`layer2.0.conv3`) make it resnet50; BasicBlocks with 2 blocks in layer3
    ///   resnet18, with 6 resnet34;
    /// - width W: the output channels of `cdfa1.v`; middle M: those of `decouple_layer.cbr_fg.0`;
    /// - heads: the rows of `cdfa1.attn_fg` divided by k⁴ (window k = 3);
    /// - input size 256, BGR, scale 1/255: the release values (the weights do not record them).
    /// Throws `ConfigError` naming `file` and the tensor that is missing or does not fit.
    public static func inferred(from shapes: [String: [Int]], file: String) throws -> ModelConfig {
        func shape(_ name: String, rank: Int) throws -> [Int] {
            guard let shape = shapes[name] else {
                throw ConfigError(file: file, problem: "no condseg.* metadata, and tensor '\(name)' (needed to infer the configuration) is missing: is this a ConDSeg model?")
            }
            guard shape.count == rank, shape.allSatisfy({ $0 > 0 }) else {
                throw ConfigError(file: file, problem: "no condseg.* metadata, and tensor '\(name)' has shape \(shape), not a rank-\(rank) ConDSeg shape")
            }
            return shape
        }
        _ = try shape("layer0.0.weight", rank: 4)
        // Blocks per stage: layer1's blocks follow its max-pool (layer1.1.<i>), layer2/3 are numbered directly.
        func blocks(_ prefix: String) -> Int {
            var count = 0
            while shapes["\(prefix).\(count).conv1.weight"] != nil { count += 1 }
            return count
        }
        let counts = [blocks("layer1.1"), blocks("layer2"), blocks("layer3")]
        let bottleneck = shapes["layer2.0.conv3.weight"] != nil
        guard let encoder = EncoderKind.allCases.first(where: { $0.isBottleneck == bottleneck && $0.blockCounts == counts }) else {
            throw ConfigError(file: file, problem: "no condseg.* metadata, and the encoder's \(bottleneck ? "Bottleneck" : "BasicBlock") blocks per stage \(counts) match no supported encoder (resnet18 [2, 2, 2], resnet34 [3, 4, 6], resnet50 Bottleneck [3, 4, 6])")
        }
        let width = try shape("cdfa1.v.weight", rank: 2)[0]
        let mid = try shape("decouple_layer.cbr_fg.0.conv.0.weight", rank: 4)[0]
        let logits = try shape("cdfa1.attn_fg.weight", rank: 2)[0]
        let window = ModelConfig.release.window
        let perHead = window * window * window * window
        guard logits % perHead == 0 else {
            throw ConfigError(file: file, problem: "no condseg.* metadata, and tensor 'cdfa1.attn_fg.weight' has \(logits) rows, not a multiple of \(perHead) (heads × \(window)⁴)")
        }
        let heads = logits / perHead
        guard width % heads == 0 else {
            throw ConfigError(file: file, problem: "no condseg.* metadata, and the inferred width \(width) is not divisible by the inferred \(heads) heads")
        }
        let release = ModelConfig.release
        return ModelConfig(encoder: encoder, width: width, mid: mid, heads: heads, inputSize: release.inputSize,
                           channelOrder: release.channelOrder, scaleText: release.scaleText)
    }

    /// What a user is told when the configuration of `file` was inferred: what came from the shapes and what was
    /// assumed.
    public func inferenceNote(file: String) -> String {
        "\(file) has no condseg.* metadata; inferred from its tensor shapes: \(encoder.rawValue), width \(width), mid \(mid), heads \(heads); assumed (not in the weights): input \(inputSize)×\(inputSize), \(channelOrder.rawValue.uppercased()), scale \(scaleText)"
    }
}
