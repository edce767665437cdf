// SeededRandom.swift: the project's one seeded random generator, shared by training (augmentation, parameter
// initialisation, checkpointed state) and by the simulated sources of the live pipeline (camera paths, fault
// schedules), so that the same seed gives the same numbers on every machine.

/// SplitMix64: a small seeded generator whose whole state is one UInt64 (training checkpoints store it).
public struct SplitMix64: RandomNumberGenerator, Sendable {
    public var state: UInt64
    public init(seed: UInt64) { state = seed }
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    /// Uniform double in [lo, hi).
    public mutating func uniform(_ lo: Double, _ hi: Double) -> Double {
        lo + (hi - lo) * Double(next() >> 11) * 0x1p-53
    }
    /// True with probability p.
    public mutating func chance(_ p: Double) -> Bool { uniform(0, 1) < p }
}
