"""Command line: thin wrappers that parse options, call benchmarks.*, and print.

Add a command with ``@cli.command()``; a ``UserError`` raised anywhere below becomes
"Error: <message>" on stderr and exit code 2 (handled once, in ``_Cli.invoke``).
"""

from __future__ import annotations

import warnings

import click

# Import noise from Avalanche's dependencies, silenced before anything imports them: qpsolvers
# warns that no QP solver is installed (only GEM-style strategies need one, none here), jaxopt
# that it is no longer maintained. Neither is actionable for a user of this harness.
warnings.filterwarnings("ignore", message="no QP solver found", category=UserWarning)
warnings.filterwarnings("ignore", message="JAXopt is no longer maintained", category=DeprecationWarning)

from benchmarks.errors import UserError
from benchmarks.streams import StreamLayout, StreamSpec, describe_stream


class _Cli(click.Group):
    """Group that turns a UserError from any command into one line and exit code 2, and Ctrl-C
    into one line and exit code 130 (the shell's code for SIGINT); every file is written
    atomically and every phase checkpointed, so running the same command again resumes."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except UserError as exc:
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(2)
        except KeyboardInterrupt:
            click.echo("interrupted; run the same command to resume", err=True)
            ctx.exit(130)


@click.group(cls=_Cli)
def cli() -> None:
    """AANets on Avalanche: class-incremental benchmarks and method comparisons."""


def stream_options(command):
    """The options that pick a stream (shared by every command that builds one)."""
    options = [
        click.option("--benchmark", "benchmark", required=True,
                      help="Stream name (see `list`), e.g. split-cifar100."),
        click.option("--phases", default="5", show_default=True,
                     help="Incremental phases after the base phase; several protocols at once "
                          "as a list, e.g. 5,10,25."),
        click.option("--base-classes", type=int, default=None,
                     help="Classes in the base phase [default: half of the classes]."),
        click.option("--class-order-seed", type=int, default=1993, show_default=True,
                     help="NumPy seed of the class order."),
        click.option("--data-root", default=None,
                     help="Dataset folder [default: $AANETS_DATA_ROOT, else ./data]; "
                          "for split-folder, the image tree itself."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def spec_from_options(benchmark: str, phases: int, base_classes: int | None,
                      class_order_seed: int, data_root: str | None, **extra) -> StreamSpec:
    """StreamSpec from the values of ``stream_options`` (plus any extra StreamSpec fields)."""
    return StreamSpec(name=benchmark, phases=phases, base_classes=base_classes,
                      class_order_seed=class_order_seed, data_root=data_root, **extra)


def parse_phase_list(text: str) -> tuple[int, ...]:
    from benchmarks.plan.protocols import parse_phases
    return parse_phases(text)


def _format_layout(layout: StreamLayout) -> list[str]:
    names = layout.class_names
    sizes = [len(p) for p in layout.phase_classes]
    lines = [
        f"{layout.name}: {layout.num_classes} classes, {len(sizes)} phases "
        f"(base {sizes[0]}, then {len(sizes) - 1} x {sizes[-1]})",
        "class order: " + ", ".join(str(c) for c in layout.class_order),
    ]
    for i, labels in enumerate(layout.phase_classes):
        originals = [layout.class_order[k] for k in labels]
        shown = [f"{c} {names[c]}" if names else str(c) for c in originals]
        count = f"{len(labels)} class{'es' if len(labels) > 1 else ''}"
        lines.append(f"phase {i} ({count}, labels {labels[0]}-{labels[-1]}): "
                     + ", ".join(shown))
    return lines


@cli.command()
@stream_options
def describe(phases, **options) -> None:
    """Print the class order and the classes of every phase (no images are loaded)."""
    for n in parse_phase_list(phases):
        for line in _format_layout(describe_stream(spec_from_options(phases=n, **options))):
            click.echo(line)


# --------------------------------------------------------------------------- harness commands
# (list / compare / report: thin wrappers over benchmarks.compare)


@cli.command("list")
def list_command() -> None:
    """Show the benchmarks, methods and presets, one line each."""
    from benchmarks.compare import describe_registry

    for section, rows in describe_registry().items():
        click.echo(f"{section}:")
        width = max((len(name) for name, _ in rows), default=0)
        for name, text in rows:
            first, *more = text.splitlines()
            click.echo(f"  {name.ljust(width)}  {first}")
            for line in more:  # e.g. a baseline's difference from its reference configuration
                click.echo(f"  {' ' * width}    {line}")
        if section == "methods":
            click.echo("  (config: how a baseline is set up compared with Avalanche's reproducibility "
                       "configs, ContinualAI/continual-learning-baselines = CLB)")


@cli.command()
@stream_options
@click.option("--methods", default=None,
              help="Comma-separated method names (see `list`) [default: all default methods].")
@click.option("--seeds", default="1993", show_default=True, help="Comma-separated seeds.")
@click.option("--preset", default="auto", show_default=True,
              help="Settings preset: paper (the authors' released commands, GPU), cpu or smoke "
                   "(reduced), or the path of a .yaml preset file of your own; auto: paper when "
                   "the run's device is CUDA, cpu otherwise.")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
              help="Override one preset setting, e.g. --set aanets.fusion_lr=1e-4 "
                   "--set memory.total=2000 (repeatable; see docs/reproduce-paper.md).")
@click.option("--grid", "grid", multiple=True, metavar="KEY=V1,V2,...",
              help="Train every value of a setting (keys and values as --set; a list value in "
                   "brackets, [10,20]); repeated: the product. One row per method and value; "
                   "a method the key does not reach trains once (docs/grids.md).")
@click.option("--versus", default=None, metavar="METHOD",
              help="Add to the table every row's paired difference of avg inc. acc to METHOD "
                   "(or METHOD@variant), seed by seed, with its 95% confidence interval.")
@click.option("--epochs", type=int, default=None,
              help="Override the preset's epochs per phase (lr milestones are rescaled).")
@click.option("--out", "out", default=None,
              help="Output folder [default: runs/<benchmark>-p<phases>-<preset>].")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto",
              show_default=True)
@click.option("--quiet", is_flag=True, help="No progress bars or summary.")
@click.option("--dry-run", is_flag=True,
              help="Print the plan (runs, settings, memory, images to train) and stop: no data "
                   "is loaded, nothing is trained or written.")
@click.option("--log", "log", multiple=True, type=click.Choice(["tensorboard", "csv", "wandb"]),
              help="Also log loss, lr, a_k and accuracies per phase with Avalanche's loggers, to "
                   "<out>/logs/<method>/seed<k>/ (repeatable).")
@click.option("--skip-bad-images", is_flag=True,
              help="split-folder: train without unreadable images (counted in each run record) "
                   "instead of stopping.")
@click.option("--executor", type=click.Choice(["local", "ray"]), default="local", show_default=True,
              help="local: runs one after another in this process; ray: one Ray task per run "
                   "(docs/grids.md).")
@click.option("--ray-address", default=None,
              help="Ray cluster to join ('auto': the running one) [default: start a local one].")
@click.option("--gpus-per-run", type=float, default=None,
              help="GPUs per run with --executor ray [default: 1 if the cluster has GPUs, else 0].")
@click.option("--max-parallel", type=int, default=None,
              help="Most runs at once with --executor ray [default: what the cluster fits].")
@click.option("--retries", type=int, default=None,
              help="Retries of a run whose worker died, with --executor ray [default: 2].")
@click.pass_context
@click.option("--num-workers", type=int, default=None,
              help="DataLoader worker processes [default: 0 for in-memory data, else one per "
                   "spare core, at most 8].")
@click.option("--amp", type=click.Choice(["auto", "on", "off"]), default="off", show_default=True,
              is_flag=False, flag_value="on",
              help="bf16 autocast of the AANets-library methods, on CUDA and on the CPU (--amp "
                   "alone = on); auto: bf16 where the device has native bf16 units (CUDA, CPUs "
                   "with avx512_bf16 or amx_bf16), fp32 elsewhere.")
@click.option("--threads", default="auto", show_default=True, metavar="N|auto",
              help="CPU threads of a local compare; auto: the faster of 1 and all, timed on the "
                   "protocol's network before training (a resumed run keeps its checkpoint's "
                   "count).")
@click.option("--deterministic/--no-deterministic", "deterministic", default=None,
              help="cuDNN's deterministic algorithms on CUDA [default: on]; off lets cuDNN "
                   "pick the fastest per shape (cudnn.benchmark), numbers may then vary run to "
                   "run. The CPU is deterministic either way.")
@click.option("--compile", "compile_model", is_flag=True,
              help="torch.compile the model (AANets-library methods; eager with a note where "
                   "unsupported).")
@click.option("--channels-last/--no-channels-last", "channels_last", default=None,
              help="Convolutions in the NHWC memory format [default: on for the CPU, where "
                   "it is faster, off for CUDA].")
def compare(ctx, **options) -> None:
    """Train and compare methods on one benchmark; finished runs are skipped, interrupted
    runs resume from their last finished phase. Several phase counts (--phases 5,10,25) run
    one protocol folder each plus a combined table."""
    import benchmarks.compare as compare_module  # looked up at call time (tests wrap run_compare)

    request = compare_request(options)
    hooks = compare_module.Hooks(echo=click.echo, warn=lambda msg: click.echo(msg, err=True))
    outcome = compare_module.run_compare(request, hooks)
    failed = outcome.failed if outcome is not None else []
    if failed:
        click.echo(f"{len(failed)} run(s) failed:", err=True)
        for line in failed:
            click.echo(f"  {line}", err=True)
        click.echo("Run the same command again to redo only these (finished runs are skipped); "
                   "a run that diverged diverges again unless its settings change.", err=True)
        ctx.exit(1)


def _threads(text: str) -> int | None:
    from benchmarks.errors import UserError

    if text == "auto":
        return None
    if not text.isdigit() or int(text) < 1:
        raise UserError(f"--threads must be a positive integer or auto (got {text!r})")
    return int(text)


def compare_request(options: dict):
    """The CompareRequest of ``compare``'s options (click hands them over one by one)."""
    from benchmarks.plan.request import CompareRequest, ExecutorChoice, SpeedOptions

    o = dict(options)
    speed = SpeedOptions(amp=o.pop("amp"), num_workers=o.pop("num_workers"),
                         compile=o.pop("compile_model"), channels_last=o.pop("channels_last"),
                         deterministic=o.pop("deterministic"), threads=_threads(o.pop("threads")))
    executor = ExecutorChoice(o.pop("executor"), ray_address=o.pop("ray_address"),
                              gpus_per_run=o.pop("gpus_per_run"),
                              max_parallel=o.pop("max_parallel"), retries=o.pop("retries"))
    return CompareRequest(speed=speed, executor=executor, **o)


