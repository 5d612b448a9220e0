/// Keys and values of every layer for a fixed number of sequence slots.
///
/// Layout per layer: `[slots, maxPositions, kvDim]` for K and for V; position `p` of slot `s` holds
/// the (RoPE-rotated) key and the value of the token at `p` once it has gone through `forward`.
/// A slot is reused by simply writing from position 0 again: nothing needs clearing.
public final class KVCache: @unchecked Sendable {
    public let layerCount: Int
    public let slotCount: Int
    public let maxPositions: Int
    public let kvDim: Int
    let keys: FloatBuffer
    let values: FloatBuffer

    public init(config: LlamaConfig, slots: Int, maxPositions: Int) {
        layerCount = config.layerCount
        slotCount = slots
        self.maxPositions = maxPositions
        kvDim = config.kvDim
        let count = config.layerCount * slots * maxPositions * config.kvDim
        keys = FloatBuffer(count: count)
        values = FloatBuffer(count: count)
    }

    var layerStride: Int { slotCount * maxPositions * kvDim }

    func keys(layer: Int) -> UnsafeMutablePointer<Float> { keys.pointer + layer * layerStride }
    func values(layer: Int) -> UnsafeMutablePointer<Float> { values.pointer + layer * layerStride }

    /// Copies positions `0..<length` of every layer from one slot to another (a shared prompt
    /// prefix is computed once and reused by the other samples of the same prompt).
    public func copyPrefix(from source: Int, to destination: Int, length: Int) {
        precondition(source < slotCount && destination < slotCount && length <= maxPositions)
        guard source != destination, length > 0 else { return }
        for layer in 0..<layerCount {
            let from = layer * layerStride + source * maxPositions * kvDim
            let to = layer * layerStride + destination * maxPositions * kvDim
            (keys.pointer + to).update(from: keys.pointer + from, count: length * kvDim)
            (values.pointer + to).update(from: values.pointer + from, count: length * kvDim)
        }
    }

    /// Bytes held by the cache (K and V together).
    public var byteCount: Int { 2 * keys.count * MemoryLayout<Float>.stride }
}
