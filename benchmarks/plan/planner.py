"""Planning: one CompareRequest -> one ComparePlan, the only place where cells are made.

The plan holds, per protocol, the resolved config (the preset read once, its backbone section,
``--epochs`` and ``--set``), the class layout and images per class (known without loading any
image), the output folder, the canonical command and every (method, grid variant, seed) cell
as a RunSpec (grid.py: a variant adds its --grid settings that reach the method to --set).
``--dry-run`` prints this plan (dry_run.py); execution (benchmarks/compare.py) runs this same
plan and only binds what the executor and the loaded stream decide: the device a cluster gives
and the input path's part of the run key.
"""

from __future__ import annotations

import math
import shlex
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Sequence

from ..errors import UserError
from ..methods import get_method
from ..methods.aanets import AANETS_VARIANTS
from ..store.records import pick_run
from ..streams import StreamSpec
from .cells import Cell, RunSpec
from .config import (MLP_BACKBONES, PresetSource, RunConfig, load_config, read_preset,
                     stream_settings)
from .grid import GridValue, grid_text, typed_grid, variants
from .protocols import protocol_dirs, settings_tag
from .request import CompareRequest, SpeedOptions


def budget_per_class(cfg: RunConfig, classes_seen: int) -> int:
    """Exemplars per class once ``classes_seen`` classes are known (the herding memory's rule:
    the reference's ceil(nb_protos * 100 / nb_cl / (iteration + 1)) for a fixed total)."""
    if cfg.memory_total is not None:
        return math.ceil(cfg.memory_total / max(classes_seen, 1))
    return int(cfg.memory_per_class)


def _uses_level2(method: str, cfg: RunConfig) -> bool:
    variant = AANETS_VARIANTS.get(method)
    return variant is not None and variant[2] == "aanets" and cfg.fusion_lr > 0


def method_images(method: str, cfg: RunConfig, counts: Sequence[int],
                  phase_classes: Sequence[Sequence[int]]) -> dict[str, Any]:
    """Images per epoch of every phase (level 1 and level 2) for one method.

    ``counts[label]``: training images of the class with that label (position in the order).
    """
    info = get_method(method)
    level1, level2 = [], []
    seen: list[int] = []
    for i, classes in enumerate(phase_classes):
        new = sum(counts[c] for c in classes)
        old = sum(counts[c] for c in seen)
        if not seen or info.memory == "none":
            memory = old if method == "cumulative" else 0
        elif info.memory == "per_class":
            per_class = budget_per_class(cfg, len(seen))
            memory = sum(min(per_class, counts[c]) for c in seen)
        else:  # one fixed-size buffer, filled up to its size
            memory = min(cfg.memory_budget_at(len(counts)), old)
        balanced = 0
        if i > 0 and _uses_level2(method, cfg):
            draws = cfg.balanced_per_class or budget_per_class(cfg, len(seen) + len(classes))
            balanced = memory + len(classes) * draws
        level1.append(new + memory)
        level2.append(balanced)
        seen += list(classes)
    total = cfg.epochs * (sum(level1) + sum(level2))
    return {"level1": level1, "level2": level2, "total": total}


@dataclass(frozen=True)
class ProtocolLayout:
    """A protocol as ``compare`` would set it up, known without loading any image."""

    cfg: RunConfig  # the preset's settings for the stream's backbone, with --set / --epochs
    layout: Any  # streams.StreamLayout: class order and the classes of each phase
    counts: list[int]  # training images of each class, by position in the class order
    backbone: str
    stream: StreamSpec  # the stream with the preset's data settings


def protocol_layout(*, benchmark: str, phases: int, preset: str | PresetSource,
                    sets: Sequence[str] = (), epochs: int | None = None,
                    stream_options: dict[str, Any] | None = None) -> ProtocolLayout:
    """The settings, phases and per-class image counts of one protocol, without loading any
    image (UserError where the stream cannot tell its sizes). ``stream_options``: StreamSpec
    fields of the command line (base_classes, class_order_seed, data_root, skip_bad_images)."""
    from ..streams import describe_stream, stream_sizes

    source = read_preset(preset)
    probe = load_config(source, overrides={"epochs": epochs}, sets=sets)
    spec = StreamSpec(**stream_settings(probe, name=benchmark, phases=phases,
                                        **(stream_options or {})))
    layout = describe_stream(spec)  # benchmark name, phases, class order: checked here
    sizes = stream_sizes(spec)
    if sizes is None:
        raise UserError(f"{benchmark} cannot tell its sizes without loading its images")
    cfg = load_config(source, backbone=sizes.backbone, overrides={"epochs": epochs}, sets=sets)
    if cfg.image_size != probe.image_size:
        raise UserError(f"preset {cfg.preset!r}: data.image_size cannot be set in a backbones: "
                        "section (the image size decides the backbone); set it at the top level")
    # the backbone's own data settings (mean, std, images per class) reach the stream too
    spec = StreamSpec(**stream_settings(cfg, name=benchmark, phases=phases,
                                        **(stream_options or {})))
    layout = describe_stream(spec)
    cap = cfg.train_per_class
    counts = [min(sizes.train_per_class[c], cap) if cap else sizes.train_per_class[c]
              for c in layout.class_order]
    return ProtocolLayout(cfg, layout, counts, sizes.backbone, spec)


