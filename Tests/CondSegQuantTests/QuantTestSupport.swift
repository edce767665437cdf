// QuantTestSupport.swift — shared helpers of CondSegQuantTests: the fixture models and images, model inputs,
// and a calibration made in the test (so no test depends on a table produced elsewhere).

import CondSegCore
import CondSegImage
import CondSegQuant
import CondSegRuntime
import CondSegTestSupport
import Foundation

enum QuantFixtures {
    static func tinyModel() throws -> ConDSegModel {
        try ConDSegModel.load(path: fixturePath("reference/tiny-weights.safetensors"))
    }

    /// The bundled default model (models/ at the repository root).
    static func defaultModel() throws -> ConDSegModel {
        let path = repositoryRoot.appendingPathComponent("models/condseg-r18w64-kvasir.safetensors").path
        guard FileManager.default.fileExists(atPath: path) else { throw FixtureMissing(path: path) }
        return try ConDSegModel.load(path: path)
    }

    /// The Kvasir fixture folder (images/ and masks/).
    static func kvasirFolder() throws -> String {
        let folder = try fixturePath("quant/kvasir")
        _ = try fixturePath("quant/kvasir/images/cju16d65tzw9d0799ouslsw25.jpg")
        return folder
    }

    static func items() throws -> [DatasetItem] {
        try Dataset.items(directory: kvasirFolder(), requireMasks: true)
    }

    /// Planar model inputs of the fixture images at `size` (the release preprocessing).
    static func inputs(size: Int, config: ModelConfig, count: Int = 3) throws -> [[Float]] {
        try items().prefix(count).map { item in
            let image = try ImageCodec.decodeRGB(path: item.imagePath)
            let resized = Resize.bilinear(image, width: size, height: size)
            return ModelInput.planar(resized, bgr: config.channelOrderBGR, scale: config.scale)
        }
    }

    /// A table calibrated in the test on `inputs`.
    static func calibrate(_ model: ConDSegModel, inputs: [[Float]], size: Int, method: CalibrationMethod = .minmax,
                          policy: PrecisionPolicy = .standard, threads: Int = 2) throws -> CalibrationTable {
        let calibrator = try Calibrator.run(model: model, count: inputs.count, threads: threads, size: size,
                                            input: { inputs[$0] }, names: (0..<inputs.count).map { "image\($0)" })
        return calibrator.table(method: method, policy: policy, model: model, listFile: "test",
                                date: Date(timeIntervalSince1970: 1_800_000_000), toolVersion: "test")
    }
}
