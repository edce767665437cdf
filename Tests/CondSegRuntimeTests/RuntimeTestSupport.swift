// RuntimeTestSupport.swift — shared by the CondSegRuntime tests: the rounding bound γ_n the op-by-op checks
// derive their tolerances from, and the shipped model, its calibration table and real Kvasir-SEG inputs.

import CondSegCore
import CondSegImage
import CondSegRuntime
import CondSegTestSupport
import Foundation

/// Unit roundoff of float32.
let unitRoundoff = pow(2.0, -24.0)

/// γ_n = n·u/(1 − n·u): the relative error bound of a float sum or product of n terms.
func gamma(_ n: Int) -> Double { Double(n) * unitRoundoff / (1 - Double(n) * unitRoundoff) }

/// The shipped default model.
func defaultModel() throws -> ConDSegModel {
    let path = repositoryRoot.appendingPathComponent("models/condseg-r18w64-kvasir.safetensors").path
    guard FileManager.default.fileExists(atPath: path) else { throw FixtureMissing(path: path) }
    return try ConDSegModel.load(path: path)
}

/// The shipped calibration table of the default model.
func defaultTable() throws -> CalibrationTable {
    let path = repositoryRoot.appendingPathComponent("calibration/condseg-r18w64-kvasir.table.txt").path
    guard FileManager.default.fileExists(atPath: path) else { throw FixtureMissing(path: path) }
    return try CalibrationTable.load(path: path)
}

/// The first `count` Kvasir-SEG fixture images as planar model inputs of `size`.
func kvasirInputs(_ config: ModelConfig, size: Int, count: Int) throws -> [[Float]] {
    let folder = try fixturePath("quant/kvasir")
    return try Dataset.items(directory: folder, requireMasks: true).prefix(count).map { item in
        let image = try ImageCodec.decodeRGB(path: item.imagePath)
        return ModelInput.planar(Resize.bilinear(image, width: size, height: size), bgr: config.channelOrderBGR,
                                 scale: config.scale)
    }
}