# ----------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class ProtocolPlan:
    """One protocol (phase count) of a plan: its folder, its settings and its cells."""

    phases: int
    out_dir: Path
    protocol: ProtocolLayout
    # every (method, grid variant, seed), methods outermost, in the request's order
    cells: tuple[Cell, ...]
    command: str              # the canonical command that reproduces this folder

    @property
    def config(self) -> RunConfig:
        """The protocol's config without any grid variant (a cell's own: cell.run.config)."""
        return self.protocol.cfg

    def runs(self) -> list[tuple[str, str, RunConfig, tuple[tuple[str, Any], ...], int]]:
        """(run name, method, config, variant, number of seeds) of every (method, variant), in
        the cells' order."""
        first: dict[str, RunSpec] = {}
        seeds: dict[str, int] = {}
        for c in self.cells:
            first.setdefault(c.run.name, c.run)
            seeds[c.run.name] = seeds.get(c.run.name, 0) + 1
        return [(name, run.method, run.config, run.variant, seeds[name])
                for name, run in first.items()]

    def bind(self, device: str, execution: tuple[tuple[str, Any], ...]) -> tuple[Cell, ...]:
        """The cells with what only execution knows: the device the executor gives and the
        input path's part of the run key (runtime.key_part of the loaded stream)."""
        return tuple(replace(c, run=replace(c.run, device=device, execution=execution))
                     for c in self.cells)


@dataclass(frozen=True)
class ComparePlan:
    """Everything a compare will do, decided before anything is written or trained."""

    request: CompareRequest
    preset: RunConfig                  # the preset file's own top level (what --set changed)
    protocols: tuple[ProtocolPlan, ...]
    parent: Path | None                # several protocols: the folder of the combined table


def default_out_dir(request: CompareRequest) -> Path:
    """runs/<benchmark>-p<phases>[-<phases>...]-<preset>[-e<epochs>][-set<hash of --set>]."""
    phases = "-".join(str(n) for n in request.phases)
    name = (f"{request.benchmark}-p{phases}-{Path(request.preset).stem}"
            + (f"-e{request.epochs}" if request.epochs is not None else "")
            + settings_tag(request.sets))
    return Path("runs") / name


def protocol_out_dirs(request: CompareRequest) -> tuple[Path | None, dict[int, Path]]:
    """(parent folder or None, N -> output folder): one protocol writes into --out itself,
    several into <out>/p<N>/."""
    out = request.out if request.out is not None else default_out_dir(request)
    if len(request.phases) == 1:
        return None, {request.phases[0]: Path(out)}
    return Path(out), protocol_dirs(Path(out), request.phases)


def canonical_command(request: CompareRequest, phases: int, out: Path) -> str:
    """The exact command that reproduces one protocol's folder (every choice spelled out)."""
    r = request
    args = ["python", "cli.py", "compare", "--benchmark", r.benchmark, "--phases", str(phases)]
    if r.base_classes is not None:
        args += ["--base-classes", str(r.base_classes)]
    if r.class_order_seed != 1993:
        args += ["--class-order-seed", str(r.class_order_seed)]
    args += ["--methods", ",".join(r.methods), "--seeds", ",".join(str(s) for s in r.seeds),
             "--preset", r.preset]
    if r.epochs is not None:
        args += ["--epochs", str(r.epochs)]
    for item in r.sets:
        args += ["--set", item]
    for item in grid_text(r.grid):
        args += ["--grid", item]
    if r.data_root is not None:
        args += ["--data-root", r.data_root]
    args += ["--out", str(out), "--device", r.device]
    args += _speed_args(r.speed)
    return shlex.join(args)


def _speed_args(speed: SpeedOptions) -> list[str]:
    args = []
    if speed.num_workers is not None:
        args += ["--num-workers", str(speed.num_workers)]
    args += ["--amp", speed.amp] if speed.amp != "off" else []
    args += ["--compile"] if speed.compile else []
    if speed.channels_last is not None:
        args += ["--channels-last" if speed.channels_last else "--no-channels-last"]
    if speed.deterministic is False:
        args += ["--no-deterministic"]
    if speed.threads is not None:
        args += ["--threads", str(speed.threads)]
    return args


def stream_options(request: CompareRequest) -> dict[str, Any]:
    """The StreamSpec fields the command line chooses."""
    return dict(base_classes=request.base_classes, class_order_seed=request.class_order_seed,
                data_root=request.data_root, skip_bad_images=request.skip_bad_images)


