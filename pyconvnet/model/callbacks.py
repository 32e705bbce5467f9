"""Training callbacks (Keras style): History and the progress bar are callbacks too.

Hooks, all optional: `on_train_begin/end(logs)`, `on_epoch_begin/end(epoch, logs)`,
`on_train_batch_begin/end(batch, logs)`. `self.model` is the model (a Model or Sequential) being trained and
`self.params` holds `epochs`, `steps`, `samples`, `batch_size` and `verbose`. Setting
`model.stop_training = True` ends training after the current step.
"""

from __future__ import annotations

import math
import os
import sys
import time
import warnings

import numpy as np

from ..optim.lr_scheduler import LRScheduler, ReduceLROnPlateau

__all__ = ["Callback", "CallbackList", "History", "ProgressBar", "EarlyStopping", "ModelCheckpoint",
           "LearningRateScheduler"]


class Callback:
    # True for callbacks that add entries to the logs: they run before History and the
    # progress bar, which then record and show those entries.
    writes_logs = False

    def __init__(self):
        self.model = None
        self.params = {}

    def set_model(self, model) -> None:
        self.model = model

    def set_params(self, params: dict) -> None:
        self.params = params

    def on_train_begin(self, logs=None):
        pass

    def on_train_end(self, logs=None):
        pass

    def on_epoch_begin(self, epoch, logs=None):
        pass

    def on_epoch_end(self, epoch, logs=None):
        pass

    def on_train_batch_begin(self, batch, logs=None):
        pass

    def on_train_batch_end(self, batch, logs=None):
        pass


def _overrides(cb, name) -> bool:
    return getattr(type(cb), name) is not getattr(Callback, name)


class CallbackList:
    """Dispatches each hook to the callbacks in order; adds History and a ProgressBar."""

    def __init__(self, callbacks=(), model=None, params=None, add_history=True, add_progbar=False):
        if callbacks is None:
            callbacks = ()
        if isinstance(callbacks, Callback):
            callbacks = (callbacks,)
        cbs = list(callbacks)
        for cb in cbs:
            if not isinstance(cb, Callback):
                raise TypeError(
                    f"callbacks must be pyconvnet Callback instances, got {type(cb).__name__}"
                )
        self.history = next((cb for cb in cbs if isinstance(cb, History)), None)
        if add_history and self.history is None:
            self.history = History()
            cbs.insert(0, self.history)
        if add_progbar and not any(isinstance(cb, ProgressBar) for cb in cbs):
            cbs.insert(1 if add_history else 0, ProgressBar())
        cbs = [cb for cb in cbs if cb.writes_logs] + [cb for cb in cbs if not cb.writes_logs]
        self.callbacks = cbs
        for cb in cbs:
            if model is not None:
                cb.set_model(model)
            if params is not None:
                cb.set_params(params)
        # batch hooks are called every step: only those that do something
        self._batch_begin = [cb for cb in cbs if _overrides(cb, "on_train_batch_begin")]
        self._batch_end = [cb for cb in cbs if _overrides(cb, "on_train_batch_end")]

    def __iter__(self):
        return iter(self.callbacks)

    def on_train_begin(self, logs=None):
        for cb in self.callbacks:
            cb.on_train_begin(logs)

    def on_train_end(self, logs=None):
        for cb in self.callbacks:
            cb.on_train_end(logs)

    def on_epoch_begin(self, epoch, logs=None):
        for cb in self.callbacks:
            cb.on_epoch_begin(epoch, logs)

    def on_epoch_end(self, epoch, logs=None):
        for cb in self.callbacks:
            cb.on_epoch_end(epoch, logs)

    def on_train_batch_begin(self, batch, logs=None):
        for cb in self._batch_begin:
            cb.on_train_batch_begin(batch, logs)

    def on_train_batch_end(self, batch, logs=None):
        for cb in self._batch_end:
            cb.on_train_batch_end(batch, logs)


