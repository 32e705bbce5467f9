"""Command line: `pyconvnet demo` (train and use a small CNN) and `pyconvnet info`; also
`python -m pyconvnet ...`."""

from __future__ import annotations

import argparse
import sys


def _positive(text):
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="pyconvnet",
        description="pyconvnet: convolutional neural networks on the CPU with hand-written C++ kernels.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = sub.add_parser(
        "demo",
        help="train a small CNN on generated shape images, then report accuracy and throughput",
        description="Train a small CNN (3x conv-ReLU-pool, 2 fully connected layers) on images of 8 "
                    "shape classes with noise, generated on the fly (nothing is downloaded); show a "
                    "progress bar, the test accuracy, the prediction throughput and the model summary.",
    )
    demo.add_argument("--epochs", type=_positive, default=4, help="training epochs (default 4)")
    demo.add_argument("--train", type=_positive, default=2500, help="training images (default 2500)")
    demo.add_argument("--test", type=_positive, default=1000, help="test images (default 1000)")
    demo.add_argument("--batch-size", type=_positive, default=32, help="mini-batch size (default 32)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    demo.add_argument("--threads", type=_positive, default=None,
                      help="kernel threads (default: OMP_NUM_THREADS or all usable cores)")
    demo.add_argument("--filters", default="pyconvnet-demo-filters.png", metavar="PNG",
                      help="write the learned first-layer filters here (default %(default)s; "
                           "'' to skip)")
    demo.add_argument("--quiet", action="store_true", help="one line per epoch instead of a progress bar")
    sub.add_parser("info", help="print the build and run-time configuration (ISA, OpenMP, threads)")

    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    if args.command == "info":
        from . import show_config

        show_config()
        return 0
    from .demo import run_demo

    try:
        run_demo(epochs=args.epochs, train=args.train, test=args.test, batch_size=args.batch_size,
                 seed=args.seed, threads=args.threads, verbose=2 if args.quiet else 1,
                 filters_png=args.filters or None)
    except KeyboardInterrupt:  # pragma: no cover - interactive
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