@cli.command()
@click.option("--out", "out", required=True,
              help="Output folder of a compare (or the parent folder of compare --phases 5,10,25).")
@click.option("--against", type=click.Choice(["paper"]), default=None,
              help="Add the paper's verified numbers and our difference (against_paper.md); "
                   "for a REDUCED preset the paper's numbers are listed apart, never compared.")
@click.option("--per-phase", is_flag=True,
              help="Write per_phase.md/.csv: the accuracy after every phase per method, and the "
                   "AANets a_k per level.")
@click.option("--versus", default=None, metavar="METHOD",
              help="Add to the table every row's paired difference of avg inc. acc to METHOD "
                   "(or METHOD@variant), seed by seed, with its 95% confidence interval.")
def report(out, against, per_phase, versus) -> None:
    """Rebuild table.md, table.csv and the accuracy plot from saved runs (no training)."""
    from benchmarks.plan.protocols import protocol_dirs
    from benchmarks.report.combined import is_protocols_dir, protocol_records
    from benchmarks.report.folder import rebuild_report
    from benchmarks.report.paper.report import paper_reports

    warn = lambda msg: click.echo(msg, err=True)  # noqa: E731
    folders = ([p for p in protocol_dirs(out, sorted(protocol_records(out))).values()]
               if is_protocols_dir(out) else [out])
    for folder in folders:
        result = rebuild_report(folder, warn=warn, versus=versus)
        click.echo(result.markdown)
        click.echo(f"wrote {result.table_md}, {result.table_csv}, "
                   + ", ".join(str(p) for p in result.plots))
    markdown, written = paper_reports(out, against=against, per_phase=per_phase, warn=warn)
    if written:
        click.echo(markdown)
        click.echo("wrote " + ", ".join(str(p) for p in written))


if __name__ == "__main__":
    cli()
