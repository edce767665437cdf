// ConDSegGraph.swift — builds the ConDSeg graph from a ModelConfig, module by module, exactly as
// docs/architecture.md ("The network") describes the authors' release (weight names are its state_dict keys).
// The auxiliary head (training only) and `decouple_layer.cbr_uc` (which only the auxiliary head reads) are
// built only when asked for.

extension Graph {
    /// Builds the ConDSeg network for `config`. With `auxiliaryHead` the graph also has outputs
    /// "mask_fg", "mask_bg", "mask_uc" (the auxiliary head and the uncertainty branch are included).
    public static func conDSeg(_ config: ModelConfig, auxiliaryHead: Bool = false) -> Graph {
        var builder = ConDSegBuilder(config: config)
        builder.build(auxiliaryHead: auxiliaryHead)
        return builder.graph
    }

    /// The stride every ConDSeg input side must be a multiple of, whichever encoder: the largest `inputStride`
    /// of the networks the three encoders build (16: the deepest encoder stage is at 1/16 of the input).
    public static let conDSegInputStride: Int = EncoderKind.allCases.map { encoder in
        var config = ModelConfig.release
        config.encoder = encoder
        return Graph.conDSeg(config, auxiliaryHead: true).inputStride
    }.max() ?? 16

    /// The stage-1 (Consistency Reinforcement) model: the encoder and its simple head (`head.*`, docs/architecture.md).
    public static func stage1(_ config: ModelConfig) -> Graph {
        var builder = ConDSegBuilder(config: config)
        builder.buildStage1()
        return builder.graph
    }
}

/// A value under construction: its id, channels and stride relative to the input.
struct Feature {
    let id: ValueID
    let channels: Int
    let stride: Int
}

struct ConDSegBuilder {
    let config: ModelConfig
    var graph = Graph()
    /// Role given to the nodes added now (see NodeRole); `withRole` sets it for a part of the network.
    var role: NodeRole = .body

    init(config: ModelConfig) { self.config = config }

    // MARK: primitives

    /// Builds `body` with every node it adds in `role`, then restores the previous role.
    mutating func withRole<T>(_ role: NodeRole, _ body: (inout ConDSegBuilder) -> T) -> T {
        let saved = self.role
        self.role = role
        defer { self.role = saved }
        return body(&self)
    }

    mutating func conv(_ x: Feature, _ spec: ConvSpec, name: String) -> Feature {
        let stride = x.stride * spec.stride
        let id = graph.add(.conv(spec), [x.id], name: name, channels: spec.outChannels, stride: stride, role: role)
        return Feature(id: id, channels: spec.outChannels, stride: stride)
    }

    /// CBR: Conv (no bias) → BatchNorm → ReLU if `act`; keys `<p>.conv.0.weight`, `<p>.conv.1.*`.
    mutating func cbr(_ x: Feature, _ prefix: String, out: Int, kernel: Int, padding: Int = -1,
                      dilation: Int = 1, act: Bool = true) -> Feature {
        let pad = padding >= 0 ? padding : kernel / 2
        return conv(x, ConvSpec(weight: "\(prefix).conv.0.weight", batchNorm: "\(prefix).conv.1",
                                inChannels: x.channels, outChannels: out, kernel: kernel,
                                padding: pad, dilation: dilation, relu: act), name: prefix)
    }

    /// Per-pixel Linear layer with bias (a 1×1 convolution whose weight is stored as [out, in]).
    mutating func linear(_ x: Feature, _ prefix: String, out: Int) -> Feature {
        conv(x, ConvSpec(weight: "\(prefix).weight", bias: "\(prefix).bias", inChannels: x.channels,
                         outChannels: out, kernel: 1, isLinear: true), name: prefix)
    }

    mutating func op(_ kind: OpKind, _ inputs: [Feature], name: String, channels: Int? = nil, stride: Int? = nil) -> Feature {
        let c = channels ?? inputs[0].channels
        let s = stride ?? inputs[0].stride
        let id = graph.add(kind, inputs.map(\.id), name: name, channels: c, stride: s, role: role)
        return Feature(id: id, channels: c, stride: s)
    }