class History(Callback):
    """Per-epoch logs: `history.history["loss"][e]`, `history.epoch`; `model.history` is this."""

    def __init__(self):
        super().__init__()
        self.history = {}
        self.epoch = []
        self.interrupted = False

    def on_train_begin(self, logs=None):
        self.interrupted = False
        if self.model is not None:
            self.model.history = self

    def on_epoch_end(self, epoch, logs=None):
        self.epoch.append(epoch)
        for k, v in (logs or {}).items():
            self.history.setdefault(k, []).append(v)

    def __repr__(self) -> str:
        last = {k: v[-1] for k, v in self.history.items() if v}
        return f"History(epochs={len(self.epoch)}, last={last})"


def _fmt_logs(logs) -> str:
    parts = []
    for k, v in logs.items():
        if k in ("size", "batch"):
            continue
        if k == "lr":
            parts.append(f"lr {v:.3g}")  # rates span decades: significant digits, not decimals
        else:
            parts.append(f"{k} {v:.4f}" if isinstance(v, float) else f"{k} {v}")
    return "  ".join(parts)


class ProgressBar(Callback):
    """A per-epoch progress bar showing the running loss/accuracy and images per second.

    Uses tqdm when it is installed, else a one-line text bar. `verbose=2` (from fit) prints one
    line per epoch instead. Redraws at most every `interval` seconds, so it costs next to nothing
    per step.
    """

    def __init__(self, stream=None, interval: float = 0.1, use_tqdm: bool | None = None):
        super().__init__()
        self.stream = stream
        self.interval = float(interval)
        self.use_tqdm = use_tqdm
        self._bar = None

    def _out(self):
        return self.stream if self.stream is not None else sys.stderr

    def on_train_begin(self, logs=None):
        use = self.use_tqdm
        if use is None:
            try:
                import tqdm  # noqa: F401
                use = True
            except ImportError:
                use = False
        self._tqdm = use and self.params.get("verbose", 1) == 1

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch
        self._t0 = time.perf_counter()
        self._last = 0.0
        self._seen = 0
        self._steps = self.params.get("steps")  # None for an iterable of unknown length
        desc = f"Epoch {epoch + 1}/{self.params.get('epochs', '?')}"
        self._desc = desc
        if self._tqdm:
            from tqdm import tqdm

            self._bar = tqdm(total=self._steps, desc=desc, unit="step", file=self._out(), leave=True,
                             dynamic_ncols=True, mininterval=self.interval)

    def _rate(self, now):
        dt = now - self._t0
        return self._seen / dt if dt > 0 else 0.0

    def on_train_batch_end(self, batch, logs=None):
        logs = logs or {}
        self._seen += logs.get("size", 0)
        if self.params.get("verbose", 1) != 1:
            return
        now = time.perf_counter()
        last_step = self._steps is not None and batch + 1 == self._steps
        if self._bar is not None:
            self._bar.update(1)
            if now - self._last >= self.interval or last_step:
                self._last = now
                self._bar.set_postfix_str(f"{_fmt_logs(logs)}  {self._rate(now):.0f} img/s", refresh=False)
            return
        if now - self._last < self.interval and not last_step:
            return
        self._last = now
        if self._steps is None:  # an iterable of unknown length: a count instead of a bar
            line = f"\r{self._desc} step {batch + 1}  {_fmt_logs(logs)}  {self._rate(now):.0f} img/s"
        else:
            width = 24
            done = int(width * (batch + 1) / max(1, self._steps))
            bar = "=" * max(0, done - 1) + (">" if done < width else "=") + "." * (width - done)
            line = f"\r{self._desc} [{bar}] {batch + 1}/{self._steps}  {_fmt_logs(logs)}  {self._rate(now):.0f} img/s"
        out = self._out()
        out.write(line)
        out.flush()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        now = time.perf_counter()
        elapsed = now - self._t0
        text = f"{_fmt_logs(logs)}  {self._rate(now):.0f} img/s  {elapsed:.1f}s"
        out = self._out()
        verbose = self.params.get("verbose", 1)
        if self._bar is not None:
            self._bar.set_postfix_str(text, refresh=True)
            self._bar.close()
            self._bar = None
        elif verbose == 1:
            out.write("\n")
            out.write(f"{self._desc}  {text}\n")
            out.flush()
        else:
            out.write(f"{self._desc}  {text}\n")
            out.flush()

    def on_train_end(self, logs=None):
        if self._bar is not None:  # interrupted mid-epoch
            self._bar.close()
            self._bar = None
        elif self.params.get("verbose", 1) == 1 and getattr(self, "_seen", 0) and logs and logs.get("interrupted"):
            self._out().write("\n")
        if logs and logs.get("interrupted"):
            self._out().write("training interrupted; the model keeps the weights of the last finished step\n")
            self._out().flush()


