// ONNXExport.swift — the ConDSeg graph (Graph.swift, the one description every executor walks) written as ONNX,
// node by node: BatchNorm folded into the convolutions exactly as the float reference folds it, per-pixel linear
// layers as 1×1 convolutions, align-corners upsampling as Resize, the channel mean/max as ReduceMean/ReduceMax,
// and the CDFA window attention's unfold and fold with Pad, Slice, Concat, Reshape, Transpose, Softmax, MatMul and
// Sum. Opset 13 (IR version 7), batch 1, the model's input size; input `image` (N×3×S×S float: pixels in the
// model's channel order times its scale), output `mask` (N×1×S×S probabilities).
//
// With a calibration table the export is QDQ int8 with the project's numbers: every convolution whose input tensor
// the table flags int8 reads QuantizeLinear→DequantizeLinear of that input (uint8, the table's scale and zero
// point), int8 weights per output channel (DequantizeLinear on axis 0, symmetric, the int8 executors' own
// quantization of the folded weights) and an int32 bias at scale s_in·s_w[o]; convolutions the table keeps float,
// and every other op, stay float — as in the project's int8 path, where only those convolutions run in int8.

import CondSegCore
import CondSegIO
import CondSegRuntime

/// What an export produced.
public struct ONNXExportResult: Sendable {
    public let bytes: [UInt8]
    public let nodeCount: Int
    /// Convolutions written as QDQ int8 (0 for a float export).
    public let int8Convolutions: Int
    public let convolutions: Int
}

public enum ONNXExport {
    /// The operator set the export uses (the default ai.onnx domain).
    public static let opset = 13
    /// The ONNX IR version that goes with opset 13.
    public static let irVersion = 7