    mutating func add(_ xs: [Feature], relu: Bool, name: String) -> Feature {
        op(.add(relu: relu), xs, name: name)
    }

    mutating func upsample(_ x: Feature, _ factor: Int, name: String) -> Feature {
        precondition(x.stride % factor == 0, "upsampling past the input resolution")
        return op(.upsample(factor: factor), [x], name: name, stride: x.stride / factor)
    }

    mutating func concat(_ xs: [Feature], name: String) -> Feature {
        op(.concat, xs, name: name, channels: xs.reduce(0) { $0 + $1.channels })
    }

    // MARK: encoder

    mutating func basicBlock(_ x: Feature, _ p: String, out: Int, stride: Int) -> Feature {
        let c1 = conv(x, ConvSpec(weight: "\(p).conv1.weight", batchNorm: "\(p).bn1", inChannels: x.channels,
                                  outChannels: out, kernel: 3, stride: stride, padding: 1, relu: true), name: "\(p).conv1")
        let c2 = conv(c1, ConvSpec(weight: "\(p).conv2.weight", batchNorm: "\(p).bn2", inChannels: out,
                                   outChannels: out, kernel: 3, padding: 1), name: "\(p).conv2")
        var identity = x
        if stride != 1 || x.channels != out {
            identity = conv(x, ConvSpec(weight: "\(p).downsample.0.weight", batchNorm: "\(p).downsample.1",
                                        inChannels: x.channels, outChannels: out, kernel: 1, stride: stride),
                            name: "\(p).downsample")
        }
        return add([c2, identity], relu: true, name: "\(p).add")
    }

    mutating func bottleneck(_ x: Feature, _ p: String, planes: Int, stride: Int) -> Feature {
        let out = planes * 4
        let c1 = conv(x, ConvSpec(weight: "\(p).conv1.weight", batchNorm: "\(p).bn1", inChannels: x.channels,
                                  outChannels: planes, kernel: 1, relu: true), name: "\(p).conv1")
        let c2 = conv(c1, ConvSpec(weight: "\(p).conv2.weight", batchNorm: "\(p).bn2", inChannels: planes,
                                   outChannels: planes, kernel: 3, stride: stride, padding: 1, relu: true), name: "\(p).conv2")
        let c3 = conv(c2, ConvSpec(weight: "\(p).conv3.weight", batchNorm: "\(p).bn3", inChannels: planes,
                                   outChannels: out, kernel: 1), name: "\(p).conv3")
        var identity = x
        if stride != 1 || x.channels != out {
            identity = conv(x, ConvSpec(weight: "\(p).downsample.0.weight", batchNorm: "\(p).downsample.1",
                                        inChannels: x.channels, outChannels: out, kernel: 1, stride: stride),
                            name: "\(p).downsample")
        }
        return add([c3, identity], relu: true, name: "\(p).add")
    }

    /// layer0 … layer3; returns x1 … x4. Every node has the role `.encoder`.
    mutating func encoder(_ image: Feature) -> [Feature] {
        withRole(.encoder) { $0.encoderNodes(image) }
    }

    private mutating func encoderNodes(_ image: Feature) -> [Feature] {
        let x1 = conv(image, ConvSpec(weight: "layer0.0.weight", batchNorm: "layer0.1", inChannels: 3, outChannels: 64,
                                      kernel: 7, stride: 2, padding: 3, relu: true), name: "layer0")
        var x = op(.maxPool(kernel: 3, stride: 2, padding: 1), [x1], name: "layer1.0", stride: x1.stride * 2)
        var outs = [x1]
        let planes = [64, 128, 256]
        for (stage, blocks) in config.encoder.blockCounts.enumerated() {
            let layer = stage == 0 ? "layer1.1" : "layer\(stage + 1)"
            for b in 0..<blocks {
                let stride = (b == 0 && stage > 0) ? 2 : 1
                if config.encoder.isBottleneck {
                    x = bottleneck(x, "\(layer).\(b)", planes: planes[stage], stride: stride)
                } else {
                    x = basicBlock(x, "\(layer).\(b)", out: planes[stage], stride: stride)
                }
            }
            outs.append(x)
        }
        for (i, f) in outs.enumerated() { graph.taps["act.layer\(i)"] = f.id }
        return outs
    }

