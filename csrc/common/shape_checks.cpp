#include "common/shape_checks.h"

#include <algorithm>
#include <cmath>

#include "common/check.h"

namespace pcn {

void finish_conv_shape(Conv2dShape& s) {
  PCN_CHECK(s.groups >= 1, "groups must be >= 1, got ", s.groups);
  PCN_CHECK(s.sh >= 1 && s.sw >= 1, "stride must be >= 1, got (", s.sh, ", ", s.sw, ")");
  PCN_CHECK(s.dh >= 1 && s.dw >= 1, "dilation must be >= 1, got (", s.dh, ", ", s.dw, ")");
  PCN_CHECK(s.pt >= 0 && s.pl >= 0 && s.pb >= 0 && s.pr >= 0, "padding must be >= 0, got (",
            s.pt, ", ", s.pl, ", ", s.pb, ", ", s.pr, ")");
  PCN_CHECK(s.c >= 1, "x must have at least one channel");
  PCN_CHECK(s.oc >= 1 && s.kh >= 1 && s.kw >= 1, "weight must have non-zero dimensions, got (",
            s.oc, ", ", s.c / s.groups, ", ", s.kh, ", ", s.kw, ")");
  PCN_CHECK(s.c % s.groups == 0, "in_channels (", s.c, ") must be divisible by groups (", s.groups, ")");
  PCN_CHECK(s.oc % s.groups == 0, "out_channels (", s.oc, ") must be divisible by groups (", s.groups,
            ")");
  const int64_t ph = checked_add(checked_add(s.h, s.pt, "padding"), s.pb, "padding");
  const int64_t pw = checked_add(checked_add(s.w, s.pl, "padding"), s.pr, "padding");
  const int64_t eh = checked_add(checked_mul(s.dh, s.kh - 1, "dilation"), 1, "dilation");
  const int64_t ew = checked_add(checked_mul(s.dw, s.kw - 1, "dilation"), 1, "dilation");
  PCN_CHECK(eh <= ph && ew <= pw, "kernel larger than the input: dilated kernel extent (", eh, ", ",
            ew, ") exceeds the padded input (", ph, ", ", pw, ")");
  s.oh = window_output_size(s.h, s.kh, s.sh, s.pt, s.pb, s.dh, false);
  s.ow = window_output_size(s.w, s.kw, s.sw, s.pl, s.pr, s.dw, false);
  // Scratch and output sizes must be representable and allocatable.
  const int64_t out = checked_mul(checked_mul(checked_mul(s.n, s.oc, "output"), s.oh, "output"),
                                  s.ow, "output");
  PCN_CHECK(out <= kMaxElements, "output of ", out, " elements is too large to allocate");
  checked_mul(checked_mul(s.kdim(), s.oh, "im2col"), s.ow, "im2col");
}

void finish_conv_transpose_shape(ConvTranspose2dShape& s) {
  PCN_CHECK(s.groups >= 1, "groups must be >= 1, got ", s.groups);
  PCN_CHECK(s.sh >= 1 && s.sw >= 1, "stride must be >= 1, got (", s.sh, ", ", s.sw, ")");
  PCN_CHECK(s.dh >= 1 && s.dw >= 1, "dilation must be >= 1, got (", s.dh, ", ", s.dw, ")");
  PCN_CHECK(s.ph >= 0 && s.pw >= 0, "padding must be >= 0, got (", s.ph, ", ", s.pw, ")");
  PCN_CHECK(s.oph >= 0 && s.opw >= 0, "output_padding must be >= 0, got (", s.oph, ", ", s.opw, ")");
  PCN_CHECK(s.oph < std::max(s.sh, s.dh) && s.opw < std::max(s.sw, s.dw), "output_padding (", s.oph,
            ", ", s.opw, ") must be smaller than stride (", s.sh, ", ", s.sw, ") or dilation (", s.dh,
            ", ", s.dw, ") along each axis");
  PCN_CHECK(s.c >= 1, "x must have at least one channel");
  PCN_CHECK(s.h >= 1 && s.w >= 1, "x must have non-empty height and width, got (", s.h, ", ", s.w, ")");
  PCN_CHECK(s.oc >= 1 && s.kh >= 1 && s.kw >= 1, "weight must have non-zero dimensions, got (", s.c,
            ", ", s.oc / s.groups, ", ", s.kh, ", ", s.kw, ")");
  PCN_CHECK(s.c % s.groups == 0, "in_channels (", s.c, ") must be divisible by groups (", s.groups, ")");
  PCN_CHECK(s.oc % s.groups == 0, "out_channels (", s.oc, ") must be divisible by groups (", s.groups,
            ")");
  // oh = (h - 1) * sh - 2 * ph + dh * (kh - 1) + oph + 1, with overflow checks.
  auto out_size = [](int64_t in, int64_t st, int64_t pad, int64_t dil, int64_t k, int64_t op) {
    const int64_t grow = checked_add(checked_mul(in - 1, st, "output"),
                                     checked_mul(dil, k - 1, "dilation"), "output");
    return checked_add(grow, op + 1, "output") - checked_mul(2, pad, "padding");
  };
  s.oh = out_size(s.h, s.sh, s.ph, s.dh, s.kh, s.oph);
  s.ow = out_size(s.w, s.sw, s.pw, s.dw, s.kw, s.opw);
  PCN_CHECK(s.oh >= 1 && s.ow >= 1, "output size (", s.oh, ", ", s.ow, ") of the transposed convolution ",
            "must be positive: padding (", s.ph, ", ", s.pw, ") is too large for input (", s.h, ", ",
            s.w, ")");
  const int64_t out = checked_mul(checked_mul(checked_mul(s.n, s.oc, "output"), s.oh, "output"),
                                  s.ow, "output");
  PCN_CHECK(out <= kMaxElements, "output of ", out, " elements is too large to allocate");
  // The column matrix of the underlying convolution gradient: (c/groups * kh * kw) x (h * w).
  checked_mul(checked_mul(checked_mul(s.oc / s.groups, s.kh * s.kw, "weight"), s.h, "im2col"), s.w,
              "im2col");
}

Pool2dShape make_pool_shape(int64_t n, int64_t c, int64_t h, int64_t w, int64_t kh, int64_t kw,
                            int64_t sh, int64_t sw, int64_t ph, int64_t pw, bool ceil_mode,
                            const char* what) {
  PCN_CHECK(kh >= 1 && kw >= 1, "kernel_size must be >= 1, got (", kh, ", ", kw, ")");
  PCN_CHECK(sh >= 1 && sw >= 1, "stride must be >= 1, got (", sh, ", ", sw, ")");
  PCN_CHECK(ph >= 0 && pw >= 0, "padding must be >= 0, got (", ph, ", ", pw, ")");
  PCN_CHECK(h >= 1 && w >= 1, what, " must have non-empty height and width, got shape (", n, ", ",
            c, ", ", h, ", ", w, ")");
  PCN_CHECK(ph <= kh / 2 && pw <= kw / 2, "padding (", ph, ", ", pw,
            ") must be at most half of kernel_size (", kh, ", ", kw, ")");
  const int64_t h_in = checked_add(h, checked_mul(2, ph, "padding"), "padding");
  const int64_t w_in = checked_add(w, checked_mul(2, pw, "padding"), "padding");
  PCN_CHECK(kh <= h_in && kw <= w_in, "kernel_size (", kh, ", ", kw,
            ") is larger than the padded input (", h_in, ", ", w_in, ")");
  Pool2dShape s{n, c, h, w, kh, kw, sh, sw, ph, pw, ceil_mode, 0, 0};
  s.oh = window_output_size(h, kh, sh, ph, ph, 1, ceil_mode);
  s.ow = window_output_size(w, kw, sw, pw, pw, 1, ceil_mode);
  PCN_CHECK(s.oh >= 1 && s.ow >= 1, "output size (", s.oh, ", ", s.ow, ") is too small");
  checked_mul(checked_mul(checked_mul(n, c, "input"), h, "input"), w, "input");
  return s;
}

void check_norm_type(double p) {
  PCN_CHECK(std::isfinite(p) && p > 0.0, "norm_type must be a finite number > 0, got ", p);
}

}  // namespace pcn
