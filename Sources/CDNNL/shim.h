// oneDNN (Debian's libdnnl-dev): the matrix products in bf16 with fp32 accumulation, on the ISA
// the library finds (AMX, AVX512-BF16), the way PyTorch's CPU autocast runs them.
#include <oneapi/dnnl/dnnl.h>