    // MARK: decoder blocks

    /// Channel attention: x · sigmoid(fc2(relu(fc1(avg(x)))) + fc2(relu(fc1(max(x))))), fc1/fc2 shared.
    mutating func channelAttention(_ x: Feature, _ p: String) -> Feature {
        let hidden = x.channels / 16
        let fc1 = ConvSpec(weight: "\(p).fc1.weight", inChannels: x.channels, outChannels: hidden, kernel: 1, relu: true)
        let fc2 = ConvSpec(weight: "\(p).fc2.weight", inChannels: hidden, outChannels: x.channels, kernel: 1)
        let gate = withRole(.channelGate) { b in
            let avg = b.op(.globalAvgPool, [x], name: "\(p).avg_pool", stride: 0)
            let mx = b.op(.globalMaxPool, [x], name: "\(p).max_pool", stride: 0)
            let a = b.conv(b.conv(avg, fc1, name: "\(p).fc1"), fc2, name: "\(p).fc2")
            let m = b.conv(b.conv(mx, fc1, name: "\(p).fc1"), fc2, name: "\(p).fc2")
            return b.op(.sigmoid, [b.add([a, m], relu: false, name: "\(p).sum")], name: "\(p).sigmoid")
        }
        return op(.mul, [x, gate], name: "\(p).mul")
    }

    /// Spatial attention: x · sigmoid(conv7×7([mean_c, max_c])).
    mutating func spatialAttention(_ x: Feature, _ p: String) -> Feature {
        let gate = withRole(.spatialGate) { b in
            let mm = b.op(.channelMeanMax, [x], name: "\(p).mean_max", channels: 2)
            let s = b.conv(mm, ConvSpec(weight: "\(p).conv1.weight", inChannels: 2, outChannels: 1, kernel: 7, padding: 3),
                           name: "\(p).conv1")
            return b.op(.sigmoid, [s], name: "\(p).sigmoid")
        }
        return op(.mul, [x, gate], name: "\(p).mul")
    }

    /// Feature enhancement `dconvN` (the release's dilated_conv).
    mutating func dilatedConv(_ x: Feature, _ p: String) -> Feature {
        let w = config.width
        let c1 = channelAttention(cbr(x, "\(p).c1.0", out: w, kernel: 1), "\(p).c1.1")
        var branches = [c1]
        for (i, d) in [6, 12, 18].enumerated() {
            let c = cbr(x, "\(p).c\(i + 2).0", out: w, kernel: 3, padding: d, dilation: d)
            branches.append(channelAttention(c, "\(p).c\(i + 2).1"))
        }
        let cat = concat(branches, name: "\(p).cat")
        let c5 = cbr(cat, "\(p).c5", out: w, kernel: 3, act: false)
        let c6 = cbr(x, "\(p).c6", out: w, kernel: 1, act: false)
        let y = add([c5, c6], relu: true, name: "\(p).add")
        return spatialAttention(y, "\(p).sa")
    }

    mutating func decoupleBranch(_ x: Feature, _ p: String) -> Feature {
        let a = cbr(x, "\(p).0", out: config.mid, kernel: 3)
        let b = cbr(a, "\(p).1", out: config.width, kernel: 3)
        return cbr(b, "\(p).2", out: config.width, kernel: 1)
    }

