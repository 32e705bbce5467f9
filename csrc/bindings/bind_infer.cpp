// _C.Network: the serving runtime (infer/network.h), built step by step from Python
// (pyconvnet/inference.py) and run on a batch with the GIL released.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include "bindings/arrays.h"
#include "infer/network.h"

namespace py = pybind11;

namespace pcn::bind {
namespace {

using infer::Network;

infer::Dims dims_arg(const std::vector<int64_t>& d) {
  PCN_CHECK(d.size() >= 1 && d.size() <= 3, "input_shape must have 1 to 3 dimensions (one sample)");
  infer::Dims r{d[0], d.size() > 1 ? d[1] : 1, d.size() > 2 ? d[2] : 1};
  PCN_CHECK(r.c >= 1 && r.h >= 1 && r.w >= 1, "input_shape dimensions must be >= 1");
  checked_mul(checked_mul(r.c, r.h, "input_shape"), r.w, "input_shape");
  return r;
}

Network::PoolKind pool_kind(const std::string& k) {
  if (k == "max") return Network::PoolKind::max;
  if (k == "avg") return Network::PoolKind::avg;
  PCN_CHECK(k == "lp", "pool kind must be 'max', 'avg' or 'lp', got '", k, "'");
  return Network::PoolKind::lp;
}

// (kernel, output shape, weight bytes, node written, nodes read) per step.
py::list describe(const Network& net) {
  py::list out;
  for (size_t i = 0; i < net.steps().size(); ++i) {
    const auto& s = net.steps()[i];
    out.append(py::make_tuple(s->kernel(), py::make_tuple(s->out.c, s->out.h, s->out.w),
                              s->weight_bytes(), net.step_node(i), s->inputs));
  }
  return out;
}

std::vector<int64_t> output_nodes(const Network& net) {
  return net.outputs().empty() ? std::vector<int64_t>{net.num_nodes() - 1} : net.outputs();
}

// x: one array (one input) -> one array, or a list of arrays (one per input) -> a list.
// With step_seconds (a list of doubles, one per step), each step's wall time is added to it.
py::object run(const Network& net, py::handle x_obj, std::vector<double>* step_seconds = nullptr,
               bool profile_cpu = false) {
  const bool many = py::isinstance<py::list>(x_obj) || py::isinstance<py::tuple>(x_obj);
  std::vector<FArray> xs;
  if (many) {
    for (py::handle h : x_obj) xs.push_back(as_float(h, "x"));
  } else {
    xs.push_back(as_float(x_obj, "x"));
  }
  PCN_CHECK(static_cast<int64_t>(xs.size()) == net.num_inputs(), "this network has ",
            net.num_inputs(), " inputs, got ", xs.size(), " arrays");
  int64_t n = -1;
  std::vector<const float*> xp;
  for (size_t k = 0; k < xs.size(); ++k) {
    const FArray& x = xs[k];
    const infer::Dims in = net.dims(static_cast<int64_t>(k));
    PCN_CHECK(x.ndim() >= 1, "x must have a batch dimension");
    int64_t per = 1;
    for (py::ssize_t i = 1; i < x.ndim(); ++i) per *= x.shape(i);
    PCN_CHECK(per == in.size() && x.ndim() <= 4, "input ", k, " must have shape (N, ", in.c,
              ", ", in.h, ", ", in.w, ") for this network, got ", shape_str(x));
    PCN_CHECK(n < 0 || x.shape(0) == n, "all inputs must have the same batch size, got ", n,
              " and ", x.shape(0));
    n = x.shape(0);
    xp.push_back(x.data());
  }
  std::vector<FArray> ys;
  std::vector<float*> yp;
  for (int64_t v : output_nodes(net)) {
    const infer::Dims o = net.dims(v);
    ys.push_back((o.h == 1 && o.w == 1) ? new_float({n, o.c}) : new_float({n, o.c, o.h, o.w}));
    yp.push_back(ys.back().mutable_data());
  }
  net.freeze();  // with the GIL held: no add_* can be halfway through
  {
    py::gil_scoped_release nogil;
    net.run(n, xp, yp, step_seconds ? step_seconds->data() : nullptr, profile_cpu);
  }
  if (!many && ys.size() == 1) return ys[0];
  py::list out;
  for (auto& y : ys) out.append(y);
  return out;
}

std::vector<infer::Dims> inputs_arg(py::handle shape) {
  std::vector<infer::Dims> r;
  bool nested = false;
  for (py::handle h : shape) nested = nested || !py::isinstance<py::int_>(h);
  if (!nested) return {dims_arg(shape.cast<std::vector<int64_t>>())};
  for (py::handle h : shape) r.push_back(dims_arg(h.cast<std::vector<int64_t>>()));
  return r;
}

// The algorithms a convolution step can be made to run (ServingConv); "" for the plan's choice.
std::optional<conv::Algo> algorithm_arg(const std::string& name) {
  if (name.empty()) return std::nullopt;
  using conv::Algo;
  for (Algo a : {Algo::winograd, Algo::winograd_f2, Algo::direct, Algo::depthwise,
                 Algo::pointwise_gemm, Algo::im2col_gemm})
    if (name == conv::algo_name(a)) return a;
  PCN_CHECK(false, "algorithm must be '' (the plan's choice), 'winograd', 'winograd_f2', 'direct', "
            "'depthwise', 'pointwise_gemm' or 'im2col_gemm', got '", name, "'");
  return std::nullopt;
}

}  // namespace

void register_infer(py::module_& m) {
  py::class_<Network>(m, "Network", "A network frozen for serving (pyconvnet.InferenceModel).")
      .def(py::init([](py::handle input_shape, bool bf16) {
             return std::make_unique<Network>(inputs_arg(input_shape), bf16);
           }),
           py::arg("input_shape"), py::arg("bf16") = false)
      .def("add_conv",
           [](Network& net, py::handle w_obj, py::handle b_obj, std::array<int64_t, 2> stride,
              std::array<int64_t, 4> padding, std::array<int64_t, 2> dilation, int64_t groups,
              const std::string& act, float act_param, const std::string& algorithm) {
             const std::optional<conv::Algo> algo = algorithm_arg(algorithm);
             FArray w = as_float_nd(w_obj, "weight", 4);
             FArray b;
             const float* bp = nullptr;
             if (!b_obj.is_none()) {
               b = as_float_nd(b_obj, "bias", 1);
               PCN_CHECK(b.shape(0) == w.shape(0), "bias must have ", w.shape(0), " values, got ",
                         shape_str(b));
               bp = b.data();
             }
             PCN_CHECK(groups >= 1 && w.shape(1) * groups == net.output().c, "weight ",
                       shape_str(w), " with groups=", groups, " does not fit ",
                       net.output().c, " input channels");
             const float* wp = w.data();
             // packing (a Winograd transform, a few ms for wide layers) without the GIL; w and
             // b stay referenced here
             py::gil_scoped_release nogil;
             net.add_conv(wp, bp, w.shape(0), w.shape(2), w.shape(3), stride[0], stride[1],
                          padding[0], padding[1], padding[2], padding[3], dilation[0],
                          dilation[1], groups, infer::parse_act(act), act_param, algo);
           },
           py::arg("weight"), py::arg("bias"), py::arg("stride"), py::arg("padding"),
           py::arg("dilation"), py::arg("groups"), py::arg("act") = "none",
           py::arg("act_param") = 0.0f, py::arg("algorithm") = "",
           "Appends a convolution; `algorithm` names one to run at every batch instead of the "
           "serving plan's choice (benchmarks and tests).")
      .def("add_linear",
           [](Network& net, std::shared_ptr<linear::PackedLinear> lin, const std::string& act,
              float act_param) {
             PCN_CHECK(lin != nullptr, "linear must be a PackedLinear");
             net.add_linear(std::move(lin), infer::parse_act(act), act_param);
           },
           py::arg("linear"), py::arg("act") = "none", py::arg("act_param") = 0.0f)
      .def("add_pool",
           [](Network& net, const std::string& kind, std::array<int64_t, 2> k,
              std::array<int64_t, 2> s, std::array<int64_t, 2> p, bool ceil_mode,
              bool count_include_pad, double norm, bool fuse) {
             net.add_pool(pool_kind(kind), k[0], k[1], s[0], s[1], p[0], p[1], ceil_mode,
                          count_include_pad, norm, fuse);
           },
           py::arg("kind"), py::arg("kernel_size"), py::arg("stride"), py::arg("padding"),
           py::arg("ceil_mode") = false, py::arg("count_include_pad") = true,
           py::arg("norm_type") = 2.0, py::arg("fuse") = true)
      .def("add_global_avg_pool", &Network::add_global_avg_pool)
      .def("add_activation",
           [](Network& net, const std::string& act, float param) {
             net.add_activation(infer::parse_act(act), param);
           },
           py::arg("act"), py::arg("param") = 0.0f)
      .def("add_softmax", &Network::add_softmax)
      .def("add_flatten", &Network::add_flatten)
      .def("add_affine",
           [](Network& net, py::handle scale_obj, py::handle shift_obj) {
             FArray scale = as_float_nd(scale_obj, "scale", 1);
             FArray shift = as_float_nd(shift_obj, "shift", 1);
             const int64_t c = net.output().c;
             PCN_CHECK(scale.shape(0) == c && shift.shape(0) == c, "scale and shift must have ",
                       c, " values (the channels), got ", shape_str(scale), " and ",
                       shape_str(shift));
             net.add_affine(scale.data(), shift.data());
           },
           py::arg("scale"), py::arg("shift"))
      .def("add_add",
           [](Network& net, const std::vector<int64_t>& nodes, const std::string& act,
              float act_param, bool fuse) {
             return net.add_add(nodes, infer::parse_act(act), act_param, fuse);
           },
           py::arg("nodes"), py::arg("act") = "none", py::arg("act_param") = 0.0f,
           py::arg("fuse") = false)
      .def("add_multiply", &Network::add_multiply, py::arg("nodes"))
      .def("add_concat", &Network::add_concat, py::arg("nodes"))
      .def("select", &Network::select, py::arg("node"))
      .def("set_outputs", &Network::set_outputs, py::arg("nodes"))
      .def_property_readonly("current", &Network::current)
      .def_property_readonly("num_inputs", &Network::num_inputs)
      .def_property_readonly("num_nodes", &Network::num_nodes)
      .def("node_shape",
           [](const Network& n, int64_t node) {
             const infer::Dims d = n.dims(node);
             return py::make_tuple(d.c, d.h, d.w);
           },
           py::arg("node"))
      .def_property_readonly("arena_floats", &Network::arena_floats)
      .def("run", [](const Network& net, py::handle x) { return run(net, x); }, py::arg("x"))
      .def("profile",
           [](const Network& net, py::handle x, int64_t repeats, const std::string& clock) {
             PCN_CHECK(repeats >= 1, "repeats must be >= 1, got ", repeats);
             PCN_CHECK(clock == "wall" || clock == "thread_cpu",
                       "clock must be 'wall' or 'thread_cpu', got '", clock, "'");
             std::vector<double> seconds(net.steps().size(), 0.0);
             for (int64_t r = 0; r < repeats; ++r) run(net, x, &seconds, clock == "thread_cpu");
             for (double& t : seconds) t /= static_cast<double>(repeats);
             return seconds;
           },
           py::arg("x"), py::arg("repeats") = 10, py::arg("clock") = "wall",
           "Mean seconds of each step over `repeats` runs of x (profiling); clock 'thread_cpu': "
           "the calling thread's CPU time (all the work when one thread runs).")
      .def("describe", &describe)
      .def_property_readonly("input_shape", [](const Network& n) {
        return py::make_tuple(n.input().c, n.input().h, n.input().w);
      })
      .def_property_readonly("output_shape", [](const Network& n) {
        const infer::Dims o = n.dims(output_nodes(n)[0]);
        return py::make_tuple(o.c, o.h, o.w);
      })
      .def_property_readonly("max_activation", &Network::max_activation);
}

}  // namespace pcn::bind
