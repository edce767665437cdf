// ImportCommand.swift — `condseg import`: a PyTorch checkpoint (`torch.save` of a state_dict, possibly wrapped in
// a dict or saved under DataParallel) or a safetensors file without `condseg.*` metadata, written as a condseg
// model file with its configuration (inferred from the tensor shapes) as metadata. The checkpoint is read by a
// restricted unpickler that runs nothing from the file (CondSegInterop).

import ArgumentParser
import CondSegCore
import CondSegIO
import CondSegInterop
import Foundation

struct Import: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "import",
        abstract: "Turn a PyTorch checkpoint (.pth/.pt) or a metadata-less safetensors file into a condseg model file.",
        discussion: """
            Reads torch.save zip checkpoints without Python: only a state_dict's data is understood (tensors of \
            float32, float16 or bfloat16; OrderedDict; torch storages); any other Python object or global in the \
            file is refused (exit status 4) and nothing from the file is ever run. Zip entries must be stored \
            (uncompressed), as torch.save writes them; the legacy pre-1.6 format and TorchScript archives are refused.
            The configuration (encoder, width, mid, heads) is inferred from the tensor shapes; input size, channel \
            order and scale are not in the weights and take the release values (256, BGR, 1/255) unless given.
            Example: condseg import ConDSeg-kvasir.pth --out kvasir.safetensors && condseg inspect --model kvasir.safetensors
            """)

    @Argument(help: "The checkpoint (torch.save zip) or safetensors file.", transform: nonEmptyPath)
    var checkpoint: String

    @Option(name: .long, help: "Output model file (.safetensors).", transform: nonEmptyPath)
    var out: String

    @Flag(name: .long, help: "Keep the auxiliary head's tensors (training only; dropped by default).")
    var keepAux = false

    @Option(name: .long, parsing: .unconditional, help: "Input size the model was trained at (a multiple of 16, at most 4096; default 256).")
    var inputSize: Int?

    @Option(name: .long, help: "Channel order the model expects: bgr (default, the release) or rgb.")
    var channelOrder: String?

    @Option(name: .long, help: "Pixel scale, a number or a fraction (default 1/255).")
    var scale: String?

    func validate() throws {
        if let inputSize, ModelConfig.inputSizeProblem(inputSize) != nil {
            throw ValidationError("--input-size must be a multiple of \(Graph.conDSegInputStride) from \(Graph.conDSegInputStride) to \(ModelConfig.maximumInputSize) (got \(inputSize))")
        }
        if let channelOrder, ChannelOrder(rawValue: channelOrder.lowercased()) == nil { throw ValidationError("--channel-order must be bgr or rgb") }
        if let scale {
            let parsed = (try? ModelConfig(metadata: ["condseg.scale": scale], file: "--scale"))?.scale
            guard let parsed, parsed > 0 else { throw ValidationError("--scale must be a positive number or a fraction like 1/255") }
        }
    }

    func run() throws {
        var plan = OutputPlan()
        plan.read(checkpoint, as: "checkpoint")
        plan.write(out, as: "model (--out)")
        try plan.check()
        try AtomicFile.checkWritable(out)
        let assumptions = ImportAssumptions(inputSize: inputSize, channelOrder: channelOrder.flatMap { ChannelOrder(rawValue: $0.lowercased()) },
                                            scaleText: scale)
        let imported = try CheckpointImport.run(path: checkpoint, keepAuxiliary: keepAux, assumptions: assumptions)
        for note in imported.notes { printError("note: \(note)") }
        try imported.writer.write(to: out)
        let model = try ConDSegModel.load(path: out)
        print("wrote \(out): \(imported.tensorCount) tensors, \(model.config), SHA-256 \(model.sha256)")
    }
}