def _monitor_mode(monitor, mode):
    if mode not in ("auto", "min", "max"):
        raise ValueError(f"mode must be 'auto', 'min' or 'max', got {mode!r}")
    if mode == "auto":
        return "max" if ("acc" in monitor or monitor.endswith("auc")) else "min"
    return mode


class EarlyStopping(Callback):
    """Stop when `monitor` has not improved by more than `min_delta` for `patience` epochs.

    With `restore_best_weights=True` the model ends training with the weights (and BatchNorm
    statistics) of the best epoch.
    """

    def __init__(self, monitor="val_loss", patience=0, restore_best_weights=False, min_delta=0.0, mode="auto",
                 verbose=0):
        super().__init__()
        if isinstance(patience, bool) or not isinstance(patience, (int, np.integer)) or patience < 0:
            raise ValueError(f"patience must be an int >= 0, got {patience!r}")
        self.monitor = str(monitor)
        self.patience = int(patience)
        self.restore_best_weights = bool(restore_best_weights)
        self.min_delta = abs(float(min_delta))
        self.mode = _monitor_mode(self.monitor, mode)
        self.verbose = verbose

    def on_train_begin(self, logs=None):
        self.wait = 0
        self.stopped_epoch = None
        self.best_epoch = None
        self.best = math.inf if self.mode == "min" else -math.inf
        self.best_weights = None

    def _improved(self, value) -> bool:
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None:
            available = ", ".join(sorted(logs or {}))
            warnings.warn(
                f"EarlyStopping: metric {self.monitor!r} is not in the logs (available: {available}); "
                "pass validation_data to fit for val_* metrics",
                RuntimeWarning,
                stacklevel=2,
            )
            return
        value = float(value)
        if self._improved(value):
            self.best = value
            self.best_epoch = epoch
            self.wait = 0
            if self.restore_best_weights:
                self.best_weights = self.model.state_dict()
            return
        self.wait += 1
        if self.wait >= self.patience:
            self.stopped_epoch = epoch
            self.model.stop_training = True
            if self.verbose:
                print(f"EarlyStopping: {self.monitor} did not improve for {self.wait} epochs; stopping "
                      f"after epoch {epoch + 1} (best {self.best:.4f} at epoch {self.best_epoch + 1})")

    def on_train_end(self, logs=None):
        if self.restore_best_weights and self.best_weights is not None:
            self.model.load_state_dict(self.best_weights)