    mutating func auxBranch(_ x: Feature, _ p: String) -> Feature {
        var y = cbr(x, "\(p).0", out: 256, kernel: 3)
        let channels = [256, 128, 64, 64]
        for (i, c) in channels.enumerated() {
            y = upsample(y, 2, name: "\(p).\(2 * i + 1)")
            y = cbr(y, "\(p).\(2 * i + 2)", out: c, kernel: 3)
        }
        y = conv(y, ConvSpec(weight: "\(p).9.weight", bias: "\(p).9.bias", inChannels: 64, outChannels: 1, kernel: 1),
                 name: "\(p).9")
        return op(.sigmoid, [y], name: "\(p).10")
    }

    /// CDFA preprocess: CBR, then log2(s) × (up×2, CBR).
    mutating func preprocess(_ x: Feature, _ p: String, scale: Int) -> Feature {
        var y = cbr(x, "\(p).c1", out: config.width, kernel: 3)
        var i = 0
        var s = scale
        while s > 1 {
            y = upsample(y, 2, name: "\(p).up\(i)")
            y = cbr(y, "\(p).preprocess.conv_\(i)", out: config.width, kernel: 3)
            s /= 2
            i += 1
        }
        return y
    }

    /// Contrast-Driven Feature Aggregation.
    mutating func cdfa(_ x: Feature, fg: Feature, bg: Feature, _ p: String) -> Feature {
        let w = config.width
        let k = config.window
        var y = cbr(x, "\(p).input_cbr.0", out: w, kernel: 3)
        y = cbr(y, "\(p).input_cbr.1", out: w, kernel: 3)
        let v = linear(y, "\(p).v", out: w)
        let logitCount = config.heads * k * k * k * k
        let logitsFG = withRole(.attentionLogits) { $0.linear(fg, "\(p).attn_fg", out: logitCount) }
        var z = op(.windowAttention(heads: config.heads, window: k), [v, logitsFG], name: "\(p).attend_fg")
        z = linear(z, "\(p).proj", out: w)
        let logitsBG = withRole(.attentionLogits) { $0.linear(bg, "\(p).attn_bg", out: logitCount) }
        z = op(.windowAttention(heads: config.heads, window: k), [z, logitsBG], name: "\(p).attend_bg")
        z = linear(z, "\(p).proj", out: w)
        z = cbr(z, "\(p).output_cbr.0", out: w, kernel: 3)
        return cbr(z, "\(p).output_cbr.1", out: w, kernel: 3)
    }

    /// Size-aware decoder block with inputs (x, skip).
    mutating func decoderBlock(_ x: Feature, skip: Feature, _ p: String) -> Feature {
        let w = config.width
        let cat = concat([upsample(x, 2, name: "\(p).up"), skip], name: "\(p).cat")
        let s1 = cbr(cat, "\(p).c1", out: w, kernel: 1)
        let s2 = add([cbr(s1, "\(p).c2", out: w, kernel: 3, act: false), s1], relu: true, name: "\(p).add2")
        let s3 = add([cbr(s2, "\(p).c3", out: w, kernel: 3, act: false), s2, s1], relu: true, name: "\(p).add3")
        let s4 = add([cbr(s3, "\(p).c4", out: w, kernel: 1, act: false), s3, s2, s1], relu: true, name: "\(p).add4")
        return spatialAttention(channelAttention(s4, "\(p).ca"), "\(p).sa")
    }

    mutating func outputBlock(_ x1: Feature, _ x2: Feature, _ x3: Feature) -> Feature {
        let p = "output_block"
        let cat = concat([x1, upsample(x2, 2, name: "\(p).up2"), upsample(x3, 4, name: "\(p).up4")], name: "\(p).cat")
        var y = cbr(cat, "\(p).fuse", out: config.width, kernel: 3)
        y = upsample(y, 2, name: "\(p).up")
        y = cbr(y, "\(p).c1", out: 128, kernel: 3)
        y = cbr(y, "\(p).c2", out: 64, kernel: 1)
        y = withRole(.maskLogits) {
            $0.conv(y, ConvSpec(weight: "\(p).c3.weight", bias: "\(p).c3.bias", inChannels: 64, outChannels: 1, kernel: 1),
                    name: "\(p).c3")
        }
        return op(.sigmoid, [y], name: "\(p).sigmoid")
    }

