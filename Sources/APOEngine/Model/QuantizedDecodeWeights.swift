import Foundation

/// Every matrix a decode step reads, in the quantisation it reads them: built once per model and
/// `DecodeWeights` choice.
public final class QuantizedDecodeWeights: @unchecked Sendable {
    public struct Layer {
        public let wq, wk, wv, wo, wGate, wUp, wDown: DecodeMatrix
    }
    public let layers: [Layer]
    public let output: DecodeMatrix

    init(layers: [Layer], output: DecodeMatrix) {
        self.layers = layers
        self.output = output
    }

    /// Int8 copies of the fp32 weights; nil when some matrix's input dimension is not a multiple of 32.
    public convenience init?(int8From p: ModelParameters, threads: Int) {
        self.init(p, threads: threads) { offset, outDim, inDim, _ in
            Int8Matrix(weight: p.pointer(offset), outDim: outDim, inDim: inDim, threads: threads).map(DecodeMatrix.int8)
        }
    }

    /// The blocks of the GGUF `file` the parameters were loaded from, matrix by matrix; a matrix the
    /// file stores in a type without a block kernel (F16, F32, K-quants) gets an int8 copy instead.
    public convenience init?(blocksOf file: GGUFFile, parameters p: ModelParameters, threads: Int) {
        let sources = ModelLoader.ggufSources(for: p.config)
        let headDim = p.config.headDim
        self.init(p, threads: threads) { offset, outDim, inDim, name in
            if let source = sources[name], let info = file.tensor(named: source.ggufName),
               info.shape == [outDim, inDim],
               let blocks = BlockQuantizedMatrix(
                   type: info.type, source: file.bytes(of: info), outDim: outDim, inDim: inDim,
                   sourceRow: source.ropeHeads == nil ? { $0 } : { RoPELayout.ggufRow(forHFRow: $0, headDim: headDim) }) {
                return .blocks(blocks)
            }
            return Int8Matrix(weight: p.pointer(offset), outDim: outDim, inDim: inDim, threads: threads).map(DecodeMatrix.int8)
        }
    }

    /// Builds each matrix with `make(offset, outDim, inDim, layout tensor name)`; nil if any is nil.
    private convenience init?(_ p: ModelParameters, threads: Int,
                              make: (Int, Int, Int, String) -> DecodeMatrix?) {
        let c = p.config
        // The layout's own names (a tied head is the embedding, the only tensor at its offset).
        let names = Dictionary(p.layout.tensors.map { ($0.offset, $0.name) }, uniquingKeysWith: { first, _ in first })
        func matrix(_ offset: Int, _ outDim: Int, _ inDim: Int) -> DecodeMatrix? {
            names[offset].flatMap { make(offset, outDim, inDim, $0) }
        }
        var layers: [Layer] = []
        for l in p.layout.layers {
            guard let wq = matrix(l.wq, c.qDim, c.hiddenSize), let wk = matrix(l.wk, c.kvDim, c.hiddenSize),
                  let wv = matrix(l.wv, c.kvDim, c.hiddenSize), let wo = matrix(l.wo, c.hiddenSize, c.qDim),
                  let wGate = matrix(l.wGate, c.intermediateSize, c.hiddenSize),
                  let wUp = matrix(l.wUp, c.intermediateSize, c.hiddenSize),
                  let wDown = matrix(l.wDown, c.hiddenSize, c.intermediateSize)
            else { return nil }
            layers.append(Layer(wq: wq, wk: wk, wv: wv, wo: wo, wGate: wGate, wUp: wUp, wDown: wDown))
        }
        guard let output = matrix(p.layout.output, c.vocabSize, c.hiddenSize) else { return nil }
        self.init(layers: layers, output: output)
    }

    private var all: [DecodeMatrix] {
        layers.flatMap { [$0.wq, $0.wk, $0.wv, $0.wo, $0.wGate, $0.wUp, $0.wDown] } + [output]
    }

    /// Bytes of weights one decode step reads (for the benchmark's bandwidth figure).
    public var bytesPerToken: Int { all.reduce(0) { $0 + $1.byteCount } }

    /// What the matrices are read as, e.g. "Q4_1 ×210, Q8_0 ×1".
    public var summary: String {
        var counts: [String: Int] = [:]
        for m in all { counts[m.formatName, default: 0] += 1 }
        return counts.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
            .map { "\($0.key) ×\($0.value)" }.joined(separator: ", ")
    }
}