def _variant_config(request: CompareRequest, phases: int, protocol: ProtocolLayout,
                    source: PresetSource, items: tuple[GridValue, ...]) -> RunConfig:
    """The protocol's config with a variant's grid settings added to --set. A grid varies how
    a run trains, never its data: a value that changes the stream is refused."""
    if not items:
        return protocol.cfg
    cfg = load_config(source, backbone=protocol.backbone, overrides={"epochs": request.epochs},
                      sets=[*request.sets, *(v.set_item for v in items)])
    spec = StreamSpec(**stream_settings(cfg, name=request.benchmark, phases=phases,
                                        **stream_options(request)))
    if spec != protocol.stream:
        keys = ", ".join(v.key for v in items
                         if v.key.startswith("data.") or v.key == "model.backbone")
        raise UserError(f"--grid {keys or items[0].key}: a grid varies how runs train, not their "
                        "data or network (one stream per protocol); run one compare per value "
                        "with --set")
    return cfg


# Settings that reach a method's run key (RunConfig.key_settings: every aanets.* key reaches
# the whole "aanets" family, unchanged so that finished runs stay finished) but that the method
# provably never reads. The level-2 settings are read only by the level-2 plugin, which only a
# method whose network is aggregated builds: LUCIR and iCaRL without AANets (branch mode single)
# and the dual-branch ablation validate and drop them, PODNet's factory reads its own
# methods.podnet section instead, and plain PODNet forces its level-2 lr to 0. A grid over one
# of them trains those methods once (their cell is the cell of a compare without the grid).
AANETS_LEVEL2 = ("aanets.fusion_lr", "aanets.fusion_milestones", "aanets.balanced_per_class")
PODNET_METHODS = ("podnet", "aanets-podnet")  # methods/podnet.py


def grid_reaches(cfg: RunConfig, key: str, method: str) -> bool:
    """Whether a --grid key makes cells of its own for ``method``: it reaches the method's run
    key and the method reads it (see AANETS_LEVEL2)."""
    info = get_method(method)
    if not cfg.reaches(key, method=method, family=info.family, uses_memory=info.memory != "none"):
        return False
    if key in AANETS_LEVEL2:
        if method in PODNET_METHODS:
            return False
        if method in AANETS_VARIANTS:
            return AANETS_VARIANTS[method][2] == "aanets"
    if key == "methods.podnet.aanets_fusion_lr" and method == "podnet":
        return False
    return True


def protocol_cells(request: CompareRequest, phases: int, protocol: ProtocolLayout,
                   source: PresetSource, combos: list[tuple[GridValue, ...]]) -> tuple[Cell, ...]:
    """Every (method, variant, seed) cell of one protocol. A variant keeps, per method, only the
    grid settings that reach it (grid_reaches): a method no grid key reaches is one cell per
    seed, exactly the cell of a compare without the grid."""
    if protocol.backbone in MLP_BACKBONES:
        convolutional = [m for m in request.methods if get_method(m).family != "avalanche"]
        if convolutional:
            raise UserError(f"model.backbone={protocol.backbone} is for the Avalanche baselines; "
                            f"{', '.join(convolutional)} need a ResNet (AANets aggregates its "
                            "levels, PODNet pools its feature maps): leave model.backbone at auto")
    configs: dict[tuple[GridValue, ...], RunConfig] = {}
    cells = []
    for method in request.methods:
        done: list[tuple[GridValue, ...]] = []
        for combo in combos:
            items = tuple(v for v in combo if grid_reaches(protocol.cfg, v.key, method))
            if items in done:
                continue
            done.append(items)
            if items not in configs:
                configs[items] = _variant_config(request, phases, protocol, source, items)
            variant = tuple((v.key, v.value) for v in items)
            cells += [Cell(RunSpec(benchmark=request.benchmark, phases=phases, method=method,
                                   seed=seed, config=configs[items], device=request.device,
                                   base_classes=request.base_classes,
                                   class_order_seed=request.class_order_seed, speed=request.speed,
                                   variant=variant), protocol.stream)
                      for seed in request.seeds]
    return tuple(cells)


def plan_compare(request: CompareRequest) -> ComparePlan:
    """The plan of ``request``: the preset is read once, every protocol resolved and checked
    (names, phase counts, settings, class orders, the grid's keys and values) before anything
    is written."""
    source = read_preset(request.preset)
    preset = load_config(source)
    typed = typed_grid(request.grid, source, sets=request.sets, epochs=request.epochs)
    combos = variants(typed)
    parent, out_dirs = protocol_out_dirs(request)
    protocols = []
    for n in request.phases:
        protocol = protocol_layout(benchmark=request.benchmark, phases=n, preset=source,
                                   sets=request.sets, epochs=request.epochs,
                                   stream_options=stream_options(request))
        cells = protocol_cells(request, n, protocol, source, combos)
        if request.versus is not None:
            pick_run(request.versus, list(dict.fromkeys(c.run.name for c in cells)))
        protocols.append(ProtocolPlan(n, out_dirs[n], protocol, cells,
                                      canonical_command(request, n, out_dirs[n])))
    return ComparePlan(request, preset, tuple(protocols), parent)


__all__ = ["ComparePlan", "ProtocolLayout", "ProtocolPlan", "budget_per_class", "canonical_command",
           "default_out_dir", "grid_reaches", "method_images", "plan_compare", "protocol_cells",
           "protocol_layout", "protocol_out_dirs"]
