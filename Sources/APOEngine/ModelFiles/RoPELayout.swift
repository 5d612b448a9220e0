/// The two row orders of Q/K projection weights for rotary embeddings.
///
/// Hugging Face LLaMA ("split halves"): within a head of `headDim` rows, row `i` pairs with row
/// `i + headDim/2`. llama.cpp's `convert_hf_to_gguf.py` permutes rows so that pairs are adjacent
/// (rows `2i`, `2i+1`), matching ggml's rotation:
/// `w.reshape(heads, 2, headDim/2, cols).swapaxes(1, 2)`, i.e. HF row `h·d + s·d/2 + i` → GGUF
/// row `h·d + 2i + s`. The engine's kernels use split halves only, so GGUF Q/K weights pass through
/// `unpermuteFromGGUF` once, at load time.
public enum RoPELayout {
    /// The GGUF ("adjacent pairs") row holding HF ("split halves") row `hfRow`.
    @inline(__always)
    public static func ggufRow(forHFRow hfRow: Int, headDim: Int) -> Int {
        let half = headDim / 2
        let head = hfRow / headDim, within = hfRow % headDim
        let s = within / half, i = within % half
        return head * headDim + 2 * i + s
    }

    /// Reorders the rows of a GGUF Q or K weight `[heads·headDim, columns]` (row-major) into Hugging
    /// Face's split-halves order, in place. `heads` is the head count of that projection (KV heads for K).
    public static func unpermuteFromGGUF(_ w: UnsafeMutablePointer<Float>, heads: Int, headDim: Int, columns: Int) {
        reorderRows(w, rows: heads * headDim, columns: columns) { hfRow in ggufRow(forHFRow: hfRow, headDim: headDim) }
    }

    /// The inverse of `unpermuteFromGGUF`: what llama.cpp's converter does (used when writing GGUF
    /// and in tests).
    public static func permuteToGGUF(_ w: UnsafeMutablePointer<Float>, heads: Int, headDim: Int, columns: Int) {
        // Row r of the result is the HF row whose GGUF position is r.
        var inverse = [Int](repeating: 0, count: heads * headDim)
        for hf in 0..<inverse.count { inverse[ggufRow(forHFRow: hf, headDim: headDim)] = hf }
        reorderRows(w, rows: heads * headDim, columns: columns) { inverse[$0] }
    }

    /// `w[r] = old[source(r)]` for every row r.
    static func reorderRows(_ w: UnsafeMutablePointer<Float>, rows: Int, columns: Int, source: (Int) -> Int) {
        let copy = Array(UnsafeBufferPointer(start: w, count: rows * columns))
        copy.withUnsafeBufferPointer { old in
            for r in 0..<rows {
                (w + r * columns).update(from: old.baseAddress! + source(r) * columns, count: columns)
            }
        }
    }
}