    /// Exports `model` (a float model) as float ONNX, or as QDQ int8 with `table` (made for this model; `tableFile`
    /// names it in errors).
    public static func export(model: ConDSegModel, table: CalibrationTable?, tableFile: String = "calibration table",
                              producerVersion: String) throws -> ONNXExportResult {
        let graph = try model.graph()
        let config = model.config
        if let table {
            try table.check(modelSHA256: model.sha256, model: model.path, file: tableFile)
            try table.check(graph: graph, file: tableFile)
        }
        let folded = try model.foldedConvolutions(of: graph)
        guard let maskID = graph.outputs["mask"] else { throw InputError(path: model.path, problem: "the graph has no mask output") }
        let live = graph.liveNodes(for: [maskID])
        let valueNames = graph.valueNames
        var precision: [String: CalibrationEntry] = [:]
        for entry in table?.entries ?? [] { precision[entry.name] = entry }

        var b = ONNXModelBuilder()
        let size = config.inputSize
        b.reserve("image")
        b.reserve("mask")
        b.inputs = [("image", .float, [1, 3, size, size])]
        b.outputs = [("mask", .float, [1, 1, size, size])]
        var names: [ValueID: String] = [:]
        var floatWeights: [String: (w: String, b: String)] = [:]
        var int8Weights: [String: (w: String, scales: [Float])] = [:]
        var int8Bias: [String: String] = [:]
        var dequantized: [String: String] = [:]
        var int8Count = 0, convCount = 0

        for node in graph.nodes where live.contains(node.id) {
            let out = node.id == maskID ? "mask" : valueNames[node.id]
            let exact = node.id == maskID
            let side = node.spatialSize(inputSize: size)
            func input(_ k: Int) -> String { names[node.inputs[k]]! }
            switch node.kind {
            case .input:
                names[node.id] = "image"
                continue
            case .conv(let spec):
                convCount += 1
                let f = folded[node.id]!
                let key = spec.weight + "|" + (spec.batchNorm ?? "")
                let inputName = valueNames[node.inputs[0]]
                var x = input(0)
                let weight: String, bias: String
                if let entry = precision[inputName], entry.precision == .int8 {
                    int8Count += 1
                    // The activation: one QuantizeLinear→DequantizeLinear pair per tensor, shared by its readers.
                    if let done = dequantized[x] { x = done } else {
                        let scale = b.constant("\(inputName)/scale", floats: [entry.quantization.scale], dims: [])
                        let zero = b.constant("\(inputName)/zero_point", type: .uint8,
                                              raw: [UInt8(clamping: entry.quantization.zeroPoint)], dims: [])
                        let q = b.node("QuantizeLinear", [x, scale, zero], output: "\(inputName)/quantized")
                        let dq = b.node("DequantizeLinear", [q, scale, zero], output: "\(inputName)/dequantized")
                        dequantized[x] = dq
                        x = dq
                    }
                    // The weights: the int8 executors' per-channel quantization of the folded weights.
                    let w8: (w: String, scales: [Float])
                    if let done = int8Weights[key] { w8 = done } else {
                        let q = Int8ConvWeights(folded: f, bits: table?.weightBits ?? 8)
                        let values = b.constant("\(spec.weight)/int8", type: .int8, raw: q.values.map { UInt8(bitPattern: $0) },
                                                dims: [spec.outChannels, spec.inChannels, spec.kernel, spec.kernel])
                        let scales = b.constant("\(spec.weight)/scales", floats: q.scales, dims: [spec.outChannels])
                        let zeros = b.constant("\(spec.weight)/zero_points", type: .int8,
                                               raw: [UInt8](repeating: 0, count: spec.outChannels), dims: [spec.outChannels])
                        let dq = b.node("DequantizeLinear", [values, scales, zeros], output: "\(spec.weight)/dequantized", [("axis", .int(0))])
                        w8 = (dq, q.scales)
                        int8Weights[key] = w8
                    }
                    weight = w8.w
                    // The bias in int32 at the accumulator's scale s_in·s_w[o] (what int8 runtimes fuse), unless a
                    // value does not fit, in which case it stays float.
                    let biasKey = key + "|" + inputName
                    if let done = int8Bias[biasKey] { bias = done } else {
                        let scales = w8.scales.map { $0 * entry.quantization.scale }
                        let quantized = zip(f.bias, scales).map { (Double($0) / Double($1)).rounded(.toNearestOrEven) }
                        if quantized.allSatisfy({ abs($0) < 2_147_483_647 }) {
                            let values = quantized.map { Int32($0) }
                            let q = b.constant("\(spec.weight)/bias_int32", type: .int32, raw: values.withUnsafeBytes { Array($0) },
                                               dims: [spec.outChannels])
                            let s = b.constant("\(spec.weight)/bias_scales", floats: scales, dims: [spec.outChannels])
                            bias = b.node("DequantizeLinear", [q, s], output: "\(spec.weight)/bias_dequantized", [("axis", .int(0))])
                        } else {
                            bias = b.constant("\(spec.weight)/bias_folded", floats: f.bias, dims: [spec.outChannels])
                        }
                        int8Bias[biasKey] = bias
                    }
                } else {
                    let wb: (w: String, b: String)
                    if let done = floatWeights[key] { wb = done } else {
                        wb = (b.constant("\(spec.weight)/folded", floats: f.weights,
                                         dims: [spec.outChannels, spec.inChannels, spec.kernel, spec.kernel]),
                              b.constant("\(spec.weight)/bias_folded", floats: f.bias, dims: [spec.outChannels]))
                        floatWeights[key] = wb
                    }
                    weight = wb.w
                    bias = wb.b
                }
                let attributes: [(String, ONNXAttribute)] = [
                    ("kernel_shape", .ints([spec.kernel, spec.kernel])), ("strides", .ints([spec.stride, spec.stride])),
                    ("pads", .ints([spec.padding, spec.padding, spec.padding, spec.padding])),
                    ("dilations", .ints([spec.dilation, spec.dilation])), ("group", .int(1)),
                ]
                if spec.relu {
                    let c = b.node("Conv", [x, weight, bias], output: out + "/conv", attributes)
                    names[node.id] = b.node("Relu", [c], output: out, exact: exact)
                } else {
                    names[node.id] = b.node("Conv", [x, weight, bias], output: out, exact: exact, attributes)
                }
            case .maxPool(let k, let s, let p):
                names[node.id] = b.node("MaxPool", [input(0)], output: out, exact: exact,
                                        [("kernel_shape", .ints([k, k])), ("strides", .ints([s, s])), ("pads", .ints([p, p, p, p]))])
            case .add(let relu):
                // Summed left to right, as the reference does.
                var sum = input(0)
                for k in 1..<node.inputs.count {
                    let last = k == node.inputs.count - 1 && !relu
                    sum = b.node("Add", [sum, input(k)], output: last ? out : out + "/sum", exact: last && exact)
                }
                names[node.id] = relu ? b.node("Relu", [sum], output: out, exact: exact) : sum
            case .mul:
                names[node.id] = b.node("Mul", [input(0), input(1)], output: out, exact: exact)
            case .concat:
                names[node.id] = b.node("Concat", node.inputs.indices.map(input), output: out, exact: exact, [("axis", .int(1))])
            case .upsample:
                let sizes = b.constant(out + "/sizes", int64s: [1, node.channels, side, side])
                names[node.id] = b.node("Resize", [input(0), "", "", sizes], output: out, exact: exact,
                                        [("mode", .string("linear")), ("coordinate_transformation_mode", .string("align_corners"))])
            case .globalAvgPool:
                names[node.id] = b.node("GlobalAveragePool", [input(0)], output: out, exact: exact)
            case .globalMaxPool:
                names[node.id] = b.node("GlobalMaxPool", [input(0)], output: out, exact: exact)
            case .channelMeanMax:
                let mean = b.node("ReduceMean", [input(0)], output: out + "/mean", [("axes", .ints([1])), ("keepdims", .int(1))])
                let max = b.node("ReduceMax", [input(0)], output: out + "/max", [("axes", .ints([1])), ("keepdims", .int(1))])
                names[node.id] = b.node("Concat", [mean, max], output: out, exact: exact, [("axis", .int(1))])
            case .sigmoid:
                names[node.id] = b.node("Sigmoid", [input(0)], output: out, exact: exact)
            case .windowAttention(let heads, let k):
                names[node.id] = windowAttention(&b, values: input(0), logits: input(1), output: out, exact: exact,
                                                 channels: node.channels, side: side, heads: heads, window: k)
            }
        }

        var metadata = config.metadata.sorted { $0.key < $1.key }.map { ($0.key, $0.value) }
        metadata.append(("condseg.model_sha256", model.sha256))
        metadata.append(("condseg.input", "image: 1×3×\(size)×\(size) float32 NCHW, \(config.channelOrder.rawValue.uppercased()) pixels × \(config.scaleText)"))
        metadata.append(("condseg.output", "mask: 1×1×\(size)×\(size) foreground probabilities (threshold 0.5)"))
        if let table {
            metadata.append(("condseg.quantized", "qdq-int8"))
            metadata.append(("condseg.calibration_method", table.method))
        }
        let doc = table == nil
            ? "ConDSeg \(config) exported by condseg (float32)."
            : "ConDSeg \(config) exported by condseg as QDQ int8 (\(int8Count) of \(convCount) convolutions int8, the rest float, as the calibration table says)."
        let bytes = b.serialize(irVersion: irVersion, opset: opset, producer: "condseg", producerVersion: producerVersion,
                                graphName: "condseg", docString: doc, metadata: metadata)
        return ONNXExportResult(bytes: bytes, nodeCount: b.nodes.count, int8Convolutions: int8Count, convolutions: convCount)
    }

