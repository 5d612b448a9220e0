import Foundation

/// A contiguous run of trainable parameters and its gradient (same length).
public struct ParameterGroup {
    public let values: UnsafeMutablePointer<Float>
    public let gradients: UnsafeMutablePointer<Float>
    public let count: Int
    public init(values: UnsafeMutablePointer<Float>, gradients: UnsafeMutablePointer<Float>, count: Int) {
        self.values = values; self.gradients = gradients; self.count = count
    }
}

/// AdamW hyper-parameters (PyTorch `torch.optim.AdamW` semantics, decoupled weight decay).
public struct AdamWSettings: Codable, Sendable, Equatable {
    public var beta1: Float = 0.9
    public var beta2: Float = 0.999
    public var eps: Float = 1e-8
    public var weightDecay: Float = 0
    public init(beta1: Float = 0.9, beta2: Float = 0.999, eps: Float = 1e-8, weightDecay: Float = 0) {
        self.beta1 = beta1; self.beta2 = beta2; self.eps = eps; self.weightDecay = weightDecay
    }
}

/// AdamW over a fixed list of parameter groups; owns the first and second moments (one buffer per
/// group, same length). Invariant: `step` counts the updates applied so far (bias correction uses it).
public final class AdamW {
    public let settings: AdamWSettings
    public let m: [FloatBuffer]
    public let v: [FloatBuffer]
    public var step: Int = 0

    public init(groupSizes: [Int], settings: AdamWSettings) {
        self.settings = settings
        m = groupSizes.map { FloatBuffer(count: $0) }
        v = groupSizes.map { FloatBuffer(count: $0) }
    }

    /// One update at learning rate `lr`:
    /// `p ← p·(1 − lr·wd) − lr · m̂ / (√v̂ + eps)`, with bias-corrected moments.
    public func update(_ groups: [ParameterGroup], lr: Float, threads: Int) {
        precondition(groups.count == m.count)
        step += 1
        let s = settings
        let c1 = 1 - Float(pow(Double(s.beta1), Double(step)))
        let c2 = 1 - Float(pow(Double(s.beta2), Double(step)))
        let decay = 1 - lr * s.weightDecay
        for (k, g) in groups.enumerated() {
            precondition(g.count == m[k].count)
            let mp = m[k].pointer, vp = v[k].pointer
            parallelFor(g.count, threads: g.count > 65536 ? threads : 1) { range in
                for i in range {
                    let grad = g.gradients[i]
                    let mi = s.beta1 * mp[i] + (1 - s.beta1) * grad
                    let vi = s.beta2 * vp[i] + (1 - s.beta2) * grad * grad
                    mp[i] = mi
                    vp[i] = vi
                    let mHat = mi / c1, vHat = vi / c2
                    g.values[i] = g.values[i] * decay - lr * mHat / (vHat.squareRoot() + s.eps)
                }
            }
        }
    }
}

/// Global L2 norm of all gradients (accumulated in Double), and PyTorch-style clipping: when the
/// norm exceeds `maxNorm`, every gradient is scaled by `maxNorm / (norm + 1e-6)`. Returns the norm
/// before clipping.
@discardableResult
public func clipGradientNorm(_ groups: [ParameterGroup], maxNorm: Float?) -> Double {
    var sum = 0.0
    for g in groups {
        var partial: Float = 0
        var acc = 0.0
        for i in 0..<g.count {
            partial += g.gradients[i] * g.gradients[i]
            if i & 4095 == 4095 { acc += Double(partial); partial = 0 }
        }
        sum += acc + Double(partial)
    }
    let norm = sum.squareRoot()
    if let maxNorm, maxNorm > 0, norm > Double(maxNorm) {
        let scale = Float(Double(maxNorm) / (norm + 1e-6))
        for g in groups { for i in 0..<g.count { g.gradients[i] *= scale } }
    }
    return norm
}

/// Learning rate per optimiser step (0-based), Hugging Face `get_*_schedule_with_warmup` semantics:
/// linear warm-up from 0 over `warmupSteps`, then constant, linear decay to 0, or cosine decay to 0
/// at `totalSteps`.
public struct LearningRateSchedule: Codable, Sendable, Equatable {
    public enum Decay: String, Codable, Sendable, CaseIterable { case constant, linear, cosine }
    public var peak: Double
    public var warmupSteps: Int
    public var totalSteps: Int
    public var decay: Decay

    public init(peak: Double, warmupSteps: Int, totalSteps: Int, decay: Decay) {
        self.peak = peak; self.warmupSteps = warmupSteps; self.totalSteps = totalSteps; self.decay = decay
    }

    public func rate(atStep step: Int) -> Double {
        if step < warmupSteps { return peak * Double(step) / Double(max(1, warmupSteps)) }
        let progress = Double(step - warmupSteps) / Double(max(1, totalSteps - warmupSteps))
        switch decay {
        case .constant: return peak
        case .linear: return peak * max(0, 1 - progress)
        case .cosine: return peak * max(0, 0.5 * (1 + cos(Double.pi * min(progress, 1))))
        }
    }
}
