// The shape of a convolution from binding arguments, one way for every conv binding
// (_C.conv2d_forward/backward, the Winograd and plan queries): the arguments parsed strictly
// (arrays.h), the shape checked by finish_conv_shape.
#pragma once
#include <array>

#include "bindings/arrays.h"
#include "common/shape_checks.h"
#include "common/shapes.h"

namespace pcn::bind {

inline int64_t groups_arg(const py::handle& v) {
  const auto g = index_arg(v, "groups");
  if (!g) throw py::type_error("groups must be an int");
  return *g;
}

// x (n, c, h, w) and weight (oc, c / groups, kh, kw) dimensions with the layer's arguments.
inline Conv2dShape conv_shape_of(const std::array<int64_t, 4>& x, const std::array<int64_t, 4>& w,
                                 const py::handle& stride, const py::handle& padding,
                                 const py::handle& dilation, const py::handle& groups) {
  const auto st = pair_arg(stride, "stride");
  const auto di = pair_arg(dilation, "dilation");
  const auto pd = padding4_arg(padding);
  Conv2dShape s{};
  s.n = x[0]; s.c = x[1]; s.h = x[2]; s.w = x[3];
  s.oc = w[0]; s.kh = w[2]; s.kw = w[3];
  s.sh = st[0]; s.sw = st[1]; s.dh = di[0]; s.dw = di[1];
  s.pt = pd[0]; s.pl = pd[1]; s.pb = pd[2]; s.pr = pd[3];
  s.groups = groups_arg(groups);
  finish_conv_shape(s);
  PCN_CHECK(w[1] == s.c / s.groups, "weight has shape (", w[0], ", ", w[1], ", ", w[2], ", ", w[3],
            ") but x has ", s.c, " channels and groups=", s.groups, ": expected weight.shape[1] == ",
            s.c / s.groups);
  return s;
}

// The same from shapes given as sequences (queries about a layer, no arrays).
inline Conv2dShape described_conv_shape(const py::handle& x_shape, const py::handle& w_shape,
                                        const py::handle& stride, const py::handle& padding,
                                        const py::handle& dilation, const py::handle& groups) {
  return conv_shape_of(shape4_arg(x_shape, "x_shape"), shape4_arg(w_shape, "weight_shape"), stride,
                       padding, dilation, groups);
}

}  // namespace pcn::bind
