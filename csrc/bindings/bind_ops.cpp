// Box operations: box_iou, nms, batched_nms (semantics in ops/boxes.h).
//
// Inputs are copied while the GIL is held and the copies are validated, so the kernels read
// only checked values even if another Python thread writes to the arrays meanwhile; the copies
// are O(n) next to the O(n^2) work.
#include <pybind11/pybind11.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "bindings/arrays.h"
#include "ops/boxes.h"

namespace py = pybind11;

namespace pcn::bind {
namespace {

// (n, 4) float32 boxes: finite coordinates with x1 <= x2 and y1 <= y2.
std::vector<float> checked_boxes(const py::handle& obj, const char* name) {
  FArray a = as_float(obj, name);
  PCN_CHECK(a.ndim() == 2 && a.shape(1) == 4, name, " must have shape (N, 4) as (x1, y1, x2, y2), got ",
            shape_str(a));
  std::vector<float> v(a.data(), a.data() + a.size());
  const int64_t n = a.shape(0);
  for (int64_t i = 0; i < n; ++i) {
    const float* b = v.data() + 4 * i;
    for (int k = 0; k < 4; ++k)
      PCN_CHECK(std::isfinite(b[k]), name, "[", i, "] = (", b[0], ", ", b[1], ", ", b[2], ", ", b[3],
                ") holds a non-finite coordinate (NaN or inf)");
    PCN_CHECK(b[0] <= b[2] && b[1] <= b[3], name, "[", i, "] = (", b[0], ", ", b[1], ", ", b[2], ", ",
              b[3], ") is not a box (x1, y1, x2, y2) with x1 <= x2 and y1 <= y2");
  }
  return v;
}

std::vector<float> checked_scores(const py::handle& obj, int64_t n) {
  FArray s = as_float(obj, "scores");
  PCN_CHECK(s.ndim() == 1 && s.shape(0) == n, "scores must have shape (", n,
            ",) to match boxes, got ", shape_str(s));
  std::vector<float> v(s.data(), s.data() + n);
  for (int64_t i = 0; i < n; ++i) PCN_CHECK(!std::isnan(v[i]), "scores[", i, "] is NaN");
  return v;
}

double checked_threshold(double t) {
  PCN_CHECK(!std::isnan(t), "iou_threshold must be a number, got NaN");
  return t;
}

I64Array to_array(const std::vector<int64_t>& v) {
  I64Array out(static_cast<py::ssize_t>(v.size()));
  std::copy(v.begin(), v.end(), out.mutable_data());
  return out;
}

}  // namespace

void register_ops(py::module_& m) {
  m.def(
      "box_iou",
      [](py::handle ao, py::handle bo) {
        const std::vector<float> a = checked_boxes(ao, "a"), b = checked_boxes(bo, "b");
        const int64_t n = static_cast<int64_t>(a.size() / 4), mm = static_cast<int64_t>(b.size() / 4);
        FArray out = new_float({n, mm});
        float* op = out.mutable_data();
        {
          py::gil_scoped_release nogil;
          pcn::ops::box_iou(a.data(), n, b.data(), mm, op);
        }
        return out;
      },
      py::arg("a"), py::arg("b"), "IoU matrix (N, M) float32 of boxes a (N, 4) and b (M, 4).");
  m.def(
      "nms",
      [](py::handle bo, py::handle so, double t) {
        const std::vector<float> boxes = checked_boxes(bo, "boxes");
        const int64_t n = static_cast<int64_t>(boxes.size() / 4);
        const std::vector<float> scores = checked_scores(so, n);
        t = checked_threshold(t);
        std::vector<int64_t> kept;
        {
          py::gil_scoped_release nogil;
          kept = pcn::ops::nms(boxes.data(), scores.data(), n, t);
        }
        return to_array(kept);
      },
      py::arg("boxes"), py::arg("scores"), py::arg("iou_threshold"),
      "Kept indices (int64) by decreasing score.");
  m.def(
      "batched_nms",
      [](py::handle bo, py::handle so, py::handle co, double t) {
        const std::vector<float> boxes = checked_boxes(bo, "boxes");
        const int64_t n = static_cast<int64_t>(boxes.size() / 4);
        const std::vector<float> scores = checked_scores(so, n);
        auto c = as_typed<int64_t>(co, "classes", "int64");
        PCN_CHECK(c.ndim() == 1 && c.shape(0) == n, "classes must have shape (", n,
                  ",) to match boxes, got ", shape_str(c));
        const std::vector<int64_t> classes(c.data(), c.data() + n);
        t = checked_threshold(t);
        std::vector<int64_t> kept;
        {
          py::gil_scoped_release nogil;
          kept = pcn::ops::batched_nms(boxes.data(), scores.data(), classes.data(), n, t);
        }
        return to_array(kept);
      },
      py::arg("boxes"), py::arg("scores"), py::arg("classes"), py::arg("iou_threshold"),
      "Kept indices (int64) by decreasing score; boxes of different classes never suppress each other.");
}

}  // namespace pcn::bind
