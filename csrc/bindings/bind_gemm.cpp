// _C.sgemm: the GEMM on its own (tests, benchmarks, and users who want it).
#include <pybind11/pybind11.h>

#include "bindings/arrays.h"
#include "gemm/sgemm.h"

namespace py = pybind11;

namespace pcn::bind {

namespace {

FArray sgemm_py(py::handle a_obj, py::handle b_obj, bool trans_a, bool trans_b,
                py::handle bias_m_obj, py::handle bias_n_obj, bool relu, py::handle out_obj,
                bool accumulate) {
  FArray a = as_float_nd(a_obj, "a", 2);
  FArray b = as_float_nd(b_obj, "b", 2);
  const int64_t m = trans_a ? a.shape(1) : a.shape(0);
  const int64_t ka = trans_a ? a.shape(0) : a.shape(1);
  const int64_t kb = trans_b ? b.shape(1) : b.shape(0);
  const int64_t n = trans_b ? b.shape(0) : b.shape(1);
  PCN_CHECK(ka == kb, "a and b do not multiply: a", trans_a ? ".T" : "", " is (", m, ", ", ka,
            ") and b", trans_b ? ".T" : "", " is (", kb, ", ", n, ")");
  FArray bias_m, bias_n, out;
  const float* bm = nullptr;
  const float* bn = nullptr;
  if (!bias_m_obj.is_none()) {
    bias_m = as_float_nd(bias_m_obj, "bias_m", 1);
    PCN_CHECK(bias_m.shape(0) == m, "bias_m must have shape (", m, ",), got ", shape_str(bias_m));
    bm = bias_m.data();
  }
  if (!bias_n_obj.is_none()) {
    bias_n = as_float_nd(bias_n_obj, "bias_n", 1);
    PCN_CHECK(bias_n.shape(0) == n, "bias_n must have shape (", n, ",), got ", shape_str(bias_n));
    bn = bias_n.data();
  }
  if (out_obj.is_none()) {
    PCN_CHECK(!accumulate, "accumulate=True needs out=");
    out = new_float({m, n});
  } else {
    out = as_float_nd(out_obj, "out", 2);
    PCN_CHECK(out.shape(0) == m && out.shape(1) == n, "out must have shape (", m, ", ", n,
              "), got ", shape_str(out));
    PCN_CHECK(out.writeable(), "out must be writeable");
  }
  const float* ap = a.data();
  const float* bp = b.data();
  float* cp = out.mutable_data();
  gemm::StridedMatrix am = trans_a ? gemm::StridedMatrix{ap, 1, m} : gemm::StridedMatrix{ap, ka, 1};
  gemm::StridedMatrix bmat = trans_b ? gemm::StridedMatrix{bp, 1, kb} : gemm::StridedMatrix{bp, n, 1};
  gemm::Epilogue ep{bm, bn, relu};
  {
    py::gil_scoped_release nogil;
    gemm::sgemm(m, n, ka, am, bmat, cp, n, accumulate, ep);
  }
  return out;
}

}  // namespace

void register_gemm(py::module_& m) {
  m.def("sgemm", &sgemm_py, py::arg("a"), py::arg("b"), py::arg("trans_a") = false,
        py::arg("trans_b") = false, py::arg("bias_m") = py::none(),
        py::arg("bias_n") = py::none(), py::arg("relu") = false, py::arg("out") = py::none(),
        py::arg("accumulate") = false,
        "C = op(a) @ op(b) (+ bias_m[:, None] + bias_n[None, :], relu). With out= and "
        "accumulate=True, C += ...; otherwise out is overwritten (NaN in out does not survive).");
}

}  // namespace pcn::bind