class ModelCheckpoint(Callback):
    """Save the model with `model.save(path)` at the end of epochs.

    `path` may hold `str.format` fields filled from the epoch (1-based) and the logs, e.g.
    "ckpt-{epoch:02d}-{val_loss:.3f}.safetensors". With `save_best_only=True` only epochs that
    improve `monitor` are saved.
    """

    def __init__(self, path, monitor="val_loss", save_best_only=False, mode="auto", verbose=0):
        super().__init__()
        self.path = os.fspath(path)
        self.monitor = str(monitor)
        self.save_best_only = bool(save_best_only)
        self.mode = _monitor_mode(self.monitor, mode)
        self.verbose = verbose
        self.best = math.inf if self.mode == "min" else -math.inf
        self.saved = []

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        if self.save_best_only:
            value = logs.get(self.monitor)
            if value is None:
                warnings.warn(
                    f"ModelCheckpoint: metric {self.monitor!r} is not in the logs "
                    f"(available: {', '.join(sorted(logs))}); nothing saved",
                    RuntimeWarning,
                    stacklevel=2,
                )
                return
            better = value < self.best if self.mode == "min" else value > self.best
            if not better:
                return
            self.best = float(value)
        path = self.path.format(epoch=epoch + 1, **logs)
        self.model.save(path)
        self.saved.append(path)
        if self.verbose:
            print(f"ModelCheckpoint: saved {path}")


class LearningRateScheduler(Callback):
    """Drive a `pyconvnet.optim.lr_scheduler` schedule from `fit`.

    `scheduler` is a scheduler built on the optimizer that `fit` uses, or a callable
    `scheduler(optimizer) -> scheduler` called at the start of each `fit` (useful with fit's
    default optimizer; each fit then starts a fresh schedule, while a scheduler object
    continues where the last fit left it). `per="epoch"` steps after every epoch, `per="batch"`
    after every optimiser step. `ReduceLROnPlateau` steps per epoch with the logged value of
    `monitor`. The rate used by each step is logged as `lr` (in the batch logs, and for the
    epoch the rate of its last step), so the progress bar shows it and History records it.
    """

    writes_logs = True

    def __init__(self, scheduler, per="epoch", monitor="val_loss"):
        super().__init__()
        if not (isinstance(scheduler, LRScheduler) or callable(scheduler)):
            raise TypeError(f"scheduler must be a pyconvnet.optim.lr_scheduler scheduler or a callable "
                            f"optimizer -> scheduler, got {type(scheduler).__name__}")
        if per not in ("epoch", "batch"):
            raise ValueError(f"per must be 'epoch' or 'batch', got {per!r}")
        self._given = scheduler
        self.scheduler = scheduler if isinstance(scheduler, LRScheduler) else None
        self.per = per
        self.monitor = str(monitor)
        self._plateau = False

    def on_train_begin(self, logs=None):
        optimizer = self.model.optimizer
        if not isinstance(self._given, LRScheduler):
            built = self._given(optimizer)
            if not isinstance(built, LRScheduler):
                raise TypeError(f"LearningRateScheduler: scheduler(optimizer) must return a scheduler, "
                                f"got {type(built).__name__}")
            self.scheduler = built
        if self.scheduler.optimizer is not optimizer:
            raise ValueError("LearningRateScheduler: the scheduler drives another optimizer than the one fit uses; "
                             "pass that optimizer to fit(optimizer=...), or give a callable optimizer -> scheduler")
        self._plateau = isinstance(self.scheduler, ReduceLROnPlateau)
        if self._plateau and self.per != "epoch":
            raise ValueError("ReduceLROnPlateau steps on a monitored value once per epoch: use per='epoch'")
        self._lr = optimizer.lr

    def on_train_batch_begin(self, batch, logs=None):
        self._lr = self.model.optimizer.lr  # the rate this step uses

    def on_train_batch_end(self, batch, logs=None):
        if logs is not None:
            logs["lr"] = self._lr
        if self.per == "batch":
            self.scheduler.step()

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["lr"] = self._lr
        if self.per != "epoch":
            return
        if not self._plateau:
            self.scheduler.step()
            return
        value = (logs or {}).get(self.monitor)
        if value is None:
            warnings.warn(f"LearningRateScheduler: metric {self.monitor!r} is not in the logs (available: "
                          f"{', '.join(sorted(logs or {}))}); ReduceLROnPlateau not stepped", RuntimeWarning,
                          stacklevel=2)
            return
        self.scheduler.step(value)
