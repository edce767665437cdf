// Exact conversions from the 16-bit float formats stored in weights files (IEEE binary16 "F16" and
// bfloat16 "BF16") to Float, done on bit patterns so they behave the same on every platform.
// Every F16 and BF16 value is exactly representable as a Float, so no rounding happens here.

/// Converts IEEE 754 binary16 bits to the Float with the same value (NaN payloads are kept).
@inline(__always)
func floatFromHalfBits(_ bits: UInt16) -> Float {
    let sign = UInt32(bits & 0x8000) << 16
    let exponent = UInt32(bits >> 10) & 0x1F
    let mantissa = UInt32(bits & 0x03FF)
    if exponent == 0x1F {
        // Infinity (mantissa 0) or NaN: all-ones Float exponent, mantissa shifted to the top.
        return Float(bitPattern: sign | 0x7F80_0000 | (mantissa << 13))
    }
    if exponent == 0 {
        // Zero or subnormal: the value is mantissa * 2^-24, exact in Float (normal there).
        let magnitude = Float(mantissa) * Float(bitPattern: (127 - 24) << 23)
        return Float(bitPattern: sign | magnitude.bitPattern)
    }
    // Normal: rebias the exponent from 15 to 127.
    return Float(bitPattern: sign | ((exponent + 112) << 23) | (mantissa << 13))
}

/// Converts bfloat16 bits (the top half of a Float) to Float.
@inline(__always)
func floatFromBFloat16Bits(_ bits: UInt16) -> Float {
    Float(bitPattern: UInt32(bits) << 16)
}
