import CDNNL
import Foundation

/// oneDNN matmul primitives over bf16 inputs with fp32 accumulation and an fp32 result: each call
/// rounds A and B to bf16 (round to nearest even, as PyTorch does) into scratch, B straight into the
/// blocked layout the kernel wants, then multiplies. One plan (three primitives) per shape, made on
/// first use and cached.
///
/// Why explicit bf16 copies: oneDNN 2.6 accepts `fpmath_mode_bf16` on f32 matmuls but still runs
/// its f32 kernel (`brg:avx512_core`, measured: no faster than fp32); bf16 memory descriptors get
/// `brg:avx512_core_bf16` (or AMX). alpha is an output scale and beta a sum post-op, fixed per
/// plan: the engine uses a handful of (alpha, beta) pairs, so they belong in the key.
final class OneDNNMatmul: @unchecked Sendable {
    struct Shape: Hashable {
        let transA: Bool, transB: Bool
        let m: Int, n: Int, k: Int, lda: Int, ldb: Int, ldc: Int
        let alpha: Float, beta: Float
    }

    /// The primitives and descriptors of one shape.
    final class Plan {
        let matmul: dnnl_primitive_t, roundA: dnnl_primitive_t, roundB: dnnl_primitive_t
        var userA: dnnl_memory_desc_t, userB: dnnl_memory_desc_t, userC: dnnl_memory_desc_t
        var bf16A: dnnl_memory_desc_t, bf16B: dnnl_memory_desc_t
        let bytesA: Int, bytesB: Int

        init(matmul: dnnl_primitive_t, roundA: dnnl_primitive_t, roundB: dnnl_primitive_t,
             userA: dnnl_memory_desc_t, userB: dnnl_memory_desc_t, userC: dnnl_memory_desc_t,
             bf16A: dnnl_memory_desc_t, bf16B: dnnl_memory_desc_t) {
            self.matmul = matmul; self.roundA = roundA; self.roundB = roundB
            self.userA = userA; self.userB = userB; self.userC = userC
            self.bf16A = bf16A; self.bf16B = bf16B
            bytesA = dnnl_memory_desc_get_size(&self.bf16A)
            bytesB = dnnl_memory_desc_get_size(&self.bf16B)
        }
    }

    static let shared = OneDNNMatmul()

    private let engine: dnnl_engine_t
    private let stream: dnnl_stream_t
    private var plans: [Shape: Plan] = [:]
    private var scratchA = ScratchBytes(), scratchB = ScratchBytes()
    private let lock = NSLock()

    private init() {
        var e: dnnl_engine_t?
        Self.check(dnnl_engine_create(&e, dnnl_cpu, 0), "engine_create")
        engine = e!
        var s: dnnl_stream_t?
        Self.check(dnnl_stream_create(&s, engine, dnnl_stream_default_flags.rawValue), "stream_create")
        stream = s!
    }

    static func check(_ status: dnnl_status_t, _ what: String) {
        if status != dnnl_success {
            fatalError("oneDNN \(what) failed with status \(status.rawValue): libdnnl is broken or too old for bf16 matmul")
        }
    }

    /// fp32 row-major `[rows, cols]` (or its transpose, stored `[cols, rows]`) with leading dimension `ld`.
    private static func userDescriptor(rows: Int, cols: Int, transposed: Bool, ld: Int) -> dnnl_memory_desc_t {
        var md = dnnl_memory_desc_t()
        var dims = [Int64](repeating: 0, count: 12), strides = [Int64](repeating: 0, count: 12)
        dims[0] = Int64(rows); dims[1] = Int64(cols)
        if transposed { strides[0] = 1; strides[1] = Int64(ld) } else { strides[0] = Int64(ld); strides[1] = 1 }
        check(dnnl_memory_desc_init_by_strides(&md, 2, dims, dnnl_f32, strides), "memory_desc_init")
        return md
    }

    /// bf16 `[rows, cols]` in whatever layout the matmul picks.
    private static func bf16AnyDescriptor(rows: Int, cols: Int) -> dnnl_memory_desc_t {
        var md = dnnl_memory_desc_t()
        var dims = [Int64](repeating: 0, count: 12)
        dims[0] = Int64(rows); dims[1] = Int64(cols)
        check(dnnl_memory_desc_init_by_tag(&md, 2, dims, dnnl_bf16, dnnl_format_tag_any), "memory_desc_init")
        return md
    }

    private func makePrimitive(_ pd: dnnl_primitive_desc_t?) -> dnnl_primitive_t {
        var prim: dnnl_primitive_t?
        Self.check(dnnl_primitive_create(&prim, pd), "primitive_create")
        return prim!
    }

    private func reorder(from src: inout dnnl_memory_desc_t, to dst: inout dnnl_memory_desc_t) -> dnnl_primitive_t {
        var pd: dnnl_primitive_desc_t?
        Self.check(dnnl_reorder_primitive_desc_create(&pd, &src, engine, &dst, engine, nil), "reorder_desc_create")
        defer { dnnl_primitive_desc_destroy(pd) }
        return makePrimitive(pd)
    }