    // MARK: whole networks (inference, stage 1)

    mutating func build(auxiliaryHead: Bool) {
        let image = op(.input, [], name: "input", channels: 3, stride: 1)
        let xs = encoder(image)
        var d: [Feature] = []
        for (i, x) in xs.enumerated() {
            let f = dilatedConv(x, "dconv\(i + 1)")
            graph.taps["act.dconv\(i + 1)"] = f.id
            d.append(f)
        }
        let fg = decoupleBranch(xs[3], "decouple_layer.cbr_fg")
        let bg = decoupleBranch(xs[3], "decouple_layer.cbr_bg")
        graph.taps["act.decouple_layer.out0"] = fg.id
        graph.taps["act.decouple_layer.out1"] = bg.id
        if auxiliaryHead {
            let uc = decoupleBranch(xs[3], "decouple_layer.cbr_uc")
            graph.taps["act.decouple_layer.out2"] = uc.id
            withRole(.auxiliaryHead) { b in
                b.graph.outputs["mask_fg"] = b.auxBranch(fg, "aux_head.branch_fg").id
                b.graph.outputs["mask_bg"] = b.auxBranch(bg, "aux_head.branch_bg").id
                b.graph.outputs["mask_uc"] = b.auxBranch(uc, "aux_head.branch_uc").id
            }
        }
        var gFG: [Feature] = [], gBG: [Feature] = []
        for (level, scale) in [8, 4, 2, 1].enumerated() {
            let f = preprocess(fg, "preprocess_fg\(level + 1)", scale: scale)
            let b = preprocess(bg, "preprocess_bg\(level + 1)", scale: scale)
            graph.taps["act.preprocess_fg\(level + 1)"] = f.id
            graph.taps["act.preprocess_bg\(level + 1)"] = b.id
            gFG.append(f)
            gBG.append(b)
        }
        var f: [Feature] = Array(repeating: d[0], count: 4)
        f[3] = cdfa(d[3], fg: gFG[3], bg: gBG[3], "cdfa4")
        for level in stride(from: 2, through: 0, by: -1) {
            let x = concat([d[level], upsample(f[level + 1], 2, name: "cdfa\(level + 1).up")], name: "cdfa\(level + 1).cat")
            f[level] = cdfa(x, fg: gFG[level], bg: gBG[level], "cdfa\(level + 1)")
        }
        for (i, x) in f.enumerated() { graph.taps["act.cdfa\(i + 1)"] = x.id }
        let small = decoderBlock(f[1], skip: f[0], "decoder_small")
        let middle = decoderBlock(f[2], skip: f[1], "decoder_middle")
        let large = decoderBlock(f[3], skip: f[2], "decoder_large")
        graph.taps["act.decoder_small"] = small.id
        graph.taps["act.decoder_middle"] = middle.id
        graph.taps["act.decoder_large"] = large.id
        graph.outputs["mask"] = outputBlock(small, middle, large).id
    }

    mutating func buildStage1() {
        let image = op(.input, [], name: "input", channels: 3, stride: 1)
        let xs = encoder(image)
        var ups: [Feature] = []
        for (i, x) in xs.enumerated() {
            let up = upsample(x, x.stride, name: "head.up\(i + 1)")
            ups.append(cbr(up, "head.conv\(i + 1)", out: 64, kernel: 1))
        }
        let cat = concat(ups, name: "head.cat")
        let fused = withRole(.maskLogits) {
            $0.conv(cat, ConvSpec(weight: "head.conv_fuse.weight", inChannels: cat.channels, outChannels: 1, kernel: 1),
                    name: "head.conv_fuse")
        }
        graph.outputs["mask"] = op(.sigmoid, [fused], name: "head.sigmoid").id
    }
}
