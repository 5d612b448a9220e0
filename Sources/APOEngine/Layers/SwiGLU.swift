import Foundation

/// SwiGLU activation: `out = silu(gate) * up`, elementwise over `count` values (out may alias gate).
public func swigluForward(
    out: UnsafeMutablePointer<Float>, gate: UnsafePointer<Float>, up: UnsafePointer<Float>, count: Int
) {
    for i in 0..<count {
        let g = gate[i]
        out[i] = g / (1 + expf(-g)) * up[i]
    }
}

/// Backward of `swigluForward`; ADDS into `dGate` and `dUp`.
/// With `σ = sigmoid(g)`: `d silu(g)/dg = σ · (1 + g · (1 − σ))`.
/// All buffers `[count]`; gate and up are the forward inputs (not overwritten by the forward pass).
public func swigluBackward(
    dGate: UnsafeMutablePointer<Float>, dUp: UnsafeMutablePointer<Float>,
    dOut: UnsafePointer<Float>, gate: UnsafePointer<Float>, up: UnsafePointer<Float>, count: Int
) {
    for i in 0..<count {
        let g = gate[i]
        let sig = 1 / (1 + expf(-g))
        let silu = g * sig
        dUp[i] += dOut[i] * silu
        dGate[i] += dOut[i] * up[i] * sig * (1 + g * (1 - sig))
    }
}
