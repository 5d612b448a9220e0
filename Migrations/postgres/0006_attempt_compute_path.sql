-- The arithmetic an attempt's matrix products ran with and the kernels that ran them, e.g.
-- "precision bf16, isa avx512-bf16 (oneDNN avx512_core_bf16), OpenBLAS core cooperlake": written
-- once by the worker (under the lease) before the job runs; NULL for kinds without compute.
ALTER TABLE attempts ADD COLUMN compute_path TEXT;
