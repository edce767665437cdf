// CondSegCommand.swift — the `condseg` command: one subcommand per job. Each subcommand file parses its
// options and calls the library; no logic lives here that a library test cannot reach.

import ArgumentParser

@main
struct CondSeg: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "condseg",
        abstract: "Segment polyps (and other structures) in endoscopy images with ConDSeg, on the CPU.",
        discussion: """
        Without --model every command uses the bundled default model \
        (models/condseg-r18w64-kvasir.safetensors, ResNet-18 encoder, trained on Kvasir-SEG). \
        Set CONDSEG_MODEL to change the default.
        """,
        version: condsegVersion,
        subcommands: [Segment.self, Live.self, Capture.self, Eval.self, Bench.self, Inspect.self, Calibrate.self, Quantize.self, Compare.self, Train.self, Init.self]
    )
}

/// Version of the tool, written into calibration tables, logs and reports.
let condsegVersion = "0.1.0"