    private func plan(_ s: Shape) -> Plan {
        if let p = plans[s] { return p }
        var userA = Self.userDescriptor(rows: s.m, cols: s.k, transposed: s.transA, ld: s.lda)
        var userB = Self.userDescriptor(rows: s.k, cols: s.n, transposed: s.transB, ld: s.ldb)
        var userC = Self.userDescriptor(rows: s.m, cols: s.n, transposed: false, ld: s.ldc)
        var anyA = Self.bf16AnyDescriptor(rows: s.m, cols: s.k), anyB = Self.bf16AnyDescriptor(rows: s.k, cols: s.n)
        var desc = dnnl_matmul_desc_t()
        Self.check(dnnl_matmul_desc_init(&desc, &anyA, &anyB, nil, &userC), "matmul_desc_init")
        var attr: dnnl_primitive_attr_t?
        Self.check(dnnl_primitive_attr_create(&attr), "attr_create")
        defer { dnnl_primitive_attr_destroy(attr) }
        if s.alpha != 1 {
            var alpha = s.alpha
            Self.check(dnnl_primitive_attr_set_output_scales(attr, 1, 0, &alpha), "set_output_scales")
        }
        if s.beta != 0 {
            var ops: dnnl_post_ops_t?
            Self.check(dnnl_post_ops_create(&ops), "post_ops_create")
            defer { dnnl_post_ops_destroy(ops) }
            Self.check(dnnl_post_ops_append_sum(ops, s.beta), "append_sum")
            Self.check(dnnl_primitive_attr_set_post_ops(attr, ops), "set_post_ops")
        }
        var pd: dnnl_primitive_desc_t?
        Self.check(withUnsafePointer(to: &desc) { d in
            dnnl_primitive_desc_create(&pd, UnsafeRawPointer(d), attr, engine, nil)
        }, "primitive_desc_create")
        defer { dnnl_primitive_desc_destroy(pd) }
        var bf16A = dnnl_primitive_desc_query_md(pd, dnnl_query_src_md, 0)!.pointee
        var bf16B = dnnl_primitive_desc_query_md(pd, dnnl_query_weights_md, 0)!.pointee
        let made = Plan(matmul: makePrimitive(pd), roundA: reorder(from: &userA, to: &bf16A),
                        roundB: reorder(from: &userB, to: &bf16B),
                        userA: userA, userB: userB, userC: userC, bf16A: bf16A, bf16B: bf16B)
        plans[s] = made
        return made
    }

    private func memory(_ md: inout dnnl_memory_desc_t, _ pointer: UnsafeMutableRawPointer) -> dnnl_memory_t {
        var mem: dnnl_memory_t?
        Self.check(dnnl_memory_create(&mem, &md, engine, pointer), "memory_create")
        return mem!
    }

    private func execute(_ prim: dnnl_primitive_t, _ args: [(Int32, dnnl_memory_t)]) {
        var list = args.map { dnnl_exec_arg_t(arg: $0.0, memory: $0.1) }
        Self.check(dnnl_primitive_execute(prim, stream, Int32(list.count), &list), "primitive_execute")
    }

    /// `C = alpha · op(A) · op(B) + beta · C` with row-major operands, like cblas_sgemm.
    func multiply(_ s: Shape, a: UnsafePointer<Float>, b: UnsafePointer<Float>, c: UnsafeMutablePointer<Float>) {
        lock.lock()
        defer { lock.unlock() }
        let p = plan(s)
        let memA = memory(&p.userA, UnsafeMutableRawPointer(mutating: a))
        let memB = memory(&p.userB, UnsafeMutableRawPointer(mutating: b))
        let memC = memory(&p.userC, UnsafeMutableRawPointer(c))
        let roundedA = memory(&p.bf16A, scratchA.reserve(p.bytesA))
        let roundedB = memory(&p.bf16B, scratchB.reserve(p.bytesB))
        defer { for m in [memA, memB, memC, roundedA, roundedB] { dnnl_memory_destroy(m) } }
        execute(p.roundA, [(DNNL_ARG_FROM, memA), (DNNL_ARG_TO, roundedA)])
        execute(p.roundB, [(DNNL_ARG_FROM, memB), (DNNL_ARG_TO, roundedB)])
        execute(p.matmul, [(DNNL_ARG_SRC, roundedA), (DNNL_ARG_WEIGHTS, roundedB), (DNNL_ARG_DST, memC)])
        Self.check(dnnl_stream_wait(stream), "stream_wait")
    }

    /// The ISA oneDNN dispatches to (after any cap set with `capAtAVX512BF16`).
    static var effectiveISA: String {
        let isa = dnnl_get_effective_cpu_isa()
        switch isa {
        case dnnl_cpu_isa_avx512_core_amx: return "avx512_core_amx"
        case dnnl_cpu_isa_avx512_core_bf16: return "avx512_core_bf16"
        case dnnl_cpu_isa_avx512_core_vnni: return "avx512_core_vnni"
        case dnnl_cpu_isa_avx512_core: return "avx512_core"
        case dnnl_cpu_isa_avx2_vnni: return "avx2_vnni"
        case dnnl_cpu_isa_avx2: return "avx2"
        default: return "isa 0x" + String(isa.rawValue, radix: 16)
        }
    }

    /// Keeps oneDNN below AMX (when the kernel refused the tile permission, or by request).
    /// Only effective before the first primitive is made.
    static func capAtAVX512BF16() {
        _ = dnnl_set_max_cpu_isa(dnnl_cpu_isa_avx512_core_bf16)
    }

    /// oneDNN parallelises with OpenMP; its thread count is per calling thread.
    static func setThreads(_ n: Int) {
        ompSetNumThreads?(Int32(n))
    }

    private static let ompSetNumThreads: (@convention(c) (Int32) -> Void)? = {
        guard let handle = dlopen(nil, RTLD_NOW), let symbol = dlsym(handle, "omp_set_num_threads") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (Int32) -> Void).self)
    }()
}

/// A 64-byte aligned byte buffer that only grows.
struct ScratchBytes {
    private var pointer: UnsafeMutableRawPointer?
    private var capacity = 0

    mutating func reserve(_ bytes: Int) -> UnsafeMutableRawPointer {
        if bytes > capacity {
            pointer?.deallocate()
            capacity = max(bytes, capacity * 2)
            pointer = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 64)
        }
        return pointer!
    }
}