    /// CDFA window attention with standard operators (docs/architecture.md, steps 3–6), batch 1, window k, half = k/2:
    /// unfold: the values padded by `half`, sliced at each neighbour offset j and stacked → [k², heads, D, P] →
    /// [heads, P, k², D]; logits [heads, k²(i), k²(j), P] · (C/heads)^−½, softmax over j → [heads, P, i, j];
    /// MatMul → o [heads, P, i, D] → [k², C, H, W]; fold: o padded by `half`, slot i sliced at −offset_i, summed.
    static func windowAttention(_ b: inout ONNXModelBuilder, values: String, logits: String, output: String, exact: Bool,
                                channels c: Int, side: Int, heads: Int, window k: Int) -> String {
        let kk = k * k, half = k / 2, h = side, w = side, p = side * side, d = c / heads
        let pads = b.constant(output + "/pads", int64s: [0, 0, half, half, 0, 0, half, half])
        let padded = b.node("Pad", [values, pads], output: output + "/values_padded")
        var neighbours: [String] = []
        let axesHW = b.constant(output + "/axes_hw", int64s: [2, 3])
        for j in 0..<kk {
            let jy = j / k - half, jx = j % k - half
            let starts = b.constant(output + "/starts_j\(j)", int64s: [half + jy, half + jx])
            let ends = b.constant(output + "/ends_j\(j)", int64s: [half + jy + h, half + jx + w])
            neighbours.append(b.node("Slice", [padded, starts, ends, axesHW], output: output + "/neighbour\(j)"))
        }
        let stacked = b.node("Concat", neighbours, output: output + "/unfolded", [("axis", .int(0))])
        let vShape = b.constant(output + "/values_shape", int64s: [kk, heads, d, p])
        let v = b.node("Reshape", [stacked, vShape], output: output + "/values_by_head")
        let vT = b.node("Transpose", [v], output: output + "/values_hpjd", [("perm", .ints([1, 3, 0, 2]))])

        let lShape = b.constant(output + "/logits_shape", int64s: [heads, kk, kk, p])
        let l = b.node("Reshape", [logits, lShape], output: output + "/logits_hijp")
        let scale = b.constant(output + "/scale", floats: [Float(1.0 / Double(d).squareRoot())], dims: [])
        let scaled = b.node("Mul", [l, scale], output: output + "/logits_scaled")
        let a = b.node("Softmax", [scaled], output: output + "/attention", [("axis", .int(2))])
        let aT = b.node("Transpose", [a], output: output + "/attention_hpij", [("perm", .ints([0, 3, 1, 2]))])

        let o = b.node("MatMul", [aT, vT], output: output + "/weighted")
        let oT = b.node("Transpose", [o], output: output + "/weighted_ihdp", [("perm", .ints([2, 0, 3, 1]))])
        let oShape = b.constant(output + "/weighted_shape", int64s: [kk, c, h, w])
        let slots = b.node("Reshape", [oT, oShape], output: output + "/slots")
        let slotsPadded = b.node("Pad", [slots, pads], output: output + "/slots_padded")
        let axesSlot = b.constant(output + "/axes_slot", int64s: [0, 2, 3])
        var parts: [String] = []
        for i in 0..<kk {
            let iy = i / k - half, ix = i % k - half
            let starts = b.constant(output + "/starts_i\(i)", int64s: [i, half - iy, half - ix])
            let ends = b.constant(output + "/ends_i\(i)", int64s: [i + 1, half - iy + h, half - ix + w])
            parts.append(b.node("Slice", [slotsPadded, starts, ends, axesSlot], output: output + "/fold\(i)"))
        }
        return b.node("Sum", parts, output: output, exact: exact)
    }
}
